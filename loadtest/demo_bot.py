"""The demo market maker: live books and trades for a newcomer (`lfg serve --demo`).

It trades over the real protocol (WebSocket `/ws/v1`), as any bot would:

- subscribes `book:MKT` for each market and `orders` for its own order updates;
- keeps a ladder of `levels` bids and asks around a fair value that random-walks slowly
  (and leans away from fills). The bot holds cash, not contracts, so both sides are
  buys: a bid at YES price p is "buy YES at p", an ask at YES price a is "buy NO at
  100 - a" (the same book, DESIGN.md §1). Quotes are post-only with `client_order_id`s;
- every `interval` (~1 s) it cancels the quotes that left the ladder and places the
  missing ones (quotes still wanted keep their queue priority);
- now and then it takes liquidity with a small IOC order so trades print. A user cannot
  trade with itself (self-trade prevention), so give it `taker_token` (a second user) for
  trades without other participants; without one it only takes others' quotes;
- a business rejection is logged and backs that market off (insufficient_funds,
  too_many_open_orders, rate_limited, market_not_open; exponential up to 60 s);
  post_only_would_cross just skips that quote; a lost connection reconnects with backoff;
- never floods: at most `max_rate` commands (default 20) in any one-second window per
  market, the taker's included.

Deterministic given `seed` except for timing: each market draws from its own
`random.Random(f"lfg-mm:{seed}:{market}")`. On start (and on every reconnect) it cancels
its orders in its markets for a clean slate; on `stop` it cancels them again and returns.
Pass an API key as `token` (access tokens expire after 15 minutes).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from websockets.exceptions import WebSocketException

from loadtest.client import (
    FINAL_STATUSES,
    BookReplica,
    BookSide,
    LfgConnectionClosed,
    LfgError,
    LfgSocket,
    LfgTimeoutError,
    Message,
    Outcome,
    book_key,
    ws_url,
)

log = logging.getLogger("lfg.demo_bot")

Quote = tuple[BookSide, int]
"""A ladder slot: book side and YES price in cents."""

#: Fair value is kept in tenths of a cent (an integer), within 10..90 cents.
FAIR_MIN, FAIR_MAX = 100, 900
#: Errors that mean "not now": back off this market for a while (seconds, doubled per
#: consecutive failure up to BACKOFF_MAX).
BACKOFF_BASE: dict[str, float] = {
    "insufficient_funds": 5.0,
    "too_many_open_orders": 5.0,
    "market_not_open": 5.0,
    "rate_limited": 1.0,
}
BACKOFF_MAX = 60.0
#: Codes refusing one quote only.
SKIP_CODES = frozenset({"post_only_would_cross"})
#: Codes that are fatal at start-up: retrying will not help.
FATAL_CODES = frozenset({"unauthorized", "forbidden"})


@dataclass(frozen=True, slots=True)
class MakerConfig:
    levels: int = 3
    #: Cents between fair value and the best quote on each side.
    half_spread: int = 1
    #: Cents between ladder levels.
    step: int = 1
    qty_min: int = 5
    qty_max: int = 40
    #: Seconds between requotes.
    interval: float = 1.0
    #: Probability per tick of one taking (IOC) order.
    take_prob: float = 0.3
    take_qty_max: int = 5
    #: Commands per market in any one-second window.
    max_rate: int = 20
    #: Tenths of a cent the fair value leans away from each fill of a quote.
    fill_skew: int = 3


def ladder(fair: int, cfg: MakerConfig) -> list[Quote]:
    """The quotes wanted around `fair` (tenths of a cent): `levels` bids at
    floor(fair) - half_spread - i*step and asks at ceil(fair) + half_spread + i*step,
    kept within 1..99. Every bid is below every ask."""
    best_bid = fair // 10 - cfg.half_spread
    best_ask = -(-fair // 10) + cfg.half_spread
    out: list[Quote] = []
    for i in range(cfg.levels):
        bid, ask = best_bid - i * cfg.step, best_ask + i * cfg.step
        if bid >= 1:
            out.append(("bid", bid))
        if ask <= 99:
            out.append(("ask", ask))
    return out


def walk(fair: int, rng: random.Random) -> int:
    """One step of the fair value: ±0.6 cents of noise plus a pull of 1% toward 50."""
    fair += rng.randint(-6, 6) + (500 - fair) // 100
    return min(FAIR_MAX, max(FAIR_MIN, fair))


class SlidingWindow:
    """At most `limit` acquisitions in any `window` seconds (exact, not a token bucket)."""

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._times: collections.deque[float] = collections.deque()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return
            await asyncio.sleep(self._times[0] + self.window - now)


class MarketMaker:
    """The quoting state of one market; it outlives reconnections."""

    def __init__(
        self, market: str, seed: int, cfg: MakerConfig, cid_prefix: str, cids: Iterator[int]
    ) -> None:
        self.market = market
        self.cfg = cfg
        self.rng = random.Random(f"lfg-mm:{seed}:{market}")
        self.fair: int | None = None
        self.limiter = SlidingWindow(cfg.max_rate)
        self.live: dict[Quote, str] = {}
        self._orders: dict[str, Quote] = {}
        self._filled: dict[str, int] = {}
        self._done: set[str] = set()
        self._cid_prefix = cid_prefix
        self._cids = cids
        self.backoff_until = 0.0
        self.take_backoff_until = 0.0
        self._streak = 0
        self.needs_reset = False
        self.finished = False

    # ---- order bookkeeping (fed by replies and `order` pushes)

    def next_cid(self, kind: str = "") -> str:
        """A `client_order_id` unique among the user's orders: run prefix + shared counter."""
        return f"{self._cid_prefix}{kind}{next(self._cids)}"

    def forget_all(self) -> None:
        self.live.clear()
        self._orders.clear()
        self._filled.clear()

    def track(self, order: Message) -> None:
        """A `placed` reply: remember the quote unless it is already finished."""
        oid = str(order["order_id"])
        if order["status"] in FINAL_STATUSES or oid in self._done:
            return
        key = book_key(order["side"], order["outcome"], order["price"])
        self.live[key] = oid
        self._orders[oid] = key
        self._filled[oid] = order.get("filled_qty", 0)

    def on_order(self, order: Message) -> None:
        """An `order` push: lean the fair value away from fills; drop finished quotes."""
        oid = str(order["order_id"])
        key = self._orders.get(oid)
        final = order.get("status") in FINAL_STATUSES
        if key is None:
            if final:
                if len(self._done) > 10_000:
                    self._done.clear()
                self._done.add(oid)  # the push beat the `placed` reply
            return
        filled = order.get("filled_qty", 0)
        if filled > self._filled.get(oid, 0) and self.fair is not None:
            # Our bid was hit: sellers think it is worth less. Our ask was lifted: more.
            lean = -self.cfg.fill_skew if key[0] == "bid" else self.cfg.fill_skew
            self.fair = min(FAIR_MAX, max(FAIR_MIN, self.fair + lean))
        self._filled[oid] = filled
        if final:
            self._untrack(oid)

    def _untrack(self, oid: str) -> None:
        key = self._orders.pop(oid, None)
        self._filled.pop(oid, None)
        if key is not None and self.live.get(key) == oid:
            del self.live[key]

    def start_fair(self, book: BookReplica) -> int:
        """First fair value: the book's mid if two-sided, else the last trade, else random."""
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            fair = (bid + ask) * 5
        elif book.last_price is not None:
            fair = book.last_price * 10
        else:
            fair = self.rng.randint(300, 700)
        return min(FAIR_MAX, max(FAIR_MIN, fair))

    # ---- errors

    def back_off(self, exc: LfgError, what: str) -> None:
        """Log a rejection and pause this market (or only the taking, for the taker)."""
        if exc.code in SKIP_CODES:
            log.debug("%s %s: %s", self.market, what, exc)
            return
        if isinstance(exc, LfgTimeoutError) or exc.code == "too_many_open_orders":
            self.needs_reset = True  # the order may exist: start from a clean slate
        self._streak += 1
        base = exc.retry_after or BACKOFF_BASE.get(exc.code, 2.0)
        delay = min(BACKOFF_MAX, base * 2 ** min(self._streak - 1, 6))
        until = asyncio.get_running_loop().time() + delay
        if what == "take":
            self.take_backoff_until = until
        else:
            self.backoff_until = until
        log.warning("%s %s rejected (%s); backing off %.0f s", self.market, what, exc, delay)

    # ---- one requote

    async def tick(self, sock: LfgSocket, taker: LfgSocket | None) -> None:
        """Requote once: cancel quotes that left the ladder, place missing ones, maybe take."""
        book = sock.book(self.market)
        if book is None or book.stale:
            return  # waiting for a (re)snapshot
        if book.status in ("closed", "resolved"):
            if not self.finished:
                log.info("%s is %s: no more quotes", self.market, book.status)
                self.finished = True
            return
        fair = self.fair if self.fair is not None else self.start_fair(book)
        self.fair = fair = walk(fair, self.rng)
        loop = asyncio.get_running_loop()
        if book.status == "halted" or loop.time() < self.backoff_until:
            return
        try:
            if self.needs_reset:
                await self.limiter.acquire()
                await sock.cancel_all(self.market)
                self.forget_all()
                self.needs_reset = False
            wanted = ladder(fair, self.cfg)
            for key in [k for k in self.live if k not in wanted]:
                await self._cancel(sock, key)
            for key in wanted:
                if key not in self.live:
                    await self._quote(sock, key)
        except LfgConnectionClosed:
            raise
        except LfgError as exc:
            self.back_off(exc, "quote")
            return
        self._streak = 0
        if self.rng.random() < self.cfg.take_prob:
            await self._take(sock, taker, book)

    async def _cancel(self, sock: LfgSocket, key: Quote) -> None:
        oid = self.live[key]
        await self.limiter.acquire()
        try:
            await sock.cancel(order_id=oid)
        except LfgError as exc:
            if exc.code not in ("not_found", "conflict"):
                raise
            # Already filled or cancelled: nothing rests there any more.
        self._untrack(oid)

    async def _quote(self, sock: LfgSocket, key: Quote) -> None:
        side, price = key
        qty = self.rng.randint(self.cfg.qty_min, self.cfg.qty_max)
        outcome: Outcome = "yes" if side == "bid" else "no"
        own_price = price if side == "bid" else 100 - price
        await self.limiter.acquire()
        try:
            order = await sock.place(
                self.market,
                "buy",
                outcome,
                qty,
                price=own_price,
                post_only=True,
                client_order_id=self.next_cid(),
            )
        except LfgError as exc:
            if exc.code not in SKIP_CODES:
                raise
            log.debug("%s quote %s %d skipped: %s", self.market, side, price, exc.code)
            return
        self.track(order)

    async def _take(self, sock: LfgSocket, taker: LfgSocket | None, book: BookReplica) -> None:
        """One small IOC order at the best opposite price: buy YES at the best ask, or buy
        NO at 100 - best bid (in the YES book, a sell at the bid)."""
        buy_yes = self.rng.random() < 0.5
        qty = self.rng.randint(1, self.cfg.take_qty_max)
        if asyncio.get_running_loop().time() < self.take_backoff_until:
            return
        best = book.best_ask() if buy_yes else book.best_bid()
        if best is None:
            return
        key: Quote = ("ask", best) if buy_yes else ("bid", best)
        if taker is None and key in self.live:
            return  # our own quote: self-trade prevention would cancel the take
        outcome: Outcome = "yes" if buy_yes else "no"
        price = best if buy_yes else 100 - best
        await self.limiter.acquire()
        try:
            await (taker or sock).place(
                self.market,
                "buy",
                outcome,
                qty,
                price=price,
                tif="ioc",
                client_order_id=self.next_cid("t"),
            )
        except LfgConnectionClosed:
            raise
        except LfgError as exc:
            self.back_off(exc, "take")

    async def run(self, sock: LfgSocket, taker: LfgSocket | None, stop: asyncio.Event) -> None:
        """Requote every `interval` seconds until `stop` is set."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            await self.tick(sock, taker)
            next_at += self.cfg.interval
            now = loop.time()
            if next_at < now:
                next_at = now  # fell behind (rate limit, slow replies): do not burst
            await _wait(stop, next_at - now)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_market_maker(
    base_url: str,
    token: str,
    markets: list[str],
    *,
    seed: int = 0,
    stop: asyncio.Event,
    taker_token: str | None = None,
    config: MakerConfig | None = None,
) -> None:
    """Make markets in `markets` until `stop` is set, then cancel the bot's orders there.

    `token` is the maker's API key (or access token); `taker_token`, a second user's, lets
    the bot's own takes trade. Reconnects after a lost connection (1 s, doubling to 30 s).
    Raises `LfgError` when the server refuses the token (`unauthorized`/`forbidden`).
    """
    cfg = config or MakerConfig()
    run_id = f"{time.time_ns() // 1_000_000 % 36**6:x}"
    cids = itertools.count(1)
    makers = {m: MarketMaker(m, seed, cfg, f"mm{seed}-{run_id}-", cids) for m in markets}
    url = ws_url(base_url)
    delay = 1.0
    while not stop.is_set():
        try:
            await _session(url, token, taker_token, makers, stop)
            delay = 1.0
        except LfgError as exc:
            if exc.code in FATAL_CODES:
                log.error("market maker stopped: %s", exc)
                raise
            log.warning("market maker: %s; reconnecting in %.0f s", exc, delay)
        except (OSError, WebSocketException) as exc:
            log.warning("market maker: cannot connect (%s); retrying in %.0f s", exc, delay)
        except Exception:
            log.exception("market maker failed; restarting in %.0f s", delay)
        await _wait(stop, delay)
        delay = min(30.0, delay * 2)


async def _session(
    url: str,
    token: str,
    taker_token: str | None,
    makers: dict[str, MarketMaker],
    stop: asyncio.Event,
) -> None:
    """One connection's life: auth, subscribe, clean slate, quote until stop or loss."""
    async with contextlib.AsyncExitStack() as stack:
        sock = await stack.enter_async_context(LfgSocket(url, timeout=5.0, queue_maxsize=None))
        await sock.auth(token)
        taker = None
        if taker_token is not None:
            taker = await stack.enter_async_context(LfgSocket(url, timeout=5.0, queue_maxsize=None))
            await taker.auth(taker_token)
        sock.on("order", lambda msg: _route_order(makers, msg))
        await sock.subscribe(["orders"])
        active: list[MarketMaker] = []
        for mm in makers.values():
            try:
                await sock.subscribe([f"book:{mm.market}"])
                await sock.cancel_all(mm.market)
                mm.forget_all()
                mm.needs_reset = False
            except LfgError as exc:
                if isinstance(exc, LfgConnectionClosed):
                    raise
                log.warning("market maker: skipping %s (%s)", mm.market, exc)
                continue
            active.append(mm)
        log.info("market maker quoting %s", ", ".join(mm.market for mm in active) or "nothing")
        tasks = [asyncio.create_task(mm.run(sock, taker, stop)) for mm in active]
        watchers = [asyncio.create_task(stop.wait()), asyncio.create_task(sock.wait_closed())]
        if taker is not None:
            watchers.append(asyncio.create_task(taker.wait_closed()))
        try:
            done, _ = await asyncio.wait([*tasks, *watchers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in [*tasks, *watchers]:
                t.cancel()
            results = await asyncio.gather(*tasks, *watchers, return_exceptions=True)
        for t, result in zip(tasks, results, strict=False):
            if t in done and isinstance(result, BaseException):
                raise result
        if stop.is_set() and not sock.closed:
            for mm in active:
                with contextlib.suppress(LfgError):
                    await sock.cancel_all(mm.market)
            log.info("market maker stopped; orders cancelled")
            return
        if sock.closed:
            raise await sock.wait_closed()
        raise LfgConnectionClosed(None, "the taker's connection was lost")


def _route_order(makers: dict[str, MarketMaker], msg: Message) -> None:
    order = msg.get("order")
    if isinstance(order, dict):
        mm = makers.get(order.get("market", ""))
        if mm is not None:
            mm.on_order(order)
