"""Unit tests of the demo market maker: its pure pieces (ladder, walk, rate window), and
short runs of it and of the example bot against a fake WebSocket server on 127.0.0.1 that
answers per PROTOCOL.md."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from loadtest.client import LfgError
from loadtest.demo_bot import (
    FAIR_MAX,
    FAIR_MIN,
    MakerConfig,
    SlidingWindow,
    ladder,
    run_market_maker,
    walk,
)
from loadtest.examples.simple_bot import run as run_simple_bot

Msg = dict[str, Any]


def test_ladder_quotes_both_sides_around_fair_value() -> None:
    cfg = MakerConfig(levels=3, half_spread=1, step=1)
    assert ladder(500, cfg) == [
        ("bid", 49),
        ("ask", 51),
        ("bid", 48),
        ("ask", 52),
        ("bid", 47),
        ("ask", 53),
    ]
    assert ladder(505, cfg)[:2] == [("bid", 49), ("ask", 52)]


def test_ladder_never_crosses_and_stays_in_price_range() -> None:
    cfg = MakerConfig(levels=5, half_spread=1, step=2)
    for fair in range(FAIR_MIN, FAIR_MAX + 1):
        quotes = ladder(fair, cfg)
        bids = [p for s, p in quotes if s == "bid"]
        asks = [p for s, p in quotes if s == "ask"]
        assert max(bids) < min(asks)
        assert all(1 <= p <= 99 for _, p in quotes)


def test_walk_is_deterministic_and_bounded() -> None:
    def path(seed: str) -> list[int]:
        rng, fair, out = random.Random(seed), 500, []
        for _ in range(2000):
            fair = walk(fair, rng)
            out.append(fair)
        return out

    assert path("a") == path("a") != path("b")
    assert all(FAIR_MIN <= f <= FAIR_MAX for f in path("a"))


async def test_sliding_window_allows_at_most_limit_per_window() -> None:
    window = SlidingWindow(5, 0.1)
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(12):
        await window.acquire()
        times.append(loop.time())
    assert times[-1] - times[0] >= 0.2
    assert all(times[i + 5] - times[i] >= 0.1 - 1e-3 for i in range(len(times) - 5))


# --------------------------------------------------------------------------- fake exchange

USERS = {"maker-key": "1", "taker-key": "2"}
BROKE = "B"  # places in this market are refused with insufficient_funds


class FakeExchange:
    def __init__(self) -> None:
        self.url = ""
        self.log: list[tuple[float, str, Msg]] = []
        self.next_order = 0
        self.open: dict[str, Msg] = {}

    async def handler(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        user = ""
        async for raw in ws:
            msg = json.loads(raw)
            self.log.append((loop.time(), user, msg))
            op, rid = msg["op"], msg.get("id")
            if op == "auth":
                if msg["token"] not in USERS:
                    await send(ws, error(rid, "unauthorized", "bad key"))
                    await ws.close(1008, "auth failed")
                    return
                user = USERS[msg["token"]]
                await send(ws, {"type": "authed", "id": rid, "user_id": user})
            elif op == "subscribe":
                await send(ws, {"type": "subscribed", "id": rid, "channels": msg["channels"]})
                for ch in msg["channels"]:
                    if ch.startswith("book:"):
                        await send(
                            ws,
                            {
                                "type": "book_snapshot",
                                "market": ch[5:],
                                "seq": 7,
                                "bids": [[45, 10]],
                                "asks": [[55, 10]],
                            },
                        )
            elif op == "cancel_all":
                await send(ws, {"type": "cancelled_all", "id": rid, "count": 0})
            elif op == "place":
                if msg["market"] == BROKE:
                    await send(ws, error(rid, "insufficient_funds", "available 0"))
                    continue
                self.next_order += 1
                order = {
                    **msg,
                    "order_id": str(self.next_order),
                    "filled_qty": 0,
                    "remaining_qty": msg["qty"],
                    "status": "open",
                }
                if msg.get("tif") == "ioc":
                    order["status"] = "cancelled"
                else:
                    self.open[order["order_id"]] = order
                await send(ws, {"type": "placed", "id": rid, "order": order})
            elif op == "cancel":
                oid = msg.get("order_id") or next(
                    (
                        k
                        for k, o in self.open.items()
                        if o.get("client_order_id") == msg.get("client_order_id")
                    ),
                    "",
                )
                order = self.open.pop(str(oid), None)
                if order is None:
                    await send(ws, error(rid, "not_found", "no such order"))
                else:
                    await send(ws, {"type": "cancelled", "id": rid, "order": order})
            else:
                await send(ws, error(rid, "invalid_message", f"unexpected op {op}"))

    def ops(self, user: str, market: str | None = None) -> list[tuple[float, Msg]]:
        return [
            (t, m)
            for t, u, m in self.log
            if u == user and (market is None or m.get("market") == market)
        ]


async def send(ws: ServerConnection, msg: Msg) -> None:
    await ws.send(json.dumps(msg))


def error(rid: int | None, code: str, message: str) -> Msg:
    return {"type": "error", "code": code, "message": message, "id": rid}


@pytest.fixture
async def fake() -> AsyncIterator[FakeExchange]:
    fx = FakeExchange()
    async with serve(fx.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fx.url = f"http://127.0.0.1:{port}"
        yield fx


async def test_market_maker_quotes_takes_backs_off_and_cleans_up(fake: FakeExchange) -> None:
    stop = asyncio.Event()
    cfg = MakerConfig(interval=0.1, take_prob=0.5, max_rate=20)
    bot = asyncio.create_task(
        run_market_maker(
            fake.url,
            "maker-key",
            ["A", BROKE],
            seed=3,
            stop=stop,
            taker_token="taker-key",
            config=cfg,
        )
    )
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.wait_for(bot, 3)

    maker_a = fake.ops("1", "A")
    places = [m for _, m in maker_a if m["op"] == "place"]
    assert places, "the bot quoted"
    assert all(m["side"] == "buy" and m["post_only"] and m["tif"] == "gtc" for m in places)
    cids = [m["client_order_id"] for _, _, m in fake.log if m["op"] == "place"]
    assert len(cids) == len(set(cids)), "client_order_ids are unique"
    # Quotes never cross one another: every YES bid below every YES ask of one requote.
    assert max(m["price"] for m in places[:6] if m["outcome"] == "yes") < min(
        100 - m["price"] for m in places[:6] if m["outcome"] == "no"
    )

    takes = [m for _, m in fake.ops("2", "A") if m["op"] == "place"]
    assert takes and all(m["tif"] == "ioc" for m in takes)
    assert all((m["outcome"], m["price"]) in {("yes", 55), ("no", 55)} for m in takes)

    # At most 20 commands in any one-second window for market A (maker and taker).
    times = sorted(t for t, _ in maker_a + fake.ops("2", "A"))
    assert all(times[i + 20] - times[i] >= 0.98 for i in range(len(times) - 20))

    # A refused market backs off after one attempt instead of retrying every tick.
    broke = [m for _, m in fake.ops("1", BROKE) if m["op"] == "place"]
    assert len(broke) == 1

    # Clean slate on start, orders cancelled on stop.
    ops_a = [m["op"] for _, m in maker_a]
    assert ops_a[0] == "cancel_all" and ops_a[-1] == "cancel_all"


async def test_market_maker_raises_on_a_refused_key(fake: FakeExchange) -> None:
    with pytest.raises(LfgError) as info:
        await asyncio.wait_for(run_market_maker(fake.url, "nope", ["A"], stop=asyncio.Event()), 3)
    assert info.value.code == "unauthorized"


async def test_example_bot_quotes_replaces_and_cancels_on_exit(fake: FakeExchange) -> None:
    bot = asyncio.create_task(run_simple_bot(fake.url, "maker-key", "A", interval=0.05))
    await asyncio.sleep(0.4)
    bot.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bot
    ops = [m for _, m in fake.ops("1")]
    assert fake.log[0][2] == {"op": "auth", "id": 1, "token": "maker-key"}
    assert [m["op"] for m in ops[:2]] == ["subscribe", "cancel_all"]
    places = [m for m in ops if m["op"] == "place"]
    assert {(m["outcome"], m["price"]) for m in places[:2]} == {("yes", 48), ("no", 48)}
    assert any(m["op"] == "cancel" and m["client_order_id"] == "sb-1-b" for m in ops)
    assert ops[-1]["op"] == "cancel_all"
