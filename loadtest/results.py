"""From measurements to figures: one run's summary, its time series, and the pass/fail of
every threshold (the seed's, which were never measured, and LFG's own targets).

Definitions (docs/PERFORMANCE.md, "Load tests", repeats them):

- **order commands** are places, cancels and cancel-alls; one is *acknowledged* when its
  reply arrives (LFG replies once the command is durable in PostgreSQL). A cancel
  refused with `not_found` because the order filled first is acknowledged too and
  counted as `cancel_missed`, not as an error (every trading client meets that race).
- **order-ack latency**: from just before the client sends the command to the moment its
  reply is handed to the actor, measured in the client process (so it includes the
  client's own event-loop delays; `loop_lag` shows those).
- **fill-to-subscriber latency**: receive time of a `trade` message on a subscriber minus
  the trade's `ts` (the time the taker's command reached the gateway, in ms; same
  machine clock). It spans gateway decode, the shard's queue, matching, the PostgreSQL
  commit of the batch, fan-out through the hub and the client's queue, the socket, and
  the subscriber's decoding; `ts` is whole milliseconds (truncated), so up to 1 ms is
  added. The peer stamps `ts` (ns) when its worker sequences the command.
- **API latency** (the seed's p95/p99): every request: order commands and REST calls
  (login, market list); WebSocket handshakes (connect + auth + subscribe) are reported
  separately.
- **error rate**: failed requests (any op, rate_limited included; the cancel race
  excluded) over all requests. `rate_limited` is also shown on its own.
"""

from __future__ import annotations

import math
from typing import Any

from loadtest.harness import histogram_quantile
from loadtest.scenarios import Scenario
from loadtest.stats import Recorder

ORDER_OPS = ("place", "cancel", "cancel_all")
ACK = tuple("ack." + op for op in ORDER_OPS)
API = (*ACK, "req.login", "req.markets")

#: The seed's targets (PRODUCTION_STATUS.md, "Performance Targets"): never measured there.
SEED = {
    "p95_ms": 500.0,
    "p99_ms": 1000.0,
    "error_rate": 0.01,
    "concurrent_users": 10_000,
    "matches_per_s": 1000.0,
}
#: LFG's targets (the load-testing issue), on this 2-core machine with generator, server
#: and database together.
LFG = {
    "sustained_orders_per_s": 10_000.0,
    "sustained_p99_ms": 25.0,
    "sustained_error_rate": 0.001,
    "spike_p99_ms": 250.0,
    "subscribers": 10_000,
    "kb_per_conn": 40.0,
    "fill_to_sub_p99_ms": 250.0,
}


def _r(v: float | None, nd: int = 2) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v, nd)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


class Samples:
    """The runner's once-a-second readings of the server (`/metrics`) and of `/proc`,
    turned into per-second values on the run's clock."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [r for r in rows if r.get("ok", True)]

    def at(self, key: str, sec: float) -> float | None:
        """The reading of `key` nearest to `sec`."""
        best = None
        for r in self.rows:
            if key in r and (best is None or abs(r["t"] - sec) < abs(best["t"] - sec)):
                best = r
        return None if best is None else float(best[key])

    def values(self, key: str, start: float, end: float) -> list[float]:
        return [float(r[key]) for r in self.rows if key in r and start <= r["t"] < end]

    def rate(self, key: str, start: float, end: float) -> float | None:
        """Increase of counter `key` per second between the readings nearest to `start`
        and `end`."""
        inside = [r for r in self.rows if key in r and start - 0.6 <= r["t"] <= end + 0.6]
        if len(inside) < 2:
            return None
        a, b = inside[0], inside[-1]
        dt = b["t"] - a["t"]
        return (b[key] - a[key]) / dt if dt > 0 else None

    def per_second(self, key: str, seconds: int, counter: bool) -> list[float | None]:
        """One value per whole second: a counter's rate over the preceding interval, or a
        gauge's reading."""
        out: list[float | None] = [None] * seconds
        prev = None
        for r in self.rows:
            if key not in r:
                continue
            sec = math.floor(r["t"])
            if counter:
                if prev is not None and r["t"] > prev["t"] and 0 <= sec < seconds:
                    out[sec] = (r[key] - prev[key]) / (r["t"] - prev["t"])
                prev = r
            elif 0 <= sec < seconds:
                out[sec] = float(r[key])
        return out

    def ack_buckets(self, start: float, end: float) -> dict[float, float]:
        """The server's `lfg_order_ack_seconds` histogram over [start, end)."""
        inside = [r for r in self.rows if "ack_buckets" in r and start - 0.6 <= r["t"] <= end + 0.6]
        if len(inside) < 2:
            return {}
        a, b = inside[0]["ack_buckets"], inside[-1]["ack_buckets"]
        return {float(le): b[le] - a.get(le, 0.0) for le in b}


def _hist_series(
    rec: Recorder, names: tuple[str, ...], seconds: int, qs: list[float]
) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {f"p{q:g}": [] for q in qs}
    for sec in range(seconds):
        h = rec.hist_of(names, sec, sec + 1)
        for q in qs:
            out[f"p{q:g}"].append(_r(h.quantile(q / 100), 3) if h.n else None)
    return out


def _sum_series(
    rec: Recorder, prefixes: tuple[str, ...], seconds: int, exclude: str = ""
) -> list[int]:
    out = [0] * seconds
    for name, per in rec.cnt.items():
        if name.startswith(prefixes) and not (exclude and name.endswith(exclude)):
            for sec, n in per.items():
                if 0 <= sec < seconds:
                    out[sec] += n
    return out


def _gauge_series(rec: Recorder, name: str, seconds: int) -> list[float | None]:
    per = rec.gauges.get(name, {})
    return [per.get(s) for s in range(seconds)]


def _counts(rec: Recorder, start: float | None, end: float | None) -> dict[str, Any]:
    ok = rec.totals("ok.", start, end)
    err = rec.totals("err.", start, end)
    by_code: dict[str, int] = {}
    by_op: dict[str, int] = {}
    for key, n in err.items():
        op, _, code = key.partition(".")
        by_code[code] = by_code.get(code, 0) + n
        by_op[op] = by_op.get(op, 0) + n
    missed = rec.total("cancel_missed", start, end)
    order_ok = sum(ok.get(op, 0) for op in ORDER_OPS)
    order_err = sum(by_op.get(op, 0) for op in ORDER_OPS)
    requests = sum(ok.values()) + sum(err.values()) + missed
    errors = sum(err.values())
    limited = by_code.get("rate_limited", 0)
    return {
        "ok": ok,
        "errors_by_code": dict(sorted(by_code.items(), key=lambda kv: -kv[1])),
        "errors_by_op": by_op,
        "errors_detail": err,
        "cancel_missed": missed,
        "acked": order_ok + missed,
        "placed": ok.get("place", 0),
        "order_errors": order_err,
        "requests": requests,
        "errors": errors,
        "rate_limited": limited,
        "error_rate": errors / requests if requests else 0.0,
        "error_rate_excl_rate_limited": (errors - limited) / requests if requests else 0.0,
        "order_error_rate": order_err / (order_ok + missed + order_err)
        if order_ok + missed + order_err
        else 0.0,
        "fills": rec.total("fills", start, end),
        "late_cycles": rec.total("late_cycles", start, end),
        "trades_seen": rec.total("trades_seen", start, end),
        "md_msgs": rec.total("md_msgs", start, end),
        "logins_ok": rec.total("login.ok", start, end),
        "logins_failed": rec.total("login.failed", start, end),
    }


def analyse(
    s: Scenario,
    target: str,
    transport: str,
    rec: Recorder,
    rows: list[dict[str, Any]],
    workers: list[dict[str, Any]],
    before: dict[str, Any],
    users_scheduled: list[int],
) -> dict[str, Any]:
    """The figures of one run (one scenario against one target)."""
    samples = Samples(rows)
    T = math.ceil(s.duration)
    wname, w0, w1 = s.window
    wlen = max(1e-9, w1 - w0)
    whole = _counts(rec, None, None)
    win = _counts(rec, w0, w1)
    ack_w, ack_all = rec.hist_of(ACK, w0, w1), rec.hist_of(ACK)
    api_w = rec.hist_of(API, w0, w1)
    f2s_w, f2s_all = rec.hist("fill_to_sub", w0, w1), rec.hist("fill_to_sub")
    login = rec.hist("req.login")
    logins = whole["logins_ok"] + whole["logins_failed"]

    trades_server = samples.rate("trades", w0, w1)
    trades_per_s = trades_server if trades_server is not None else win["trades_seen"] / wlen
    server_cpu = samples.values("cpu_pct", w0, w1)
    db_cpu = samples.values("db_cpu_pct", w0, w1)
    machine = samples.values("machine_pct", w0, w1)
    rss = samples.values("rss", 0, T + 5)
    wall = max(1e-9, s.duration + 2)
    gen_cpu = sum(w["cpu_s"] for w in workers)
    conns_client = _gauge_series(rec, "conns", T + 2)
    conns_sub = [
        (a or 0) + (b or 0)
        for a, b in zip(
            _gauge_series(rec, "conns.dashboard", T + 2),
            _gauge_series(rec, "conns.browser", T + 2),
            strict=True,
        )
    ]
    server_conns = samples.values("ws_conns", 0, T + 5)

    figures: dict[str, Any] = {
        "window": wname,
        "window_s": [w0, w1],
        "orders_per_s": round(win["acked"] / wlen),
        "places_per_s": round(win["placed"] / wlen),
        "trades_per_s": _r(trades_per_s, 1),
        "trades_source": "server lfg_trades_total"
        if trades_server is not None
        else "trade messages on one subscriber per market",
        "ack": ack_w.summary(),
        "ack_whole_run": ack_all.summary(),
        "api": api_w.summary(),
        "connect": rec.hist("req.connect").summary(),
        "fill_to_sub": f2s_w.summary(),
        "fill_to_sub_whole_run": f2s_all.summary(),
        "login": login.summary(),
        "login_success": _r(whole["logins_ok"] / logins, 4) if logins else None,
        "logins": logins,
        "error_rate": _r(win["error_rate"], 5),
        "error_rate_whole_run": _r(whole["error_rate"], 5),
        "errors_by_code": whole["errors_by_code"],
        "errors_by_op": whole["errors_by_op"],
        "errors_in_window_by_code": win["errors_by_code"],
        "rate_limited": whole["rate_limited"],
        "cancel_missed": whole["cancel_missed"],
        "requests": whole["requests"],
        "acked_orders": whole["acked"],
        "late_cycles": whole["late_cycles"],
        "md_msgs_per_s": round(win["md_msgs"] / wlen),
        "users_peak": max(users_scheduled) if users_scheduled else 0,
        "conns_client_peak": max((c or 0 for c in conns_client), default=0),
        "subscribers_at_window_end": conns_sub[min(len(conns_sub) - 1, max(0, int(w1) - 1))]
        if conns_sub
        else 0,
        "conns_server_peak": max(server_conns) if server_conns else None,
        "server_cpu_pct_mean": _r(_mean(server_cpu), 1),
        "db_cpu_pct_mean": _r(_mean(db_cpu), 1),
        "machine_busy_pct_mean": _r(_mean(machine), 1),
        "generator_cpu_pct_mean": _r(100 * gen_cpu / wall, 1),
        "generator_loop_lag": rec.hist("loop_lag").summary(),
        "server_rss_mb_before": _r(before.get("rss", 0) / 2**20, 1) if before.get("rss") else None,
        "server_rss_mb_max": _r(max(rss) / 2**20, 1) if rss else None,
    }
    ack_b = samples.ack_buckets(w0, w1)
    if ack_b:
        figures["ack_server"] = {
            "p50_ms": _r((histogram_quantile(ack_b, 0.5) or 0) * 1000),
            "p99_ms": _r((histogram_quantile(ack_b, 0.99) or 0) * 1000),
            "note": "lfg_order_ack_seconds (gateway receive to durable reply), interpolated in its buckets",
        }
    batches = samples.rate("batch_count", w0, w1)
    if batches:
        commands = samples.rate("batch_sum", w0, w1) or 0.0
        commits = samples.rate("commit_count", w0, w1) or 0.0
        figures["shard"] = {
            "batches_per_s": _r(batches, 1),
            "mean_batch": _r(commands / batches, 1),
            "mean_commit_ms": _r(1000 * (samples.rate("commit_sum", w0, w1) or 0.0) / commits, 2)
            if commits
            else None,
            "mean_apply_ms": _r(1000 * (samples.rate("apply_sum", w0, w1) or 0.0) / batches, 2),
            "busy_committing_pct": _r(100 * (samples.rate("commit_sum", w0, w1) or 0.0), 1),
        }
    for key in ("conflations", "slow_disconnects"):
        n = samples.rate(key, 0, T + 5)
        if n:
            figures["server_" + key] = round(n * T)
    rl = before.get("rate_limited_classes")
    if rl is not None and rows:
        last = rows[-1].get("rate_limited_classes", {})
        figures["server_rate_limited"] = {
            k: int(v - rl.get(k, 0)) for k, v in last.items() if v - rl.get(k, 0)
        }
    if s.shape == "connect" and before.get("rss"):
        # Server memory held per connection: RSS over the last half of the hold (all
        # connected), minus RSS just before any client connected.
        late = samples.values("rss", w0 + wlen / 2, w1)
        held = samples.values("ws_conns", w0 + wlen / 2, w1)
        if late and held and max(held) > 0:
            figures["kb_per_conn"] = _r((_mean(late) - before["rss"]) / _mean(held) / 1024, 1)  # type: ignore[operator]
            figures["conns_server_hold_mean"] = round(_mean(held) or 0)
    disconnects = sum(
        n for k, n in whole["errors_detail"].items() if k.startswith("ws.disconnected")
    )
    figures["disconnects"] = disconnects

    series = {
        "t": list(range(T + 2)),
        "users": users_scheduled + [0] * (T + 2 - len(users_scheduled)),
        "ack": _hist_series(rec, ACK, T + 2, [50, 95, 99, 99.9]),
        "fill_to_sub": _hist_series(rec, ("fill_to_sub",), T + 2, [50, 99]),
        "orders_per_s": _sum_series(rec, ("ok.place", "ok.cancel", "cancel_missed"), T + 2),
        "places_per_s": _sum_series(rec, ("ok.place",), T + 2),
        "errors_per_s": _sum_series(rec, ("err.",), T + 2, exclude=".rate_limited"),
        "rate_limited_per_s": [
            a - b
            for a, b in zip(
                _sum_series(rec, ("err.",), T + 2),
                _sum_series(rec, ("err.",), T + 2, exclude=".rate_limited"),
                strict=True,
            )
        ],
        "trades_per_s": samples.per_second("trades", T + 2, counter=True)
        if trades_server is not None
        else [float(x) for x in rec.series("trades_seen", T + 2)],
        "conns_client": conns_client,
        "conns_server": samples.per_second("ws_conns", T + 2, counter=False),
        "server_cpu_pct": samples.per_second("cpu_pct", T + 2, counter=False),
        "db_cpu_pct": samples.per_second("db_cpu_pct", T + 2, counter=False),
        "machine_pct": samples.per_second("machine_pct", T + 2, counter=False),
        "rss_mb": [
            None if v is None else round(v / 2**20, 1)
            for v in samples.per_second("rss", T + 2, counter=False)
        ],
    }
    return {
        "scenario": s.name,
        "size": s.size,
        "title": s.title,
        "target": target,
        "transport": transport,
        "config": s.describe(),
        "figures": figures,
        "series": series,
        "workers": [{k: w[k] for k in ("pid", "cpu_s", "maxrss_kb", "actors")} for w in workers],
    }


# ---------------------------------------------------------------------------- thresholds


def _check(
    source: str, name: str, value: Any, ok: bool | None, target: str, note: str = ""
) -> dict[str, Any]:
    status = "n/a" if ok is None else ("pass" if ok else "fail")
    return {
        "source": source,
        "name": name,
        "target": target,
        "value": value,
        "status": status,
        "note": note,
    }


def thresholds(s: Scenario, r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every seed threshold (each run) and LFG's targets for this scenario."""
    f = r["figures"]
    api = f["api"]
    out = []
    win = f"({f['window']})"
    p95, p99 = api["p95_ms"], api["p99_ms"]
    out.append(
        _check(
            "seed",
            "API latency p95",
            p95,
            None if p95 is None else p95 < SEED["p95_ms"],
            "< 500 ms",
            win,
        )
    )
    out.append(
        _check(
            "seed",
            "API latency p99",
            p99,
            None if p99 is None else p99 < SEED["p99_ms"],
            "< 1000 ms",
            win,
        )
    )
    out.append(
        _check(
            "seed",
            "error rate",
            f["error_rate"],
            f["error_rate"] < SEED["error_rate"],
            "< 1%",
            win + " rate_limited included",
        )
    )
    if s.name == "connections":
        want = min(SEED["concurrent_users"], s.users)
        held = f["subscribers_at_window_end"]
        note = "subscribers connected at the end of the hold"
        if want < SEED["concurrent_users"]:
            note += f"; {s.size} size: {want:,} here, 10,000 at full size"
        out.append(_check("seed", "concurrent users", held, held >= want, f">= {want:,}", note))
    else:
        out.append(
            _check(
                "seed",
                "concurrent users",
                f["users_peak"],
                None,
                ">= 10,000",
                "judged by the connections scenario",
            )
        )
    if s.name == "sustained":
        tps = f["trades_per_s"] or 0.0
        out.append(
            _check(
                "seed",
                "order matching",
                tps,
                tps >= SEED["matches_per_s"],
                ">= 1,000 trades/s",
                win,
            )
        )
    else:
        out.append(
            _check(
                "seed",
                "order matching",
                f["trades_per_s"],
                None,
                ">= 1,000 trades/s",
                "judged by the sustained scenario",
            )
        )

    ack = f["ack"]
    if s.name == "sustained":
        out.append(
            _check(
                "lfg",
                "durable orders/s",
                f["orders_per_s"],
                f["orders_per_s"] >= LFG["sustained_orders_per_s"],
                ">= 10,000/s",
                "acknowledged order commands " + win,
            )
        )
        out.append(
            _check(
                "lfg",
                "order ack p99",
                ack["p99_ms"],
                ack["p99_ms"] is not None and ack["p99_ms"] <= LFG["sustained_p99_ms"],
                "<= 25 ms",
                win,
            )
        )
        out.append(
            _check(
                "lfg",
                "error rate",
                f["error_rate"],
                f["error_rate"] < LFG["sustained_error_rate"],
                "< 0.1%",
                win,
            )
        )
    elif s.name == "spike":
        others = {k: v for k, v in f["errors_by_code"].items() if k != "rate_limited"}
        out.append(
            _check(
                "lfg",
                "errors other than rate_limited",
                sum(others.values()),
                not others,
                "0",
                f"rate_limited: {f['rate_limited']:,}; whole run",
            )
        )
        out.append(
            _check(
                "lfg",
                "order ack p99 during the spike",
                ack["p99_ms"],
                ack["p99_ms"] is not None and ack["p99_ms"] <= LFG["spike_p99_ms"],
                "<= 250 ms",
                win,
            )
        )
    elif s.name == "connections":
        want = s.users
        held = f["subscribers_at_window_end"]
        out.append(
            _check(
                "lfg",
                "subscribers held",
                held,
                held >= want and f["disconnects"] == 0,
                f"all {want:,}, 0 dropped",
                f"{f['disconnects']} disconnected",
            )
        )
        kb = f.get("kb_per_conn")
        out.append(
            _check(
                "lfg",
                "server RSS per connection",
                kb,
                None if kb is None else kb <= LFG["kb_per_conn"],
                "<= 40 KB",
                "RSS (hold) - RSS (before connections), over connections",
            )
        )
        p = f["fill_to_sub"]["p99_ms"]
        out.append(
            _check(
                "lfg",
                "fill-to-subscriber p99",
                p,
                None if p is None else p <= LFG["fill_to_sub_p99_ms"],
                "<= 250 ms",
                win + " while trading",
            )
        )
    return out


def format_threshold(t: dict[str, Any]) -> str:
    v = t["value"]
    if isinstance(v, float):
        v = f"{v:.2%}" if "rate" in t["name"] else f"{v:,.2f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    tag = {"pass": "PASS", "fail": "FAIL", "n/a": "n/a "}[t["status"]]
    note = f"  [{t['note']}]" if t["note"] else ""
    return f"{tag}  {t['source']:<4}  {t['name']} {t['target']}: {v}{note}"


def merge_workers(t0: float, payloads: list[dict[str, Any]]) -> Recorder:
    rec = Recorder(t0)
    for p in payloads:
        one = Recorder.from_json(p["rec"])
        one.fill_gauges()
        rec.merge(one)
    return rec


def headline(r: dict[str, Any]) -> dict[str, Any]:
    """The figures a script wants from one scenario's result."""
    f = r["figures"]
    out: dict[str, Any] = {
        "passed": r.get("passed"),
        "orders_per_s": f["orders_per_s"],
        "trades_per_s": f["trades_per_s"],
        "ack_p50_ms": f["ack"]["p50_ms"],
        "ack_p99_ms": f["ack"]["p99_ms"],
        "ack_p999_ms": f["ack"]["p999_ms"],
        "fill_to_sub_p99_ms": f["fill_to_sub"]["p99_ms"],
        "error_rate": f["error_rate"],
        "rate_limited": f["rate_limited"],
        "users_peak": f["users_peak"],
        "conns_peak": f["conns_client_peak"],
    }
    if f.get("login_success") is not None:
        out["login_success"] = f["login_success"]
    if "kb_per_conn" in f:
        out["kb_per_conn"] = f["kb_per_conn"]
    cmp_ = r.get("comparison")
    if cmp_:
        out["peer_orders_per_s"] = cmp_["peer"]["orders_per_s"]
        out["ratio_vs_peer"] = cmp_["ratio_ws_vs_peer"]
        out["ratio_rest_vs_peer"] = cmp_["ratio_rest_vs_peer"]
    return out
