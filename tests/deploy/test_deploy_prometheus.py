"""Prometheus rules and configuration: promtool accepts them, every alert has a unit test
that makes it fire, and every alert carries a severity, a summary and a runbook link
that resolves in docs/OPERATIONS.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .tools import DEPLOY, ROOT, require_tool, run

PROMETHEUS = DEPLOY / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def github_anchors(markdown: str) -> set[str]:
    """Heading anchors as GitHub renders them (lowercase, punctuation dropped, - for space)."""
    anchors = set()
    for line in markdown.splitlines():
        if match := re.match(r"#{1,6}\s+(.*)", line):
            text = match.group(1).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_rule_and_test_files_exist() -> None:
    assert RULE_FILES and TEST_FILES


def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool")
    result = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config_of_the_compose_prometheus() -> None:
    promtool = require_tool("promtool")
    result = run([promtool, "check", "config", str(PROMETHEUS / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout


def test_promtool_test_rules() -> None:
    promtool = require_tool("promtool")
    result = run([promtool, "test", "rules", *map(str, TEST_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests can fail: a changed expectation is reported as a failure."""
    promtool = require_tool("promtool")
    source = TEST_FILES[0].read_text().replace("../rules/", f"{PROMETHEUS / 'rules'}/")
    broken = source.replace("severity: critical", "severity: page", 1)
    assert broken != source
    (tmp_path / "broken_test.yml").write_text(broken)
    result = run([promtool, "test", "rules", str(tmp_path / "broken_test.yml")])
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired = {
        case["alertname"]
        for path in TEST_FILES
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    missing = {a["alert"] for a in alerts()} - fired
    assert not missing, f"alerts without a firing unit test: {sorted(missing)}"


def test_the_required_alerts_exist() -> None:
    names = {a["alert"] for a in alerts()}
    assert {
        "LFGNoActiveShard",
        "LFGShardTakeover",
        "LFGCommitLatencyHigh",
        "LFGOrderAckLatencyHigh",
        "LFGHTTP5xxRateHigh",
        "LFGWebSocketSlowConsumerSpike",
        "LFGReadinessFlapping",
        "LFGDatabasePoolExhausted",
    } <= names


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_alert_has_severity_summary_and_a_runbook_that_resolves(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = alert["annotations"]
    assert annotations["summary"] and annotations["description"]
    path, _, anchor = annotations["runbook_url"].partition("#")
    assert path == "docs/OPERATIONS.md"
    assert anchor == alert["alert"].lower()
    assert anchor in github_anchors(OPERATIONS.read_text())


def test_recording_rules_follow_the_level_metric_operation_convention() -> None:
    for rule in rules():
        if "record" in rule:
            assert re.fullmatch(r"[a-z_]+:lfg_[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule[
                "record"
            ]


def test_compose_scrape_jobs_are_named_like_the_kubernetes_services() -> None:
    """Rules and dashboards filter on job; the ServiceMonitor's job is the Service name."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"lfg-gateway", "lfg-shard"} <= jobs
    services = {
        yaml.safe_load(path.read_text())["metadata"]["name"]
        for path in (DEPLOY / "k8s" / "base").rglob("service.yaml")
    }
    assert services == {"lfg-gateway", "lfg-shard"}
