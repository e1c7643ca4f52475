"""The HTML report of a load-test session: per scenario, the headline figures, the
pass/fail of each threshold, and plots (order-ack and fill-to-subscriber percentiles over
time, throughput over time, connections over time, server CPU and memory), as one
self-contained file (plots embedded as PNG). matplotlib renders off-screen (Agg).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import platform
from typing import Any

from loadtest.results import format_threshold


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _line(ax: Any, t: list[int], ys: list[Any], label: str, **kw: Any) -> None:
    pts = [(x, y) for x, y in zip(t, ys, strict=False) if y is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, **kw)


def _frame(ax: Any, r: dict[str, Any], title: str, ylabel: str) -> None:
    w0, w1 = r["figures"]["window_s"]
    if (w0, w1) != (0, r["config"]["duration_s"]):
        ax.axvspan(w0, w1, color="tab:orange", alpha=0.08, label=r["figures"]["window"])
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)


def draw_latency(ax: Any, r: dict[str, Any]) -> None:
    s, t = r["series"], r["series"]["t"]
    for q, style in (("p50", "-"), ("p95", "-"), ("p99", "-"), ("p99.9", ":")):
        _line(ax, t, s["ack"][q], f"order ack {q}", linestyle=style)
    for q in ("p50", "p99"):
        _line(ax, t, s["fill_to_sub"][q], f"fill-to-subscriber {q}", linestyle="--")
    ax.set_yscale("log")
    _frame(ax, r, "Latency percentiles per second", "ms (log)")
    ax.legend(fontsize=7, ncol=3)


def draw_throughput(ax: Any, r: dict[str, Any]) -> None:
    s, t = r["series"], r["series"]["t"]
    _line(ax, t, s["orders_per_s"], "order commands acked/s")
    _line(ax, t, s["places_per_s"], "places acked/s")
    _line(ax, t, s["trades_per_s"], "trades/s")
    _line(ax, t, s["errors_per_s"], "errors/s (excl. rate_limited)", color="red")
    if any(s["rate_limited_per_s"]):
        _line(ax, t, s["rate_limited_per_s"], "rate_limited/s", color="purple")
    _frame(ax, r, "Throughput", "per second")
    ax.legend(fontsize=7, ncol=3)


def draw_connections(ax: Any, r: dict[str, Any]) -> None:
    s, t = r["series"], r["series"]["t"]
    _line(ax, t, s["users"], "users scheduled", linestyle=":")
    _line(ax, t, s["conns_client"], "connections held (clients)")
    _line(ax, t, s["conns_server"], "lfg_ws_connections (server)", linestyle="--")
    _frame(ax, r, "Users and connections", "connections")
    ax.legend(fontsize=7)


def draw_resources(ax: Any, r: dict[str, Any]) -> None:
    s, t = r["series"], r["series"]["t"]
    _line(ax, t, s["server_cpu_pct"], "server process CPU %")
    _line(ax, t, s["db_cpu_pct"], "PostgreSQL CPU %")
    _line(ax, t, s["machine_pct"], "whole machine CPU % (all processes)", linestyle=":")
    _frame(ax, r, "Server resources", "% of one core")
    ax.legend(fontsize=7, loc="upper left")
    ax2 = ax.twinx()
    _line(ax2, t, s["rss_mb"], "server RSS MB", color="black", alpha=0.6)
    ax2.set_ylabel("RSS MB")
    ax2.legend(fontsize=7, loc="lower right")


PLOTS = (
    ("Latency percentiles over time", draw_latency),
    ("Throughput over time", draw_throughput),
    ("Connections over time", draw_connections),
    ("Server CPU and RSS over time", draw_resources),
)


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    _pyplot().close(fig)
    return buf.getvalue()


def _plots(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, base64 PNG) of each plot of one run."""
    plt = _pyplot()
    out = []
    for title, draw in PLOTS:
        fig, ax = plt.subplots(figsize=(9, 3.6))
        draw(ax, r)
        out.append((title, base64.b64encode(_png(fig, 90)).decode()))
    return out


def overview_png(r: dict[str, Any], dpi: int = 60) -> bytes:
    """The four plots of one run in one 2x2 figure, as a 64-colour PNG (small enough to
    keep next to docs/PERFORMANCE.md)."""
    from PIL import Image

    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(14, 7))
    for ax, (_, draw) in zip(axes.flat, PLOTS, strict=True):
        draw(ax, r)
    fig.suptitle(f"{r['title']} ({r['target']} over {r['transport'].upper()}, {r['size']})")
    img = Image.open(io.BytesIO(_png(fig, dpi))).convert("RGB")
    buf = io.BytesIO()
    img.quantize(64).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        return html.escape(", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) or "none")
    return html.escape(str(v))


_ROWS = [
    ("order commands acked/s", "orders_per_s"),
    ("places acked/s", "places_per_s"),
    ("trades/s", "trades_per_s"),
    ("order ack", "ack"),
    ("order ack (server metric)", "ack_server"),
    ("shard batches (server metrics)", "shard"),
    ("API latency (orders + REST)", "api"),
    ("fill-to-subscriber", "fill_to_sub"),
    ("WebSocket connect+auth+subscribe", "connect"),
    ("login (REST, argon2)", "login"),
    ("login success", "login_success"),
    ("error rate (window)", "error_rate"),
    ("errors by code (whole run)", "errors_by_code"),
    ("rate_limited (client view)", "rate_limited"),
    ("rate_limited (server, by class)", "server_rate_limited"),
    ("cancels that lost the race with a fill", "cancel_missed"),
    ("users at peak", "users_peak"),
    ("connections held at peak (clients)", "conns_client_peak"),
    ("subscribers connected at window end", "subscribers_at_window_end"),
    ("lfg_ws_connections peak", "conns_server_peak"),
    ("disconnects", "disconnects"),
    ("server RSS per connection (KB)", "kb_per_conn"),
    ("server RSS before / max (MB)", None),
    ("server process CPU % (mean, window)", "server_cpu_pct_mean"),
    ("PostgreSQL CPU % (mean, window)", "db_cpu_pct_mean"),
    ("generator CPU % (all client processes)", "generator_cpu_pct_mean"),
    ("whole machine CPU % (mean, window; 200 = both cores)", "machine_busy_pct_mean"),
    ("generator event-loop lag", "generator_loop_lag"),
    ("pushed messages received/s (clients)", "md_msgs_per_s"),
    ("late maker/taker cycles", "late_cycles"),
]


def _table(r: dict[str, Any]) -> str:
    f = r["figures"]
    rows = []
    for label, key in _ROWS:
        if key is None:
            v = f"{_fmt(f.get('server_rss_mb_before'))} / {_fmt(f.get('server_rss_mb_max'))}"
        elif key not in f:
            continue
        else:
            x = f[key]
            if isinstance(x, dict) and "p50_ms" in x:
                v = " ".join(
                    f"{q} {_fmt(x.get(k))}"
                    for q, k in (
                        ("p50", "p50_ms"),
                        ("p95", "p95_ms"),
                        ("p99", "p99_ms"),
                        ("p99.9", "p999_ms"),
                    )
                    if k in x
                ) + (f" ms (n={x['count']:,})" if "count" in x else " ms")
            elif key.endswith("error_rate") and isinstance(x, float):
                v = f"{x:.3%}"
            elif key == "login_success" and isinstance(x, float):
                v = f"{x:.1%} of {f['logins']:,}"
            else:
                v = _fmt(x)
        rows.append(f"<tr><th>{html.escape(label)}</th><td>{v}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _thresholds(r: dict[str, Any]) -> str:
    items = []
    for t in r.get("thresholds", []):
        cls = {"pass": "pass", "fail": "fail", "n/a": "na"}[t["status"]]
        items.append(f'<li class="{cls}"><code>{html.escape(format_threshold(t))}</code></li>')
    return "<ul class=th>" + "".join(items) + "</ul>" if items else ""


def _section(r: dict[str, Any]) -> str:
    c = r["config"]
    head = (
        f"<h2>{html.escape(r['title'])} <small>({html.escape(r['scenario'])}, {html.escape(r['size'])}; "
        f"{html.escape(r['target'])} over {html.escape(r['transport'].upper())})</small></h2>"
        f"<p>{c['duration_s']:.0f} s; judged on: {html.escape(r['figures']['window'])} "
        f"{r['figures']['window_s'][0]:.0f}–{r['figures']['window_s'][1]:.0f} s; users {_fmt(c['counts'])}; "
        f"{c['markets']} markets; {c['procs']} client processes; rate limits {html.escape(c['limits'])}; "
        f"client addresses: {html.escape(r.get('server', {}).get('client_ips', ''))}.</p>"
    )
    body = _thresholds(r) + _table(r)
    cmp_ = r.get("comparison")
    if cmp_:
        body += (
            "<h3>Against the peer (same load, same session)</h3><table><tr><th></th>"
            + "".join(
                f"<th>{k}</th>"
                for k in (
                    "orders/s",
                    "trades/s",
                    "ack p50",
                    "ack p99",
                    "fill→sub p99",
                    "errors",
                    "server CPU %",
                )
            )
            + "</tr>"
        )
        for name in ("lfg_ws", "lfg_rest", "peer"):
            if name in cmp_:
                x = cmp_[name]
                body += (
                    f"<tr><th>{name}</th>"
                    + "".join(
                        f"<td>{_fmt(x[k])}</td>"
                        for k in (
                            "orders_per_s",
                            "trades_per_s",
                            "ack_p50_ms",
                            "ack_p99_ms",
                            "fill_to_sub_p99_ms",
                            "error_rate",
                            "server_cpu_pct_mean",
                        )
                    )
                    + "</tr>"
                )
        body += (
            f"</table><p>ratio LFG WebSocket / peer REST: <b>{cmp_['ratio_ws_vs_peer']}×</b>; "
            f"LFG REST / peer REST: <b>{cmp_['ratio_rest_vs_peer']}×</b></p>"
        )
    plots = "".join(
        f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(title)}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for title, png in _plots(r)
    )
    for extra in r.get("others", []):
        plots += (
            f"<h3>{html.escape(extra['target'])} over {html.escape(extra['transport'].upper())}</h3>"
            + "".join(
                f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(title)}"><figcaption>{html.escape(title)}</figcaption></figure>'
                for title, png in _plots(extra)
            )
        )
    return f"<section>{head}{body}{plots}</section>"


CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f6f6f6;font-weight:normal}ul.th{list-style:none;padding:0}ul.th li{margin:2px 0}
li.pass code{color:#0a0}li.fail code{color:#c00}li.na code{color:#888}figure{margin:1em 0}
img{max-width:100%}small{color:#666;font-weight:normal}section{border-top:2px solid #333;margin-top:2em}
"""


def write_html(path: str, results: list[dict[str, Any]], session: dict[str, Any]) -> None:
    meta = html.escape(json.dumps(session, indent=1))
    body = "".join(_section(r) for r in results)
    doc = (
        f"<!doctype html><html><head><meta charset=utf-8><title>LFG load test</title><style>{CSS}</style></head>"
        f"<body><h1>LFG load test</h1><pre>{meta}</pre>{body}</body></html>"
    )
    with open(path, "w") as f:
        f.write(doc)


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_mb": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
