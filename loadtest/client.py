"""An asyncio client of the LFG wire protocol v1 (`PROTOCOL.md`): REST and WebSocket.

Three pieces, shared by the tests, the demo market maker and the load tester:

- `LfgClient`: the REST API `/api/v1` over `httpx.AsyncClient`.
- `LfgSocket`: one WebSocket `/ws/v1` connection. Requests carry an auto-incremented
  integer `id` that the server echoes in its reply, so any number of requests may be in
  flight at once on one socket (pipelining); one reader task matches replies to waiting
  callers and hands pushed messages to handlers and to a bounded queue.
- `BookReplica`: an L2 book of one market rebuilt from `book_snapshot` + `book_delta`,
  with gap detection on the market's `seq`.

Every failure the server reports, REST or WebSocket, raises `LfgError(code, message,
status)` with the protocol's error `code`. Messages are plain dicts decoded by msgspec
(one decoder, reused): the server may add fields without breaking this client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import Any, Literal, Self
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

__all__ = [
    "DEFAULT_BASE_URL",
    "FINAL_STATUSES",
    "MAX_CLIENT_MESSAGE",
    "BookReplica",
    "BookSide",
    "LfgClient",
    "LfgConnectionClosed",
    "LfgError",
    "LfgSocket",
    "LfgTimeoutError",
    "Message",
    "OrderType",
    "Outcome",
    "SelfTradePrevention",
    "Side",
    "TimeInForce",
    "book_key",
    "connect",
    "now_ms",
    "order_body",
    "ws_url",
]

log = logging.getLogger("lfg.client")

#: One decoded JSON object from the server.
Message = dict[str, Any]
Handler = Callable[[Message], object]

Side = Literal["buy", "sell"]
Outcome = Literal["yes", "no"]
OrderType = Literal["limit", "market", "stop", "stop_limit"]
TimeInForce = Literal["gtc", "gtd", "ioc", "fok"]
SelfTradePrevention = Literal["cancel_newest", "cancel_oldest", "cancel_both"]
BookSide = Literal["bid", "ask"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
#: "a message over 64 KiB closes the connection (1009)": refuse to send one.
MAX_CLIENT_MESSAGE = 64 * 1024
#: Order statuses after which an order never changes again.
FINAL_STATUSES = frozenset({"filled", "cancelled", "expired", "rejected"})

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

# The protocol's error table, for REST replies whose body is not the error object
# (a proxy's 502, a framework's plain-text 404).
_CODE_OF_STATUS: dict[int, str] = {
    400: "invalid_message",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "rate_limited",
    500: "internal",
    502: "unavailable",
    503: "unavailable",
    504: "timeout",
}


class LfgError(Exception):
    """The server refused a request: `code` is one of PROTOCOL.md's error codes.

    `status` is the HTTP status for REST and None for WebSocket replies; `request_id` is
    the WebSocket request `id`; `retry_after` is REST's `Retry-After` (seconds) on
    `rate_limited`. Two client-side conditions are subclasses with their own codes:
    `LfgTimeoutError` (`client_timeout`) and `LfgConnectionClosed` (`connection_closed`).
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        request_id: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after


class LfgTimeoutError(LfgError, TimeoutError):
    """No reply within the client's timeout. Unlike the server's `timeout` code (the
    command was never executed), the outcome is unknown: the request may have been done.
    Retrying a `place` with the same `client_order_id` is safe (idempotent)."""


class LfgConnectionClosed(LfgError, ConnectionError):
    """The WebSocket closed (by either side) before the reply came, or was closed already.
    `close_code`/`close_reason` are the WebSocket close frame's (1008 after a failed auth,
    1009 for an oversized message)."""

    def __init__(self, close_code: int | None, close_reason: str | None) -> None:
        reason = (
            f"websocket closed (code {close_code}{': ' + close_reason if close_reason else ''})"
        )
        super().__init__("connection_closed", reason)
        self.close_code = close_code
        self.close_reason = close_reason


def ws_url(base_url: str) -> str:
    """The WebSocket endpoint of a server: `http://h:p` → `ws://h:p/ws/v1` (https → wss)."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/ws/v1"):
        path += "/ws/v1"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def book_key(side: str, outcome: str, price: int) -> tuple[BookSide, int]:
    """Where an order rests in the one YES book (DESIGN.md §1): buy YES at p → bid p,
    sell YES at p → ask p, buy NO at p → ask 100-p, sell NO at p → bid 100-p."""
    if outcome == "yes":
        return ("bid", price) if side == "buy" else ("ask", price)
    return ("ask", 100 - price) if side == "buy" else ("bid", 100 - price)


def order_body(
    market: str,
    side: Side,
    outcome: Outcome,
    qty: int,
    price: int | None = None,
    type: OrderType = "limit",
    tif: TimeInForce = "gtc",
    post_only: bool = False,
    client_order_id: str | None = None,
    expires_at: int | None = None,
    stop_price: int | None = None,
    stp: SelfTradePrevention | None = None,
) -> dict[str, Any]:
    """The fields of a `place` (WebSocket) or `POST /orders` (REST) body. Optional fields
    left as None are omitted, so the server applies its defaults (e.g. `stp`
    cancel_newest, a market order's worst price)."""
    body: dict[str, Any] = {
        "market": market,
        "side": side,
        "outcome": outcome,
        "type": type,
        "qty": qty,
        "tif": tif,
        "post_only": post_only,
    }
    if price is not None:
        body["price"] = price
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    if expires_at is not None:
        body["expires_at"] = expires_at
    if stop_price is not None:
        body["stop_price"] = stop_price
    if stp is not None:
        body["stp"] = stp
    return body


# --------------------------------------------------------------------------- book replica


class BookReplica:
    """An L2 replica of one market's book, in YES cents, built from `book:MKT` messages.

    The rules (PROTOCOL.md, "Public channel messages"):

    - `book_snapshot` replaces the whole book and sets `seq`. A snapshot is accepted at any
      time: the server may send a fresh one unasked (conflation of a slow client).
    - Every public event of the market carries the market's `seq`, +1 per event, and the
      server sends all of them (book_delta, trade, market) on `book:MKT`, so the stream
      is gapless. A message with `seq == last + 1` is applied (a `book_delta` sets the
      level's new total, 0 removes it; a `trade`/`market` only advances `seq`, and
      `market` records the status); `seq <= last` is a duplicate and ignored (the same
      event may also arrive through `trades:MKT` or `markets`).
    - `seq > last + 1` is a gap: the replica marks itself `stale`, calls `on_gap` once,
      and ignores everything until the next snapshot. The owner resubscribes `book:MKT`.
    - `ticker` carries the seq of the latest event, not a new one: it is never a gap and
      does not move `seq`.

    Pure: no I/O, no clock. Feed it with `apply()`.
    """

    __slots__ = (
        "_asks",
        "_bids",
        "last_price",
        "market",
        "on_gap",
        "result",
        "seq",
        "stale",
        "status",
    )

    def __init__(self, market: str, on_gap: Callable[[BookReplica], object] | None = None) -> None:
        self.market = market
        self.on_gap = on_gap
        #: seq of the last applied event; -1 before the first snapshot.
        self.seq = -1
        #: True until a snapshot is applied and again after a gap until the next snapshot.
        self.stale = True
        #: The market's status from the latest `market` message (None until one is seen).
        self.status: str | None = None
        self.result: str | None = None
        self.last_price: int | None = None
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}

    def apply(self, msg: Message) -> bool:
        """Apply one message of this market; True when the book's levels changed."""
        kind = msg.get("type")
        if kind == "book_snapshot":
            self._bids = {int(p): int(q) for p, q in msg.get("bids", ()) if q > 0}
            self._asks = {int(p): int(q) for p, q in msg.get("asks", ()) if q > 0}
            self.seq = int(msg["seq"])
            self.stale = False
            return True
        if self.stale or kind not in ("book_delta", "trade", "market"):
            return False
        seq = msg.get("seq")
        if seq is None or seq <= self.seq:
            return False
        if seq != self.seq + 1:
            self.stale = True
            log.info("book %s: gap (seq %d after %d), resyncing", self.market, seq, self.seq)
            if self.on_gap is not None:
                self.on_gap(self)
            return False
        self.seq = seq
        if kind == "book_delta":
            levels = self._bids if msg["side"] == "bid" else self._asks
            price, qty = msg["price"], msg["qty"]
            if qty > 0:
                levels[price] = qty
            else:
                levels.pop(price, None)
            return True
        if kind == "trade":
            self.last_price = msg.get("price")
        else:
            self.status = msg.get("status")
            self.result = msg.get("result")
        return False

    @property
    def bids(self) -> list[tuple[int, int]]:
        """`[(price, qty)]` in YES cents, best (highest) first."""
        return sorted(self._bids.items(), reverse=True)

    @property
    def asks(self) -> list[tuple[int, int]]:
        """`[(price, qty)]` in YES cents, best (lowest) first."""
        return sorted(self._asks.items())

    def best_bid(self) -> int | None:
        return max(self._bids) if self._bids else None

    def best_ask(self) -> int | None:
        return min(self._asks) if self._asks else None

    def qty_at(self, side: BookSide, price: int) -> int:
        return (self._bids if side == "bid" else self._asks).get(price, 0)

    def __repr__(self) -> str:
        state = "stale" if self.stale else f"seq={self.seq}"
        return (
            f"BookReplica({self.market!r}, {state}, bid={self.best_bid()}, ask={self.best_ask()})"
        )


# --------------------------------------------------------------------------- websocket


class _Closed:
    """Queue sentinel: the connection is gone."""


_CLOSED = _Closed()


class LfgSocket:
    """One WebSocket connection to `/ws/v1`.

    ```
    async with LfgSocket("ws://127.0.0.1:8000/ws/v1") as ws:
        await ws.auth(api_key)
        await ws.subscribe(["book:MKT", "orders"])
        order = await ws.place("MKT", "buy", "yes", 10, price=55, client_order_id="b-1")
    ```

    **Requests.** Each request gets the next integer `id`; the reply with that `id`
    completes it. Any number may be in flight (call them from several tasks, or
    `asyncio.gather` them). A reply of type `error` raises `LfgError(code, message)`;
    no reply within `timeout` seconds raises `LfgTimeoutError`; the connection closing
    raises `LfgConnectionClosed` in every waiting caller.

    **Pushed messages** (book_snapshot, book_delta, trade, ticker, market, heartbeat,
    order, fill, account, and `error` with `id` null) go, in arrival order, to:
    1. the `BookReplica` of their market (for `book:MKT` subscriptions; see `book()`),
    2. the handlers registered with `on(type, fn)` (`"*"` for every type), called inline
       in the reader task: keep them fast and non-blocking; an exception is logged, never
       kills the reader;
    3. the bounded queue read with `next_message()` / `messages()`, unless disabled
       (`queue_maxsize=None`). **When the queue is full the oldest queued message is
       dropped** (never the reader blocked, so replies and replicas keep flowing) and
       `dropped` counts the losses. Replicas are fed before the queue and never lose
       a message to it.

    A gap in a replica resubscribes `book:MKT` (unsubscribe, then subscribe) to get a
    fresh snapshot. One reader task; `close()` ends it.
    """

    def __init__(
        self,
        url: str = ws_url(DEFAULT_BASE_URL),
        *,
        timeout: float = 10.0,
        queue_maxsize: int | None = 10_000,
        queue_types: Collection[str] | None = None,
        track_books: bool = True,
        compression: str | None = None,
        max_size: int = 4 * 1024 * 1024,
        max_queue: int = 256,
    ) -> None:
        """`url`: `ws://host:port/ws/v1` (an `http://` base URL is converted).
        `timeout`: seconds to wait for each reply. `queue_maxsize`: bound of the push queue
        (None disables it); `queue_types`: only these push types are queued (None: all).
        `track_books`: keep a `BookReplica` for every `book:MKT` subscription.
        `compression`: None (default, cheapest for local load) or "deflate".
        `max_size`/`max_queue`: websockets' limits on incoming messages."""
        if queue_maxsize is not None and queue_maxsize < 1:
            raise ValueError("queue_maxsize must be >= 1 or None")
        self.url = ws_url(url) if url.startswith(("http://", "https://")) else url
        self.timeout = timeout
        self.track_books = track_books
        self._queue_types = frozenset(queue_types) if queue_types is not None else None
        self._connect_kwargs: dict[str, Any] = {
            "compression": compression,
            "max_size": max_size,
            "max_queue": max_queue,
        }
        self._queue: asyncio.Queue[Message | _Closed] | None = (
            asyncio.Queue(queue_maxsize) if queue_maxsize is not None else None
        )
        #: Pushed messages dropped because the queue was full.
        self.dropped = 0
        #: The user id from `auth`, once authenticated.
        self.user_id: str | None = None
        #: `loop.time()` of the last message received (heartbeats included).
        self.last_message_at = 0.0
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._books: dict[str, BookReplica] = {}
        self._book_ready: dict[str, asyncio.Event] = {}
        self._resyncs: dict[str, asyncio.Task[None]] = {}
        self._closed: LfgConnectionClosed | None = None
        self._closed_event = asyncio.Event()

    # ---- lifecycle

    async def connect(self) -> Self:
        """Open the connection and start the reader task."""
        if self._ws is not None:
            raise RuntimeError("LfgSocket.connect() called twice")
        self._ws = await ws_connect(self.url, **self._connect_kwargs)
        self.last_message_at = asyncio.get_running_loop().time()
        self._reader = asyncio.create_task(self._read_loop(self._ws), name=f"lfg-reader {self.url}")
        return self

    async def close(self) -> None:
        """Close the connection (normal closure 1000), wait for the reader to finish and
        fail every pending request with `LfgConnectionClosed`. Idempotent."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.wait({self._reader})
        self._shutdown(1000, "closed by client")

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def wait_closed(self) -> LfgConnectionClosed:
        """Wait until the connection is gone; returns the reason."""
        await self._closed_event.wait()
        return self._closed_error()

    # ---- requests

    async def request(
        self, op: str, fields: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Message:
        """Send `{"op": op, "id": <next>, **fields}` and return the reply with that `id`.

        Raises `LfgError` for an `error` reply, `LfgTimeoutError` after `timeout`
        seconds (default: the socket's), `LfgConnectionClosed` if the connection goes.
        """
        if self._closed is not None:
            raise self._closed_error()
        ws = self._ws
        if ws is None:
            raise RuntimeError("LfgSocket is not connected: call connect() or use `async with`")
        rid = self._next_id
        self._next_id = rid + 1
        msg: dict[str, Any] = {"op": op, "id": rid}
        if fields:
            msg.update(fields)
        data = _encoder.encode(msg)
        if len(data) > MAX_CLIENT_MESSAGE:
            # The server would close the connection with 1009.
            raise LfgError(
                "invalid_message", f"message of {len(data)} bytes over 64 KiB", request_id=rid
            )
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                await ws.send(data, text=True)
                reply = await fut
        except TimeoutError:
            raise LfgTimeoutError(
                "client_timeout", f"no reply to {op} id={rid} within the timeout", request_id=rid
            ) from None
        except ConnectionClosed:
            self._shutdown(ws.close_code, ws.close_reason)
            raise self._closed_error() from None
        finally:
            self._pending.pop(rid, None)
        if reply.get("type") == "error":
            raise LfgError(
                str(reply.get("code", "internal")), str(reply.get("message", "")), request_id=rid
            )
        return reply

    async def auth(self, token: str) -> str:
        """`auth` with an access token or API key; returns the `user_id`. Once per connection;
        a failed auth closes the connection (1008) after the error reply."""
        reply = await self.request("auth", {"token": token})
        self.user_id = str(reply["user_id"])
        return self.user_id

    async def subscribe(self, channels: Collection[str]) -> list[str]:
        """Subscribe; returns the channels the server confirmed. For every `book:MKT` a
        `BookReplica` is created (see `book()`); its snapshot arrives as a push."""
        new = [
            ch[5:]
            for ch in channels
            if self.track_books and ch.startswith("book:") and ch[5:] not in self._books
        ]
        for market in new:
            self._replica(market)
        try:
            reply = await self.request("subscribe", {"channels": list(channels)})
        except LfgError:
            for market in new:
                self._drop_replica(market)
            raise
        return list(reply.get("channels", []))

    async def unsubscribe(self, channels: Collection[str]) -> list[str]:
        """Unsubscribe; a `book:MKT` channel also drops that market's replica."""
        for ch in channels:
            if ch.startswith("book:"):
                self._drop_replica(ch[5:])
        reply = await self.request("unsubscribe", {"channels": list(channels)})
        return list(reply.get("channels", []))

    async def place(
        self,
        market: str,
        side: Side,
        outcome: Outcome,
        qty: int,
        price: int | None = None,
        type: OrderType = "limit",
        tif: TimeInForce = "gtc",
        post_only: bool = False,
        client_order_id: str | None = None,
        expires_at: int | None = None,
        stop_price: int | None = None,
        stp: SelfTradePrevention | None = None,
        *,
        timeout: float | None = None,
    ) -> Message:
        """Place an order; returns the `placed` reply's Order (durable, fills included).
        `price` is in cents of `outcome`; None fields are omitted (see `order_body`)."""
        body = order_body(
            market,
            side,
            outcome,
            qty,
            price=price,
            type=type,
            tif=tif,
            post_only=post_only,
            client_order_id=client_order_id,
            expires_at=expires_at,
            stop_price=stop_price,
            stp=stp,
        )
        reply = await self.request("place", body, timeout=timeout)
        order: Message = reply["order"]
        return order

    async def cancel(
        self, order_id: str | None = None, client_order_id: str | None = None
    ) -> Message:
        """Cancel one order by `order_id` or `client_order_id`; returns the cancelled Order."""
        if (order_id is None) == (client_order_id is None):
            raise ValueError("give exactly one of order_id, client_order_id")
        fields = (
            {"order_id": order_id} if order_id is not None else {"client_order_id": client_order_id}
        )
        reply = await self.request("cancel", fields)
        order: Message = reply["order"]
        return order

    async def cancel_all(self, market: str | None = None) -> int:
        """Cancel every open order (of one market, or all); returns how many."""
        reply = await self.request("cancel_all", {"market": market} if market is not None else None)
        return int(reply.get("count", 0))

    async def amend(self, order_id: str, qty: int) -> Message:
        """Reduce an open order to `qty` (keeps priority); returns the reply's Order when
        it has one, else the whole reply (the protocol does not name the reply type)."""
        reply = await self.request("amend", {"order_id": order_id, "qty": qty})
        order = reply.get("order")
        return order if isinstance(order, dict) else reply

    async def ping(self) -> int:
        """Round trip; returns the server's `ts` from `pong`."""
        reply = await self.request("ping")
        return int(reply.get("ts", 0))

    # ---- pushed messages

    def on(self, type: str, handler: Handler) -> Callable[[], None]:
        """Call `handler(msg)` for every pushed message of `type` ("*": all types).
        Returns a function that removes the handler."""
        self._handlers.setdefault(type, []).append(handler)

        def remove() -> None:
            with contextlib.suppress(KeyError, ValueError):
                self._handlers[type].remove(handler)

        return remove

    async def next_message(self, timeout: float | None = None) -> Message:
        """The next queued pushed message. Raises `LfgConnectionClosed` once the connection
        is gone and the queue is drained, `TimeoutError` after `timeout` seconds."""
        if self._queue is None:
            raise RuntimeError("the push queue is disabled (queue_maxsize=None)")
        async with asyncio.timeout(timeout):
            item = await self._queue.get()
        if isinstance(item, _Closed):
            self._queue.put_nowait(item)  # let other consumers see the end too
            raise self._closed_error()
        return item

    async def messages(self) -> AsyncIterator[Message]:
        """Iterate over queued pushed messages until the connection closes."""
        while True:
            try:
                yield await self.next_message()
            except LfgConnectionClosed:
                return

    # ---- books

    def book(self, market: str) -> BookReplica | None:
        """The replica of `market`'s book, if subscribed to `book:market`."""
        return self._books.get(market)

    @property
    def books(self) -> Mapping[str, BookReplica]:
        return self._books

    async def wait_book(self, market: str, timeout: float | None = None) -> BookReplica:
        """Wait until `market`'s replica holds a snapshot (is not stale) and return it."""
        replica = self._replica(market)
        if replica.stale:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                await self._book_ready[market].wait()
        return replica

    def _replica(self, market: str) -> BookReplica:
        replica = self._books.get(market)
        if replica is None:
            replica = self._books[market] = BookReplica(market, on_gap=self._on_gap)
            self._book_ready[market] = asyncio.Event()
        return replica

    def _drop_replica(self, market: str) -> None:
        self._books.pop(market, None)
        self._book_ready.pop(market, None)
        task = self._resyncs.pop(market, None)
        if task is not None:
            task.cancel()

    def _on_gap(self, replica: BookReplica) -> None:
        event = self._book_ready.get(replica.market)
        if event is not None:
            event.clear()
        market = replica.market
        if (
            market in self._resyncs
            or self._closed is not None
            or self._books.get(market) is not replica
        ):
            return
        task = asyncio.get_running_loop().create_task(
            self._resync(market), name=f"lfg-resync {market}"
        )
        self._resyncs[market] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._resyncs.get(market) is t:
                del self._resyncs[market]

        task.add_done_callback(done)

    async def _resync(self, market: str) -> None:
        """ "A client applies deltas with seq = last + 1 and resubscribes on any gap":
        unsubscribe then subscribe `book:market`, so a fresh snapshot is sent whether or
        not the server re-sends one on a repeated subscribe."""
        channel = [f"book:{market}"]
        for attempt in range(3):
            try:
                await self.request("unsubscribe", {"channels": channel})
                await self.request("subscribe", {"channels": channel})
                return
            except LfgConnectionClosed:
                return
            except LfgError as exc:
                log.warning(
                    "book %s: resubscribe failed (%s), attempt %d", market, exc, attempt + 1
                )
                await asyncio.sleep(0.25 * 2**attempt)

    # ---- the reader

    async def _read_loop(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        pending = self._pending
        books = self._books
        handlers = self._handlers
        try:
            while True:
                data = await ws.recv(decode=False)
                self.last_message_at = loop.time()
                try:
                    msg = _decoder.decode(data)
                except msgspec.DecodeError:
                    log.warning("undecodable message from server: %r", data[:200])
                    continue
                if not isinstance(msg, dict):
                    log.warning("non-object message from server: %r", data[:200])
                    continue
                rid = msg.get("id")
                if rid is not None:
                    # A reply: complete its waiting request. An `error` whose request is
                    # no longer waited for is still shown to handlers, as a push.
                    fut = pending.get(rid) if isinstance(rid, int) else None
                    if fut is not None:
                        if not fut.done():
                            fut.set_result(msg)
                        continue
                    if msg.get("type") != "error":
                        log.debug("reply to a request no longer waited for: id=%r", rid)
                        continue
                kind = msg.get("type")
                replica: BookReplica | None = None
                try:
                    market = msg.get("market")
                    if market is not None and self.track_books:
                        replica = books.get(market)
                        if replica is None and kind == "book_snapshot":
                            replica = self._replica(market)
                        if replica is not None:
                            replica.apply(msg)
                            if kind == "book_snapshot":
                                self._book_ready[market].set()
                except (KeyError, TypeError, ValueError):
                    # A malformed public message: never kill the reader; resync the book.
                    log.warning("malformed %s message: %r", kind, data[:200])
                    if replica is not None and not replica.stale:
                        replica.stale = True
                        self._on_gap(replica)
                for key in (kind, "*"):
                    for handler in handlers.get(key, ()):  # type: ignore[arg-type]
                        try:
                            handler(msg)
                        except Exception:
                            log.exception("handler %r failed on a %s message", handler, kind)
                if self._queue is not None and (
                    self._queue_types is None or kind in self._queue_types
                ):
                    self._enqueue(msg)
        except ConnectionClosed:
            pass
        finally:
            self._shutdown(ws.close_code, ws.close_reason)

    def _enqueue(self, msg: Message | _Closed) -> None:
        queue = self._queue
        assert queue is not None
        if queue.full():
            queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("push queue full: dropped %d oldest messages so far", self.dropped)
        queue.put_nowait(msg)

    def _closed_error(self) -> LfgConnectionClosed:
        """A fresh exception (one per raiser, so tracebacks do not pile up on one object)."""
        assert self._closed is not None
        return LfgConnectionClosed(self._closed.close_code, self._closed.close_reason)

    def _shutdown(self, close_code: int | None, close_reason: str | None) -> None:
        if self._closed is not None:
            return
        self._closed = LfgConnectionClosed(close_code, close_reason)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(self._closed_error())
        for task in list(self._resyncs.values()):
            task.cancel()
        if self._queue is not None:
            self._enqueue(_CLOSED)
        self._closed_event.set()


async def connect(url: str = ws_url(DEFAULT_BASE_URL), **options: Any) -> LfgSocket:
    """Open an `LfgSocket` (same options as its constructor); `await sock.close()` after."""
    return await LfgSocket(url, **options).connect()


# --------------------------------------------------------------------------- REST


class LfgClient:
    """The REST API `/api/v1`.

    Return values: single objects as the server sends them (`me()`, `market()`,
    `account()`, `book()` = the `book_snapshot` object); `{"order": Order}` replies are
    unwrapped to the Order; lists come back as the page object
    `{"<things>": [...], "next_cursor": ...}` so paging stays possible (`pages()` walks
    them). Errors raise `LfgError(code, message, status)` from the `{"code","message"}`
    body; network failures raise httpx's exceptions unchanged.

    `login()` (and `refresh()`) store the access token, sent as `Authorization: Bearer`
    on every later request; pass `token=` (an access token or API key) to start with one.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.refresh_token: str | None = None
        self.user_id: str | None = None
        self.http = httpx.AsyncClient(
            base_url=self.base_url + "/api/v1", timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def ws_url(self) -> str:
        return ws_url(self.base_url)

    def socket(self, **options: Any) -> LfgSocket:
        """An unconnected `LfgSocket` to this server: `async with client.socket() as ws:`."""
        return LfgSocket(self.ws_url, **options)

    # ---- plumbing

    async def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """One request to `/api/v1{path}`; returns the decoded JSON body (None if empty)."""
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        content = None
        if body is not None:
            content = _encoder.encode(body)
            headers["content-type"] = "application/json"
        query = {k: v for k, v in params.items() if v is not None} if params else None
        r = await self.http.request(method, path, content=content, params=query, headers=headers)
        if r.status_code >= 400:
            raise _rest_error(r)
        return _decoder.decode(r.content) if r.content else None

    async def get(self, path: str, **params: Any) -> Any:
        """GET `/api/v1{path}` with query parameters (None values left out)."""
        return await self.call("GET", path, params=params)

    async def pages(self, path: str, key: str, **params: Any) -> AsyncIterator[Message]:
        """Every item of a paged list, following `next_cursor`:
        `async for t in client.pages(f"/markets/{m}/trades", "trades", limit=500)`."""
        while True:
            page = await self.get(path, **params)
            for item in page.get(key, []):
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    # ---- auth and profile

    async def register(self, email: str, password: str) -> str:
        """Create a user; returns its `user_id`. A weak password is `invalid_message`."""
        reply = await self.call("POST", "/auth/register", {"email": email, "password": password})
        return str(reply["user_id"])

    async def login(self, email: str, password: str) -> Message:
        """Returns `{access_token, refresh_token, expires_in, ...}` and keeps them."""
        return self._keep_tokens(
            await self.call("POST", "/auth/login", {"email": email, "password": password})
        )

    async def refresh(self, refresh_token: str | None = None) -> Message:
        """A new token pair (the old refresh token is spent); keeps them."""
        token = refresh_token or self.refresh_token
        return self._keep_tokens(await self.call("POST", "/auth/refresh", {"refresh_token": token}))

    async def logout(self, refresh_token: str | None = None) -> None:
        """Revoke the refresh token family."""
        token = refresh_token or self.refresh_token
        await self.call("POST", "/auth/logout", {"refresh_token": token} if token else {})
        self.refresh_token = None

    def _keep_tokens(self, tokens: Message) -> Message:
        self.token = tokens["access_token"]
        self.refresh_token = tokens.get("refresh_token")
        if tokens.get("user_id") is not None:
            self.user_id = str(tokens["user_id"])
        return tokens

    async def me(self) -> Message:
        return _obj(await self.call("GET", "/me"))

    async def create_api_key(self, name: str = "bot") -> Message:
        """A new bot key; its `secret` (`lfg_...`, a bearer token) is shown only here."""
        return _obj(await self.call("POST", "/me/api-keys", {"name": name}))

    async def api_keys(self) -> Message:
        return _obj(await self.call("GET", "/me/api-keys"))

    async def delete_api_key(self, key_id: str) -> None:
        await self.call("DELETE", f"/me/api-keys/{_seg(key_id)}")

    # ---- market data

    async def markets(
        self, status: str | None = None, *, limit: int | None = None, cursor: str | None = None
    ) -> Message:
        """`{"markets": [...], "next_cursor": ...}`."""
        return _obj(await self.get("/markets", status=status, limit=limit, cursor=cursor))

    async def market(self, ticker: str) -> Message:
        return _obj(await self.get(f"/markets/{_seg(ticker)}"))

    async def book(self, ticker: str, depth: int | None = None) -> Message:
        """The `book_snapshot` object (`bids`, `asks`, `seq`)."""
        return _obj(await self.get(f"/markets/{_seg(ticker)}/book", depth=depth))

    async def trades(
        self, ticker: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Message:
        """`{"trades": [...], "next_cursor": ...}`."""
        return _obj(await self.get(f"/markets/{_seg(ticker)}/trades", limit=limit, cursor=cursor))

    async def candles(self, ticker: str, interval: str = "1m", **params: Any) -> Message:
        """OHLCV; `interval` 1m|5m|1h|1d; extra query parameters passed through."""
        return _obj(await self.get(f"/markets/{_seg(ticker)}/candles", interval=interval, **params))

    # ---- trading

    async def orders(
        self,
        status: str | None = None,
        market: str | None = None,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Message:
        """`{"orders": [...], "next_cursor": ...}`."""
        return _obj(
            await self.get("/orders", status=status, market=market, limit=limit, cursor=cursor)
        )

    async def order(self, order_id: str) -> Message:
        return _order(await self.get(f"/orders/{_seg(order_id)}"))

    async def fills(
        self, market: str | None = None, *, limit: int | None = None, cursor: str | None = None
    ) -> Message:
        """`{"fills": [...], "next_cursor": ...}`."""
        return _obj(await self.get("/fills", market=market, limit=limit, cursor=cursor))

    async def account(self) -> Message:
        """`{available, held, positions: [{market, yes, no}]}`."""
        return _obj(await self.get("/account"))

    async def place_order_rest(
        self,
        market: str,
        side: Side,
        outcome: Outcome,
        qty: int,
        price: int | None = None,
        type: OrderType = "limit",
        tif: TimeInForce = "gtc",
        post_only: bool = False,
        client_order_id: str | None = None,
        expires_at: int | None = None,
        stop_price: int | None = None,
        stp: SelfTradePrevention | None = None,
    ) -> Message:
        """`POST /orders`; returns the Order (same fields and rules as `LfgSocket.place`)."""
        body = order_body(
            market,
            side,
            outcome,
            qty,
            price=price,
            type=type,
            tif=tif,
            post_only=post_only,
            client_order_id=client_order_id,
            expires_at=expires_at,
            stop_price=stop_price,
            stp=stp,
        )
        return _order(await self.call("POST", "/orders", body))

    async def cancel_rest(self, order_id: str) -> Message:
        """`DELETE /orders/{id}`; returns the cancelled Order."""
        return _order(await self.call("DELETE", f"/orders/{_seg(order_id)}"))

    async def cancel_all_rest(self, market: str | None = None) -> Any:
        """`DELETE /orders?market=`; returns the body as sent (e.g. `{"count": n}`)."""
        return await self.call("DELETE", "/orders", params={"market": market})

    # ---- admin

    async def admin_create_market(
        self,
        ticker: str,
        title: str | None = None,
        rules: str = "",
        close_ts: int | None = None,
        fee_bps: int | None = None,
    ) -> Message:
        """Create an open market. `title` defaults to the ticker; `close_ts` and `fee_bps`
        are sent only when given."""
        body: dict[str, Any] = {"ticker": ticker, "title": title or ticker, "rules": rules}
        if close_ts is not None:
            body["close_ts"] = close_ts
        if fee_bps is not None:
            body["fee_bps"] = fee_bps
        return _obj(await self.call("POST", "/admin/markets", body))

    async def admin_halt(self, ticker: str) -> Any:
        return await self.call("POST", f"/admin/markets/{_seg(ticker)}/halt")

    async def admin_open(self, ticker: str) -> Any:
        return await self.call("POST", f"/admin/markets/{_seg(ticker)}/open")

    async def admin_close(self, ticker: str) -> Any:
        return await self.call("POST", f"/admin/markets/{_seg(ticker)}/close")

    async def admin_resolve(self, ticker: str, result: Literal["yes", "no", "void"]) -> Any:
        return await self.call("POST", f"/admin/markets/{_seg(ticker)}/resolve", {"result": result})

    async def admin_credit(self, user_id: str, amount: int) -> Any:
        """Deposit `amount` cents of play money into `user_id`'s available cash."""
        return await self.call(
            "POST", f"/admin/users/{_seg(str(user_id))}/credit", {"amount": amount}
        )


def _seg(value: str) -> str:
    """One URL path segment."""
    return quote(value, safe="")


def _obj(reply: Any) -> Message:
    """A JSON object reply, or `LfgError("internal")` when the server sent something else."""
    if not isinstance(reply, dict):
        raise LfgError("internal", f"expected a JSON object, got {type(reply).__name__}")
    return reply


def _order(reply: Any) -> Message:
    """`{"order": Order}` → Order."""
    return _obj(_obj(reply).get("order"))


def _rest_error(r: httpx.Response) -> LfgError:
    code: str | None = None
    message = r.reason_phrase
    try:
        body = _decoder.decode(r.content)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        code = body["code"]
        message = str(body.get("message", message))
    elif r.content:
        message = r.text[:200]
    if code is None:
        code = _CODE_OF_STATUS.get(
            r.status_code, "internal" if r.status_code >= 500 else "invalid_message"
        )
    retry_after = None
    if "retry-after" in r.headers:
        with contextlib.suppress(ValueError):
            retry_after = float(r.headers["retry-after"])
    return LfgError(code, message, r.status_code, retry_after=retry_after)


def now_ms() -> int:
    """Milliseconds since the epoch, the protocol's time unit (for `expires_at`)."""
    return time.time_ns() // 1_000_000
