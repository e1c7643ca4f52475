"""The simulated users of a load run, one coroutine each, and the client process that
runs a share of them.

Four kinds (the mix and their rates are set per scenario; `ACTOR_PARAMS` lists the knobs):

- **maker**: quotes both sides of its markets (`maker_levels` bids and asks around a fair
  value that random-walks, as the demo market maker's `ladder`/`walk`) and every
  `maker_interval` seconds cancels its quotes and places new ones, all pipelined;
- **taker**: `taker_rate` orders a second, in ticks of `taker_tick` seconds: market
  orders (`taker_market_share`) and marketable IOC limit orders priced at the best
  opposite quote it sees on `ticker:M`;
- **browser**: logs in over REST (`POST /auth/login`, a real argon2 check), loads the
  market list (`GET /markets`), opens a WebSocket, authenticates, subscribes to
  `book:M`, `trades:M` and `ticker:M`, and every `browser_order_every` seconds (on
  average) places a small order (a resting limit or a marketable one), cancelling the
  previous one if it still rests;
- **dashboard**: subscribes to market data only (no login) and reads it.

Every subscriber (browser, dashboard) times each `trade` message it receives against the
trade's `ts` (the time its command reached the gateway; same machine clock).

Three flavours of targets: `lfg` over WebSocket (`LfgSocket`, the project's client, with
pipelining), `lfg` over REST (the minimal keep-alive HTTP client, one request in flight),
and the peer `matching-engine` (REST order entry and its per-market WebSocket feed; it has
no users or logins, so only makers, takers and dashboards run against it).

Each simulated user may carry its own client address, sent as `X-Forwarded-For` (which
uvicorn honours from 127.0.0.1, as it would from the deployment's reverse proxy), so
per-IP rate limits see one address per user as in production. Every connection is to the
target on 127.0.0.1. Every loop is bounded by a deadline and by a count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import re
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import WebSocketException

from loadtest.client import (
    LfgClient,
    LfgError,
    LfgSocket,
    Message,
    ws_url,
)
from loadtest.demo_bot import MakerConfig, ladder, walk
from loadtest.harness import Http, raise_nofile
from loadtest.stats import Recorder

KINDS = ("maker", "taker", "browser", "dashboard")

#: Actor parameters and their defaults; a scenario or `--param name=value` overrides them.
ACTOR_PARAMS: dict[str, float] = {
    "maker_markets": 2,  # markets each maker quotes
    "maker_levels": 2,  # bids and asks per market
    "maker_interval": 1.0,  # seconds between cancel/replace cycles
    "maker_qty_max": 20,
    "taker_markets": 2,
    "taker_rate": 2.0,  # orders per second per taker
    "taker_tick": 0.1,  # seconds: a taker sends its orders of a tick together
    "taker_market_share": 0.5,  # market orders; the rest are marketable IOC limits
    "taker_qty_max": 5,
    "browser_markets": 1,
    "browser_order_every": 20.0,  # mean seconds between a browser's orders
    "dashboard_markets": 1,
    "request_timeout": 10.0,  # seconds to wait for any reply
    "login_timeout": 60.0,  # seconds to wait for a login (argon2 queues under load)
    "connect_attempts": 3,  # tries to connect (or log in) before giving up
    "connect_concurrency": 32,  # handshakes in flight per client process
}

#: Seconds an actor may overrun its stop time while closing.
CLOSE_GRACE_S = 10.0


@dataclass
class Actor:
    """One simulated user: what it is, when it runs (seconds after the run's start) and
    its credentials."""

    kind: str
    index: int
    start: float
    stop: float
    markets: list[str]
    seed: int
    ip: str = ""
    email: str = ""
    token: str = ""
    account: int = 0
    #: The first subscriber of each market counts its trades (`trades_seen`), so the
    #: trades of a target without /metrics (the peer) are counted once.
    count_trades: bool = False


@dataclass
class WorkerSpec:
    """What one client process runs."""

    flavour: str  # lfg | peer
    transport: str  # ws | rest
    base: str  # http://127.0.0.1:port
    password: str
    params: dict[str, float]
    actors: list[Actor] = field(default_factory=list)
    end: float = 0.0  # seconds after t0 by which everything has stopped


@dataclass
class Ctx:
    spec: WorkerSpec
    rec: Recorder
    t0: float
    p: dict[str, float]
    slots: asyncio.Semaphore
    conns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    active: int = 0
    md_msgs: int = 0

    def until(self, offset: float) -> float:
        """Seconds from now to `t0 + offset` (may be negative)."""
        return self.t0 + offset - time.time()


# ---------------------------------------------------------------------------- recording


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, LfgError):
        return exc.code
    if isinstance(exc, TimeoutError):
        return "client_timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "client_timeout"
    if isinstance(exc, (OSError, httpx.TransportError, WebSocketException, EOFError)):
        return "connect_failed"
    return "exception:" + type(exc).__name__


async def timed(ctx: Ctx, op: str, aw: Awaitable[Any]) -> Any:
    """Await one request; record its latency under `ack.<op>` (order commands) or
    `req.<op>` (everything else) and count `ok.<op>` or `err.<op>.<code>`. A cancel
    refused with `not_found` lost a race with a fill: counted as `cancel_missed`, not as
    an error. Returns the reply, or None after an error."""
    kind = "ack." if op in ("place", "cancel", "cancel_all") else "req."
    t = time.perf_counter()
    try:
        reply = await aw
    except (LfgError, OSError, TimeoutError, WebSocketException, httpx.HTTPError) as exc:
        code = _error_code(exc)
        if code not in ("client_timeout", "connection_closed", "connect_failed"):
            ctx.rec.latency(kind + op, _ms(t))  # a reply from the server: timed too
        if op == "cancel" and code == "not_found":
            ctx.rec.count("cancel_missed")
        else:
            ctx.rec.count(f"err.{op}.{code}")
        return None
    ctx.rec.latency(kind + op, _ms(t))
    ctx.rec.count("ok." + op)
    return reply


def _trade_timer(ctx: Ctx, a: Actor, unit_per_ms: float) -> Callable[[Message], None]:
    """A `trade` handler: receive time minus the trade's `ts`, in ms, into `fill_to_sub`
    (`ts` is in ms for LFG, ns for the peer: `unit_per_ms`)."""
    rec = ctx.rec
    count = a.count_trades

    def on_trade(msg: Message) -> None:
        ts = msg.get("ts")
        if isinstance(ts, int):
            now = time.time()
            rec.latency("fill_to_sub", now * 1000 - ts / unit_per_ms, now)
            if count:
                rec.count("trades_seen", 1, now)

    return on_trade


def _retry_wait(exc: LfgError, default: float) -> float:
    """Seconds to wait before retrying after `rate_limited` (REST Retry-After, or the
    "retry in X s" of a WebSocket error), capped at 5 s."""
    if exc.retry_after is not None:
        return min(5.0, exc.retry_after)
    m = re.search(r"retry in ([0-9.]+)", exc.message)
    return min(5.0, float(m.group(1)) if m else default)


# ---------------------------------------------------------------------------- LFG WebSocket


async def open_socket(
    ctx: Ctx, a: Actor, token: str = "", channels: list[str] | None = None
) -> LfgSocket | None:
    """Connect (and authenticate, and subscribe), retrying up to `connect_attempts`
    times; None if it never worked. The whole set-up is timed as `req.connect`."""
    attempts = int(ctx.p["connect_attempts"])
    for attempt in range(attempts):
        if ctx.until(a.stop) <= 0:
            return None
        sock = LfgSocket(
            ws_url(ctx.spec.base),
            timeout=ctx.p["request_timeout"],
            queue_maxsize=None,
            track_books=False,
        )
        if a.ip:
            # LfgSocket passes its connect options to websockets' connect().
            sock._connect_kwargs["additional_headers"] = {"X-Forwarded-For": a.ip}
        t = time.perf_counter()
        try:
            async with ctx.slots:
                await sock.connect()
                if token:
                    await sock.auth(token)
                if channels:
                    await _subscribe(ctx, sock, channels, a)
        except (LfgError, OSError, TimeoutError, WebSocketException) as exc:
            code = _error_code(exc)
            ctx.rec.count(f"err.connect.{code}")
            await sock.close()
            if code == "unauthorized":
                return None
            await asyncio.sleep(min(2.0, 0.2 * 2**attempt) * random.random())
            continue
        ctx.rec.latency("req.connect", _ms(t))
        ctx.rec.count("ok.connect")
        ctx.conns[a.kind] += 1
        return sock
    return None


async def _subscribe(ctx: Ctx, sock: LfgSocket, channels: list[str], a: Actor) -> None:
    """Subscribe, waiting and retrying (at most 10 times) while `rate_limited`."""
    for _ in range(10):
        try:
            await sock.subscribe(channels)
            return
        except LfgError as exc:
            if exc.code != "rate_limited" or ctx.until(a.stop) <= 0:
                raise
            ctx.rec.count("err.subscribe.rate_limited")
            await asyncio.sleep(_retry_wait(exc, 0.5) * (1 + random.random()))
    raise LfgError("rate_limited", "subscribe refused 10 times")


async def close_socket(ctx: Ctx, sock: LfgSocket, a: Actor) -> None:
    if sock.closed and ctx.until(a.stop) > 1:
        reason = await sock.wait_closed()
        ctx.rec.count(f"err.ws.disconnected_{reason.close_code}")
    ctx.conns[a.kind] -= 1
    with contextlib.suppress(Exception):
        await asyncio.wait_for(sock.close(), 5)


async def hold(ctx: Ctx, sock: LfgSocket, a: Actor) -> None:
    """Stay connected until the actor's stop time (or the connection drops)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sock.wait_closed(), max(0.0, ctx.until(a.stop)))


async def lfg_maker(ctx: Ctx, a: Actor) -> None:
    sock = await open_socket(ctx, a, a.token)
    if sock is None:
        return
    try:
        rng = random.Random(a.seed)
        cfg = MakerConfig(levels=int(ctx.p["maker_levels"]), half_spread=1, step=1)
        fair = {m: rng.randint(400, 600) for m in a.markets}
        interval = ctx.p["maker_interval"]
        qmax = int(ctx.p["maker_qty_max"])
        live: list[str] = []
        # Makers are not in step with each other: each starts at a random phase.
        next_at = time.time() + rng.random() * min(interval, 2.0)
        cycles = math.ceil((a.stop - a.start) / interval) + 2
        for _ in range(cycles):
            await asyncio.sleep(max(0.0, min(next_at - time.time(), ctx.until(a.stop))))
            if ctx.until(a.stop) <= 0 or sock.closed:
                break
            cmds: list[Awaitable[Any]] = [timed(ctx, "cancel", sock.cancel(oid)) for oid in live]
            for m in a.markets:
                fair[m] = walk(fair[m], rng)
                for side, price in ladder(fair[m], cfg):
                    yes = side == "bid"
                    own = price if yes else 100 - price
                    qty = rng.randint(1, qmax)
                    cmds.append(
                        timed(ctx, "place", sock.place(m, "buy", "yes" if yes else "no", qty, own))
                    )
            replies = await asyncio.gather(*cmds)
            live = [
                r["order_id"]
                for r in replies
                if isinstance(r, dict) and r.get("status") in ("open", "partially_filled")
            ]
            ctx.rec.count(
                "fills", sum(1 for r in replies if isinstance(r, dict) and r.get("filled_qty"))
            )
            next_at += interval
            if next_at < time.time():
                ctx.rec.count("late_cycles")
                next_at = time.time()
        if not sock.closed:
            await timed(ctx, "cancel_all", sock.cancel_all())
    finally:
        await close_socket(ctx, sock, a)


async def lfg_taker(ctx: Ctx, a: Actor) -> None:
    best: dict[str, tuple[int | None, int | None]] = {}

    def on_ticker(msg: Message) -> None:
        best[msg["market"]] = (msg.get("best_bid"), msg.get("best_ask"))

    sock = await open_socket(ctx, a, a.token, [f"ticker:{m}" for m in a.markets])
    if sock is None:
        return
    sock.on("ticker", on_ticker)
    try:
        await _taker_loop(ctx, a, best, lambda *o: _ws_take(ctx, sock, *o), lambda: sock.closed)
    finally:
        await close_socket(ctx, sock, a)


async def _ws_take(
    ctx: Ctx, sock: LfgSocket, market: str, outcome: str, qty: int, price: int | None
) -> None:
    if price is None:
        coro = sock.place(market, "buy", outcome, qty, type="market")  # type: ignore[arg-type]
    else:
        coro = sock.place(market, "buy", outcome, qty, price, tif="ioc")  # type: ignore[arg-type]
    r = await timed(ctx, "place", coro)
    if isinstance(r, dict) and r.get("filled_qty"):
        ctx.rec.count("fills")


async def _taker_loop(
    ctx: Ctx,
    a: Actor,
    best: dict[str, tuple[int | None, int | None]],
    take: Callable[[str, str, int, int | None], Awaitable[None]],
    closed: Callable[[], bool],
    sequential: bool = False,
) -> None:
    """`taker_rate` orders a second in ticks; buys YES or NO, a market order or an IOC
    limit at the best opposite quote known (from tickers; 60 when none is known)."""
    rng = random.Random(a.seed)
    tick = ctx.p["taker_tick"]
    per_tick = ctx.p["taker_rate"] * tick
    qmax = int(ctx.p["taker_qty_max"])
    share = ctx.p["taker_market_share"]
    carry = rng.random()
    next_at = time.time() + rng.random() * tick
    for _ in range(math.ceil((a.stop - a.start) / tick) + 2):
        delay = next_at - time.time()
        if delay > 0:
            await asyncio.sleep(min(delay, max(0.0, ctx.until(a.stop))))
        if ctx.until(a.stop) <= 0 or closed():
            return
        carry += per_tick
        n = int(carry)
        carry -= n
        orders = []
        for _ in range(n):
            market = rng.choice(a.markets)
            yes = rng.random() < 0.5
            price: int | None = None
            if rng.random() >= share:
                bid, ask = best.get(market, (None, None))
                price = (ask or 60) if yes else 100 - (bid or 40)
                price = max(1, min(99, price))
            orders.append((market, "yes" if yes else "no", rng.randint(1, qmax), price))
        if sequential:
            for o in orders:
                await take(*o)
        else:
            await asyncio.gather(*(take(*o) for o in orders))
        next_at += tick
        if next_at < time.time():
            ctx.rec.count("late_cycles")
            next_at = time.time()


async def lfg_browser(ctx: Ctx, a: Actor) -> None:
    token = await _login(ctx, a)
    async with LfgClient(ctx.spec.base, timeout=ctx.p["request_timeout"], token=token) as rest:
        if a.ip:
            rest.http.headers["X-Forwarded-For"] = a.ip
        await timed(ctx, "markets", rest.markets())
    m = a.markets[0]
    channels = [f"{kind}:{mk}" for mk in a.markets for kind in ("book", "trades", "ticker")]
    sock = await open_socket(ctx, a, token or "", channels)
    if sock is None:
        return
    mid = 50

    def on_ticker(msg: Message) -> None:
        nonlocal mid
        bid, ask = msg.get("best_bid"), msg.get("best_ask")
        if msg.get("market") == m and bid and ask:
            mid = (bid + ask) // 2

    sock.on("trade", _trade_timer(ctx, a, 1))
    sock.on("ticker", on_ticker)
    sock.on("*", lambda _m: _count_md(ctx))
    try:
        if not token:
            await hold(ctx, sock, a)
            return
        rng = random.Random(a.seed)
        resting: str | None = None
        mean = ctx.p["browser_order_every"]
        for _ in range(int((a.stop - a.start) / max(0.5, mean)) * 4 + 4):
            wait = min(rng.expovariate(1 / mean), max(0.0, ctx.until(a.stop)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sock.wait_closed(), wait)
            if ctx.until(a.stop) <= 0 or sock.closed:
                break
            if resting is not None:
                await timed(ctx, "cancel", sock.cancel(resting))
                resting = None
            own = max(1, min(99, mid + rng.randint(-4, 2)))
            r = await timed(ctx, "place", sock.place(m, "buy", "yes", rng.randint(1, 5), own))
            if isinstance(r, dict):
                if r.get("filled_qty"):
                    ctx.rec.count("fills")
                if r.get("status") in ("open", "partially_filled"):
                    resting = r["order_id"]
        if resting is not None and not sock.closed:
            await timed(ctx, "cancel", sock.cancel(resting))
    finally:
        await close_socket(ctx, sock, a)


def _count_md(ctx: Ctx) -> None:
    ctx.md_msgs += 1


async def _login(ctx: Ctx, a: Actor) -> str | None:
    """`POST /auth/login`; the access token, or None when it failed (the browser then
    watches as a visitor). Waits out `rate_limited` and retries, `connect_attempts`
    times at most."""
    async with LfgClient(ctx.spec.base, timeout=ctx.p["login_timeout"]) as rest:
        if a.ip:
            rest.http.headers["X-Forwarded-For"] = a.ip
        for _ in range(int(ctx.p["connect_attempts"])):
            t = time.perf_counter()
            try:
                # A user whose login has not finished by the end of its session gave up.
                async with asyncio.timeout(max(0.1, ctx.until(a.stop))):
                    tokens = await rest.login(a.email, ctx.spec.password)
            except LfgError as exc:
                ctx.rec.latency("req.login", _ms(t))
                ctx.rec.count(f"err.login.{exc.code}")
                if exc.code != "rate_limited" or ctx.until(a.stop) <= 0:
                    break
                await asyncio.sleep(_retry_wait(exc, 1.0) * (1 + random.random()))
                continue
            except (httpx.HTTPError, OSError) as exc:
                ctx.rec.count(f"err.login.{_error_code(exc)}")
                break
            ctx.rec.latency("req.login", _ms(t))
            ctx.rec.count("ok.login")
            ctx.rec.count("login.ok")
            return str(tokens["access_token"])
    ctx.rec.count("login.failed")
    return None


async def lfg_dashboard(ctx: Ctx, a: Actor) -> None:
    channels = [f"{kind}:{m}" for m in a.markets for kind in ("book", "trades", "ticker")]
    sock = await open_socket(ctx, a, "", channels)
    if sock is None:
        return
    sock.on("trade", _trade_timer(ctx, a, 1))
    sock.on("*", lambda _m: _count_md(ctx))
    try:
        await hold(ctx, sock, a)
    finally:
        await close_socket(ctx, sock, a)


# ---------------------------------------------------------------------------- REST order entry


class RestOrders:
    """Order entry over one keep-alive HTTP connection, LFG's `/api/v1/orders` or the
    peer's `/markets/{m}/orders`, with the same recording as the WebSocket actors.

    The peer has one book per market and no outcomes: buy YES at p is its buy at p, buy NO
    at p its sell at 100 - p (its accounts hold no positions)."""

    def __init__(self, ctx: Ctx, a: Actor) -> None:
        self.ctx, self.a = ctx, a
        self.http = Http.for_url(ctx.spec.base)
        self.peer = ctx.spec.flavour == "peer"
        self.auth = "" if self.peer else f"Authorization: Bearer {a.token}\r\n"
        if a.ip:
            self.auth += f"X-Forwarded-For: {a.ip}\r\n"
        self.ok = False

    async def connect(self) -> bool:
        t = time.perf_counter()
        try:
            async with self.ctx.slots:
                await asyncio.wait_for(self.http.connect(), self.ctx.p["request_timeout"])
        except (OSError, TimeoutError) as exc:
            self.ctx.rec.count(f"err.connect.{_error_code(exc)}")
            return False
        self.ctx.rec.latency("req.connect", _ms(t))
        self.ctx.rec.count("ok.connect")
        self.ctx.conns[self.a.kind] += 1
        self.ok = True
        return True

    def close(self) -> None:
        if self.ok:
            self.ctx.conns[self.a.kind] -= 1
            self.ok = False
        self.http.close()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        status, raw = await asyncio.wait_for(
            self.http.request(
                method, path, json.dumps(body).encode() if body is not None else None, self.auth
            ),
            self.ctx.p["request_timeout"],
        )
        data = json.loads(raw) if raw else {}
        if status >= 400:
            code = data.get("code") if isinstance(data, dict) else None
            raise LfgError(code or f"http_{status}", str(data)[:200], status)
        return data

    async def place(self, market: str, outcome: str, qty: int, price: int | None, tif: str) -> Any:
        """Returns `(order_id, resting, filled)` or None after an error."""
        if self.peer:
            side = "buy" if outcome == "yes" else "sell"
            body: dict[str, Any] = {"account": self.a.account, "side": side, "quantity": str(qty)}
            if price is None:
                body["type"] = "market"
            else:
                body["price"] = str(price if outcome == "yes" else 100 - price)
                body["time_in_force"] = tif
            r = await timed(
                self.ctx, "place", self._call("POST", f"/markets/{market}/orders", body)
            )
            if r is None:
                return None
            status = r.get("status")
            return (
                str(r.get("order_id")),
                status in ("resting", "partially_filled"),
                status in ("filled", "partially_filled"),
            )
        lbody: dict[str, Any] = {
            "market": market,
            "side": "buy",
            "outcome": outcome,
            "qty": qty,
            "tif": tif,
        }
        if price is None:
            lbody["type"] = "market"
        else:
            lbody["price"] = price
        r = await timed(self.ctx, "place", self._call("POST", "/api/v1/orders", lbody))
        if r is None:
            return None
        o = r["order"]
        return (o["order_id"], o["status"] in ("open", "partially_filled"), bool(o["filled_qty"]))

    async def cancel(self, market: str, oid: str) -> None:
        if self.peer:
            path = f"/markets/{market}/orders/{oid}?account={self.a.account}"
            r = await timed(self.ctx, "cancel", self._call("DELETE", path, None))
            if isinstance(r, dict) and r.get("status") != "cancelled":
                # The peer answers 200 "rejected" for an order no longer resting.
                self.ctx.rec.count("ok.cancel", -1)
                self.ctx.rec.count("cancel_missed")
        else:
            await timed(self.ctx, "cancel", self._call("DELETE", f"/api/v1/orders/{oid}", None))

    @property
    def broken(self) -> bool:
        return self.http.w.is_closing() if self.ok else True


async def rest_maker(ctx: Ctx, a: Actor) -> None:
    orders = RestOrders(ctx, a)
    if not await orders.connect():
        return
    try:
        rng = random.Random(a.seed)
        cfg = MakerConfig(levels=int(ctx.p["maker_levels"]), half_spread=1, step=1)
        fair = {m: rng.randint(400, 600) for m in a.markets}
        interval = ctx.p["maker_interval"]
        qmax = int(ctx.p["maker_qty_max"])
        live: list[tuple[str, str]] = []
        next_at = time.time() + rng.random() * min(interval, 2.0)
        for _ in range(math.ceil((a.stop - a.start) / interval) + 2):
            await asyncio.sleep(max(0.0, min(next_at - time.time(), ctx.until(a.stop))))
            if ctx.until(a.stop) <= 0 or orders.broken:
                break
            for market, oid in live:
                await orders.cancel(market, oid)
            live = []
            for m in a.markets:
                fair[m] = walk(fair[m], rng)
                for side, price in ladder(fair[m], cfg):
                    yes = side == "bid"
                    r = await orders.place(
                        m,
                        "yes" if yes else "no",
                        rng.randint(1, qmax),
                        price if yes else 100 - price,
                        "gtc",
                    )
                    if r is not None:
                        if r[1]:
                            live.append((m, r[0]))
                        if r[2]:
                            ctx.rec.count("fills")
            next_at += interval
            if next_at < time.time():
                ctx.rec.count("late_cycles")
                next_at = time.time()
        for market, oid in live:
            if orders.broken:
                break
            await orders.cancel(market, oid)
    finally:
        orders.close()


async def rest_taker(ctx: Ctx, a: Actor) -> None:
    orders = RestOrders(ctx, a)
    if not await orders.connect():
        return

    async def take(market: str, outcome: str, qty: int, price: int | None) -> None:
        r = await orders.place(market, outcome, qty, price, "ioc")
        if r is not None and r[2]:
            ctx.rec.count("fills")

    try:
        await _taker_loop(ctx, a, {}, take, lambda: orders.broken, sequential=True)
    finally:
        orders.close()


async def peer_dashboard(ctx: Ctx, a: Actor) -> None:
    """The peer's feed: `/markets/{m}/ws` (a depth snapshot, then trades and depth);
    its trade `ts` is in nanoseconds (the command's sequencing time)."""
    url = ws_url(ctx.spec.base).removesuffix("/ws/v1") + f"/markets/{a.markets[0]}/ws"
    on_trade = _trade_timer(ctx, a, 1e6)
    t = time.perf_counter()
    try:
        async with ctx.slots:
            ws = await ws_connect(url, compression=None, max_size=2**22)
    except (OSError, TimeoutError, WebSocketException) as exc:
        ctx.rec.count(f"err.connect.{_error_code(exc)}")
        return
    ctx.rec.latency("req.connect", _ms(t))
    ctx.rec.count("ok.connect")
    ctx.conns[a.kind] += 1
    try:
        async with asyncio.timeout(max(0.0, ctx.until(a.stop))):
            async for raw in ws:
                ctx.md_msgs += 1
                if isinstance(raw, str) and '"trade"' in raw[:20]:
                    on_trade(json.loads(raw))
    except TimeoutError:
        pass
    except WebSocketException:
        ctx.rec.count("err.ws.disconnected")
    finally:
        ctx.conns[a.kind] -= 1
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)


ACTORS: dict[tuple[str, str, str], Callable[[Ctx, Actor], Awaitable[None]]] = {
    ("lfg", "ws", "maker"): lfg_maker,
    ("lfg", "ws", "taker"): lfg_taker,
    ("lfg", "ws", "browser"): lfg_browser,
    ("lfg", "ws", "dashboard"): lfg_dashboard,
    ("lfg", "rest", "maker"): rest_maker,
    ("lfg", "rest", "taker"): rest_taker,
    ("lfg", "rest", "browser"): lfg_browser,
    ("lfg", "rest", "dashboard"): lfg_dashboard,
    ("peer", "rest", "maker"): rest_maker,
    ("peer", "rest", "taker"): rest_taker,
    ("peer", "rest", "dashboard"): peer_dashboard,
}


# ---------------------------------------------------------------------------- the process


async def run_actor(ctx: Ctx, a: Actor) -> None:
    delay = ctx.until(a.start)
    if delay > 0:
        await asyncio.sleep(delay)
    fn = ACTORS.get((ctx.spec.flavour, ctx.spec.transport, a.kind))
    if fn is None:
        return
    ctx.active += 1
    try:
        async with asyncio.timeout(max(1.0, ctx.until(a.stop) + CLOSE_GRACE_S)):
            await fn(ctx, a)
    except TimeoutError:
        ctx.rec.count(f"err.{a.kind}.overran")
    except Exception as exc:  # a bug in an actor must not stop the others
        ctx.rec.count(f"err.{a.kind}.exception:{type(exc).__name__}")
    finally:
        ctx.active -= 1


def _gauges(ctx: Ctx) -> None:
    for kind, n in ctx.conns.items():
        ctx.rec.gauge("conns." + kind, n)
    ctx.rec.gauge("conns", sum(ctx.conns.values()))
    ctx.rec.gauge("actors", ctx.active)


async def sample(ctx: Ctx, end: float) -> None:
    """Once a second, at the middle of the second: connections held (by actor kind) and
    actors running in this process, market-data messages received since the last
    sample, and how late the event loop woke this task (`loop_lag`: a busy generator
    shows here)."""
    for _ in range(int(end) + 60):
        _gauges(ctx)
        ctx.rec.count("md_msgs", ctx.md_msgs)
        ctx.md_msgs = 0
        if ctx.until(end) <= -CLOSE_GRACE_S:
            return
        wake = time.time() + 1.0 - (time.time() - ctx.t0 - 0.5) % 1.0
        await asyncio.sleep(wake - time.time())
        ctx.rec.latency("loop_lag", max(0.0, (time.time() - wake) * 1000))


async def run_worker(spec: WorkerSpec, rec: Recorder) -> None:
    ctx = Ctx(
        spec, rec, rec.t0, spec.params, asyncio.Semaphore(int(spec.params["connect_concurrency"]))
    )
    sampler = asyncio.create_task(sample(ctx, spec.end))
    try:
        async with asyncio.timeout(max(1.0, ctx.until(spec.end) + 2 * CLOSE_GRACE_S)):
            await asyncio.gather(*(run_actor(ctx, a) for a in spec.actors))
    except TimeoutError:
        rec.count("err.worker.overran")
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    _gauges(ctx)


def worker_main(spec_json: str, t0_value: Any, ready: Any, out: Any) -> None:
    """A client process: announce readiness, wait for the common start time, run the
    actors, send back the measurements and this process's CPU time."""
    raise_nofile()
    d = json.loads(spec_json)
    spec = WorkerSpec(**{k: v for k, v in d.items() if k != "actors"})
    spec.actors = [Actor(**x) for x in d["actors"]]
    ready.put(os.getpid())
    for _ in range(6000):  # up to 10 minutes
        if t0_value.value > 0:
            break
        time.sleep(0.1)
    rec = Recorder(t0_value.value or time.time())
    asyncio.run(run_worker(spec, rec))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.put(
        json.dumps(
            {
                "pid": os.getpid(),
                "rec": rec.to_json(),
                "cpu_s": ru.ru_utime + ru.ru_stime,
                "maxrss_kb": ru.ru_maxrss,
                "actors": len(spec.actors),
            }
        )
    )


def spec_json(spec: WorkerSpec) -> str:
    return json.dumps(asdict(spec))
