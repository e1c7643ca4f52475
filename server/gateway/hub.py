"""The gateway's market-data hub: L2 replicas, subscriptions, fan-out (DESIGN.md §5).

Each published message is encoded once; the same text goes to every subscriber's bounded
queue. A client that falls behind has its queued market-seq messages dropped and replaced
by fresh snapshots (conflation); one still too slow is disconnected.

Channels: `book:M` carries every public event of market M (book deltas, trades, status),
so the seq a client sees there is gapless; `trades:M` carries trades; `ticker:M` tickers;
`markets` every market's status changes; `orders`, `fills`, `account` the user's own.
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from loguru import logger

from server import metrics
from server.marketdata import BOOK, STATUS, TRADE, BatchOut, PublicMsg
from server.schema import AccountMsg, BookSnapshotMsg, HeartbeatMsg, MarketMsg

_encode = msgspec.json.Encoder().encode

#: Queue entry kinds: market-seq messages may be conflated; everything else is kept.
_KEEP, _MARKET = 0, 1


#: Fan-out messages (market data and private events) queued to clients, one per client.
_FANOUT_SENT = metrics.WS_MESSAGES_SENT.labels("fanout")


def encode(msg: Any) -> str:
    return _encode(msg).decode()


class Replica:
    """An L2 book built from the delta stream; `seq` is the last public event applied."""

    __slots__ = ("asks", "bids", "market", "seq")

    def __init__(self, market: str, seq: int, bids: list[list[int]], asks: list[list[int]]) -> None:
        self.market = market
        self.seq = seq
        self.bids = {p: q for p, q in bids}
        self.asks = {p: q for p, q in asks}

    def snapshot(self, depth: int | None = None) -> BookSnapshotMsg:
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        return BookSnapshotMsg(
            market=self.market,
            seq=self.seq,
            bids=[[p, q] for p, q in bids],
            asks=[[p, q] for p, q in asks],
        )


class Client:
    """One WebSocket connection's outbound side: a bounded queue drained by one writer."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        limit: int,
    ) -> None:
        self._send = send
        self._close = close
        self.limit = limit
        self.queue: deque[tuple[int, str | None, str]] = deque()
        self._wake = asyncio.Event()
        self.user_id: int | None = None
        self.channels: set[str] = set()
        self.closed = False
        self.conflations: deque[float] = deque()
        self.writer = asyncio.create_task(self._write())

    def push(self, text: str, market: str | None = None) -> None:
        """Queue a message; `market` marks one that conflation may replace."""
        if self.closed:
            return
        self.queue.append((_MARKET if market else _KEEP, market, text))
        if len(self.queue) > self.limit:
            self.hub.conflate(self)
        self._wake.set()

    hub: "Hub"

    async def _write(self) -> None:
        q = self.queue
        try:
            while not self.closed:
                if not q:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                _, _, text = q.popleft()
                await self._send(text)
        except Exception:
            self.closed = True

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._wake.set()
        try:
            await self._close(code, reason)
        except Exception:
            pass


class Hub:
    def __init__(self, *, heartbeat_s: float = 5.0) -> None:
        self.replicas: dict[str, Replica] = {}
        self.subs: dict[str, set[Client]] = {}
        self.user_subs: dict[tuple[int, str], set[Client]] = {}
        self.clients: set[Client] = set()
        self.heartbeat_s = heartbeat_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._hb: asyncio.Task[None] | None = None
        #: fetch (available, held, positions) for users; set by the app
        self.fetch_accounts: Callable[[list[int]], Awaitable[dict[int, AccountMsg]]] | None = None
        #: ask the shard owning `market` for a snapshot and install it (set by the app)
        self.request_snapshot: Callable[[str], Awaitable[None]] | None = None
        self._account_pending: set[int] = set()
        self._account_task: asyncio.Task[None] | None = None
        self._replica_waiters: dict[str, asyncio.Future[None]] = {}
        self._buffering: dict[str, list[PublicMsg]] = {}
        #: called with the markets that had a trade or a status change in a published
        #: batch, or were created (the response cache's invalidation; set by the app)
        self.on_markets_changed: Callable[[set[str]], None] | None = None

    def start(self) -> None:
        self._hb = asyncio.create_task(self._heartbeats())

    async def stop(self) -> None:
        if self._hb:
            self._hb.cancel()
        for c in list(self.clients):
            await c.close(1001, "server shutting down")

    # ------------------------------------------------------------------ clients

    def add_client(self, client: Client) -> None:
        client.hub = self
        self.clients.add(client)
        metrics.WS_CONNECTIONS.set(len(self.clients))

    def remove_client(self, client: Client) -> None:
        self.clients.discard(client)
        for ch in client.channels:
            self._unsub(client, ch)
        client.channels.clear()
        client.closed = True
        client.writer.cancel()
        metrics.WS_CONNECTIONS.set(len(self.clients))

    def _key(self, client: Client, channel: str) -> tuple[set[Client], Any]:
        if channel in ("orders", "fills", "account"):
            assert client.user_id is not None
            key: Any = (client.user_id, channel)
            return self.user_subs.setdefault(key, set()), key
        return self.subs.setdefault(channel, set()), channel

    def subscribe(self, client: Client, channel: str) -> None:
        subs, _ = self._key(client, channel)
        subs.add(client)
        client.channels.add(channel)

    def _unsub(self, client: Client, channel: str) -> None:
        subs, key = self._key(client, channel)
        subs.discard(client)
        if not subs:
            (self.user_subs if isinstance(key, tuple) else self.subs).pop(key, None)

    def unsubscribe(self, client: Client, channel: str) -> None:
        if channel in client.channels:
            self._unsub(client, channel)
            client.channels.discard(channel)

    async def ensure_replica(self, market: str) -> Replica:
        """The market's replica, asking its shard for a snapshot the first time."""
        r = self.replicas.get(market)
        if r is not None:
            return r
        waiter = self._replica_waiters.get(market)
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            self._replica_waiters[market] = waiter
            assert self.request_snapshot is not None
            try:
                await self.request_snapshot(market)
                waiter.set_result(None)
            except BaseException as exc:
                waiter.set_exception(exc)
                waiter.exception()  # mark retrieved
                raise
            finally:
                self._replica_waiters.pop(market, None)
        else:
            await waiter
        return self.replicas[market]

    def begin_snapshot(self, market: str) -> None:
        """A snapshot was requested: hold this market's public messages until it arrives."""
        self._buffering.setdefault(market, [])

    def abort_snapshot(self, market: str) -> None:
        self._buffering.pop(market, None)

    def install_replica(
        self, market: str, seq: int, bids: list[list[int]], asks: list[list[int]]
    ) -> None:
        """Install a snapshot taken at `seq`, then apply the messages that arrived while it
        was on its way (those after `seq`)."""
        held = self._buffering.pop(market, [])
        old = self.replicas.get(market)
        if old is not None and old.seq > seq:
            return
        r = self.replicas[market] = Replica(market, seq, bids, asks)
        for p in held:
            if p.msg.seq > r.seq:
                self._apply(r, p)

    def _apply(self, r: Replica, p: PublicMsg) -> bool:
        """Apply one public message to a replica; False if it is older than the replica.
        A gap drops the replica and resynchronises it from the shard."""
        msg = p.msg
        if msg.seq != r.seq + 1:
            if msg.seq <= r.seq:
                return False
            logger.warning("gap in {} ({} -> {}); resynchronising", r.market, r.seq, msg.seq)
            metrics.GATEWAY_RESYNCS.inc()
            del self.replicas[r.market]
            self._spawn(self._resync(r.market))
            return True
        r.seq = msg.seq
        if p.kind == BOOK:
            side = r.bids if msg.side == "bid" else r.asks  # type: ignore[union-attr]
            if msg.qty:  # type: ignore[union-attr]
                side[msg.price] = msg.qty  # type: ignore[union-attr]
            else:
                side.pop(msg.price, None)  # type: ignore[union-attr]
        return True

    # ------------------------------------------------------------------ publishing

    def publish(self, out: BatchOut) -> None:
        """Fan a committed batch out to subscribers; update replicas."""
        subs = self.subs
        sent = 0
        for p in out.public:
            market = p.market
            msg = p.msg
            held = self._buffering.get(market)
            if held is not None:
                held.append(p)
            else:
                r = self.replicas.get(market)
                if r is not None and not self._apply(r, p):
                    continue  # an old message: already in the replica's snapshot
            targets = subs.get("book:" + market)
            if p.kind == TRADE:
                extra = subs.get("trades:" + market)
                if extra:
                    targets = (targets | extra) if targets else extra
            elif p.kind == STATUS:
                for ch in ("trades:" + market, "ticker:" + market, "markets"):
                    extra = subs.get(ch)
                    if extra:
                        targets = (targets | extra) if targets else extra
            if targets:
                text = encode(msg)
                for c in targets:
                    c.push(text, market)
                sent += len(targets)
        for t in out.tickers:
            targets = subs.get("ticker:" + t.market)
            if targets:
                text = encode(t)
                for c in targets:
                    c.push(text)
                sent += len(targets)
        user_subs = self.user_subs
        for pm in out.private:
            targets = user_subs.get((pm.user, pm.channel))
            if targets:
                text = encode(pm.msg)
                for c in targets:
                    c.push(text)
                sent += len(targets)
        if sent:
            _FANOUT_SENT.inc(sent)
        if out.account_users and user_subs:
            wanted = [u for u in out.account_users if (u, "account") in user_subs]
            if wanted:
                self._account_pending.update(wanted)
                if self._account_task is None or self._account_task.done():
                    self._account_task = asyncio.create_task(self._send_accounts())
        if self.on_markets_changed is not None:
            changed = {p.market for p in out.public if p.kind != BOOK}
            if changed:
                self.on_markets_changed(changed)

    def push_market_status(self, market: str, seq: int, status: str, result: str | None) -> None:
        """A market appeared (created); tell `markets` subscribers."""
        if self.on_markets_changed is not None:
            self.on_markets_changed({market})
        targets = self.subs.get("markets")
        if targets:
            text = encode(MarketMsg(market=market, seq=seq, status=status, result=result))
            for c in targets:
                c.push(text)

    async def _send_accounts(self) -> None:
        await asyncio.sleep(0.01)  # coalesce a burst of batches into one read
        while self._account_pending:
            users = sorted(self._account_pending)
            self._account_pending.clear()
            if self.fetch_accounts is None:
                return
            try:
                views = await self.fetch_accounts(users)
            except Exception:
                logger.exception("account update fetch failed")
                return
            for uid, msg in views.items():
                targets = self.user_subs.get((uid, "account"))
                if targets:
                    text = encode(msg)
                    for c in targets:
                        c.push(text)

    async def send_account(self, client: Client) -> None:
        if self.fetch_accounts is None or client.user_id is None:
            return
        views = await self.fetch_accounts([client.user_id])
        msg = views.get(client.user_id)
        if msg is not None:
            client.push(encode(msg))

    def conflate(self, client: Client) -> None:
        """The client is behind: drop its queued market messages, send snapshots instead."""
        now = time.monotonic()
        client.conflations.append(now)
        while client.conflations and now - client.conflations[0] > 10:
            client.conflations.popleft()
        markets = {m for kind, m, _ in client.queue if kind == _MARKET and m}
        kept = deque(e for e in client.queue if e[0] != _MARKET)
        client.queue.clear()
        client.queue.extend(kept)
        metrics.WS_CONFLATIONS.inc()
        for m in sorted(markets):
            r = self.replicas.get(m)
            if r is not None and ("book:" + m) in client.channels:
                client.queue.append((_KEEP, None, encode(r.snapshot())))
        if len(client.queue) > client.limit or len(client.conflations) > 5:
            metrics.WS_SLOW_CONSUMER_DISCONNECTS.inc()
            client.queue.clear()
            self._spawn(client.close(1013, "slow consumer: messages were not read fast enough"))

    async def _resync(self, market: str) -> None:
        try:
            await self.ensure_replica(market)
        except Exception:
            logger.exception("resync of {} failed", market)
            return
        r = self.replicas[market]
        text = encode(r.snapshot())
        for c in self.subs.get("book:" + market, ()):
            c.push(text)

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            text = encode(HeartbeatMsg(ts=time.time_ns() // 1_000_000))
            for c in list(self.clients):
                if c.channels:
                    c.push(text)
