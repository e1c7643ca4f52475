"""What the gateway's routes share: the pool, the shards, the hub, and trading operations.

Trading is split in two so that a WebSocket connection's commands execute in the order
it sent them even though their replies are awaited concurrently: `prepare_*` does every
await the routing needs and returns a ready command; `Shard.enqueue` queues it at once.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
from loguru import logger

from engine import (
    CancelAll,
    CancelOrder,
    CommandRejected,
    Engine,
    EngineConfig,
    OrderDeduplicated,
    OrdersCancelled,
    OrderUpdated,
    TradeExecuted,
)
from engine.commands import AmendOrder, Command, CreditCash, PlaceOrder
from engine.events import Event
from server import bus as bus_channels
from server import metrics
from server.config import Settings
from server.db import now_ms
from server.errors import ApiError
from server.gateway.hub import Hub
from server.marketdata import render
from server.schema import AccountMsg, Order, OrderFields, PlaceOp, PositionView, order_view
from server.shard import Shard


class IdAllocator:
    """Order ids from the `order_ids` sequence, drawn 1000 at a time and refilled ahead."""

    BLOCK = 1000

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._blocks: list[int] = []
        self._next = 0
        self._end = 0
        self._refill: asyncio.Task[None] | None = None

    async def _fetch(self) -> None:
        start = await self.pool.fetchval("SELECT nextval('order_ids')")
        self._blocks.append(int(start))

    async def next(self) -> int:
        if self._next >= self._end:
            if not self._blocks:
                if self._refill is not None:
                    await self._refill
                if not self._blocks:
                    await self._fetch()
            start = self._blocks.pop(0)
            self._next, self._end = start, start + self.BLOCK
        oid = self._next
        self._next += 1
        if (
            self._end - self._next < self.BLOCK // 2
            and not self._blocks
            and (self._refill is None or self._refill.done())
        ):
            self._refill = asyncio.create_task(self._fetch())
        return oid


class Services:
    """The embedded process's parts, wired together."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, dsn: str, *, distributed: bool = False
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.dsn = dsn
        self.hub = Hub()
        self.ids = IdAllocator(pool)
        self.bus: Any = None
        self.shards: list[Any]
        if distributed:
            from server.remote import GatewayBus, RemoteShard

            assert settings.redis_url is not None
            self.bus = GatewayBus(settings.redis_url, self.hub, settings.shards)
            self.bus.on_market_created = self._market_created
            self.bus.on_markets_changed = lambda: self.hub._spawn(self.refresh_markets())
            self.shards = [RemoteShard(i, self.bus) for i in range(settings.shards)]
        else:
            cfg = EngineConfig(
                max_open_orders=settings.max_open_orders, retry_window_ms=settings.retry_window_ms
            )
            self.shards = [
                Shard(i, dsn, self._publish, max_batch=settings.max_batch, engine_config=cfg)
                for i in range(settings.shards)
            ]
        self.market_shard: dict[str, int] = {}
        self._order_market: OrderedDict[int, str] = OrderedDict()
        self.hub.fetch_accounts = self.fetch_accounts
        self.hub.request_snapshot = self.request_snapshot
        self.auth: Any = None
        self.draining = False
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh_markets()
        if self.bus is not None:
            await self.bus.start()
            self._refresher = asyncio.create_task(self._refresh_markets_forever())
        for s in self.shards:
            await s.start()
            if self.bus is None:
                observe_engine(s.label, s.engine, list(s.engine.markets))
        self.hub.start()

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        await self.hub.stop()
        for s in self.shards:
            await s.stop()
        if self.bus is not None:
            await self.bus.stop()

    async def _refresh_markets_forever(self) -> None:
        """Distributed mode: learn markets created or moved by other gateways."""
        while True:
            await asyncio.sleep(2.0)
            try:
                await self.refresh_markets()
            except Exception as exc:
                logger.warning("market map refresh failed: {}", exc)

    async def refresh_markets(self) -> None:
        for row in await self.pool.fetch("SELECT ticker, shard_id FROM markets"):
            self.market_shard[row["ticker"]] = row["shard_id"]

    def _market_created(self, market: str) -> None:
        if market not in self.market_shard:
            self.hub._spawn(self.refresh_markets())

    async def watch_market(self, market: str) -> None:
        """Distributed mode: receive this market's events on this gateway."""
        if self.bus is not None:
            await self.bus.watch_market(market)

    async def watch_user(self, user_id: int) -> None:
        if self.bus is not None:
            await self.bus.watch_user(user_id)

    async def shard_for(self, market: str) -> Any:
        """The market's shard; asks the database about a market this process has not seen."""
        if market not in self.market_shard:
            row = await self.pool.fetchrow("SELECT shard_id FROM markets WHERE ticker = $1", market)
            if row is not None:
                self.market_shard[market] = row["shard_id"]
        return self.shard_of(market)

    # ------------------------------------------------------------------ publishing

    def _publish(self, shard: Shard, results: Sequence[tuple[Command, list[Event]]]) -> None:
        out = render(shard.engine, results, self._wants)
        self.hub.publish(out)
        for _, evs in results:
            for e in evs:
                if type(e) is OrderUpdated:
                    self._remember(e.order.order_id, e.order.market)
        count_trades(results)
        observe_engine(shard.label, shard.engine, [t.market for t in out.tickers])

    def _wants(self, user: int, channel: str) -> bool:
        return (user, channel) in self.hub.user_subs

    def _remember(self, order_id: int, market: str) -> None:
        m = self._order_market
        m[order_id] = market
        if len(m) > 100_000:
            m.popitem(last=False)

    async def request_snapshot(self, market: str) -> None:
        """Build the hub's replica of `market` from a snapshot of its shard."""
        shard = self.shard_of(market)
        self.hub.begin_snapshot(market)
        try:
            seq, bids, asks = await shard.snapshot(market)
        except BaseException:
            self.hub.abort_snapshot(market)
            raise
        self.hub.install_replica(market, seq, bids, asks)

    # ------------------------------------------------------------------ routing

    def shard_of(self, market: str) -> Shard:
        sid = self.market_shard.get(market)
        if sid is None:
            raise ApiError("not_found", f"unknown market {market!r}")
        shard: Shard = self.shards[sid]
        return shard

    async def _market_of_order(self, user: int, order_id: int | None, coid: str | None) -> str:
        if order_id is not None:
            m = self._order_market.get(order_id)
            if m is not None:
                return m
            row = await self.pool.fetchrow(
                "SELECT market, user_id FROM orders WHERE order_id = $1", order_id
            )
        else:
            row = await self.pool.fetchrow(
                "SELECT market, user_id FROM orders WHERE user_id = $1 AND client_order_id = $2 "
                "AND status IN ('open', 'partially_filled') ORDER BY order_id DESC LIMIT 1",
                user,
                coid,
            )
        if row is None:
            raise ApiError("not_found", "no open order with that id")
        if row["user_id"] != user:
            raise ApiError("forbidden", "that order belongs to another user")
        market: str = row["market"]
        return market

    # ------------------------------------------------------------------ trading

    def _timeout(self) -> float:
        return self.settings.command_timeout_ms / 1000

    async def prepare_place(self, user: int, f: OrderFields | PlaceOp) -> tuple[Shard, PlaceOrder]:
        shard = await self.shard_for(f.market)
        oid = await self.ids.next()
        cmd = PlaceOrder(
            ts=now_ms(),
            order_id=oid,
            user=user,
            market=f.market,
            side=f.side,
            outcome=f.outcome,
            qty=f.qty,
            type=f.type,
            tif=f.tif,
            price=f.price,
            post_only=f.post_only,
            client_order_id=f.client_order_id,
            expires_at=f.expires_at,
            stop_price=f.stop_price,
            stp=f.stp,
        )
        return shard, cmd

    async def prepare_cancel(
        self, user: int, order_id: int | None, coid: str | None
    ) -> tuple[Shard, CancelOrder]:
        if order_id is None and coid is None:
            raise ApiError("invalid_message", "name the order by order_id or client_order_id")
        market = await self._market_of_order(user, order_id, coid)
        return await self.shard_for(market), CancelOrder(
            ts=now_ms(), user=user, order_id=order_id, client_order_id=coid
        )

    async def prepare_amend(self, user: int, order_id: int, qty: int) -> tuple[Shard, AmendOrder]:
        market = await self._market_of_order(user, order_id, None)
        return await self.shard_for(market), AmendOrder(
            ts=now_ms(), user=user, order_id=order_id, qty=qty
        )

    def enqueue(self, shard: Shard, cmd: Command) -> "asyncio.Future[list[Event]]":
        if self.draining:
            fut: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
            fut.set_exception(
                ApiError("unavailable", "the server is shutting down; nothing was done")
            )
            return fut
        return shard.enqueue(cmd, self._timeout())

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Shutdown, step one: refuse new commands, let the queued ones commit and their
        replies reach the clients (or give up after `timeout_s`)."""
        self.draining = True
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while loop.time() < end:
            busy = any(
                getattr(s, "queue", None) or getattr(s, "processing", False) for s in self.shards
            )
            if not busy and not any(c.queue for c in self.hub.clients):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)  # the last replies' writes

    async def place(self, user: int, f: OrderFields) -> Order:
        shard, cmd = await self.prepare_place(user, f)
        return place_result(cmd, await self.enqueue(shard, cmd))

    async def cancel(self, user: int, order_id: int | None, coid: str | None) -> Order:
        shard, cmd = await self.prepare_cancel(user, order_id, coid)
        return order_result(cmd, await self.enqueue(shard, cmd), order_id)

    async def amend(self, user: int, order_id: int, qty: int) -> Order:
        shard, cmd = await self.prepare_amend(user, order_id, qty)
        return order_result(cmd, await self.enqueue(shard, cmd), order_id)

    async def cancel_all(self, user: int, market: str | None) -> int:
        shards = [await self.shard_for(market)] if market is not None else self.shards
        futs = [self.enqueue(s, CancelAll(ts=now_ms(), user=user, market=market)) for s in shards]
        total = 0
        for evs in await asyncio.gather(*futs):
            check(evs)
            for e in evs:
                if type(e) is OrdersCancelled:
                    total += e.count
        return total

    async def credit(self, user: int, amount: int) -> None:
        exists = await self.pool.fetchval("SELECT 1 FROM users WHERE user_id = $1", user)
        if not exists:
            raise ApiError("not_found", f"unknown user {user}")
        shard = self.shards[user % len(self.shards)]
        check(await self.enqueue(shard, CreditCash(ts=now_ms(), user=user, amount=amount)))

    async def admin_command(self, market: str, cmd: Command) -> None:
        check(await self.enqueue(await self.shard_for(market), cmd))

    async def create_market(
        self,
        ticker: str,
        title: str,
        rules: str,
        close_ts: int | None,
        maker_fee_bps: int,
        taker_fee_bps: int,
    ) -> None:
        """Insert the market on the least-loaded shard, then have that shard load it."""
        if close_ts is not None and close_ts <= now_ms():
            raise ApiError("invalid_message", "close_ts must be in the future")
        counts = {i: 0 for i in range(len(self.shards))}
        for r in await self.pool.fetch(
            "SELECT shard_id, count(*) AS n FROM markets WHERE status <> 'resolved' GROUP BY shard_id"
        ):
            if r["shard_id"] in counts:
                counts[r["shard_id"]] = r["n"]
        sid = min(counts, key=lambda i: (counts[i], i))
        try:
            await self.pool.execute(
                "INSERT INTO markets (ticker, title, rules, status, close_ts, maker_fee_bps, "
                "taker_fee_bps, shard_id, created_ts) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8)",
                ticker,
                title,
                rules,
                close_ts,
                maker_fee_bps,
                taker_fee_bps,
                sid,
                now_ms(),
            )
        except asyncpg.UniqueViolationError:
            raise ApiError("conflict", f"market {ticker!r} already exists") from None
        self.market_shard[ticker] = sid
        await self.shards[sid].load_market(ticker)
        self.hub.push_market_status(ticker, 0, "open", None)
        logger.info("market {} created on shard {}", ticker, sid)

    async def move_market(self, ticker: str, shard_id: int) -> None:
        """Move a halted market to another shard: the old shard lets go of it (its state
        is all in the database), the row is repointed, the new shard loads it."""
        if not 0 <= shard_id < len(self.shards):
            raise ApiError("invalid_message", f"shard_id must be 0..{len(self.shards) - 1}")
        old = await self.shard_for(ticker)
        if old.shard_id == shard_id:
            return
        status = await self.pool.fetchval("SELECT status FROM markets WHERE ticker = $1", ticker)
        if status != "halted":
            raise ApiError("conflict", "only a halted market can move between shards")
        await old.unload_market(ticker)
        await self.pool.execute(
            "UPDATE markets SET shard_id = $2 WHERE ticker = $1", ticker, shard_id
        )
        self.market_shard[ticker] = shard_id
        await self.shards[shard_id].load_market(ticker)
        if self.bus is not None:  # other gateways reload their market map now
            await self.bus.redis.publish(bus_channels.MARKETS_CHANNEL, ticker)
        logger.info("market {} moved from shard {} to {}", ticker, old.shard_id, shard_id)

    # ------------------------------------------------------------------ reads

    async def fetch_accounts(self, users: list[int]) -> dict[int, AccountMsg]:
        async with self.pool.acquire() as conn:
            bal = await conn.fetch(
                "SELECT user_id, available, held FROM balances WHERE user_id = ANY($1::bigint[])",
                users,
            )
            pos = await conn.fetch(
                "SELECT user_id, market, yes, no FROM positions WHERE user_id = ANY($1::bigint[]) "
                "AND (yes > 0 OR no > 0) ORDER BY market",
                users,
            )
        positions: dict[int, list[PositionView]] = {}
        for r in pos:
            positions.setdefault(r["user_id"], []).append(
                PositionView(market=r["market"], yes=r["yes"], no=r["no"])
            )
        return {
            r["user_id"]: AccountMsg(
                available=r["available"], held=r["held"], positions=positions.get(r["user_id"], [])
            )
            for r in bal
        }


def count_trades(results: Sequence[tuple[Command, list[Event]]]) -> None:
    """The business counters of a committed batch: trades, contracts, notional."""
    trades = contracts = notional = 0
    for _, evs in results:
        for e in evs:
            if type(e) is TradeExecuted:
                trades += 1
                contracts += e.qty
                notional += e.price * e.qty
    if trades:
        metrics.TRADES.inc(trades)
        metrics.TRADED_CONTRACTS.inc(contracts)
        metrics.TRADED_NOTIONAL_CENTS.inc(notional)


def observe_engine(label: str, engine: Engine, markets: Iterable[str]) -> None:
    """Set the open-order gauge of shard `label` and the escrow gauges of `markets` (after
    a batch: the markets it touched; after recovery: all of them)."""
    metrics.OPEN_ORDERS.labels(label).set(len(engine.orders))
    for m in markets:
        mk = engine.markets.get(m)
        if mk is not None:
            metrics.ESCROW_CENTS.labels(m).set(mk.escrow)


def check(evs: list[Event]) -> None:
    """Raise the engine's rejection, if the command was rejected."""
    for e in evs:
        if type(e) is CommandRejected:
            metrics.ORDER_REJECTIONS.labels(str(e.reason)).inc()
            raise ApiError(str(e.reason), e.message)


_ORDER_COUNTERS: dict[tuple[str, str], Any] = {}


def _count_order(typ: str, result: str) -> None:
    c = _ORDER_COUNTERS.get((typ, result))
    if c is None:
        c = _ORDER_COUNTERS[(typ, result)] = metrics.ORDERS.labels(typ, result)
    c.inc()


def place_result(cmd: PlaceOrder, evs: list[Event]) -> Order:
    try:
        check(evs)
    except ApiError:
        _count_order(cmd.type, "rejected")
        raise
    _count_order(cmd.type, "accepted")
    return order_result(cmd, evs, cmd.order_id)


def order_result(cmd: Command, evs: list[Event], order_id: int | None) -> Order:
    """The reply's Order: the last state of the command's order in its events."""
    check(evs)
    found = None
    for e in evs:
        t = type(e)
        if t is OrderUpdated or t is OrderDeduplicated:
            o = e.order  # type: ignore[attr-defined]
            if order_id is None or o.order_id == order_id or t is OrderDeduplicated:
                found = o
                if order_id is None:
                    order_id = o.order_id
    if found is None:
        raise ApiError("internal", "the engine gave no order state for the command")
    return order_view(found)
