"""`python -m loadtest run SCENARIO [--target URL] [--short|--smoke] [options]`

Scenarios: `ramp` (to 1,000 users), `spike` (to 5,000), `sustained` (order flow for a set
time; also against the peer `matching-engine`, with the ratio), `connections` (10,000
market-data subscribers on one gateway process), or `all` (each in turn).

Without `--target`, each scenario gets a fresh `lfg serve` on 127.0.0.1 (embedded
PostgreSQL, fsync on) with every rate limit off, except `spike`, which keeps the
server's default limits (refusals are counted as `rate_limited`). With `--target URL`
the scenarios run against that LFG server (give its admin with `--admin-email` and
`--admin-password`, or LFG_ADMIN_EMAIL / LFG_ADMIN_PASSWORD).

Writes `loadtest/reports/<time>-<scenario>.json` per scenario and one HTML report with
plots; prints the figures and a PASS/FAIL line per threshold; the last line printed is
one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loadtest.harness import raise_nofile
from loadtest.results import format_threshold, headline
from loadtest.runner import compare, new_tmp, remove_tmp, run_scenario
from loadtest.scenarios import NAMES, SIZES, build

REPORTS = Path(__file__).resolve().parent / "reports"


def _kv(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        if part.strip():
            k, _, v = part.partition("=")
            out[k.strip()] = float(v)
    return out


def _print_run(r: dict[str, Any], log: Any) -> None:
    f = r["figures"]
    ack, f2s, login = f["ack"], f["fill_to_sub"], f["login"]
    w = f"{f['window']} {f['window_s'][0]:.0f}-{f['window_s'][1]:.0f} s"
    log(
        f"  {r['target']} over {r['transport'].upper()} ({w}): {f['orders_per_s']:,} order commands acked/s "
        f"({f['places_per_s']:,} places/s), {f['trades_per_s'] or 0:,.0f} trades/s"
    )
    log(
        f"  order ack ms: p50 {ack['p50_ms']}  p95 {ack['p95_ms']}  p99 {ack['p99_ms']}  p99.9 {ack['p999_ms']}  "
        f"(n={ack['count']:,})"
        + (
            f"; server metric p50 {f['ack_server']['p50_ms']} p99 {f['ack_server']['p99_ms']}"
            if "ack_server" in f
            else ""
        )
    )
    if "shard" in f:
        sh = f["shard"]
        log(
            f"  shard: {sh['batches_per_s']} batches/s, mean batch {sh['mean_batch']} commands, "
            f"mean apply {sh['mean_apply_ms']} ms, mean commit {sh['mean_commit_ms']} ms "
            f"(committing {sh['busy_committing_pct']}% of the time)"
        )
    if f2s["count"]:
        log(
            f"  fill-to-subscriber ms: p50 {f2s['p50_ms']}  p95 {f2s['p95_ms']}  p99 {f2s['p99_ms']}  (n={f2s['count']:,})"
        )
    if f["logins"]:
        log(
            f"  logins: {f['login_success']:.1%} of {f['logins']:,} succeeded; login ms p50 {login['p50_ms']} "
            f"p99 {login['p99_ms']}"
        )
    log(
        f"  errors: {f['error_rate']:.3%} of requests in the window; whole run by code: "
        f"{f['errors_by_code'] or 'none'}; rate_limited {f['rate_limited']:,}; cancels that lost to a fill "
        f"{f['cancel_missed']:,}"
    )
    log(
        f"  connections: peak {f['conns_client_peak']:,.0f} held by clients, server peak "
        f"{'n/a' if f['conns_server_peak'] is None else format(f['conns_server_peak'], ',.0f')}; "
        f"subscribers at window end {f['subscribers_at_window_end']:,.0f}; disconnects {f['disconnects']}"
        + (f"; server RSS {f['kb_per_conn']} KB per connection" if "kb_per_conn" in f else "")
    )
    log(f"  market data: clients received {f['md_msgs_per_s']:,} pushed messages/s")
    log(
        f"  CPU (% of one core): server {f['server_cpu_pct_mean']}, PostgreSQL {f['db_cpu_pct_mean']}, "
        f"generator {f['generator_cpu_pct_mean']}, whole machine {f['machine_busy_pct_mean']} of "
        f"{100 * (os.cpu_count() or 1)}; server RSS {f['server_rss_mb_before']} MB before, "
        f"{f['server_rss_mb_max']} MB max; generator loop lag p99 {f['generator_loop_lag']['p99_ms']} ms"
    )


def run_one(name: str, args: argparse.Namespace, tmp: str, log: Any) -> dict[str, Any]:
    size = "smoke" if args.smoke else ("short" if args.short else args.size)
    s = build(
        name,
        size,
        users=args.users,
        duration=args.duration,
        procs=args.procs,
        markets=args.markets,
        accounts=args.accounts,
        rate=args.rate,
        limits=args.limits,
        mix=_kv(args.mix) if args.mix else None,
        params=_kv(",".join(args.param)) if args.param else None,
        peer=False if args.no_peer else None,
    )
    log(f"== {s.name} ({s.size}): {s.title}")
    admin = None
    if args.target:
        admin = (
            args.admin_email or os.environ.get("LFG_ADMIN_EMAIL", ""),
            args.admin_password or os.environ.get("LFG_ADMIN_PASSWORD", ""),
        )
    common = {
        "target_url": args.target,
        "tmp": tmp,
        "xff": args.client_ips == "per-user",
        "log": log,
        "admin": admin,
    }
    r = run_scenario(s, transport=args.transport, **common)
    _print_run(r, log)
    if s.name == "sustained" and s.peer:
        runs = {"lfg_ws": r}
        if args.transport == "ws":
            log("  the same load over LFG's REST route ...")
            runs["lfg_rest"] = run_scenario(s, transport="rest", **common)
            _print_run(runs["lfg_rest"], log)
        log(
            "  the same load against the peer matching-engine (REST order entry, WebSocket feed) ..."
        )
        runs["peer"] = run_scenario(s, transport="rest", kind="peer", **common)
        _print_run(runs["peer"], log)
        r["comparison"] = compare(s, runs)
        r["others"] = [v for k, v in runs.items() if k != "lfg_ws"]
        c = r["comparison"]
        log(
            f"  ratio lfg/peer (orders/s): LFG WebSocket vs peer REST {c['ratio_ws_vs_peer']}x, "
            f"LFG REST vs peer REST {c['ratio_rest_vs_peer']}x"
        )
    for t in r["thresholds"]:
        log("  " + format_threshold(t))
    return r


def code_revision() -> str:
    """The git commit measured, with "+changes" when the working tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "server", "engine"],
            cwd=root, capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+changes" if dirty else "")


def cmd_run(args: argparse.Namespace) -> int:
    names = list(NAMES) if args.scenario == "all" else [args.scenario]
    out_dir = Path(args.out) if args.out else REPORTS
    out_dir.mkdir(parents=True, exist_ok=True)
    soft, hard = raise_nofile()

    def log(msg: str) -> None:
        print(msg, flush=True)

    from loadtest.report import machine, write_html

    session = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": code_revision(),
        "command": "python -m loadtest " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "nofile_limit": [soft, hard],
    }
    m = session["machine"]
    log(
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['mem_mb']:,} MB, Python {m['python']}, "
        f"load average {m['loadavg']}; open-files limit {soft}/{hard}; code {session['code']}"
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tmp = new_tmp()
    results = []
    try:
        for name in names:
            r = run_one(name, args, tmp, log)
            r["machine_loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
            results.append(r)
            path = out_dir / f"{stamp}-{name}.json"
            path.write_text(json.dumps({**r, "session": session}, indent=1))
            log(f"  result: {path}")
    finally:
        remove_tmp(tmp)
    session["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    html_path = out_dir / f"{stamp}-{args.scenario}.html"
    write_html(str(html_path), results, session)
    log(f"report: {html_path}")
    heads = {r["scenario"]: headline(r) for r in results}
    passed = all(r["passed"] for r in results)
    if len(results) == 1:
        last = {
            "scenario": results[0]["scenario"],
            "size": results[0]["size"],
            **heads[results[0]["scenario"]],
        }
    else:
        last = {"scenarios": heads, "passed": passed}
    last["report"] = str(html_path)
    print(json.dumps(last), flush=True)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """One 2x2 overview PNG per saved result (and per peer run inside it)."""
    from loadtest.report import overview_png

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.results:
        r = json.loads(Path(name).read_text())
        for run in [r, *r.get("others", [])]:
            path = out / f"{run['scenario']}-{run['target']}-{run['transport']}.png"
            path.write_bytes(overview_png(run, args.dpi))
            print(path)
    return 0


def cmd_list(_args: argparse.Namespace) -> int:
    for name in NAMES:
        for size in SIZES:
            s = build(name, size)
            print(
                f"{name:<12} {size:<6} {s.title}: {s.counts()}, {s.duration:.0f} s, limits {s.limits}"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a scenario (or all)")
    r.add_argument("scenario", choices=[*NAMES, "all"])
    r.add_argument(
        "--target", help="an LFG base URL on this machine (default: a fresh lfg serve per scenario)"
    )
    r.add_argument("--size", choices=SIZES, default="full")
    r.add_argument("--short", action="store_true", help="the brief version (make loadtest)")
    r.add_argument("--smoke", action="store_true", help="a few hundred users, a few seconds (CI)")
    r.add_argument("--users", type=int)
    r.add_argument("--duration", type=float, help="seconds: scales every phase")
    r.add_argument("--procs", type=int, help="client processes")
    r.add_argument("--markets", type=int)
    r.add_argument(
        "--accounts", type=int, help="accounts registered at set-up (shared round-robin)"
    )
    r.add_argument("--rate", type=float, help="sustained: order commands/s offered")
    r.add_argument(
        "--mix",
        help="shares by kind, e.g. maker=0.05,taker=0.15,browser=0.3 (dashboards: the rest)",
    )
    r.add_argument(
        "--param", action="append", help="actor parameter, e.g. maker_interval=0.5 (repeatable)"
    )
    r.add_argument(
        "--limits", choices=("off", "default"), help="rate limits of a server started here"
    )
    r.add_argument(
        "--transport", choices=("ws", "rest"), default="ws", help="order entry of makers and takers"
    )
    r.add_argument("--no-peer", action="store_true", help="sustained: skip the REST and peer runs")
    r.add_argument(
        "--client-ips",
        choices=("per-user", "single"),
        default="per-user",
        help="per-user: each simulated user sends its own X-Forwarded-For address; single: all 127.0.0.1",
    )
    r.add_argument("--admin-email")
    r.add_argument("--admin-password")
    r.add_argument(
        "--out", help=f"directory for the JSON results and HTML report (default {REPORTS})"
    )
    r.set_defaults(func=cmd_run)
    pl = sub.add_parser("plot", help="overview PNGs of saved results (for the docs)")
    pl.add_argument("results", nargs="+", help="result JSON files written by `run`")
    pl.add_argument("--out", required=True)
    pl.add_argument("--dpi", type=int, default=60)
    pl.set_defaults(func=cmd_plot)
    ls = sub.add_parser("list", help="the scenarios and their sizes")
    ls.set_defaults(func=cmd_list)
    args = ap.parse_args(argv)
    if args.command == "run" and args.target:
        if not args.target.startswith("http://127.0.0.1:"):
            ap.error("--target must be on this machine: http://127.0.0.1:PORT")
        if not (args.admin_email or os.environ.get("LFG_ADMIN_EMAIL")) or not (
            args.admin_password or os.environ.get("LFG_ADMIN_PASSWORD")
        ):
            ap.error(
                "--target needs the server's admin (to create markets and fund accounts): "
                "--admin-email/--admin-password or LFG_ADMIN_EMAIL/LFG_ADMIN_PASSWORD"
            )
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
