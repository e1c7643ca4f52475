"""Server benchmark: sustained durable orders/s and ack latency (issue: the server).

    python -m loadtest.orders [--duration 30] [--connections 16] [--procs 2] [--window 32]

Starts `lfg serve` on a fresh data dir (embedded PostgreSQL, fsync on, rate limits off)
unless `--target` is given, creates markets and funded traders, then `--procs` client processes drive
`--connections` WebSocket bots for `--duration` seconds: each keeps `--window` commands in
flight; two thirds are limit places (about a third of them crossing), one third cancels
of its own resting orders. Every command is counted only when its reply arrives, and the
server replies only after the batch is committed. Prints acknowledged orders/s, trades/s,
p50/p95/p99 ack latency and the shard batch sizes (from /metrics).

With `--peer`, the same client load (REST, keep-alive, one request in flight per
connection) also runs against the PyPI package `matching-engine`'s gateway
(`matching-engine serve`, its group-committed, fsynced write-ahead log) and against our
REST route, and prints the ratios. The last line is one JSON object for scripts.
"""

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from loadtest.harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    TRADER_PASSWORD,
    Http,
    free_port,
    limits_off,
    metric_sum,
    start_lfg,
    start_peer,
    wait_http,
)
from loadtest.harness import scrape as scrape_samples


@dataclass
class Result:
    placed: int = 0
    cancelled: int = 0
    cancel_missed: int = 0
    filled_orders: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lat_ms: list[float] = field(default_factory=list)
    per_second: list[int] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)

    def merge(self, o: "Result") -> None:
        self.placed += o.placed
        self.cancelled += o.cancelled
        self.cancel_missed += o.cancel_missed
        self.filled_orders += o.filled_orders
        for k, v in o.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.lat_ms.extend(o.lat_ms)
        for i, v in enumerate(o.per_second):
            if i < len(self.per_second):
                self.per_second[i] += v
            else:
                self.per_second.append(v)


class Mix:
    """The command mix: 2/3 places (1/3 of them crossing the mid), 1/3 cancels."""

    def __init__(self, seed: int, markets: list[str]) -> None:
        self.rng = random.Random(seed)
        self.markets = markets

    def place(self) -> tuple[str, str, int, int]:
        """(market, outcome, own price, qty): buy YES = bid, buy NO = ask at 100 - p."""
        r = self.rng
        cross = r.random() < 1 / 3
        yes = r.random() < 0.5
        off = -r.randint(1, 3) if cross else r.randint(1, 6)
        yes_price = 50 - off if yes else 50 + off
        price = yes_price if yes else 100 - yes_price
        return (
            r.choice(self.markets),
            "yes" if yes else "no",
            max(1, min(99, price)),
            r.randint(1, 10),
        )

    def is_cancel(self, have_open: bool) -> bool:
        return have_open and self.rng.random() < 1 / 3


# ---------------------------------------------------------------------------- WS bots


async def ws_bot(
    url: str, token: str, mix: Mix, window: int, deadline: float, res: Result, t0: float
) -> None:
    async with websockets.connect(url, max_size=2**22, compression=None) as ws:
        await ws.send(json.dumps({"op": "auth", "id": 0, "token": token}))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "authed", reply
        sent: dict[int, tuple[float, str]] = {}
        open_ids: list[str] = []
        slots = asyncio.Semaphore(window)
        rid = 0
        done = asyncio.Event()

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                rid_ = msg.get("id")
                if rid_ is None or rid_ not in sent:
                    continue
                t_sent, kind = sent.pop(rid_)
                now = time.perf_counter()
                res.lat_ms.append((now - t_sent) * 1000)
                sec = int(now - t0)
                while len(res.per_second) <= sec:
                    res.per_second.append(0)
                res.per_second[sec] += 1
                typ = msg["type"]
                if typ == "placed":
                    res.placed += 1
                    o = msg["order"]
                    if o["filled_qty"]:
                        res.filled_orders += 1
                    if o["status"] in ("open", "partially_filled"):
                        open_ids.append(o["order_id"])
                elif typ == "cancelled":
                    res.cancelled += 1
                elif typ == "error":
                    if kind == "cancel" and msg["code"] == "not_found":
                        res.cancel_missed += 1  # it filled first: a race every bot sees
                    else:
                        res.errors[msg["code"]] = res.errors.get(msg["code"], 0) + 1
                slots.release()
                if done.is_set() and not sent:
                    return

        rtask = asyncio.create_task(reader())
        while time.perf_counter() < deadline:
            await slots.acquire()
            rid += 1
            if mix.is_cancel(bool(open_ids)):
                oid = open_ids.pop(mix.rng.randrange(len(open_ids)))
                msg: dict[str, Any] = {"op": "cancel", "id": rid, "order_id": oid}
                sent[rid] = (time.perf_counter(), "cancel")
            else:
                market, outcome, price, qty = mix.place()
                msg = {
                    "op": "place",
                    "id": rid,
                    "market": market,
                    "side": "buy",
                    "outcome": outcome,
                    "price": price,
                    "qty": qty,
                }
                sent[rid] = (time.perf_counter(), "place")
            await ws.send(json.dumps(msg))
        done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rtask, 10)


async def trade_watcher(url: str, markets: list[str], deadline: float, res: Result) -> None:
    """Subscribe to every market's trades; record how long after a trade's `ts` (its
    command's arrival at a gateway) this subscriber received it."""
    async with websockets.connect(url, max_size=2**24, compression=None) as ws:
        channels = [f"trades:{m}" for m in markets]
        await ws.send(json.dumps({"op": "subscribe", "id": 1, "channels": channels}))
        while time.perf_counter() < deadline:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.perf_counter()))
            except TimeoutError:
                break
            msg = json.loads(raw)
            if msg.get("type") == "trade":
                res.lat_ms.append(time.time() * 1000 - msg["ts"])


# ---------------------------------------------------------------------------- REST bots


async def rest_bot(
    base: str,
    flavour: str,
    token: str,
    account: int,
    mix: Mix,
    deadline: float,
    res: Result,
    t0: float,
) -> None:
    http = Http.for_url(base)
    await http.connect()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    open_ids: list[tuple[str, str]] = []
    while time.perf_counter() < deadline:
        cancel = mix.is_cancel(bool(open_ids))
        t_sent = time.perf_counter()
        if cancel:
            market, oid = open_ids.pop(mix.rng.randrange(len(open_ids)))
            if flavour == "lfg":
                status, body = await http.request("DELETE", f"/api/v1/orders/{oid}", headers=auth)
            else:
                status, body = await http.request(
                    "DELETE", f"/markets/{market}/orders/{oid}?account={account}"
                )
        else:
            market, outcome, price, qty = mix.place()
            if flavour == "lfg":
                payload = {
                    "market": market,
                    "side": "buy",
                    "outcome": outcome,
                    "price": price,
                    "qty": qty,
                }
                status, body = await http.request(
                    "POST", "/api/v1/orders", json.dumps(payload).encode(), auth
                )
            else:
                # The peer has one book per symbol and no outcomes: buy YES = buy at p,
                # buy NO at p = sell at 100 - p (its accounts hold no positions).
                side, px = ("buy", price) if outcome == "yes" else ("sell", 100 - price)
                payload = {"account": account, "side": side, "price": str(px), "quantity": str(qty)}
                status, body = await http.request(
                    "POST", f"/markets/{market}/orders", json.dumps(payload).encode()
                )
        now = time.perf_counter()
        res.lat_ms.append((now - t_sent) * 1000)
        sec = int(now - t0)
        while len(res.per_second) <= sec:
            res.per_second.append(0)
        res.per_second[sec] += 1
        if status >= 300:
            if cancel and status in (404, 409, 200):
                res.cancel_missed += 1
            else:
                res.errors[str(status)] = res.errors.get(str(status), 0) + 1
            continue
        data = json.loads(body)
        if cancel:
            if flavour == "peer" and data.get("status") != "cancelled":
                res.cancel_missed += 1
            else:
                res.cancelled += 1
            continue
        res.placed += 1
        if flavour == "lfg":
            o = data["order"]
            if o["filled_qty"]:
                res.filled_orders += 1
            if o["status"] in ("open", "partially_filled"):
                open_ids.append((market, o["order_id"]))
        else:
            if data["status"] in ("filled", "partially_filled"):
                res.filled_orders += 1
            if data["status"] in ("resting", "partially_filled"):
                open_ids.append((market, str(data["order_id"])))


def worker(spec: dict[str, Any], q: "mp.Queue[Result]") -> None:
    async def run() -> Result:
        res = Result()
        t0 = spec["t0"]
        deadline = t0 + spec["duration"]
        while time.time() < spec["start_at"]:
            await asyncio.sleep(0.005)
        t0p = time.perf_counter()
        deadline_p = t0p + spec["duration"]
        del t0, deadline
        jobs = []
        if spec["transport"] == "watch":
            jobs.append(trade_watcher(spec["ws_url"], spec["markets"], deadline_p, res))
        for i, (token, account) in enumerate(spec["users"]):
            mix = Mix(spec["seed"] * 1000 + i, spec["markets"])
            if spec["transport"] == "ws":
                url = (
                    spec["ws_urls"][i % len(spec["ws_urls"])]
                    if spec.get("ws_urls")
                    else spec["ws_url"]
                )
                jobs.append(ws_bot(url, token, mix, spec["window"], deadline_p, res, t0p))
            else:
                jobs.append(
                    rest_bot(
                        spec["base"], spec["flavour"], token, account, mix, deadline_p, res, t0p
                    )
                )
        out = await asyncio.gather(*jobs, return_exceptions=True)
        for o in out:
            if isinstance(o, BaseException):
                res.errors[type(o).__name__] = res.errors.get(type(o).__name__, 0) + 1
        return res

    q.put(asyncio.run(run()))


def drive(users: list[tuple[str, int]], procs: int, **spec: Any) -> tuple[Result, float]:
    ctx = mp.get_context("spawn")
    q: mp.Queue[Result] = ctx.Queue()
    start_at = time.time() + 2.0
    ps = []
    watch = spec.pop("watch_url", None)
    if watch:
        wspec = {**spec, "transport": "watch", "ws_url": watch, "users": [], "seed": 0}
        p = ctx.Process(target=worker, args=({**wspec, "t0": start_at, "start_at": start_at}, q))
        p.start()
        ps.append(p)
    for i in range(procs):
        part = users[i::procs]
        if not part:
            continue
        p = ctx.Process(
            target=worker,
            args=({**spec, "users": part, "seed": i + 1, "t0": start_at, "start_at": start_at}, q),
        )
        p.start()
        ps.append(p)
    total = Result()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    if watch:
        # The watcher's result: latencies and no acknowledged commands.
        lag = next((r for r in results if not r.placed and not r.cancelled and r.lat_ms), Result())
        results = [r for r in results if r is not lag]
        total.lag_ms = lag.lat_ms
    for r in results:
        total.merge(r)
    return total, float(spec["duration"])


# ---------------------------------------------------------------------------- servers


def setup_lfg(base: str, n_users: int, markets: list[str]) -> list[tuple[str, int]]:
    with httpx.Client(base_url=base + "/api/v1", timeout=30) as h:
        admin = h.post(
            "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        ah = {"Authorization": f"Bearer {admin}"}
        for m in markets:
            r = h.post("/admin/markets", json={"ticker": m, "title": f"Bench {m}"}, headers=ah)
            assert r.status_code in (201, 409), r.text
        users = []
        for i in range(n_users):
            email = f"bench{i}-{os.getpid()}-{random.randrange(10**9)}@lfg.local"
            uid = int(
                h.post("/auth/register", json={"email": email, "password": TRADER_PASSWORD}).json()[
                    "user_id"
                ]
            )
            h.post(
                f"/admin/users/{uid}/credit", json={"amount": 10**11}, headers=ah
            ).raise_for_status()
            token = h.post(
                "/auth/login", json={"email": email, "password": TRADER_PASSWORD}
            ).json()["access_token"]
            users.append((token, uid))
        return users


def scrape(bases: list[str]) -> dict[str, float]:
    samples = scrape_samples(bases)
    return {
        name: metric_sum(samples, name)
        for name in ("lfg_batch_size_sum", "lfg_batch_size_count", "lfg_trades_total")
    }


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def report(name: str, res: Result, duration: float, extra: str = "") -> dict[str, Any]:
    acked = res.placed + res.cancelled + res.cancel_missed
    errs = sum(res.errors.values())
    steady = res.per_second[1:-1] if len(res.per_second) > 3 else res.per_second
    fig = {
        "orders_per_s": round(acked / duration),
        "places_per_s": round(res.placed / duration),
        "steady_min_per_s": min(steady) if steady else 0,
        "orders_filled_per_s": round(res.filled_orders / duration),
        "p50_ms": round(pct(res.lat_ms, 50), 2),
        "p95_ms": round(pct(res.lat_ms, 95), 2),
        "p99_ms": round(pct(res.lat_ms, 99), 2),
        "p999_ms": round(pct(res.lat_ms, 99.9), 2),
        "error_rate": round(errs / max(1, acked + errs), 5),
        "errors": res.errors,
    }
    print(
        f"{name:<22} {fig['orders_per_s']:>8,} acked orders/s ({fig['places_per_s']:,} places/s, "
        f"{fig['orders_filled_per_s']:,} filling/s; slowest whole second {fig['steady_min_per_s']:,})  "
        f"ack p50 {fig['p50_ms']} ms  p95 {fig['p95_ms']} ms  p99 {fig['p99_ms']} ms  p99.9 {fig['p999_ms']} ms  "
        f"errors {errs} {res.errors or ''} {extra}",
        flush=True,
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--target", help="an LFG base URL (default: start lfg serve here)")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--window", type=int, default=32, help="commands in flight per WS connection")
    ap.add_argument("--markets", type=int, default=4)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument(
        "--peer",
        action="store_true",
        help="also run the REST load against matching-engine and our REST route",
    )
    ap.add_argument("--rest-connections", type=int, default=64)
    ap.add_argument(
        "--cluster", action="store_true", help="run against lfg cluster: 2 gateways, 2 shards"
    )
    ap.add_argument("--quick", action="store_true", help="3 s, 4 connections: a smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.connections, args.rest_connections = 3, 4, 8
    markets = [f"BENCH{i}" for i in range(args.markets)]
    tmp = tempfile.mkdtemp(prefix="lfgbench")
    procs: list[subprocess.Popen[bytes]] = []
    headline: dict[str, Any] = {}
    cluster = None
    try:
        base = args.target
        cluster = None
        metric_urls: list[str] = []
        if args.cluster:
            from server.cluster import Cluster

            cluster = Cluster(
                gateways=2, shards=2, standby=0, data_dir=os.path.join(tmp, "cluster"),
                admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD,
                env={"LFG_LOG_LEVEL": "WARNING", "LFG_MAX_OPEN_ORDERS": "100000", **limits_off()},
            )  # fmt: skip
            cluster.start()
            base = cluster.urls()[0]
            metric_urls = [f"http://127.0.0.1:{p}" for p in cluster.metrics_ports]
        elif base is None:
            port = free_port()
            procs.append(start_lfg(os.path.join(tmp, "lfg"), port, args.shards, env=limits_off()))
            base = f"http://127.0.0.1:{port}"
        if not metric_urls:
            metric_urls = [base]
        wait_http(base + "/ready")
        users = setup_lfg(
            base, max(args.connections, args.rest_connections if args.peer else 0), markets
        )
        print(
            f"machine: {os.cpu_count()} cores; load: {args.procs} client processes, {args.connections} WS bots x "
            f"{args.window} in flight, {args.duration:.0f} s, {len(markets)} markets, {args.shards} shard(s)",
            flush=True,
        )
        before = scrape(metric_urls)
        ws_urls = [
            u.replace("http", "ws") + "/ws/v1" for u in (cluster.urls() if cluster else [base])
        ]
        res, dur = drive(
            users[: args.connections],
            args.procs,
            transport="ws",
            ws_url=ws_urls[0],
            ws_urls=ws_urls,
            watch_url=ws_urls[-1],
            base=base,
            flavour="lfg",
            markets=markets,
            window=args.window,
            duration=args.duration,
        )
        after = scrape(metric_urls)
        batches = after.get("lfg_batch_size_count", 0) - before.get("lfg_batch_size_count", 0)
        cmds = after.get("lfg_batch_size_sum", 0) - before.get("lfg_batch_size_sum", 0)
        trades = after.get("lfg_trades_total", 0) - before.get("lfg_trades_total", 0)
        extra = f"| mean batch {cmds / max(1, batches):.1f} commands over {int(batches):,} commits"
        if trades:
            extra += f", {trades / dur:,.0f} trades/s"
        fig = report("lfg (WebSocket)", res, dur, extra)
        if res.lag_ms:
            print(
                f"market data: trade (command at a gateway) -> subscriber on {'the other' if cluster else 'the'} gateway: "
                f"p50 {pct(res.lag_ms, 50):.1f} ms  p99 {pct(res.lag_ms, 99):.1f} ms over {len(res.lag_ms):,} trades",
                flush=True,
            )
        headline = {
            "mode": "cluster (2 gateways, 2 shards)" if cluster else "embedded",
            "md_lag_p99_ms": round(pct(res.lag_ms, 99), 1) if res.lag_ms else None,
            "orders_per_s": fig["orders_per_s"],
            "p50_ms": fig["p50_ms"],
            "p95_ms": fig["p95_ms"],
            "p99_ms": fig["p99_ms"],
            "error_rate": fig["error_rate"],
            "mean_batch": round(cmds / max(1, batches), 1),
        }
        if args.peer:
            n = args.rest_connections
            res_rest, dur = drive(
                users[:n],
                args.procs,
                transport="rest",
                ws_url="",
                base=base,
                flavour="lfg",
                markets=markets,
                window=1,
                duration=args.duration,
            )
            fig_rest = report(f"lfg (REST, {n} conns)", res_rest, dur)
            pport = free_port()
            procs.append(start_peer(os.path.join(tmp, "peer"), pport, markets))
            pbase = f"http://127.0.0.1:{pport}"
            wait_http(pbase + "/healthz")
            peer_users = [("", i + 1) for i in range(n)]
            res_peer, dur = drive(
                peer_users,
                args.procs,
                transport="rest",
                ws_url="",
                base=pbase,
                flavour="peer",
                markets=markets,
                window=1,
                duration=args.duration,
            )
            fig_peer = report(f"matching-engine ({n})", res_peer, dur)
            ratio_rest = fig_rest["orders_per_s"] / max(1, fig_peer["orders_per_s"])
            ratio_ws = fig["orders_per_s"] / max(1, fig_peer["orders_per_s"])
            print(
                f"ratio lfg/peer: REST vs REST {ratio_rest:.2f}x, lfg WebSocket vs peer REST {ratio_ws:.2f}x",
                flush=True,
            )
            headline.update(
                {
                    "rest_orders_per_s": fig_rest["orders_per_s"],
                    "peer_orders_per_s": fig_peer["orders_per_s"],
                    "peer_p99_ms": fig_peer["p99_ms"],
                    "ratio_rest_vs_peer": round(ratio_rest, 2),
                    "ratio_ws_vs_peer": round(ratio_ws, 2),
                }
            )
    finally:
        if cluster is not None:
            cluster.stop()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
