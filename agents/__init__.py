"""The Faust agents and timers of a worker, each thin: it decides with the domain
(:mod:`kpi`, :mod:`schemas`) and acts with the infrastructure (:mod:`streams`).

- :mod:`agents.intake`: every input topic → dead letter, re-key, or a state change;
- :mod:`agents.tick`: the clock moves, alert changes are published;
- :mod:`agents.webhooks`: alert changes are delivered to subscribed offices.

Each module has an ``install(worker, ...)`` that :func:`service.app.create_app` calls.
"""
