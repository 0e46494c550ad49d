"""Infrastructure and wiring of a worker: settings, topics, Kafka clients, state stores,
the embedded broker, Prometheus, the Faust app, the HTTP API and screen, and the CLI.

See the README's layout table for which modules the agents may use (infrastructure) and
which put everything together (wiring); ``tests/unit/test_layers.py`` keeps them apart.
"""
