"""WebSocket `/ws/v1` (PROTOCOL.md). Thin: decode → route → await durable reply → encode.

A connection's commands are queued to their shard in the order received (routing awaits
happen inline, before the next message is read); their replies are awaited concurrently,
so a bot may pipeline. Every outbound message goes through the connection's one bounded
queue (see hub.Client). Bad input gets an `error` and the connection keeps serving;
binary frames are refused the same way; messages over 64 KiB close it (1009, by uvicorn).
"""

import asyncio
import time
from typing import Any

import msgspec
from loguru import logger
from starlette.websockets import WebSocket, WebSocketDisconnect

from server import metrics
from server.errors import ApiError
from server.gateway.http import parse_id
from server.gateway.hub import Client, encode
from server.logs import REQUEST, RequestInfo, current_request_id, new_request_id, set_user
from server.ratelimit import RateLimits
from server.schema import (
    AmendedMsg,
    AmendOp,
    AuthedMsg,
    AuthOp,
    CancelAllOp,
    CancelledAllMsg,
    CancelledMsg,
    CancelOp,
    ClientMessage,
    ErrorMsg,
    PingOp,
    PlacedMsg,
    PlaceOp,
    PongMsg,
    SubscribedMsg,
    SubscribeOp,
    UnsubscribedMsg,
    UnsubscribeOp,
)
from server.services import Services, order_result, place_result

_decode = msgspec.json.Decoder(ClientMessage).decode
_decode_any = msgspec.json.Decoder().decode

AUTH_GRACE_S = 60.0
MAX_CHANNELS = 200
MAX_INFLIGHT = 1000
PUBLIC_PREFIXES = ("book:", "trades:", "ticker:")
PRIVATE_CHANNELS = ("orders", "fills", "account")
#: The rate-limit class of each op (server/ratelimit.py); other ops are not limited.
_LIMIT_CLASS: dict[type, str] = {
    PlaceOp: "ws_orders",
    CancelOp: "ws_orders",
    AmendOp: "ws_orders",
    CancelAllOp: "ws_orders",
    SubscribeOp: "ws_subscriptions",
    UnsubscribeOp: "ws_subscriptions",
}


_SENT: dict[type, Any] = {}


def _sent_counter(t: type[msgspec.Struct]) -> Any:
    c = _SENT.get(t)
    if c is None:
        c = _SENT[t] = metrics.WS_MESSAGES_SENT.labels(t.__struct_config__.tag or t.__name__)
    return c


_RECEIVED: dict[type, Any] = {}


def _received_counter(t: type[msgspec.Struct]) -> Any:
    c = _RECEIVED.get(t)
    if c is None:
        c = _RECEIVED[t] = metrics.WS_MESSAGES_RECEIVED.labels(t.__struct_config__.tag)
    return c


def _request_id(text: str) -> int | None:
    """The `id` of a message we could not decode, to echo it in the error if possible."""
    try:
        raw = _decode_any(text)
    except Exception:
        return None
    if isinstance(raw, dict):
        rid = raw.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= 2**53:
            return rid
    return None


class Session:
    def __init__(self, ws: WebSocket, services: Services) -> None:
        self.ws = ws
        self.services = services
        self.hub = services.hub
        self.client = Client(ws.send_text, self._close, services.settings.ws_queue_limit)
        self.user_id: int | None = None
        self._watching_user = False
        self.inflight: set[asyncio.Task[None]] = set()
        self.inflight_count = 0
        self._room = asyncio.Event()
        self.limits: RateLimits | None = getattr(ws.app.state, "limits", None)
        self.ip = ws.client.host if ws.client else "unknown"
        #: Log lines of this connection's n-th message carry request id `<conn_id>.<n>`.
        self.conn_id = current_request_id() or new_request_id()
        self.messages = 0

    async def _close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)

    def send(self, msg: Any) -> None:
        _sent_counter(type(msg)).inc()
        self.client.push(encode(msg))

    def error(self, code: str, message: str, rid: int | None) -> None:
        logger.debug("websocket error {} for op id {}: {}", code, rid, message)
        self.send(ErrorMsg(code=code, message=message, id=rid))

    async def run(self) -> None:
        ws = self.ws
        hub = self.hub
        hub.add_client(self.client)
        received_any = False
        try:
            while True:
                if self.inflight_count >= MAX_INFLIGHT:  # backpressure: stop reading
                    self._room.clear()
                    await self._room.wait()
                timeout = AUTH_GRACE_S if (self.user_id is None and not received_any) else None
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout)
                except TimeoutError:
                    await ws.close(
                        1008, "send a message (or authenticate) within 60 s of connecting"
                    )
                    return
                if msg["type"] == "websocket.disconnect":
                    return
                received_any = True
                self.messages += 1
                REQUEST.set(RequestInfo(f"{self.conn_id}.{self.messages}", self.user_id))
                text = msg.get("text")
                if text is None:
                    metrics.WS_MESSAGES_RECEIVED.labels("binary").inc()
                    self.error(
                        "invalid_message", "binary frames are not accepted: send JSON text", None
                    )
                    continue
                try:
                    op = _decode(text)
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    metrics.WS_MESSAGES_RECEIVED.labels("invalid").inc()
                    self.error("invalid_message", str(exc), _request_id(text))
                    continue
                metrics.WS_MESSAGES_RECEIVED.labels(
                    type(op).__name__.removesuffix("Op").lower()
                ).inc()
                limit_class = _LIMIT_CLASS.get(type(op))
                if limit_class is not None and self.limits is not None:
                    wait = await self.limits.check(limit_class, self.user_id, self.ip)
                    if wait:
                        self.error(
                            "rate_limited",
                            f"rate limit exceeded ({limit_class}); retry in {wait:.3f} s",
                            op.id,
                        )
                        continue
                try:
                    if not await self.dispatch(op):
                        return
                except ApiError as exc:
                    self.error(exc.code, exc.message, op.id)
                except Exception:
                    logger.exception("websocket op {} failed", type(op).__name__)
                    self.error("internal", "internal error", op.id)
        except WebSocketDisconnect:
            return
        finally:
            hub.remove_client(self.client)

    async def dispatch(self, op: Any) -> bool:
        """Handle one message; False closes the connection."""
        match op:
            case PlaceOp():
                uid = self._require_user()
                shard, cmd = await self.services.prepare_place(uid, op)
                self._reply_later(
                    op.id,
                    self.services.enqueue(shard, cmd),
                    lambda evs: PlacedMsg(id=op.id, order=place_result(cmd, evs)),
                )
            case CancelOp():
                uid = self._require_user()
                oid = parse_id(op.order_id, "order_id") if op.order_id is not None else None
                shard, ccmd = await self.services.prepare_cancel(uid, oid, op.client_order_id)
                self._reply_later(
                    op.id,
                    self.services.enqueue(shard, ccmd),
                    lambda evs: CancelledMsg(id=op.id, order=order_result(ccmd, evs, oid)),
                )
            case AmendOp():
                uid = self._require_user()
                aoid = parse_id(op.order_id, "order_id")
                shard, acmd = await self.services.prepare_amend(uid, aoid, op.qty)
                self._reply_later(
                    op.id,
                    self.services.enqueue(shard, acmd),
                    lambda evs: AmendedMsg(id=op.id, order=order_result(acmd, evs, aoid)),
                )
            case CancelAllOp():
                uid = self._require_user()
                if op.market is not None:
                    self.services.shard_of(op.market)
                self._spawn(self._cancel_all(uid, op))
            case PingOp():
                self.send_pong(op.id)
            case AuthOp():
                return await self._auth(op)
            case SubscribeOp():
                await self._subscribe(op)
            case UnsubscribeOp():
                for ch in op.channels:
                    self.hub.unsubscribe(self.client, ch)
                self.send(UnsubscribedMsg(id=op.id, channels=list(op.channels)))
        return True

    def send_pong(self, rid: int | None) -> None:
        self.send(PongMsg(id=rid, ts=time.time_ns() // 1_000_000))

    def _require_user(self) -> int:
        if self.user_id is None:
            raise ApiError("unauthorized", 'authenticate first: {"op":"auth","token":...}')
        return self.user_id

    async def _auth(self, op: AuthOp) -> bool:
        if self.user_id is not None:
            self.error("invalid_message", "this connection is already authenticated", op.id)
            return True
        try:
            principal = await self.services.auth.authenticate_token(op.token)
        except ApiError as exc:
            self.error("unauthorized", exc.message, op.id)
            await asyncio.sleep(0)  # let the writer send the error before closing
            await self._drain()
            await self.ws.close(1008, "authentication failed")
            return False
        self.user_id = principal.user_id
        set_user(principal.user_id)
        self.client.user_id = principal.user_id
        self.send(AuthedMsg(id=op.id, user_id=str(principal.user_id)))
        return True

    async def _drain(self) -> None:
        for _ in range(50):
            if not self.client.queue:
                return
            await asyncio.sleep(0.01)

    async def _subscribe(self, op: SubscribeOp) -> None:
        chans = list(dict.fromkeys(op.channels))
        if len(self.client.channels | set(chans)) > MAX_CHANNELS:
            raise ApiError(
                "invalid_message", f"at most {MAX_CHANNELS} subscriptions per connection"
            )
        books: list[str] = []
        markets: list[str] = []
        private = False
        for ch in chans:
            if ch in PRIVATE_CHANNELS:
                self._require_user()
                private = True
            elif ch == "markets":
                pass
            elif ch.startswith(PUBLIC_PREFIXES):
                market = ch.split(":", 1)[1]
                await self.services.shard_for(market)  # not_found for unknown markets
                markets.append(market)
                if ch.startswith("book:"):
                    books.append(market)
            else:
                raise ApiError("invalid_message", f"unknown channel {ch!r}")
        # Distributed mode: have this gateway receive those events first.
        for m in markets:
            await self.services.watch_market(m)
        if private and self.user_id is not None and not self._watching_user:
            self._watching_user = True
            await self.services.watch_user(self.user_id)
        replicas = [await self.hub.ensure_replica(m) for m in books]
        # From here to the end nothing awaits: no delta can slip between snapshot and
        # subscription.
        for ch in chans:
            self.hub.subscribe(self.client, ch)
        self.send(SubscribedMsg(id=op.id, channels=chans))
        for r in replicas:
            self.send(r.snapshot())
        if "account" in chans:
            self._spawn(self.hub.send_account(self.client))

    async def _cancel_all(self, uid: int, op: CancelAllOp) -> None:
        try:
            count = await self.services.cancel_all(uid, op.market)
        except ApiError as exc:
            self.error(exc.code, exc.message, op.id)
            return
        self.send(CancelledAllMsg(id=op.id, count=count))

    def _reply_later(self, rid: int | None, fut: "asyncio.Future[Any]", make: Any) -> None:
        """Push the reply when the command is durable (a done-callback: no task per command)."""

        def done(f: "asyncio.Future[Any]") -> None:
            try:
                reply = make(f.result())
            except ApiError as exc:
                self.error(exc.code, exc.message, rid)
                return
            except Exception:
                logger.exception("command failed")
                self.error("internal", "internal error", rid)
                return
            self.send(reply)

        fut.add_done_callback(done)
        self.inflight_count += 1
        fut.add_done_callback(self._landed)

    def _landed(self, _f: "asyncio.Future[Any]") -> None:
        self.inflight_count -= 1
        if self.inflight_count < MAX_INFLIGHT:
            self._room.set()

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self.inflight.add(t)
        t.add_done_callback(self.inflight.discard)


async def ws_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    await ws.accept()
    session = Session(ws, services)
    await session.run()
