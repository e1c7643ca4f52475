"""server/metrics.py is the metrics contract: it defines exactly the agreed metrics, with
conventional names and bounded labels, and every metric that a dashboard panel, an alert
or a recording rule queries is one it exports (or a recording rule's output)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from server import metrics

from .tools import DEPLOY, ROOT, require_tool

DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))

# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES = {"up"}
# Labels added by scraping (target labels) or by the Prometheus Operator.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

EXPECTED = {
    "lfg_http_requests_total": ("counter", {"method", "route", "status"}),
    "lfg_http_request_duration_seconds": ("histogram", {"method", "route"}),
    "lfg_ws_connections": ("gauge", set()),
    "lfg_ws_messages_received_total": ("counter", {"op"}),
    "lfg_ws_messages_sent_total": ("counter", {"type"}),
    "lfg_ws_conflations_total": ("counter", set()),
    "lfg_ws_slow_consumer_disconnects_total": ("counter", set()),
    "lfg_orders_total": ("counter", {"type", "result"}),
    "lfg_order_rejections_total": ("counter", {"reason"}),
    "lfg_trades_total": ("counter", set()),
    "lfg_traded_contracts_total": ("counter", set()),
    "lfg_traded_notional_cents_total": ("counter", set()),
    "lfg_users_registered_total": ("counter", set()),
    "lfg_logins_total": ("counter", {"result"}),
    "lfg_open_orders": ("gauge", {"shard"}),
    "lfg_escrow_cents": ("gauge", {"market"}),
    "lfg_batch_size": ("histogram", {"shard"}),
    "lfg_batch_apply_seconds": ("histogram", {"shard"}),
    "lfg_commit_seconds": ("histogram", {"shard"}),
    "lfg_order_ack_seconds": ("histogram", set()),
    "lfg_recovery_seconds": ("gauge", {"shard"}),
    "lfg_shard_active": ("gauge", {"shard"}),
    "lfg_shard_takeovers_total": ("counter", {"shard"}),
    "lfg_shard_stream_pending": ("gauge", {"shard"}),
    "lfg_gateway_pubsub_lag_seconds": ("histogram", set()),
    "lfg_gateway_resyncs_total": ("counter", set()),
    "lfg_cache_requests_total": ("counter", {"cache", "result"}),
    "lfg_rate_limited_total": ("counter", {"limit_class"}),
    "lfg_ready": ("gauge", set()),
    "lfg_db_pool_size": ("gauge", set()),
    "lfg_db_pool_in_use": ("gauge", set()),
}

# --- what the server exports ------------------------------------------------------------

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exported_series() -> set[str]:
    """Every sample name the default registry can expose, read from its text output."""
    names: set[str] = set()
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def lfg_metrics() -> dict[str, MetricWrapperBase]:
    """The metric objects of server/metrics.py, by exposed name (counters with _total)."""
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name + ("_total" if isinstance(value, Counter) else "")
            found[name] = value
    return found


def labels_of(series: str) -> set[str]:
    """Label names of an exported series (histogram series add `le`)."""
    for name, metric in lfg_metrics().items():
        base = name.removesuffix("_total")
        if series in (name, base + "_created") or (
            isinstance(metric, Histogram)
            and series in {f"{base}_{s}" for s in ("bucket", "sum", "count")}
        ):
            extra = {"le"} if series.endswith("_bucket") else set()
            return set(metric._labelnames) | extra
    return set()


# --- what the deploy files query --------------------------------------------------------

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
PROMQL_WORDS |= {"unless", "bool", "offset", "inf", "nan"}


def strip_promql(expr: str) -> str:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\$\{?\w+(?::\w+)?\}?", "", expr)  # Grafana variables
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions and keywords excluded)."""
    text = strip_promql(expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery windows
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*", text):
        token = match.group(0)
        if token.lower() in PROMQL_WORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(token)
    return names


def label_names(expr: str) -> set[str]:
    """Label names used in matchers and in by/without/on/ignoring/group clauses."""
    text = strip_promql(expr)
    found = set()
    for matchers in re.findall(r"\{([^}]*)\}", text):
        found.update(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    for clause in re.findall(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text
    ):
        found.update(name.strip() for name in clause.split(",") if name.strip())
    return found


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric, label names matched) for each `metric{...}` selector."""
    text = strip_promql(expr)
    for metric, matchers in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}", text):
        yield metric, set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))


def rule_exprs() -> list[tuple[str, str]]:
    return [
        (rule.get("alert") or rule["record"], rule["expr"])
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def recorded() -> set[str]:
    return {name for name, _ in rule_exprs() if ":" in name}


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every Prometheus panel target and template variable."""
    queries = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard_panels(dashboard):
            for target in panel.get("targets", []):
                datasource = target.get("datasource") or panel.get("datasource") or {}
                if datasource.get("type") == "prometheus":
                    queries.append((f"{path.name}: {panel['title']}", target["expr"]))
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]["query"]
                match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
                assert match, f"{path.name}: unsupported variable query {query}"
                queries.append(
                    (f"{path.name}: ${variable['name']}", f'{match[1]}{{{match[2]}!=""}}')
                )
    return queries


def legend_labels() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        for panel in dashboard_panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")):
                    yield f"{path.name}: {panel['title']}", label


# --- the extractor itself -----------------------------------------------------------------


def test_metric_name_extraction_ignores_functions_labels_and_variables() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (shard, le) (rate(lfg_commit_seconds_bucket{shard=~"$shard"}'
        "[$__rate_interval]))) > bool 0.5 or on () absent(up) unless x:y:z offset 5m"
    )
    assert metric_names(expr) == {"lfg_commit_seconds_bucket", "up", "x:y:z"}
    assert label_names(expr) == {"shard", "le"}
    assert metric_names("topk(10, max by (market) (lfg_escrow_cents)) / 100") == {
        "lfg_escrow_cents"
    }


# --- the contract ---------------------------------------------------------------------------


def test_server_metrics_defines_exactly_the_agreed_metrics() -> None:
    defined = lfg_metrics()
    assert set(defined) == set(EXPECTED)
    for name, (kind, labels) in EXPECTED.items():
        metric = defined[name]
        assert metric._type == kind, name
        assert set(metric._labelnames) == labels, name
        assert len(metric._documentation) > 20, f"{name} needs a help text"


def test_metric_names_follow_prometheus_conventions() -> None:
    for name, metric in lfg_metrics().items():
        assert re.fullmatch(r"lfg_[a-z0-9_]+", name), name
        if isinstance(metric, Counter):
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
        assert "latency" not in name, f"{name}: name the unit (_seconds), not the concept"
        assert not re.search(r"_(ms|milliseconds|millis|dollars)(_|$)", name), name


def test_promtool_lints_the_exposition_clean() -> None:
    """`promtool check metrics` applies Prometheus' own naming and help-text lint."""
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=generate_latest(REGISTRY).decode(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_labels_have_bounded_cardinality() -> None:
    unbounded = {
        "user",
        "user_id",
        "order_id",
        "client_order_id",
        "id",
        "email",
        "path",
        "ip",
        "token",
    }
    for name, metric in lfg_metrics().items():
        assert not set(metric._labelnames) & unbounded, name


def test_histogram_buckets() -> None:
    defined = lfg_metrics()
    batch = defined["lfg_batch_size"]._upper_bounds  # type: ignore[attr-defined]
    assert batch == [float(2**i) for i in range(13)] + [float("inf")]
    ack = defined["lfg_order_ack_seconds"]._upper_bounds  # type: ignore[attr-defined]
    assert ack[0] == 0.0005 and ack[-2] == 2.5
    # Alert thresholds sit on bucket bounds, so the quantile estimate is exact there.
    assert 0.25 in defined["lfg_commit_seconds"]._upper_bounds  # type: ignore[attr-defined]
    assert 0.5 in ack


def test_importing_the_module_exports_its_metrics_on_the_default_registry() -> None:
    exported = exported_series()
    for name, (kind, _) in EXPECTED.items():
        base = name.removesuffix("_total")
        expected = (
            {name} if kind != "histogram" else {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
        )
        assert expected <= exported, name
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= exported


@pytest.mark.parametrize("where,expr", rule_exprs() + dashboard_queries())
def test_every_queried_metric_is_exported_or_recorded(where: str, expr: str) -> None:
    known = exported_series() | recorded() | PROMETHEUS_SERIES
    names = metric_names(expr)
    assert names, f"{where}: no metric found in {expr}"
    assert names <= known, f"{where}: not exported by server/metrics.py: {sorted(names - known)}"


@pytest.mark.parametrize("where,expr", rule_exprs() + dashboard_queries())
def test_every_label_used_exists_on_the_selected_metric(where: str, expr: str) -> None:
    all_labels = (
        TARGET_LABELS | {"le"} | {label for m in lfg_metrics().values() for label in m._labelnames}
    )
    assert label_names(expr) <= all_labels, (
        f"{where}: unknown labels {label_names(expr) - all_labels}"
    )
    for metric, used in selectors(expr):
        if metric.startswith("lfg_"):
            unknown = used - labels_of(metric) - TARGET_LABELS
            assert not unknown, f"{where}: {metric} has no label {sorted(unknown)}"


def test_every_legend_label_exists() -> None:
    all_labels = (
        TARGET_LABELS | {"le"} | {label for m in lfg_metrics().values() for label in m._labelnames}
    )
    for where, label in legend_labels():
        assert label in all_labels, f"{where}: legend uses unknown label {label}"


def test_every_lfg_metric_is_on_a_dashboard() -> None:
    """Directly, or through a recording rule that a dashboard shows."""
    inputs = {record: metric_names(expr) for record, expr in rule_exprs() if record in recorded()}
    shown = {name for _, expr in dashboard_queries() for name in metric_names(expr)}
    while new := {name for record in shown & set(inputs) for name in inputs[record]} - shown:
        shown |= new
    shown_bases = {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in shown}
    missing = {name for name in EXPECTED if name.removesuffix("_total") not in shown_bases}
    assert not missing, f"not on any dashboard: {sorted(missing)}"
