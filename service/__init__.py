"""The service's wiring: the Faust app (``app``), the HTTP API (``api``, ``web``,
``peers``), the live alert feed, the Prometheus exporter, the screen (``static/``) and the
``cchc`` command line. It is the top layer: it may use every package below it, and none
imports it (``tests/unit/test_layers.py``).
"""
