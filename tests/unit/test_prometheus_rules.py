"""The operations side of deploy/: Prometheus' alert rules and scrape configuration pass `promtool` (Debian's
`prometheus` package, installed by `make promtool`), and the rules and the Grafana operations dashboard name only
metrics learnstream exports, through the provisioned Prometheus data source."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import learnstream.metrics  # noqa: F401  (registers every metric)

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "learnstream-operations.json"
DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
NAME = re.compile(r"learnstream_[a-z_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool is not None, "promtool is missing: `make promtool` installs Debian's prometheus package"
    return subprocess.run([tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def exported() -> set[str]:
    """Every sample name learnstream's metrics can produce (counters' _total, histograms' _bucket/_sum/_count)."""
    names: set[str] = set()
    for collector in REGISTRY.collect():
        if collector.name.startswith("learnstream_"):
            base = collector.name
            names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_created"}
    return names


def referenced(text: str) -> set[str]:
    return {name for name in NAME.findall(text) if not name.startswith("learnstream_(")}


def test_the_alert_rules_and_the_scrape_configuration_pass_promtool() -> None:
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_the_rules_name_only_exported_metrics() -> None:
    text = (PROMETHEUS / "alerts.yml").read_text()
    rules = [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "LearnstreamConsumerLagGrowing",
        "LearnstreamDeadLettersRising",
        "LearnstreamWarehouseStale",
        "LearnstreamConnectorFailing",
        "LearnstreamLoaderInsertErrors",
    }
    assert referenced(text) <= exported()
    dead_letters = re.compile(r"learnstream_(connector|worker|loader)_dead_letters_total")
    assert all(dead_letters.fullmatch(name) for name in exported() if name.endswith("_dead_letters_total"))


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_the_dashboard_reads_the_provisioned_prometheus_and_exported_metrics(dashboard: dict) -> None:
    [source] = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    assert source["type"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "learnstream-operations"
    expressions = []
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"]
            expressions.append(target["expr"])
    names = referenced(" ".join(expressions))
    assert names <= exported(), names - exported()
    for wanted in ("consumer_lag", "freshness", "dead_letters", "insert_errors", "connector_up", "batch_rows"):
        assert any(wanted in name for name in names), wanted
