"""The shard: the single writer of its markets' engine, with group commit (DESIGN.md §3).

One asyncio task repeats:
1. take every queued command (up to `max_batch`): the batch; no artificial wait;
2. in one transaction: lock the accounts of users whose commands may spend cash
   (`FOR UPDATE`, in user_id order, so shards never deadlock), fold their pending cash
   deltas in, apply the batch to the engine, write orders, trades, fills, positions,
   markets, ledger and cash; commit;
3. only then reply to the commands and publish their events.

If anything in 2 fails the shard is fail-stop: every command of the batch is answered
`unavailable` (nothing was done: the transaction rolled back), the in-memory engine is
dropped, and the shard recovers from the database before taking commands again.
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from loguru import logger

from engine import (
    CommandRejected,
    Engine,
    EngineConfig,
    Order,
    OrderUpdated,
    PayoutMade,
    PositionNetted,
    TradeExecuted,
)
from engine.commands import Command, DebitCash, PlaceOrder, Tick
from engine.events import CashCredited, CashDebited, Event
from server import metrics
from server.db import now_ms
from server.errors import ApiError
from server.marketdata import own_price, trade_sides
from server.schema import trade_id

#: Advisory lock keys: SHARD_LOCK_BASE + shard id.
SHARD_LOCK_BASE = 0x1F6_1000
_encode_events = msgspec.msgpack.Encoder().encode

#: Called after each committed batch with (shard, [(command, events), ...]).
Publisher = Callable[["Shard", Sequence[tuple[Command, list[Event]]]], None]

LOCK_ACCOUNTS = (
    "SELECT user_id, available, held FROM accounts WHERE user_id = ANY($1::bigint[]) "
    "ORDER BY user_id FOR UPDATE"
)
FOLD_DELTAS = (
    "DELETE FROM cash_deltas WHERE user_id = ANY($1::bigint[]) "
    "RETURNING user_id, d_available, d_held"
)
UPSERT_ORDERS = """
INSERT INTO orders (order_id, user_id, market, side, outcome, type, tif, price, qty,
    filled_qty, remaining_qty, filled_cost, fees, status, client_order_id, created_ts,
    updated_ts, expires_at, stop_price, post_only, stp, reason, triggered, hold, priority)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::int[], $9::bigint[], $10::bigint[], $11::bigint[],
    $12::bigint[], $13::bigint[], $14::text[], $15::text[], $16::bigint[], $17::bigint[],
    $18::bigint[], $19::int[], $20::bool[], $21::text[], $22::text[], $23::bool[],
    $24::bigint[], $25::bigint[])
ON CONFLICT (order_id) DO UPDATE SET
    qty = EXCLUDED.qty, filled_qty = EXCLUDED.filled_qty,
    remaining_qty = EXCLUDED.remaining_qty, filled_cost = EXCLUDED.filled_cost,
    fees = EXCLUDED.fees, status = EXCLUDED.status, updated_ts = EXCLUDED.updated_ts,
    reason = EXCLUDED.reason, triggered = EXCLUDED.triggered, hold = EXCLUDED.hold,
    priority = EXCLUDED.priority
"""
UPSERT_POSITIONS = """
INSERT INTO positions (market, user_id, yes, no)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
ON CONFLICT (market, user_id) DO UPDATE SET yes = EXCLUDED.yes, no = EXCLUDED.no
"""
UPDATE_MARKETS = """
UPDATE markets m SET status = u.status, result = u.result, seq = u.seq, escrow = u.escrow,
    fees = u.fees, last_price = u.last_price, volume = u.volume, trade_no = u.trade_no,
    best_bid = u.best_bid, best_ask = u.best_ask
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
    $7::int[], $8::bigint[], $9::bigint[], $10::int[], $11::int[])
    AS u(ticker, status, result, seq, escrow, fees, last_price, volume, trade_no,
         best_bid, best_ask)
WHERE m.ticker = u.ticker
"""
UPDATE_ACCOUNTS = """
UPDATE accounts a SET available = u.available, held = u.held
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(user_id, available, held)
WHERE a.user_id = u.user_id
"""
TRADE_COLUMNS = (
    "market",
    "trade_no",
    "price",
    "qty",
    "taker_side",
    "kind",
    "ts",
    "seq",
    "maker_order_id",
    "taker_order_id",
    "maker_user",
    "taker_user",
    "maker_fee",
    "taker_fee",
)
FILL_COLUMNS = (
    "user_id",
    "market",
    "trade_no",
    "order_id",
    "side",
    "outcome",
    "price",
    "qty",
    "fee",
    "liquidity",
    "ts",
)
LEDGER_COLUMNS = ("user_id", "kind", "amount", "market", "ref", "ts")
ORDER_COLUMNS = (
    "order_id",
    "user_id",
    "market",
    "side",
    "outcome",
    "type",
    "tif",
    "price",
    "qty",
    "filled_qty",
    "remaining_qty",
    "filled_cost",
    "fees",
    "status",
    "client_order_id",
    "created_ts",
    "updated_ts",
    "expires_at",
    "stop_price",
    "post_only",
    "stp",
    "reason",
    "triggered",
    "hold",
    "priority",
)


_astuple = msgspec.structs.astuple
_DERIVED_AT = Order.__struct_fields__.index("is_bid")
assert Order.__struct_fields__[_DERIVED_AT : _DERIVED_AT + 2] == ("is_bid", "book_price")
assert (
    tuple(
        f if f != "user" else "user_id"
        for f in Order.__struct_fields__
        if f not in ("is_bid", "book_price")
    )
    == ORDER_COLUMNS
)


class ShardUnavailable(ApiError):
    def __init__(
        self, message: str = "the matching shard is unavailable; nothing was done"
    ) -> None:
        super().__init__("unavailable", message)


@dataclass(slots=True)
class _Pending:
    cmd: Command | None
    fut: asyncio.Future[Any]
    deadline: float  # time.monotonic()
    #: a non-command job run between batches (snapshot, market load)
    job: Callable[[], Awaitable[Any]] | None = None
    enqueued: float = field(default_factory=time.perf_counter)


class Shard:
    """Owns the engine of the markets whose `markets.shard_id` is `shard_id`."""

    def __init__(
        self,
        shard_id: int,
        dsn: str,
        publish: Publisher,
        *,
        max_batch: int = 2000,
        engine_config: EngineConfig | None = None,
    ) -> None:
        self.shard_id = shard_id
        self.dsn = dsn
        self.publish = publish
        self.max_batch = max_batch
        self.engine_config = engine_config or EngineConfig()
        self.engine = Engine(self.engine_config)
        self.queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.ready = False
        #: a batch is being applied and committed
        self.processing = False
        self.batches = 0
        self.label = str(shard_id)
        self.lock_key = SHARD_LOCK_BASE + shard_id
        # The shard's series exist from the start (a standby exports active = 0).
        metrics.SHARD_ACTIVE.labels(self.label).set(0)
        metrics.SHARD_TAKEOVERS.labels(self.label)
        self.standby = False
        #: distributed mode: id(command) -> command id, recorded in `commands` with the
        #: command's encoded events so that a replay after a takeover is answered, not redone
        self.command_ids: dict[int, str] = {}
        #: id(command) -> encoded events, for the replies of the batch just committed
        self.encoded: dict[int, bytes] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect, recover from the database, and start the loop."""
        await self._recover()
        self._task = asyncio.create_task(self._run(), name=f"shard-{self.shard_id}")

    async def stop(self) -> None:
        """Finish the batch in flight, answer what is still queued `unavailable`, close."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._fail_queue("the server is shutting down; nothing was done")
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ entry points

    def enqueue(self, cmd: Command, timeout_s: float = 5.0) -> "asyncio.Future[list[Event]]":
        """Queue a command now; the future gets its events once they are durable (or
        `unavailable` / `timeout`, in which case nothing was done)."""
        fut: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        if not self.ready or self._stopping:
            fut.set_exception(ShardUnavailable())
            return fut
        self.queue.append(_Pending(cmd, fut, time.monotonic() + timeout_s))
        self._wake.set()
        return fut

    async def submit(self, cmd: Command, timeout_s: float = 5.0) -> list[Event]:
        """Queue a command; return its events once they are durable."""
        return await self.enqueue(cmd, timeout_s)

    async def run_job(self, job: Callable[[], Awaitable[Any]], timeout_s: float = 5.0) -> Any:
        """Run `job` on the shard's loop between batches (reads that must see only
        committed, published state, such as a book snapshot)."""
        if not self.ready or self._stopping:
            raise ShardUnavailable()
        loop = asyncio.get_running_loop()
        p = _Pending(None, loop.create_future(), time.monotonic() + timeout_s, job)
        self.queue.append(p)
        self._wake.set()
        return await p.fut

    async def snapshot(
        self, market: str, depth: int | None = None
    ) -> tuple[int, list[list[int]], list[list[int]]]:
        async def job() -> tuple[int, list[list[int]], list[list[int]]]:
            if market not in self.engine.markets:
                raise ApiError("not_found", f"unknown market {market!r}")
            return self.engine.book_snapshot(market, depth)

        result: tuple[int, list[list[int]], list[list[int]]] = await self.run_job(job)
        return result

    async def load_market(self, ticker: str) -> None:
        """Take on a market whose row names this shard: a new one, or one moved here (with
        its positions and open orders)."""

        async def job() -> None:
            assert self._conn is not None
            row = await self._conn.fetchrow("SELECT * FROM markets WHERE ticker = $1", ticker)
            if row is None or row["shard_id"] != self.shard_id:
                raise ApiError("not_found", f"market {ticker!r} is not on shard {self.shard_id}")
            if ticker not in self.engine.markets:
                await self._restore(self._conn, [row])

        await self.run_job(job)

    async def unload_market(self, ticker: str) -> None:
        """Give up a halted market (an admin moves it to another shard)."""

        async def job() -> None:
            m = self.engine.markets.get(ticker)
            if m is None:
                raise ApiError("not_found", f"market {ticker!r} is not on shard {self.shard_id}")
            if m.status != "halted":
                raise ApiError("conflict", "only a halted market can move between shards")
            self.engine.unload_market(ticker)

        await self.run_job(job)

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        while not self._stopping:
            if not self.queue:
                self._wake.clear()
                timeout = self._next_timer_in()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
                if self._stopping:
                    break
                if not self.queue:
                    if self._timer_due():
                        await self._process([])
                    continue
            batch: list[_Pending] = []
            jobs: list[_Pending] = []
            q = self.queue
            while q and len(batch) < self.max_batch:
                p = q.popleft()
                if p.job is not None:
                    jobs.append(p)
                    break  # jobs run after the commands queued before them
                batch.append(p)
            if batch or self._timer_due():
                try:
                    self.processing = True
                    await self._process(batch)
                except Exception as exc:  # fail-stop
                    await self._fail_stop(batch, exc)
                    continue
                finally:
                    self.processing = False
            for p in jobs:
                await self._run_job(p)

    def _next_timer_in(self) -> float | None:
        timers = self.engine._timers
        if not timers:
            return None
        return max(0.0, (timers[0][0] - now_ms()) / 1000)

    def _timer_due(self) -> bool:
        timers = self.engine._timers
        return bool(timers) and timers[0][0] <= now_ms()

    async def _run_job(self, p: _Pending) -> None:
        assert p.job is not None
        await asyncio.sleep(0)  # let the last batch's publish run first
        try:
            result = await p.job()
        except Exception as exc:
            if not p.fut.done():
                p.fut.set_exception(exc)
            return
        if not p.fut.done():
            p.fut.set_result(result)

    async def _fail_stop(self, batch: list[_Pending], exc: BaseException) -> None:
        logger.opt(exception=exc).error(
            "shard {} batch failed; failing stop and recovering from the database", self.shard_id
        )
        metrics.SHARD_ACTIVE.labels(self.label).set(0)
        self.ready = False
        for p in batch:
            if not p.fut.done():
                p.fut.set_exception(ShardUnavailable())
        self._fail_queue("the matching shard failed and is recovering; nothing was done")
        delay = 0.1
        while not self._stopping:
            try:
                await self._recover()
                return
            except Exception as rexc:
                logger.warning(
                    "shard {} recovery failed: {}; retrying in {:.1f}s", self.shard_id, rexc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _fail_queue(self, message: str) -> None:
        while self.queue:
            p = self.queue.popleft()
            if not p.fut.done():
                p.fut.set_exception(ShardUnavailable(message))

    # ------------------------------------------------------------------ recovery

    async def _recover(self) -> None:
        t0 = time.perf_counter()
        if self._conn is not None:
            try:
                await self._conn.close()
            except Exception:
                self._conn.terminate()
            self._conn = None
        conn = await asyncpg.connect(self.dsn)
        self._conn = conn
        # Only the holder of this lock may write the shard's markets: a second process for
        # the same shard id waits here as a hot standby. The lock lives and dies with the
        # very connection every batch commits through.
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
            logger.info("shard {} is active elsewhere; waiting as a hot standby", self.shard_id)
            self.standby = True
            await conn.execute("SELECT pg_advisory_lock($1)", self.lock_key, timeout=None)
            metrics.SHARD_TAKEOVERS.labels(self.label).inc()
            logger.warning("shard {} took over", self.shard_id)
        self.standby = False
        self.engine = Engine(self.engine_config)
        markets = await conn.fetch(
            "SELECT * FROM markets WHERE shard_id = $1 ORDER BY ticker", self.shard_id
        )
        await self._restore(conn, markets)
        self.ready = True
        elapsed = time.perf_counter() - t0
        metrics.RECOVERY.labels(self.label).set(elapsed)
        metrics.SHARD_ACTIVE.labels(self.label).set(1)
        metrics.OPEN_ORDERS.labels(self.label).set(len(self.engine.orders))
        logger.info(
            "shard {} recovered {} markets, {} open orders in {:.3f}s",
            self.shard_id,
            len(markets),
            len(self.engine.orders),
            elapsed,
        )

    async def _restore(self, conn: asyncpg.Connection, markets: list[asyncpg.Record]) -> None:
        """Rebuild markets from the database: rows, positions, open orders in priority order."""
        for row in markets:
            self._restore_market(row)
        tickers = [r["ticker"] for r in markets]
        if not tickers:
            return
        for r in await conn.fetch(
            "SELECT market, user_id, yes, no FROM positions "
            "WHERE market = ANY($1::text[]) AND (yes > 0 OR no > 0)",
            tickers,
        ):
            self.engine.restore_position(r["market"], r["user_id"], r["yes"], r["no"])
        rows = await conn.fetch(
            f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders "  # nosec B608  # constant column names
            "WHERE market = ANY($1::text[]) AND status IN ('open', 'partially_filled') "
            "ORDER BY (priority = 0), priority, order_id",
            tickers,
        )
        for r in rows:
            self.engine.restore_order(_order_from_row(r))
        window = self.engine_config.retry_window_ms
        if window:  # finished orders a retry may still name
            for r in await conn.fetch(
                f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders "  # nosec B608  # constant column names
                "WHERE client_order_id IS NOT NULL AND updated_ts >= $2 AND market = ANY($1::text[]) "
                "AND status NOT IN ('open', 'partially_filled') ORDER BY updated_ts",
                tickers,
                now_ms() - window,
            ):
                self.engine.restore_done(_order_from_row(r))

    def _restore_market(self, row: asyncpg.Record) -> None:
        self.engine.restore_market(
            row["ticker"],
            title=row["title"],
            status=row["status"],
            result=row["result"],
            seq=row["seq"],
            close_ts=row["close_ts"],
            maker_fee_bps=row["maker_fee_bps"],
            taker_fee_bps=row["taker_fee_bps"],
            escrow=row["escrow"],
            fees=row["fees"],
            last_price=row["last_price"],
            volume=row["volume"],
            trade_no=row["trade_no"],
        )

    # ------------------------------------------------------------------ one batch

    async def _process(self, batch: list[_Pending]) -> None:
        now = time.monotonic()
        live: list[_Pending] = []
        for p in batch:
            if p.fut.done():
                continue
            if now > p.deadline:
                p.fut.set_exception(
                    ApiError(
                        "timeout",
                        "the command passed its deadline before matching; nothing was done",
                    )
                )
                continue
            live.append(p)
        cmds: list[Command] = [p.cmd for p in live if p.cmd is not None]
        if self._timer_due():
            cmds.append(Tick(ts=now_ms()))
        if not cmds:
            return
        engine = self.engine
        conn = self._conn
        assert conn is not None
        lock: set[int] = set()
        for c in cmds:
            if (type(c) is PlaceOrder and c.side == "buy") or type(c) is DebitCash:
                lock.add(c.user)
        t0 = time.perf_counter()
        async with conn.transaction():
            locked: dict[int, list[int]] = {}
            if lock:
                users = sorted(lock)
                for r in await conn.fetch(LOCK_ACCOUNTS, users):
                    locked[r["user_id"]] = [r["available"], r["held"]]
                for r in await conn.fetch(FOLD_DELTAS, users):
                    bal = locked[r["user_id"]]
                    bal[0] += r["d_available"]
                    bal[1] += r["d_held"]
                engine.take_cash_changes()
                for uid in users:
                    row = locked.get(uid)
                    if row is None:  # no account row: the user does not exist
                        engine.set_balance(uid, 0, 0)
                    else:
                        engine.set_balance(uid, row[0], row[1])
            t1 = time.perf_counter()
            results = [engine.apply(c) for c in cmds]
            t2 = time.perf_counter()
            await self._write(conn, cmds, results, locked)
        t3 = time.perf_counter()
        self.batches += 1
        label = self.label
        metrics.BATCH_SIZE.labels(label).observe(len(cmds))
        metrics.BATCH_APPLY.labels(label).observe(t2 - t1)
        metrics.COMMIT.labels(label).observe(t3 - t0)
        metrics.OPEN_ORDERS.labels(label).set(len(engine.orders))
        # Durable: reply, then publish.
        done = time.perf_counter()
        for p, evs in zip(live, results, strict=False):
            if not p.fut.done():
                p.fut.set_result(evs)
            if p.cmd is not None and type(p.cmd) is PlaceOrder:
                metrics.ORDER_ACK.observe(done - p.enqueued)
        # Publish on the next loop turn: the replies' waiters (woken by set_result above)
        # run first, so a client sees `placed` before the fills it caused.
        asyncio.get_running_loop().call_soon(self._publish, list(zip(cmds, results, strict=True)))

    def _publish(self, results: list[tuple[Command, list[Event]]]) -> None:
        try:
            self.publish(self, results)
        except Exception:
            logger.exception("publishing shard {} batch failed", self.shard_id)

    async def _write(
        self,
        conn: asyncpg.Connection,
        cmds: list[Command],
        results: list[list[Event]],
        locked: dict[int, list[int]],
    ) -> None:
        engine = self.engine
        orders: dict[int, Order] = {}
        trades: list[tuple[Any, ...]] = []
        fills: list[tuple[Any, ...]] = []
        ledger: list[tuple[Any, ...]] = []
        positions: set[tuple[str, int]] = set()
        touched_markets: set[str] = set()
        for cmd, evs in zip(cmds, results, strict=True):
            for e in evs:
                t = type(e)
                if t is OrderUpdated:
                    o = e.order  # type: ignore[attr-defined]
                    orders[o.order_id] = o
                elif t is TradeExecuted:
                    _trade_rows(e, trades, fills, ledger)  # type: ignore[arg-type]
                    positions.add((e.market, e.maker_user))  # type: ignore[attr-defined]
                    positions.add((e.market, e.taker_user))  # type: ignore[attr-defined]
                elif t is PositionNetted:
                    ledger.append((e.user, "netting", 100 * e.pairs, e.market, None, cmd.ts))  # type: ignore[attr-defined]
                    positions.add((e.market, e.user))  # type: ignore[attr-defined]
                elif t is PayoutMade:
                    if e.amount:  # type: ignore[attr-defined]
                        ledger.append((e.user, "payout", e.amount, e.market, None, cmd.ts))  # type: ignore[attr-defined]
                    positions.add((e.market, e.user))  # type: ignore[attr-defined]
                elif t is CashCredited:
                    ledger.append((e.user, "deposit", e.amount, None, None, cmd.ts))  # type: ignore[attr-defined]
                elif t is CashDebited:
                    ledger.append((e.user, "withdrawal", -e.amount, None, None, cmd.ts))  # type: ignore[attr-defined]
                elif t is CommandRejected:
                    continue
                m = getattr(e, "market", None)
                if m is not None:
                    touched_markets.add(m)
                elif t is OrderUpdated:
                    touched_markets.add(e.order.market)  # type: ignore[attr-defined]
        if orders:
            # Order's fields are ORDER_COLUMNS in order, then is_bid and book_price (derived),
            # hold and priority: transpose in C, drop the two derived columns.
            cols = list(zip(*map(_astuple, orders.values()), strict=True))
            del cols[_DERIVED_AT : _DERIVED_AT + 2]
            await conn.execute(UPSERT_ORDERS, *cols)
        if trades:
            await conn.copy_records_to_table("trades", records=trades, columns=TRADE_COLUMNS)
            await conn.copy_records_to_table("fills", records=fills, columns=FILL_COLUMNS)
        if ledger:
            await conn.copy_records_to_table("ledger", records=ledger, columns=LEDGER_COLUMNS)
        if positions:
            pm: list[str] = []
            pu: list[int] = []
            py: list[int] = []
            pn: list[int] = []
            for market, user in sorted(positions):
                mk = engine.markets[market]
                pos = mk.positions.get(user)
                pm.append(market)
                pu.append(user)
                py.append(pos.yes if pos else 0)
                pn.append(pos.no if pos else 0)
            await conn.execute(UPSERT_POSITIONS, pm, pu, py, pn)
        if touched_markets:
            rows: list[list[Any]] = [[] for _ in range(11)]
            for ticker in sorted(touched_markets):
                touched = engine.markets.get(ticker)
                if touched is None:
                    continue
                mk = touched
                bids, asks = mk.book.bids, mk.book.asks
                for i, v in enumerate(
                    (
                        ticker,
                        mk.status,
                        mk.result,
                        mk.seq,
                        mk.escrow,
                        mk.fees,
                        mk.last_price,
                        mk.volume,
                        mk.trade_no,
                        bids.best if bids.best != bids.empty else None,
                        asks.best if asks.best != asks.empty else None,
                    )
                ):
                    rows[i].append(v)
            await conn.execute(UPDATE_MARKETS, *rows)
        if self.command_ids:
            ids = self.command_ids
            recs = []
            for cmd, evs in zip(cmds, results, strict=True):
                cid = ids.get(id(cmd))
                if cid is not None:
                    blob = _encode_events(evs)
                    self.encoded[id(cmd)] = blob
                    recs.append((cid, self.shard_id, blob, cmd.ts))
            if recs:
                await conn.copy_records_to_table(
                    "commands", records=recs, columns=("command_id", "shard_id", "result", "ts")
                )
        # Every locked account is written back, changed or not: its pending deltas were
        # folded into it (and deleted) at the start of the batch.
        cash = engine.take_cash_changes()
        au: list[int] = []
        aa: list[int] = []
        ah: list[int] = []
        for uid in sorted(locked):
            bal = locked[uid]
            d_av, d_held = cash.pop(uid, (0, 0))
            au.append(uid)
            aa.append(bal[0] + d_av)
            ah.append(bal[1] + d_held)
        if au:
            await conn.execute(UPDATE_ACCOUNTS, au, aa, ah)
        if cash:
            deltas = [(uid, d_av, d_held) for uid, (d_av, d_held) in sorted(cash.items())]
            await conn.copy_records_to_table(
                "cash_deltas", records=deltas, columns=("user_id", "d_available", "d_held")
            )


def _trade_rows(
    e: TradeExecuted,
    trades: list[tuple[Any, ...]],
    fills: list[tuple[Any, ...]],
    ledger: list[tuple[Any, ...]],
) -> None:
    trades.append(
        (
            e.market,
            e.trade_id,
            e.price,
            e.qty,
            e.taker_side,
            e.kind,
            e.ts,
            e.seq,
            e.maker_order_id,
            e.taker_order_id,
            e.maker_user,
            e.taker_user,
            e.maker_fee,
            e.taker_fee,
        )
    )
    ref = trade_id(e.market, e.trade_id)
    for user, order_id, side, outcome, fee, liq in trade_sides(e):
        price = own_price(outcome, e.price)
        fills.append(
            (user, e.market, e.trade_id, order_id, side, outcome, price, e.qty, fee, liq, e.ts)
        )
        notional = price * e.qty
        amount = -(notional + fee) if side == "buy" else notional - fee
        ledger.append((user, "trade", amount, e.market, ref, e.ts))


def _order_from_row(r: asyncpg.Record) -> Order:
    yes = r["outcome"] == "yes"
    is_bid = (r["side"] == "buy") == yes
    return Order(
        r["order_id"],
        r["user_id"],
        r["market"],
        r["side"],
        r["outcome"],
        r["type"],
        r["tif"],
        r["price"],
        r["qty"],
        r["filled_qty"],
        r["remaining_qty"],
        r["filled_cost"],
        r["fees"],
        r["status"],
        r["client_order_id"],
        r["created_ts"],
        r["updated_ts"],
        r["expires_at"],
        r["stop_price"],
        r["post_only"],
        r["stp"],
        r["reason"],
        r["triggered"],
        is_bid,
        r["price"] if yes else 100 - r["price"],
        r["hold"],
        r["priority"],
    )
