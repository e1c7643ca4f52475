"""`lfg shard --id N`: one shard as its own process, fed by its Redis stream.

The process waits for the shard's advisory lock (a hot standby waits here), recovers from
PostgreSQL, claims the stream entries a dead predecessor had read but not acknowledged,
then reads the stream in batches. After each committed batch it publishes, in one Redis
pipeline: the replies (one message per gateway), the market data (one message per market),
the private events (one per user), then acknowledges the entries. A command replayed after
a takeover is answered from the `commands` table, never executed twice; one past its
deadline is answered `timeout`, never executed late.
"""

import asyncio
import contextlib
import functools
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis
from loguru import logger
from redis.exceptions import RedisError, ResponseError

from engine import EngineConfig
from engine.commands import Command
from engine.events import Event
from server import bus, metrics
from server.cache import LIST_SCOPE, RedisCache, market_scope
from server.config import Settings
from server.db import now_ms
from server.errors import ApiError
from server.marketdata import BOOK, BatchOut, render
from server.schema import MarketMsg
from server.services import count_trades, observe_engine
from server.shard import Shard

READ_BLOCK_MS = 200


class ShardProcess:
    def __init__(self, settings: Settings, dsn: str, redis_url: str, shard_id: int) -> None:
        self.settings = settings
        self.shard_id = shard_id
        self.redis_url = redis_url
        self.redis: aioredis.Redis = aioredis.from_url(redis_url)
        self.cache = RedisCache(self.redis)
        self.shard = Shard(
            shard_id,
            dsn,
            self._on_batch,
            max_batch=settings.max_batch,
            engine_config=EngineConfig(
                max_open_orders=settings.max_open_orders, retry_window_ms=settings.retry_window_ms
            ),
        )
        self.stream = bus.stream_key(shard_id)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        #: id(command) -> (command id, reply channel, stream entry id)
        self.meta: dict[int, tuple[str, str, bytes]] = {}
        self._outbox: dict[str, list[bus.Reply]] = {}
        self._acks: list[bytes] = []
        self._out: asyncio.Queue[
            tuple[dict[str, list[bus.Reply]], list[bytes], list[tuple[str, bytes]]]
        ] = asyncio.Queue()
        self._flush_scheduled = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._jobs: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.shard.start()  # a standby blocks here until the lock is free
        await self._ensure_group()
        self._tasks = [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._publisher()),
        ]
        await self._claim_pending()
        logger.info("shard {} active (consumer {})", self.shard_id, self.consumer)
        try:
            await self._read_loop()
        finally:
            await self.shard.stop()
            with contextlib.suppress(RedisError):
                await self.redis.delete(bus.alive_key(self.shard_id))
            for t in self._tasks:
                t.cancel()
            await self.redis.aclose()

    def stop(self) -> None:
        self._stop.set()

    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, bus.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _heartbeat(self) -> None:
        while True:
            try:
                if self.shard.ready:
                    await self.redis.set(
                        bus.alive_key(self.shard_id), self.consumer, px=bus.ALIVE_TTL_MS
                    )
                    # The backlog: entries read but not acknowledged, plus those not yet read.
                    info = await self.redis.xpending(self.stream, bus.GROUP)
                    groups = await self.redis.xinfo_groups(self.stream)
                    lag = sum(int(g.get("lag") or 0) for g in groups)
                    metrics.SHARD_STREAM_PENDING.labels(self.shard.label).set(
                        int(info["pending"]) + lag
                    )
            except RedisError as exc:
                logger.warning("shard {} heartbeat failed: {}", self.shard_id, exc)
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ reading

    async def _claim_pending(self) -> None:
        """Take over what a dead predecessor read but never acknowledged."""
        start = "0-0"
        while True:
            res = await self.redis.xautoclaim(
                self.stream, bus.GROUP, self.consumer, 0, start, count=1000
            )
            start, entries = res[0], res[1]
            if entries:
                logger.warning(
                    "shard {} claimed {} unacknowledged commands", self.shard_id, len(entries)
                )
                await self._feed(entries, replayed=True)
            if start in (b"0-0", "0-0"):
                return

    async def _read_loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            if not self.shard.ready:
                await asyncio.sleep(0.05)
                continue
            try:
                res: Any = await self.redis.xreadgroup(
                    bus.GROUP,
                    self.consumer,
                    {self.stream: ">"},
                    count=self.settings.max_batch,
                    block=READ_BLOCK_MS,
                )
                backoff = 0.1
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis lost its data (restart): start again
                    await self._ensure_group()
                    continue
                raise
            except (RedisError, OSError) as exc:
                logger.warning(
                    "shard {} cannot read its stream ({}); retrying in {:.1f}s",
                    self.shard_id,
                    exc,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for _stream, entries in res or ():
                await self._feed(entries, replayed=False)

    async def _feed(self, entries: Sequence[Any], *, replayed: bool) -> None:
        reqs: list[tuple[bytes, bus.Request]] = []
        for entry_id, fields in entries:
            raw = fields.get(b"m") if fields else None
            if raw is None:
                self._acks.append(entry_id)
                continue
            try:
                reqs.append((entry_id, bus.decode_request(raw)))
            except Exception:
                logger.exception("undecodable stream entry {}", entry_id)
                self._acks.append(entry_id)
        done: dict[str, bytes] = {}
        if replayed:
            ids = [r.id for _, r in reqs if r.kind == "cmd"]
            if ids:
                assert self.shard._conn is not None
                rows = await self.shard._conn.fetch(
                    "SELECT command_id, result FROM commands WHERE command_id = ANY($1::text[])",
                    ids,
                )
                done = {r["command_id"]: bytes(r["result"]) for r in rows}
        now = now_ms()
        for entry_id, req in reqs:
            if req.id in done:  # executed before the takeover: answer, do not redo
                self._reply(
                    req.reply_to, bus.Reply(req.id, events=msgspec.Raw(done[req.id])), entry_id
                )
                continue
            left = (req.deadline - now) / 1000
            if left <= 0:
                self._reply(
                    req.reply_to,
                    bus.Reply(
                        req.id,
                        "timeout",
                        "the command passed its deadline before matching; nothing was done",
                    ),
                    entry_id,
                )
                continue
            if req.kind == "cmd" and req.cmd is not None:
                cmd: Command = req.cmd
                self.meta[id(cmd)] = (req.id, req.reply_to, entry_id)
                self.shard.command_ids[id(cmd)] = req.id
                fut = self.shard.enqueue(cmd, left)
                fut.add_done_callback(functools.partial(self._done, cmd))
            else:
                t = asyncio.create_task(self._job(req, entry_id, left))
                self._jobs.add(t)
                t.add_done_callback(self._jobs.discard)
        self._schedule_flush()

    def _done(self, cmd: Command, fut: "asyncio.Future[list[Event]]") -> None:
        cid, reply_to, entry_id = self.meta.pop(id(cmd))
        self.shard.command_ids.pop(id(cmd), None)
        blob = self.shard.encoded.pop(id(cmd), None)
        exc = fut.exception()
        if exc is not None:
            code = exc.code if isinstance(exc, ApiError) else "internal"
            msg = exc.message if isinstance(exc, ApiError) else "internal error"
            self._reply(reply_to, bus.Reply(cid, code, msg), entry_id)
        else:
            if blob is None:
                blob = bus.encode(fut.result())
            self._reply(reply_to, bus.Reply(cid, events=msgspec.Raw(blob)), entry_id)

    async def _job(self, req: bus.Request, entry_id: bytes, timeout: float) -> None:
        market = req.market or ""
        try:
            if req.kind == "snapshot":
                seq, bids, asks = await self.shard.snapshot(market)
                data: Any = [seq, bids, asks]
            elif req.kind == "load":
                await self.shard.load_market(market)
                data = None
                self._out.put_nowait(
                    (
                        {},
                        [],
                        [
                            (
                                bus.STATUS_CHANNEL,
                                bus.encode([MarketMsg(market=market, seq=0, status="open")]),
                            )
                        ],
                    )
                )
            elif req.kind == "unload":
                await self.shard.unload_market(market)
                data = None
            else:
                raise ApiError("invalid_message", f"unknown request kind {req.kind!r}")
            reply = bus.Reply(req.id, data=data)
        except ApiError as exc:
            reply = bus.Reply(req.id, exc.code, exc.message)
        except Exception:
            logger.exception("shard job {} failed", req.kind)
            reply = bus.Reply(req.id, "internal", "internal error")
        self._reply(req.reply_to, reply, entry_id)
        self._schedule_flush()

    # ------------------------------------------------------------------ publishing

    def _reply(self, channel: str, reply: bus.Reply, entry_id: bytes) -> None:
        self._outbox.setdefault(channel, []).append(reply)
        self._acks.append(entry_id)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self, md: list[tuple[str, bytes]] | None = None) -> None:
        self._flush_scheduled = False
        if not self._outbox and not self._acks and not md:
            return
        self._out.put_nowait((self._outbox, self._acks, md or []))
        self._outbox, self._acks = {}, []

    def _on_batch(self, shard: Shard, results: Sequence[tuple[Command, list[Event]]]) -> None:
        """After commit (on the next loop turn, after the replies' callbacks)."""
        out = render(shard.engine, results)
        self._flush(self._market_data(out))
        count_trades(results)
        observe_engine(shard.label, shard.engine, [t.market for t in out.tickers])
        # Trades and status changes make the gateways' shared cached replies stale.
        changed = {p.market for p in out.public if p.kind != BOOK}
        if changed:
            self.cache.invalidate([LIST_SCOPE, *(market_scope(m) for m in changed)])

    def _market_data(self, out: BatchOut) -> list[tuple[str, bytes]]:
        ts = now_ms()
        per_market: dict[str, list[Any]] = {}
        status: list[MarketMsg] = []
        for p in out.public:
            per_market.setdefault(p.market, []).append(p)
            if isinstance(p.msg, MarketMsg):
                status.append(p.msg)
        tickers = {t.market: t for t in out.tickers}
        msgs = [
            (bus.market_channel(m), bus.encode(bus.MdBatch(ts, ps, tickers.pop(m, None))))
            for m, ps in per_market.items()
        ]
        msgs += [
            (bus.market_channel(m), bus.encode(bus.MdBatch(ts, [], t))) for m, t in tickers.items()
        ]
        per_user: dict[int, list[Any]] = {}
        for pm in out.private:
            per_user.setdefault(pm.user, []).append(pm)
        acct = set(out.account_users)
        for u in acct - per_user.keys():
            per_user[u] = []
        msgs += [
            (bus.user_channel(u), bus.encode(bus.UserBatch(ts, ps, u in acct)))
            for u, ps in per_user.items()
        ]
        if status:
            msgs.append((bus.STATUS_CHANNEL, bus.encode(status)))
        return msgs

    async def _publisher(self) -> None:
        """One pipeline per batch, in commit order: replies, market data, then acks."""
        while True:
            replies, acks, md = await self._out.get()
            while True:
                try:
                    pipe = self.redis.pipeline(transaction=False)
                    for channel, rs in replies.items():
                        pipe.publish(channel, bus.encode(rs))
                    for channel, data in md:
                        pipe.publish(channel, data)
                    if acks:
                        pipe.xack(self.stream, bus.GROUP, *acks)
                    await pipe.execute()
                    break
                except (RedisError, OSError) as exc:
                    logger.warning("shard {} publish failed ({}); retrying", self.shard_id, exc)
                    await asyncio.sleep(0.2)


async def serve_probes(proc: ShardProcess, host: str, port: int) -> asyncio.AbstractServer:
    """A shard's own small HTTP server: `/health` (alive), `/ready` (200 while active and
    serving, or while a healthy hot standby waits for the lock: a rolling update must not
    wait on a standby), `/metrics` (Prometheus)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            ctype = "application/json"
            if path == "/health":
                status, body = 200, b'{"status":"ok"}'
            elif path == "/ready":
                sh = proc.shard
                role = "active" if sh.ready else "standby" if sh.standby else "recovering"
                ok = role in ("active", "standby")
                status = 200 if ok else 503
                body = msgspec.json.encode(
                    {"status": "ready" if ok else "not_ready", "role": role, "shard": proc.shard_id}
                )
            elif path == "/metrics":
                status, body, ctype = 200, generate_latest(), CONTENT_TYPE_LATEST
            else:
                status, body = 404, b'{"code":"not_found","message":"no such path"}'
            head = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def run_shard(settings: Settings, dsn: str, redis_url: str, shard_id: int) -> None:
    """Run until SIGTERM/SIGINT: a standby is cancelled at once; an active shard finishes
    its batch in flight, then stops."""
    import signal

    proc = ShardProcess(settings, dsn, redis_url, shard_id)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_signal() -> None:
        if proc.shard.ready:
            proc.stop()
        else:
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    probe = await serve_probes(proc, settings.host, settings.metrics_port or settings.port)
    t0 = time.perf_counter()
    try:
        await proc.run()
    except asyncio.CancelledError:
        logger.info("shard {} standby stopped", shard_id)
        return
    finally:
        probe.close()
    logger.info("shard {} stopped after {:.1f}s", shard_id, time.perf_counter() - t0)
