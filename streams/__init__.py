"""The infrastructure of a worker: settings, topics, Kafka clients, state stores and their
changelog, the embedded broker, Prometheus instruments, webhook delivery, and what a worker
holds. The agents build on it; the service (``service/``) puts everything together.

``tests/unit/test_layers.py`` keeps imports pointing down (the README's layout table).
"""
