"""The KPI domain of Conclusion 91: pure logic, no Kafka, Faust, HTTP or Prometheus.

From the bottom up: :mod:`kpi.calendar` (working days and deadlines), :mod:`kpi.clock`,
:mod:`kpi.periods` (local days and reporting periods), :mod:`kpi.rules` (every rule's name,
threshold and exact comparison), :mod:`kpi.dossier` (one dossier's winning events and what
it contributes), :mod:`kpi.figures` (a unit's aggregates), :mod:`kpi.engine` (applies
events, moves the clock, answers figures), :mod:`kpi.alerts` (the alert book) and
:mod:`kpi.units` (the registry). It imports :mod:`schemas` and plain libraries only, so
every rule is tested fast and exhaustively (``make unit``); ``tests/unit/kpi/test_purity.py``
fails if that ever changes.
"""
