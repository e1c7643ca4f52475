"""Unit tests of the load-test package's pure pieces: histograms and their merging,
the scenarios' populations, the /metrics parsing, and the threshold verdicts."""

from __future__ import annotations

import random

import pytest

from loadtest.harness import histogram_quantile, metric_by, metric_sum, parse_metrics
from loadtest.results import SEED, format_threshold, thresholds
from loadtest.scenarios import NAMES, SIZES, active_users, build, schedule, split
from loadtest.stats import Hist, Recorder


def test_histogram_quantiles_are_within_one_percent_of_the_exact_ones() -> None:
    rng = random.Random(7)
    xs = [rng.lognormvariate(1.5, 1.2) for _ in range(20_000)]
    h = Hist()
    for x in xs:
        h.add(x)
    xs.sort()
    for q in (0.5, 0.95, 0.99, 0.999):
        exact = xs[int(q * len(xs)) - 1]
        got = h.quantile(q)
        assert got is not None
        assert abs(got - exact) / exact < 0.011, (q, got, exact)
    assert h.n == len(xs)
    assert Hist().quantile(0.5) is None


def test_recorders_merge_per_second_and_survive_json() -> None:
    a, b = Recorder(1000.0), Recorder(1000.0)
    a.latency("ack.place", 5.0, now=1000.2)
    b.latency("ack.place", 50.0, now=1000.7)
    b.latency("ack.place", 7.0, now=1002.1)
    a.count("ok.place", 2, now=1000.5)
    b.count("ok.place", 3, now=1002.5)
    a.gauge("conns", 10, now=1001.5)
    b.gauge("conns", 5, now=1001.5)
    merged = Recorder(1000.0)
    merged.merge(Recorder.from_json(a.to_json()))
    merged.merge(Recorder.from_json(b.to_json()))
    assert merged.hist("ack.place").n == 3
    assert merged.hist("ack.place", 0, 1).n == 2
    assert merged.hist("ack.place", 2, 3).n == 1
    assert merged.total("ok.place") == 5
    assert merged.series("ok.place", 3) == [2, 0, 3]
    assert merged.gauges["conns"][1] == 15


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_every_user_runs_inside_the_scenario_and_the_mix_holds(name: str, size: str) -> None:
    s = build(name, size)
    actors = schedule(s)
    counts = s.counts()
    assert len(actors) == sum(counts.values())
    for kind, n in counts.items():
        assert sum(a.kind == kind for a in actors) == n
    for a in actors:
        assert 0 <= a.start < a.stop <= s.duration + 1e-6
        assert a.markets and all(m.startswith("LOAD-") for m in a.markets)
    parts = split(actors, s.procs)
    assert sorted(a.index for p in parts for a in p) == sorted(a.index for a in actors)
    assert len({a.ip for a in actors}) == len(actors)  # one client address per user
    assert max(active_users(actors, int(s.duration) + 1)) == (
        sum(counts.values()) if name != "spike" else s.users
    )


def test_the_spike_reaches_its_peak_inside_its_window_only() -> None:
    s = build("spike", "full")
    actors = schedule(s)
    users = active_users(actors, int(s.duration) + 1)
    _, w0, w1 = s.window
    assert users[int(w1) - 1] == 5000
    assert users[int(w0) - 1] == s.timing["base_users"]
    assert users[int(s.duration) - 1] == s.timing["base_users"]


def test_overrides_scale_the_phases_and_the_sustained_rate_sets_the_actor_rates() -> None:
    s = build("ramp", "full", duration=60, users=400, params={"maker_interval": 0.5})
    assert s.duration == pytest.approx(60)
    assert s.users == 400
    assert s.actor_params()["maker_interval"] == 0.5
    sus = build("sustained", "full", rate=4000)
    p, c = sus.actor_params(), sus.counts()
    per_cycle = p["maker_markets"] * 2 * p["maker_levels"] * 2
    offered = c["maker"] * per_cycle / p["maker_interval"] + c["taker"] * p["taker_rate"]
    assert offered == pytest.approx(4000)


def test_metrics_text_is_parsed_by_name_and_label() -> None:
    text = "\n".join(
        [
            "# HELP x y",
            "process_cpu_seconds_total 12.5",
            'lfg_rate_limited_total{limit_class="ws_orders"} 3.0',
            'lfg_rate_limited_total{limit_class="auth"} 2.0',
            'lfg_order_ack_seconds_bucket{le="0.01"} 50.0',
            'lfg_order_ack_seconds_bucket{le="0.1"} 99.0',
            'lfg_order_ack_seconds_bucket{le="+Inf"} 100.0',
        ]
    )
    m = parse_metrics(text)
    assert metric_sum(m, "process_cpu_seconds_total") == 12.5
    assert metric_sum(m, "lfg_rate_limited_total") == 5.0
    assert metric_by(m, "lfg_rate_limited_total", "limit_class") == {"ws_orders": 3.0, "auth": 2.0}
    buckets = {0.01: 50.0, 0.1: 99.0, float("inf"): 100.0}
    assert histogram_quantile(buckets, 0.5) == pytest.approx(0.01)
    assert 0.01 < (histogram_quantile(buckets, 0.9) or 0) < 0.1


def _figures(**over: object) -> dict[str, object]:
    lat = {"count": 100, "p50_ms": 5.0, "p95_ms": 10.0, "p99_ms": 20.0, "p999_ms": 30.0}
    f: dict[str, object] = {
        "window": "steady",
        "api": lat,
        "ack": lat,
        "fill_to_sub": lat,
        "error_rate": 0.0,
        "users_peak": 100,
        "trades_per_s": 2000.0,
        "orders_per_s": 12_000,
        "errors_by_code": {},
        "rate_limited": 0,
        "subscribers_at_window_end": 10_000,
        "disconnects": 0,
        "kb_per_conn": 30.0,
    }
    f.update(over)
    return {"figures": f}


def test_every_seed_threshold_gets_a_line_in_every_scenario() -> None:
    for name in NAMES:
        lines = thresholds(build(name, "full"), _figures())
        seed = [t for t in lines if t["source"] == "seed"]
        assert len(seed) == len(SEED)
        assert all(t["status"] in ("pass", "fail", "n/a") for t in lines)
        assert all(format_threshold(t) for t in lines)


def test_the_targets_fail_when_the_figures_miss_them() -> None:
    sus = build("sustained", "full")
    ok = {t["name"]: t["status"] for t in thresholds(sus, _figures())}
    assert ok["durable orders/s"] == "pass" and ok["order ack p99"] == "pass"
    bad = thresholds(sus, _figures(orders_per_s=9000, error_rate=0.002))
    verdict = {t["name"]: t["status"] for t in bad if t["source"] == "lfg"}
    assert verdict["durable orders/s"] == "fail" and verdict["error rate"] == "fail"
    spike = thresholds(build("spike", "full"), _figures(errors_by_code={"rate_limited": 5}))
    assert {t["name"]: t["status"] for t in spike}["errors other than rate_limited"] == "pass"
    spike = thresholds(build("spike", "full"), _figures(errors_by_code={"client_timeout": 1}))
    assert {t["name"]: t["status"] for t in spike}["errors other than rate_limited"] == "fail"
    conn = thresholds(build("connections", "full"), _figures(kb_per_conn=41.0, disconnects=1))
    verdict = {t["name"]: t["status"] for t in conn if t["source"] == "lfg"}
    assert verdict["server RSS per connection"] == "fail"
    assert verdict["subscribers held"] == "fail"
