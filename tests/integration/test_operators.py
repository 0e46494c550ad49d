"""What operators run: /metrics (promtool), Prometheus rules, the dashboard, compose, and a
real Prometheus scraping a worker."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streams.broker import free_port
from tests.integration.conftest import TOKENS, Cluster, WorkerProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CLOCK = "2026-01-20T12:00:00+07:00"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (.ci/run installs it from Debian's packages)"
    return path


def run(
    *command: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )


SECRETS = {
    "CCHC_TOKENS_FILE": "/srv/cchc/tokens.yaml",
    "CCHC_METRICS_TOKEN_FILE": "/srv/cchc/metrics-token",
    "GRAFANA_ADMIN_PASSWORD": "not-in-the-repo",
}


def compose(**env: str) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS and k != "CCHC_DEMO"}
    result = run(tool("docker-compose"), "config", env=base | env)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def host_ip(port: Any) -> str:
    """The host address of a published port, in either form docker-compose prints."""
    return str(port["host_ip"]) if isinstance(port, dict) else str(port).split(":")[0]


def test_compose_file_is_valid_and_safe_by_default() -> None:
    services = compose(**SECRETS)["services"]
    for name in ("kafka", "worker", "prometheus", "alertmanager", "grafana", "simulator"):
        assert services[name]["restart"] == "unless-stopped", name
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published and all(host_ip(port) == "127.0.0.1" for port in published)
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "not-in-the-repo"
    volumes = services["alertmanager"]["volumes"]
    assert any(str(volume).startswith("alertmanager-data:/alertmanager") for volume in volumes)
    worker = services["worker"]["environment"]
    assert worker["CCHC_TOKENS_FILE"] == "/etc/cchc/tokens.yaml" and worker["CCHC_DEMO"] == "0"
    demo = compose(**SECRETS, CCHC_DEMO="1")["services"]["worker"]["environment"]
    assert demo["CCHC_DEMO"] == "1"
    everywhere = compose(**SECRETS, CCHC_BIND="0.0.0.0")["services"]["worker"]["ports"]
    assert host_ip(everywhere[0]) == "0.0.0.0"


def test_compose_refuses_to_start_without_its_secrets() -> None:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    result = run(tool("docker-compose"), "config", "-q", env=base)
    assert result.returncode != 0 and "set " in result.stderr


def test_the_image_is_pinned_and_built_from_a_small_context() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.M), "pin the base"
    assert "-c constraints.txt" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "var", "test-artifacts"} <= set(ignored)


def test_the_image_copies_every_package_it_installs() -> None:
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied = re.findall(r"^COPY (\S+) \1$", (ROOT / "Dockerfile").read_text(), re.M)
    assert sorted(copied) == sorted(packages["packages"])


def test_prometheus_rules_check_and_unit_tests() -> None:
    checked = run(tool("promtool"), "check", "rules", str(DEPLOY / "prometheus" / "rules.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(tool("promtool"), "test", "rules", str(DEPLOY / "prometheus" / "rules_test.yml"))
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def referenced_metrics(text: str) -> set[str]:
    return set(re.findall(r"\b(cchc_[a-z0-9_]+|cchc:[a-z0-9_:]+)", text))


def scenario_worker(cluster: Cluster) -> WorkerProcess:
    worker = cluster.start_worker(CCHC_CLOCK=f"fixed:{CLOCK}")
    simulated = subprocess.run(
        [
            *run_cchc(),
            "simulate",
            "--seed",
            "2",
            "--start",
            "2026-01-02",
            "--days",
            "10",
            "--units",
            "10",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    events = [orjson.loads(line) for line in simulated.splitlines()]
    cluster.produce_events([(e["topic"], e["value"]) for e in events])
    cluster.produce([("cchc.dossier-submitted", b"x", b"not json")])
    expected = len(events)
    assert wait_until(
        lambda: (
            sum(
                worker.metric("cchc_events_processed_total", topic=cluster.prefix + t)
                for t in {e["topic"] for e in events}
            )
            >= expected
        ),
        timeout=90,
    )
    # The bad message is on its own partition and may be handled after every valid one.
    dead_letters = "cchc_events_dead_lettered_total"
    topic = cluster.prefix + "cchc.dossier-submitted"
    assert wait_until(lambda: worker.metric(dead_letters, topic=topic) >= 1, timeout=30)
    return worker


def run_cchc() -> list[str]:
    return [sys.executable, "-m", "service.cli"]


@pytest.mark.integration
def test_metrics_are_clean_and_cover_rules_and_dashboard(cluster: Cluster) -> None:
    worker = scenario_worker(cluster)
    # The last 30 days' shares are read by the alert tick every 5 s.
    assert wait_until(lambda: "cchc_unit_recent_ratio{" in worker.get("/metrics")[1])
    _, exposition = worker.get("/metrics")
    checked = run(tool("promtool"), "check", "metrics", stdin=exposition.encode())
    assert checked.returncode == 0 and checked.stdout.strip() == "", checked.stdout + checked.stderr

    exported = {
        line.split("{")[0].split(" ")[0]
        for line in exposition.splitlines()
        if line and not line.startswith("#")
    }
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    recorded = {
        rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule
    }
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "cchc.json").read_text())
    assert dashboard["uid"] == "cchc-conclusion-91"
    queries = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    rule_exprs = " ".join(r.get("expr", "") for g in rules["groups"] for r in g["rules"])
    missing = (referenced_metrics(queries) | referenced_metrics(rule_exprs)) - exported - recorded
    assert not missing, f"queried but not exported: {missing}"
    for needed in (
        "cchc_unit_late_ratio",
        "cchc_unit_info",
        "cchc_consumer_lag_messages",
        "cchc_event_to_state_seconds_bucket",
        "cchc_alerts_firing",
    ):
        assert needed in exported or needed == "cchc_alerts_firing", needed
    dead = worker.metric(
        "cchc_events_dead_lettered_total", topic=cluster.prefix + "cchc.dossier-submitted"
    )
    assert dead == 1


def query(port: int, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(promql)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        result: list[dict[str, Any]] = orjson.loads(response.read())["data"]["result"]
        return result


@pytest.mark.integration
def test_real_prometheus_scrapes_the_api_figures(cluster: Cluster, tmp_path: Path) -> None:
    worker = scenario_worker(cluster)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(DEPLOY / "prometheus" / "rules.yml")],
                "scrape_configs": [
                    {
                        "job_name": "cchc",
                        "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
                        "authorization": {"credentials": TOKENS["metrics"]},
                    }
                ],
            }
        )
    )
    server = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _, body = worker.get("/api/units?period=2026")
        units = {u["unit_id"]: u for u in body["units"] if u["late_rate"] is not None}
        assert units
        unit_id, unit = max(units.items(), key=lambda item: item[1]["late_rate"])

        def scraped() -> list[dict[str, Any]]:
            try:
                return query(port, f'cchc_unit_late_ratio{{unit_id="{unit_id}",period="year"}}')
            except OSError:
                return []

        samples = wait_until(scraped, timeout=60, interval=1)
        assert samples, "Prometheus never scraped the worker"
        assert float(samples[0]["value"][1]) == pytest.approx(unit["late_rate"], rel=1e-12)
        province = wait_until(
            lambda: query(port, 'cchc:province_late_ratio{period="year"}'), timeout=30, interval=1
        )
        late = sum(u["resolved_late"] + u["open_overdue"] for u in body["units"])
        total = sum(u["resolved"] + u["open_overdue"] for u in body["units"])
        assert float(province[0]["value"][1]) == pytest.approx(late / total, rel=1e-12)
    finally:
        server.terminate()
        server.wait(timeout=30)
