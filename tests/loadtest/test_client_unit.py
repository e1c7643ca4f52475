"""Unit tests of the protocol client: `BookReplica` rules, and request/reply framing and
pipelining of `LfgSocket` against a tiny fake WebSocket server on 127.0.0.1 (a real socket,
built with the `websockets` server). The fake answers per PROTOCOL.md; it is not the
exchange. REST error mapping runs on httpx's MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from loadtest.client import (
    BookReplica,
    LfgClient,
    LfgConnectionClosed,
    LfgError,
    LfgSocket,
    LfgTimeoutError,
    Message,
    book_key,
    ws_url,
)

MKT = "MKT"

# --------------------------------------------------------------------------- BookReplica


def snapshot(seq: int = 41, bids: Any = ((55, 300), (54, 10)), asks: Any = ((57, 20),)) -> Message:
    return {
        "type": "book_snapshot",
        "market": MKT,
        "seq": seq,
        "bids": [list(x) for x in bids],
        "asks": [list(x) for x in asks],
    }


def delta(seq: int, side: str, price: int, qty: int) -> Message:
    return {
        "type": "book_delta",
        "market": MKT,
        "seq": seq,
        "side": side,
        "price": price,
        "qty": qty,
    }


def trade(seq: int, price: int = 56) -> Message:
    return {
        "type": "trade",
        "market": MKT,
        "seq": seq,
        "trade_id": "t",
        "price": price,
        "qty": 5,
        "taker_side": "buy",
        "ts": 1,
    }


def ticker(seq: int) -> Message:
    return {
        "type": "ticker",
        "market": MKT,
        "seq": seq,
        "last": 56,
        "best_bid": 55,
        "best_ask": 57,
        "volume": 1,
        "open_interest": 1,
    }


class GapRecorder:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, replica: BookReplica) -> None:
        self.calls.append(replica.seq)


def test_replica_is_stale_and_ignores_deltas_until_the_first_snapshot() -> None:
    gaps = GapRecorder()
    book = BookReplica(MKT, on_gap=gaps)
    assert book.stale and book.seq == -1
    assert book.apply(delta(5, "bid", 50, 1)) is False
    assert book.best_bid() is None and gaps.calls == []


def test_snapshot_sets_levels_best_first_and_seq() -> None:
    book = BookReplica(MKT)
    assert book.apply(snapshot(41, bids=[(54, 10), (55, 300)], asks=[(60, 1), (57, 20)]))
    assert not book.stale and book.seq == 41
    assert book.bids == [(55, 300), (54, 10)]
    assert book.asks == [(57, 20), (60, 1)]
    assert (book.best_bid(), book.best_ask()) == (55, 57)


def test_deltas_set_the_level_total_and_zero_removes_the_level() -> None:
    book = BookReplica(MKT)
    book.apply(snapshot(41))
    assert book.apply(delta(42, "bid", 55, 250))
    assert book.apply(delta(43, "ask", 58, 7))
    assert book.apply(delta(44, "bid", 55, 0))
    assert book.bids == [(54, 10)]
    assert book.asks == [(57, 20), (58, 7)]
    assert book.best_bid() == 54 and book.seq == 44


def test_trades_and_market_messages_advance_seq_without_touching_levels() -> None:
    gaps = GapRecorder()
    book = BookReplica(MKT, on_gap=gaps)
    book.apply(snapshot(41))
    assert book.apply(trade(42)) is False
    assert book.apply({"type": "market", "market": MKT, "seq": 43, "status": "halted"}) is False
    assert book.apply(delta(44, "ask", 57, 15))
    assert book.seq == 44 and book.status == "halted" and book.last_price == 56
    assert gaps.calls == [] and not book.stale
    book.apply({"type": "market", "market": MKT, "seq": 45, "status": "resolved", "result": "yes"})
    assert (book.status, book.result) == ("resolved", "yes")


def test_ticker_is_never_a_gap_and_does_not_move_seq() -> None:
    gaps = GapRecorder()
    book = BookReplica(MKT, on_gap=gaps)
    book.apply(snapshot(41))
    book.apply(trade(42))
    book.apply(ticker(42))
    book.apply(ticker(40))
    assert book.seq == 42 and gaps.calls == [] and not book.stale
    assert book.apply(delta(43, "bid", 53, 1))


def test_duplicates_at_or_below_seq_are_ignored() -> None:
    book = BookReplica(MKT)
    book.apply(snapshot(41))
    book.apply(delta(42, "bid", 55, 250))
    assert book.apply(delta(42, "bid", 55, 999)) is False
    assert book.apply(trade(41)) is False
    assert book.bids[0] == (55, 250) and book.seq == 42


def test_gap_marks_stale_calls_resync_once_and_next_snapshot_recovers() -> None:
    gaps = GapRecorder()
    book = BookReplica(MKT, on_gap=gaps)
    book.apply(snapshot(41))
    book.apply(delta(42, "bid", 55, 250))
    assert book.apply(delta(44, "bid", 55, 1)) is False  # 43 is missing
    assert book.stale and gaps.calls == [42]
    book.apply(delta(45, "bid", 55, 2))
    book.apply(trade(47))
    assert gaps.calls == [42], "one resync per gap"
    assert book.bids[0] == (55, 250), "nothing applied while stale"
    book.apply(snapshot(50, bids=[(40, 1)], asks=[]))
    assert not book.stale and book.seq == 50 and book.bids == [(40, 1)] and book.best_ask() is None
    assert book.apply(delta(51, "ask", 60, 3))


def test_a_gap_seen_through_a_trade_is_a_gap() -> None:
    gaps = GapRecorder()
    book = BookReplica(MKT, on_gap=gaps)
    book.apply(snapshot(41))
    book.apply(trade(43))
    assert book.stale and gaps.calls == [41]


def test_unasked_snapshot_replaces_the_book() -> None:
    book = BookReplica(MKT)
    book.apply(snapshot(41))
    book.apply(snapshot(90, bids=[(10, 1)], asks=[(90, 2)]))
    assert book.seq == 90 and book.bids == [(10, 1)] and book.asks == [(90, 2)]


def test_book_key_maps_orders_to_the_yes_book() -> None:
    assert book_key("buy", "yes", 55) == ("bid", 55)
    assert book_key("sell", "yes", 55) == ("ask", 55)
    assert book_key("buy", "no", 40) == ("ask", 60)
    assert book_key("sell", "no", 40) == ("bid", 60)


def test_ws_url_from_base_url() -> None:
    assert ws_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/ws/v1"
    assert ws_url("https://x.test/") == "wss://x.test/ws/v1"
    assert ws_url("ws://127.0.0.1:1/ws/v1") == "ws://127.0.0.1:1/ws/v1"


# --------------------------------------------------------------------------- fake server


def order_of(msg: Message, status: str = "open") -> Message:
    return {
        "order_id": f"o{msg['id']}",
        "client_order_id": msg.get("client_order_id"),
        "market": msg["market"],
        "side": msg["side"],
        "outcome": msg["outcome"],
        "type": msg.get("type", "limit"),
        "tif": msg.get("tif", "gtc"),
        "price": msg.get("price"),
        "qty": msg["qty"],
        "filled_qty": 0,
        "remaining_qty": msg["qty"],
        "avg_price": None,
        "status": status,
        "created_ts": 1,
        "updated_ts": 1,
    }


class FakeExchange:
    """Answers the protocol's ops; `push_*`, `hang` and `close` are test-only ops."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Message] = []
        self.binary_frames = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.reply_order: list[int] = []
        self.book_subscribes = 0

    async def handler(self, ws: ServerConnection) -> None:
        tasks: set[asyncio.Task[None]] = set()
        async for raw in ws:
            if isinstance(raw, bytes):
                self.binary_frames += 1
            msg = json.loads(raw)
            self.received.append(msg)
            op, rid = msg.get("op"), msg.get("id")
            if op == "auth":
                if msg["token"] == "good":
                    await self.send(ws, {"type": "authed", "id": rid, "user_id": "u1"})
                else:
                    await self.send(ws, error(rid, "unauthorized", "bad token"))
                    await ws.close(1008, "auth failed")
            elif op == "subscribe":
                await self.send(ws, {"type": "subscribed", "id": rid, "channels": msg["channels"]})
                if f"book:{MKT}" in msg["channels"]:
                    self.book_subscribes += 1
                    await self.push_book(ws)
            elif op == "unsubscribe":
                await self.send(
                    ws, {"type": "unsubscribed", "id": rid, "channels": msg["channels"]}
                )
            elif op == "place":
                task = asyncio.create_task(self.place(ws, msg))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif op == "ping":
                await self.send(ws, {"type": "pong", "id": rid, "ts": 1234})
            elif op == "push_gap":
                await self.send(ws, delta(16, "bid", 50, 1))
                await self.send(ws, {"type": "ok", "id": rid})
            elif op == "push_burst":
                for i in range(msg["n"]):
                    await self.send(ws, {"type": "heartbeat", "ts": i})
                await self.send(ws, {"type": "ok", "id": rid})
            elif op == "push_error":
                await self.send(ws, error(None, "invalid_message", "not JSON"))
                await self.send(ws, {"type": "ok", "id": rid})
            elif op == "hang":
                pass
            elif op == "close":
                await ws.close(1008, "policy")
            else:
                await self.send(ws, error(rid, "invalid_message", f"unknown op {op}"))

    async def send(self, ws: ServerConnection, msg: Message) -> None:
        await ws.send(json.dumps(msg))

    async def push_book(self, ws: ServerConnection) -> None:
        if self.book_subscribes > 1:
            await self.send(ws, snapshot(20, bids=[(45, 1)], asks=[(46, 2)]))
            return
        for msg in (
            snapshot(10),
            delta(11, "bid", 55, 250),
            trade(12),
            ticker(12),
            delta(13, "ask", 58, 5),
            delta(14, "bid", 54, 0),
            {"type": "heartbeat", "ts": 99},
        ):
            await self.send(ws, msg)

    async def place(self, ws: ServerConnection, msg: Message) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        # Higher prices answer sooner: replies come back out of request order.
        await asyncio.sleep((100 - msg["price"]) / 2000)
        self.in_flight -= 1
        self.reply_order.append(msg["id"])
        if msg["price"] == 99:
            await self.send(ws, error(msg["id"], "insufficient_funds", "available 0 < hold 99"))
        else:
            await self.send(ws, {"type": "placed", "id": msg["id"], "order": order_of(msg)})


def error(rid: int | None, code: str, message: str) -> Message:
    return {"type": "error", "code": code, "message": message, "id": rid}


@pytest.fixture
async def fake() -> AsyncIterator[FakeExchange]:
    fx = FakeExchange()
    async with serve(fx.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fx.url = f"ws://127.0.0.1:{port}/ws/v1"
        yield fx


async def until_type(ws: LfgSocket, kind: str) -> list[Message]:
    """Queued messages up to and including the first of `kind`."""
    seen = []
    while True:
        msg = await ws.next_message(timeout=2)
        seen.append(msg)
        if msg["type"] == kind:
            return seen


# --------------------------------------------------------------------------- LfgSocket


async def test_auth_ping_and_text_frames(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        assert await ws.auth("good") == "u1"
        assert ws.user_id == "u1"
        assert await ws.ping() == 1234
    assert [m["op"] for m in fake.received] == ["auth", "ping"]
    assert [m["id"] for m in fake.received] == [1, 2]
    assert fake.binary_frames == 0


async def test_pipelined_places_match_replies_by_id(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        prices = list(range(1, 41))
        orders = await asyncio.gather(
            *(ws.place(MKT, "buy", "yes", p, price=p, client_order_id=f"c{p}") for p in prices)
        )
    assert [o["price"] for o in orders] == prices
    assert [o["client_order_id"] for o in orders] == [f"c{p}" for p in prices]
    assert fake.max_in_flight >= 20, "requests were sent without waiting for replies"
    assert fake.reply_order != sorted(fake.reply_order), "replies came back out of order"
    sent = fake.received[0]
    assert set(sent) == {
        "op",
        "id",
        "market",
        "side",
        "outcome",
        "type",
        "qty",
        "tif",
        "post_only",
        "price",
        "client_order_id",
    }


async def test_error_reply_raises_lfg_error_and_others_still_succeed(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        ok, bad = await asyncio.gather(
            ws.place(MKT, "buy", "yes", 1, price=50),
            ws.place(MKT, "buy", "yes", 1, price=99),
            return_exceptions=True,
        )
        assert isinstance(ok, dict) and ok["status"] == "open"
        assert isinstance(bad, LfgError)
        assert (bad.code, bad.status, bad.request_id) == ("insufficient_funds", None, 2)
        assert "available 0" in bad.message
        assert await ws.ping() == 1234


async def test_unmatched_error_reaches_handlers_as_a_push(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        errors: list[Message] = []
        ws.on("error", errors.append)
        await ws.request("push_error")
        assert [e["code"] for e in errors] == ["invalid_message"]


async def test_book_stream_feeds_replica_handlers_and_queue(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        trades: list[Message] = []
        every: Counter[str] = Counter()
        ws.on("trade", trades.append)
        ws.on("*", lambda m: every.update([m["type"]]))
        assert await ws.subscribe([f"book:{MKT}"]) == [f"book:{MKT}"]
        queued = await until_type(ws, "heartbeat")
        book = await ws.wait_book(MKT, timeout=1)
        assert [m["type"] for m in queued] == [
            "book_snapshot",
            "book_delta",
            "trade",
            "ticker",
            "book_delta",
            "book_delta",
            "heartbeat",
        ]
        assert book.seq == 14 and not book.stale
        assert book.bids == [(55, 250)] and book.asks == [(57, 20), (58, 5)]
        assert [t["seq"] for t in trades] == [12]
        assert every["book_delta"] == 3 and every["heartbeat"] == 1


async def test_gap_resubscribes_and_a_fresh_snapshot_heals_the_replica(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        await ws.subscribe([f"book:{MKT}"])
        await ws.wait_book(MKT, timeout=1)
        await until_type(ws, "heartbeat")
        await ws.request("push_gap")  # pushes seq 16 after 14, then replies
        book = ws.book(MKT)
        assert book is not None and book.stale
        book = await ws.wait_book(MKT, timeout=2)
        assert book.seq == 20 and book.bids == [(45, 1)] and book.asks == [(46, 2)]
    assert [m["op"] for m in fake.received] == ["subscribe", "push_gap", "unsubscribe", "subscribe"]
    assert fake.received[2]["channels"] == [f"book:{MKT}"]


async def test_timeout_raises_and_frees_the_request(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        with pytest.raises(LfgTimeoutError) as info:
            await ws.request("hang", timeout=0.05)
        assert isinstance(info.value, TimeoutError) and info.value.code == "client_timeout"
        assert ws._pending == {}
        assert await ws.ping() == 1234


async def test_full_queue_drops_the_oldest_messages(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url, queue_maxsize=3) as ws:
        await ws.request("push_burst", {"n": 10})
        assert ws.dropped == 7
        assert [(await ws.next_message(timeout=1))["ts"] for _ in range(3)] == [7, 8, 9]


async def test_queue_types_filters_what_is_queued(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url, queue_types={"trade"}) as ws:
        await ws.subscribe([f"book:{MKT}"])
        await ws.wait_book(MKT, timeout=1)
        assert (await ws.next_message(timeout=1))["type"] == "trade"


async def test_server_close_fails_pending_requests_and_ends_the_queue(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        hanging = asyncio.create_task(ws.request("hang"))
        await asyncio.sleep(0.01)
        with pytest.raises(LfgConnectionClosed):
            await ws.request("close")
        with pytest.raises(LfgConnectionClosed) as info:
            await hanging
        assert info.value.close_code == 1008 and info.value.code == "connection_closed"
        assert ws.closed
        assert [m async for m in ws.messages()] == []
        with pytest.raises(LfgConnectionClosed):
            await ws.ping()


async def test_failed_auth_is_an_error_then_a_1008_close(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        with pytest.raises(LfgError) as info:
            await ws.auth("bad")
        assert info.value.code == "unauthorized"
        closed = await asyncio.wait_for(ws.wait_closed(), 2)
        assert closed.close_code == 1008


async def test_oversized_message_is_refused_before_sending(fake: FakeExchange) -> None:
    async with LfgSocket(fake.url) as ws:
        with pytest.raises(LfgError) as info:
            await ws.subscribe([f"trades:{'X' * 100}{i}" for i in range(700)])
        assert info.value.code == "invalid_message"
        assert await ws.ping() == 1234
    assert [m["op"] for m in fake.received] == ["ping"]


# --------------------------------------------------------------------------- LfgClient


def rest(handler: Any) -> LfgClient:
    return LfgClient("http://127.0.0.1:9", transport=httpx.MockTransport(handler))


async def test_rest_error_body_becomes_lfg_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"code": "rate_limited", "message": "slow down"},
            headers={"Retry-After": "2"},
        )

    async with rest(handler) as client:
        with pytest.raises(LfgError) as info:
            await client.account()
    assert (info.value.code, info.value.message, info.value.status) == (
        "rate_limited",
        "slow down",
        429,
    )
    assert info.value.retry_after == 2.0


async def test_rest_error_without_a_json_body_maps_the_status() -> None:
    async with rest(lambda r: httpx.Response(404, text="Not Found")) as client:
        with pytest.raises(LfgError) as info:
            await client.market("NOPE")
    assert (info.value.code, info.value.status) == ("not_found", 404)


async def test_login_keeps_the_token_and_orders_are_unwrapped() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/auth/login":
            return httpx.Response(
                200,
                json={"access_token": "A", "refresh_token": "R", "expires_in": 900, "user_id": "7"},
            )
        body = json.loads(request.content)
        return httpx.Response(201, json={"order": {"order_id": "1", **body}})

    async with rest(handler) as client:
        await client.login("a@b.c", "pw")
        order = await client.place_order_rest(MKT, "buy", "no", 3, price=40, client_order_id="x")
    assert client.token == "A" and client.refresh_token == "R" and client.user_id == "7"
    assert order["order_id"] == "1" and order["outcome"] == "no" and "stp" not in order
    assert seen[1].headers["authorization"] == "Bearer A"
    assert seen[1].url.path == "/api/v1/orders"


async def test_list_params_left_out_when_none() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"trades": [], "next_cursor": None})

    async with rest(handler) as client:
        page = await client.trades("A B", limit=5)
    assert page == {"trades": [], "next_cursor": None}
    assert seen[0].url.raw_path == b"/api/v1/markets/A%20B/trades?limit=5"
