"""Tools that talk to a monitor from outside, over Kafka: publishing JSON lines
(``produce``), following the alerts (``alerts_tail``), and the demo's synthetic traffic
(``simulator``, and ``senders``, the same traffic as real one-stop systems send it).

They use the contract (``schemas``), the domain (``kpi``) and the infrastructure
(``streams``), never the agents or the service.
"""
