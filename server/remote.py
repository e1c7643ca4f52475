"""The gateway's side of distributed mode: shards reached over Redis.

`RemoteShard` has the interface the gateway's services use on an in-process `Shard`
(`enqueue`, `snapshot`, `load_market`, `ready`), so the REST and WebSocket code is the
same in both modes. `GatewayBus` owns the Redis connections: a sender task that appends
commands to the shards' streams in the order they were enqueued (pipelined), and one
pub/sub connection for this gateway's replies, the markets its clients watch, the users
with private subscriptions here, and every market's status changes. On a Redis failure
it reconnects with backoff, resubscribes, and resynchronises every book.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import RedisError

from engine.commands import Command, PlaceOrder
from engine.events import Event
from server import bus, metrics
from server.errors import ApiError
from server.gateway.hub import Hub
from server.marketdata import BatchOut
from server.shard import ShardUnavailable

#: How long past a command's deadline the gateway waits for the shard's answer.
REPLY_GRACE_S = 1.0


class GatewayBus:
    def __init__(self, redis_url: str, hub: Hub, shard_count: int) -> None:
        self.redis_url = redis_url
        self.hub = hub
        self.gateway_id = uuid.uuid4().hex[:12]
        self.reply_channel = bus.reply_channel(self.gateway_id)
        self.redis: aioredis.Redis = aioredis.from_url(redis_url)
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.alive: dict[int, bool] = {i: False for i in range(shard_count)}
        self.markets: set[str] = set()
        self.users: dict[int, int] = {}
        self.connected = False
        self.on_market_created: Callable[[str], Any] | None = None
        self.on_markets_changed: Callable[[], Any] | None = None
        self._outq: list[tuple[int, bytes]] = []
        self._send_wake = asyncio.Event()
        self._pubsub: Any = None
        self._subscribed: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._first_connect = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._sender()),
            asyncio.create_task(self._watch_shards()),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_connect.wait(), 10)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ShardUnavailable("the gateway is shutting down"))
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # ------------------------------------------------------------------ requests

    def request(
        self,
        shard_id: int,
        kind: str,
        timeout_s: float,
        cmd: Command | None = None,
        market: str | None = None,
    ) -> "asyncio.Future[Any]":
        """Queue a request now (order preserved); the future gets the shard's `Reply`."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.alive.get(shard_id) or not self.connected:
            fut.set_exception(ShardUnavailable())
            return fut
        rid = uuid.uuid4().hex
        deadline = int(time.time() * 1000 + timeout_s * 1000)
        # Every concrete Command is a member of the AnyCommand union.
        req = bus.Request(kind, rid, self.reply_channel, deadline, cmd, market)  # type: ignore[arg-type]
        self.pending[rid] = fut
        self._outq.append((shard_id, bus.encode(req)))
        self._send_wake.set()
        loop = asyncio.get_running_loop()
        loop.call_later(timeout_s + REPLY_GRACE_S, self._expire, rid)
        return fut

    def _expire(self, rid: str) -> None:
        fut = self.pending.pop(rid, None)
        if fut is not None and not fut.done():
            fut.set_exception(
                ApiError(
                    "timeout",
                    "no answer from the matching shard in time; if you retry, reuse the client_order_id",
                )
            )

    async def _sender(self) -> None:
        while True:
            if not self._outq:
                self._send_wake.clear()
                await self._send_wake.wait()
                continue
            batch, self._outq = self._outq, []
            try:
                pipe = self.redis.pipeline(transaction=False)
                for shard_id, data in batch:
                    pipe.xadd(
                        bus.stream_key(shard_id),
                        {"m": data},
                        maxlen=bus.STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
            except (RedisError, OSError) as exc:
                logger.warning("sending {} commands to Redis failed: {}", len(batch), exc)
                for _sid, data in batch:
                    req = bus.decode_request(data)
                    fut = self.pending.pop(req.id, None)
                    if fut is not None and not fut.done():
                        fut.set_exception(
                            ShardUnavailable("the command bus is unavailable; nothing was done")
                        )

    async def _watch_shards(self) -> None:
        keys = [bus.alive_key(i) for i in sorted(self.alive)]
        while True:
            try:
                vals = await self.redis.mget(keys)
                for i, v in zip(sorted(self.alive), vals, strict=True):
                    self.alive[i] = v is not None
            except (RedisError, OSError):
                for i in self.alive:
                    self.alive[i] = False
            await asyncio.sleep(0.25)

    # ------------------------------------------------------------------ subscriptions

    async def watch_market(self, market: str) -> None:
        if market not in self.markets:
            self.markets.add(market)
            await self._subscribe(bus.market_channel(market))

    async def watch_user(self, user_id: int) -> None:
        self.users[user_id] = self.users.get(user_id, 0) + 1
        if self.users[user_id] == 1:
            await self._subscribe(bus.user_channel(user_id))

    async def _subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)
        if self._pubsub is not None and self.connected:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.subscribe(channel)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            ps = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await ps.subscribe(
                    self.reply_channel, bus.STATUS_CHANNEL, bus.MARKETS_CHANNEL, *self._subscribed
                )
                self._pubsub = ps
                was_connected_before = self._first_connect.is_set()
                self.connected = True
                self._first_connect.set()
                backoff = 0.1
                if was_connected_before:
                    self._resync_all()
                while True:
                    msg = await ps.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    try:
                        self._dispatch(msg["channel"], msg["data"])
                    except Exception:
                        logger.exception("undecodable bus message on {}", msg.get("channel"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                logger.warning("Redis pub/sub lost ({}); reconnecting in {:.1f}s", exc, backoff)
                for rid, fut in list(self.pending.items()):
                    if not fut.done():
                        # The answer may never come; the shard never executes past the deadline.
                        pass
                    del rid
                with contextlib.suppress(Exception):
                    await ps.aclose()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _resync_all(self) -> None:
        """After a reconnect, every replica may have missed messages: rebuild them all and
        send the subscribers fresh snapshots."""
        for market in list(self.hub.replicas):
            metrics.GATEWAY_RESYNCS.inc()
            del self.hub.replicas[market]
            self.hub._spawn(self.hub._resync(market))

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        ch = channel.decode()
        if ch == self.reply_channel:
            for r in bus.decode_replies(data):
                fut = self.pending.pop(r.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(r)
        elif ch.startswith("lfg:md:"):
            b = bus.decode_md(data)
            metrics.GATEWAY_PUBSUB_LAG.observe(max(0.0, time.time() - b.ts / 1000))
            self.hub.publish(BatchOut(b.public, [b.ticker] if b.ticker else [], [], []))
        elif ch.startswith("lfg:user:"):
            u = bus.decode_user(data)
            uid = int(ch.rsplit(":", 1)[1])
            self.hub.publish(BatchOut([], [], u.private, [uid] if u.account else []))
        elif ch == bus.MARKETS_CHANNEL:
            if self.on_markets_changed is not None:
                self.on_markets_changed()
        elif ch == bus.STATUS_CHANNEL:
            for m in bus.decode_status(data):
                if self.on_market_created is not None and m.seq == 0:
                    self.on_market_created(m.market)
                if m.market not in self.markets:
                    self.hub.push_market_status(m.market, m.seq, m.status, m.result)


class RemoteShard:
    """A shard in another process, as the gateway's services see it."""

    def __init__(self, shard_id: int, gbus: GatewayBus) -> None:
        self.shard_id = shard_id
        self.bus = gbus

    @property
    def ready(self) -> bool:
        return self.bus.alive.get(self.shard_id, False) and self.bus.connected

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def enqueue(self, cmd: Command, timeout_s: float = 5.0) -> "asyncio.Future[list[Event]]":
        out: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        inner = self.bus.request(self.shard_id, "cmd", timeout_s, cmd=cmd)
        t0 = time.perf_counter()
        is_place = type(cmd) is PlaceOrder

        def done(f: "asyncio.Future[Any]") -> None:
            if out.done():
                return
            if is_place:  # the gateway's view: Redis both ways included
                metrics.ORDER_ACK.observe(time.perf_counter() - t0)
            exc = f.exception()
            if exc is not None:
                out.set_exception(exc)
                return
            r: bus.Reply = f.result()
            if r.code is not None:
                out.set_exception(ApiError(r.code, r.message))
            else:
                out.set_result(bus.decode_events(r.events))  # type: ignore[arg-type]

        inner.add_done_callback(done)
        return out

    async def _call(self, kind: str, market: str) -> Any:
        r: bus.Reply = await self.bus.request(self.shard_id, kind, 5.0, market=market)
        if r.code is not None:
            raise ApiError(r.code, r.message)
        return r.data

    async def snapshot(self, market: str) -> tuple[int, list[list[int]], list[list[int]]]:
        await self.bus.watch_market(market)
        seq, bids, asks = await self._call("snapshot", market)
        return seq, bids, asks

    async def load_market(self, ticker: str) -> None:
        await self._call("load", ticker)

    async def unload_market(self, ticker: str) -> None:
        await self._call("unload", ticker)
