"""The domain package stays pure: importing all of it loads no infrastructure."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import kpi

FORBIDDEN = (
    "kafka",
    "aiokafka",
    "faust",
    "mode",
    "aiohttp",
    "prometheus_client",
    "streams",
    "agents",
)


def test_the_domain_imports_no_kafka_faust_http_prometheus_or_upper_layers() -> None:
    modules = sorted(f"kpi.{m.name}" for m in pkgutil.iter_modules(kpi.__path__))
    assert {"kpi.engine", "kpi.alerts", "kpi.rules", "kpi.units"} <= set(modules)
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN)!r}))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]", f"the domain imported {found}"
