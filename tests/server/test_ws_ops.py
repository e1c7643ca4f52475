"""WebSocket `/ws/v1` operations against PROTOCOL.md: every op's reply shape, private
pushes, and each error code with an input that causes it (the request id echoed)."""

import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio

from tests.server.conftest import Live, serve
from tests.server.wire import (
    ACCOUNT_KEYS,
    FILL_KEYS,
    assert_order,
    assert_ws_error,
    place,
    placed,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def capped(pg_server: object) -> AsyncIterator[Live]:
    """A second server whose users may have at most 5 open orders."""
    async with serve(pg_server, max_open_orders=5) as lv:
        yield lv


async def test_auth_replies_authed_with_the_user_id_as_a_string(live: Live) -> None:
    uid, tok = await live.user(credit=0)
    w = await live.ws()
    reply = await w.req("auth", token=tok)
    assert reply == {"type": "authed", "id": 1, "user_id": str(uid)}
    await w.close()


async def test_ping_replies_pong_echoing_the_id_with_a_timestamp(live: Live) -> None:
    w = await live.ws()
    pong = await w.req("ping")
    assert set(pong) == {"type", "id", "ts"} and (pong["type"], pong["id"]) == ("pong", 1)
    assert abs(pong["ts"] - time.time() * 1000) < 60_000
    await w.send({"op": "ping"})
    bare = await w.recv()
    assert bare["type"] == "pong" and bare["id"] is None
    await w.close()


async def test_subscribe_and_unsubscribe_echo_their_channels(live: Live) -> None:
    ticker = await live.market()
    _, tok = await live.user(credit=0)
    w = await live.ws(tok)
    chans = [f"book:{ticker}", f"trades:{ticker}", f"ticker:{ticker}", "markets"]
    chans += ["orders", "fills", "account"]
    reply = await w.req("subscribe", channels=[*chans, "markets"])
    assert reply == {"type": "subscribed", "id": 2, "channels": chans}  # duplicates folded
    reply = await w.req("unsubscribe", channels=[f"trades:{ticker}", "orders"])
    assert reply == {"type": "unsubscribed", "id": 3, "channels": [f"trades:{ticker}", "orders"]}
    # unsubscribing from a channel one is not on is harmless
    reply = await w.req("unsubscribe", channels=["fills", "fills"])
    assert reply["type"] == "unsubscribed"
    await w.close()


async def test_subscribing_to_an_unknown_market_or_channel_is_refused(live: Live) -> None:
    w = await live.ws()
    for ch in ("book:NOPE", "trades:NOPE", "ticker:NOPE", "book:"):
        reply = await w.req("subscribe", channels=[ch])
        assert_ws_error(reply, "not_found", reply["id"])
    for ch in ("candles:X", "everything", "Orders"):
        reply = await w.req("subscribe", channels=[ch])
        assert_ws_error(reply, "invalid_message", reply["id"])
    assert (await w.req("ping"))["type"] == "pong"
    await w.close()


async def test_place_replies_placed_with_the_durable_order(live: Live) -> None:
    ticker = await live.market()
    _, tok = await live.user()
    w = await live.ws(tok)
    reply = await place(w, ticker, price=42, qty=3, client_order_id="ws-1")
    assert set(reply) == {"type", "id", "order"} and (reply["type"], reply["id"]) == ("placed", 2)
    assert_order(
        reply["order"],
        market=ticker,
        side="buy",
        outcome="yes",
        type="limit",
        tif="gtc",
        price=42,
        qty=3,
        filled_qty=0,
        remaining_qty=3,
        status="open",
        client_order_id="ws-1",
        post_only=False,
        stp="cancel_newest",
    )
    got = await live.http.get(f"/orders/{reply['order']['order_id']}", headers=live.h(tok))
    assert got.json()["order"] == reply["order"]
    await w.close()


async def test_placed_order_already_reflects_the_fills_it_caused(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b = await live.ws(ta), await live.ws(tb)
    await placed(a, ticker, price=30, qty=2)
    await placed(a, ticker, price=35, qty=2)
    # buy NO at 70 = sell YES at 30: sweeps 35 then 30; IOC cancels the rest
    taker = await placed(b, ticker, outcome="no", price=70, qty=6, tif="ioc")
    assert_order(
        taker,
        status="cancelled",
        reason="ioc",
        filled_qty=4,
        remaining_qty=0,
        filled_cost=2 * 65 + 2 * 70,
        avg_price=67.5,
    )
    # a market order takes what is there at any price
    await placed(a, ticker, price=20, qty=1)
    mkt = await placed(b, ticker, outcome="no", type="market", price=None, qty=1)
    assert_order(mkt, type="market", tif="ioc", status="filled", filled_qty=1, filled_cost=80)
    for w in (a, b):
        await w.close()


async def test_cancel_by_order_id_and_by_client_order_id_reply_cancelled(live: Live) -> None:
    ticker = await live.market()
    _, tok = await live.user(credit=10_000)
    w = await live.ws(tok)
    first = await placed(w, ticker, price=10, qty=5)
    second = await placed(w, ticker, price=11, qty=5, client_order_id="cancel-me")
    reply = await w.req("cancel", order_id=first["order_id"])
    assert set(reply) == {"type", "id", "order"} and reply["type"] == "cancelled"
    assert_order(reply["order"], order_id=first["order_id"], status="cancelled", reason="user")
    reply = await w.req("cancel", client_order_id="cancel-me")
    assert reply["type"] == "cancelled"
    assert_order(reply["order"], order_id=second["order_id"], status="cancelled")
    acct = (await live.http.get("/account", headers=live.h(tok))).json()
    assert (acct["available"], acct["held"]) == (10_000, 0)
    # gone now: not found, by either name
    for name, code in (
        ({"order_id": first["order_id"]}, "not_found"),
        ({"client_order_id": "cancel-me"}, "not_found"),
        ({"order_id": "123456789"}, "not_found"),
        ({}, "invalid_message"),  # neither name
    ):
        reply = await w.req("cancel", **name)
        assert_ws_error(reply, code, reply["id"])
    await w.close()


async def test_cancel_all_counts_one_markets_orders_or_every_markets(live: Live) -> None:
    m1, m2 = await live.market(), await live.market()
    conn = await asyncpg.connect(live.dsn)
    try:
        sids = await conn.fetch("SELECT shard_id FROM markets WHERE ticker = ANY($1)", [m1, m2])
    finally:
        await conn.close()
    assert {r["shard_id"] for r in sids} == {0, 1}  # so cancel_all spans both shards
    _, tok = await live.user()
    w = await live.ws(tok)
    for m, n in ((m1, 3), (m2, 2)):
        for _ in range(n):
            await placed(w, m, price=5)
    reply = await w.req("cancel_all", market=m1)
    assert reply == {"type": "cancelled_all", "id": reply["id"], "count": 3}
    reply = await w.req("cancel_all", market="NOPE")
    assert_ws_error(reply, "not_found", reply["id"])
    await placed(w, m1, price=5)
    assert (await w.req("cancel_all"))["count"] == 3
    assert (await w.req("cancel_all"))["count"] == 0
    left = (await live.http.get("/orders?status=open", headers=live.h(tok))).json()
    assert left["orders"] == []
    await w.close()


async def test_amend_reduces_the_quantity_and_keeps_queue_priority(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb), (_, tc) = await live.user(), await live.user(), await live.user()
    a, b, c = await live.ws(ta), await live.ws(tb), await live.ws(tc)
    first = await placed(a, ticker, price=50, qty=5)
    await placed(b, ticker, price=50, qty=5)
    reply = await a.req("amend", order_id=first["order_id"], qty=2)
    assert set(reply) == {"type", "id", "order"} and reply["type"] == "amended"
    assert_order(reply["order"], order_id=first["order_id"], qty=2, remaining_qty=2, status="open")
    acct = (await live.http.get("/account", headers=live.h(ta))).json()
    assert acct["held"] == 100  # the hold shrank with the order
    await placed(c, ticker, outcome="no", price=50, qty=2)
    fills_a = (await live.http.get("/fills", headers=live.h(ta))).json()["fills"]
    fills_b = (await live.http.get("/fills", headers=live.h(tb))).json()["fills"]
    assert [f["qty"] for f in fills_a] == [2] and fills_b == []
    for w in (a, b, c):
        await w.close()


async def test_amend_that_does_not_reduce_or_names_no_open_order_is_refused(live: Live) -> None:
    ticker = await live.market()
    _, tok = await live.user()
    w = await live.ws(tok)
    o = await placed(w, ticker, price=50, qty=5)
    for qty in (5, 6):
        reply = await w.req("amend", order_id=o["order_id"], qty=qty)
        assert_ws_error(reply, "invalid_message", reply["id"])
    reply = await w.req("amend", order_id=o["order_id"], qty=0)  # schema: qty >= 1
    assert_ws_error(reply, "invalid_message", reply["id"])
    reply = await w.req("amend", order_id="123456789", qty=1)
    assert_ws_error(reply, "not_found", reply["id"])
    await w.req("cancel", order_id=o["order_id"])
    reply = await w.req("amend", order_id=o["order_id"], qty=1)
    assert_ws_error(reply, "not_found", reply["id"])
    await w.close()


async def test_private_channels_push_order_fill_and_account_to_the_owner(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(credit=10_000), await live.user(credit=10_000)
    a, b = await live.ws(ta), await live.ws(tb)
    await a.req("subscribe", channels=["orders", "fills", "account"])
    first = await a.until(lambda m: m["type"] == "account")
    assert first == {"type": "account", "available": 10_000, "held": 0, "positions": []}
    mine = await placed(a, ticker, price=60, qty=10)
    pushed = await a.until(lambda m: m["type"] == "order")
    assert set(pushed) == {"type", "order"}
    assert_order(pushed["order"], order_id=mine["order_id"], status="open")
    await placed(b, ticker, outcome="no", price=40, qty=4)
    fill = await a.until(lambda m: m["type"] == "fill")
    assert set(fill) == {"type", "fill"} and set(fill["fill"]) == FILL_KEYS
    assert (fill["fill"]["order_id"], fill["fill"]["price"], fill["fill"]["qty"]) == (
        mine["order_id"],
        60,
        4,
    )
    assert fill["fill"]["liquidity"] == "maker" and fill["fill"]["side"] == "buy"
    upd = await a.until(lambda m: m["type"] == "order" and m["order"]["filled_qty"] == 4)
    assert_order(upd["order"], status="partially_filled", remaining_qty=6, avg_price=60.0)
    acct = await a.until(lambda m: m["type"] == "account" and m["positions"] != [])
    assert set(acct) == {"type"} | ACCOUNT_KEYS
    assert (acct["available"], acct["held"]) == (10_000 - 600, 360)
    assert acct["positions"] == [{"market": ticker, "yes": 4, "no": 0}]
    # B subscribed to nothing: B got only its reply
    await b.drain(0.2)
    assert [m["type"] for m in b.log] == ["authed", "placed"]
    for w in (a, b):
        await w.close()


async def test_a_commands_reply_comes_before_the_order_and_fill_messages_it_caused(
    live: Live,
) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b = await live.ws(ta), await live.ws(tb)
    await b.req("subscribe", channels=["orders", "fills"])
    await placed(a, ticker, price=50, qty=3)
    taker = await placed(b, ticker, outcome="no", price=50, qty=3)
    fill = await b.until(lambda m: m["type"] == "fill")
    order = await b.until(lambda m: m["type"] == "order")
    log = b.log
    reply_at = next(i for i, m in enumerate(log) if m["type"] == "placed")
    assert reply_at < log.index(fill) and reply_at < log.index(order)
    assert fill["fill"]["order_id"] == order["order"]["order_id"] == taker["order_id"]
    assert fill["fill"]["liquidity"] == "taker" and order["order"]["status"] == "filled"
    for w in (a, b):
        await w.close()


async def test_gtd_order_expires_and_its_owner_is_told(live: Live) -> None:
    ticker = await live.market()
    _, tok = await live.user(credit=1_000)
    w = await live.ws(tok)
    await w.req("subscribe", channels=["orders"])
    expires = int(time.time() * 1000) + 600
    o = await placed(w, ticker, price=10, qty=2, tif="gtd", expires_at=expires)
    assert_order(o, tif="gtd", expires_at=expires, status="open")
    gone = await w.until(lambda m: m["type"] == "order" and m["order"]["status"] == "expired")
    assert_order(gone["order"], order_id=o["order_id"], reason="expired", remaining_qty=0)
    acct = (await live.http.get("/account", headers=live.h(tok))).json()
    assert (acct["available"], acct["held"]) == (1_000, 0)
    await w.close()


async def test_retried_place_with_the_same_client_order_id_returns_the_same_order(
    live: Live,
) -> None:
    ticker = await live.market()
    _, tok = await live.user()
    w = await live.ws(tok)
    one = await placed(w, ticker, price=20, qty=3, client_order_id="bot-1-000017")
    two = await placed(w, ticker, price=20, qty=3, client_order_id="bot-1-000017")
    assert two["order_id"] == one["order_id"] and two["status"] == "open"
    reply = await place(w, ticker, price=20, qty=4, client_order_id="bot-1-000017")
    assert_ws_error(reply, "conflict", reply["id"])
    listed = (await live.http.get("/orders", params={"market": ticker}, headers=live.h(tok))).json()
    assert [o["order_id"] for o in listed["orders"]] == [one["order_id"]]
    await w.close()


async def test_each_trading_rejection_has_its_code_and_echoes_the_request_id(
    live: Live,
) -> None:
    ticker, halted = await live.market(), await live.market()
    await live.admin("POST", f"/admin/markets/{halted}/halt")
    _, rich = await live.user()
    _, poor = await live.user(credit=100)
    w, p = await live.ws(rich), await live.ws(poor)
    await placed(w, ticker, price=40, qty=5, client_order_id="taken")
    soon = int(time.time() * 1000) + 60_000
    cases: list[tuple[Any, dict[str, Any], str]] = [
        (w, {"market": "NOPE"}, "not_found"),
        (w, {"market": halted}, "market_not_open"),
        (w, {"price": 41, "client_order_id": "taken"}, "conflict"),
        (p, {"price": 50, "qty": 3}, "insufficient_funds"),
        (w, {"side": "sell", "price": 50}, "insufficient_position"),
        (w, {"outcome": "no", "price": 60, "post_only": True}, "post_only_would_cross"),
        (w, {"outcome": "no", "price": 60, "qty": 6, "tif": "fok"}, "fok_unfillable"),
        (w, {"tif": "gtd"}, "invalid_message"),  # gtd needs expires_at
        (w, {"expires_at": soon}, "invalid_message"),  # expires_at only with gtd
        (w, {"type": "stop"}, "invalid_message"),  # stop needs stop_price
        (w, {"stop_price": 30}, "invalid_message"),  # stop_price only with stops
        (w, {"post_only": True, "tif": "ioc"}, "invalid_message"),
        (w, {"type": "market", "price": None, "tif": "gtd", "expires_at": soon}, "invalid_message"),
        (w, {"price": None}, "invalid_message"),  # a limit order needs a price
    ]
    for conn, terms, code in cases:
        fields = {"market": ticker, "side": "buy", "outcome": "yes", "price": 50, "qty": 1}
        fields.update(terms)
        reply = await conn.req("place", **{k: v for k, v in fields.items() if v is not None})
        assert_ws_error(reply, code, reply["id"])
        assert reply["id"] is not None, (terms, code)
    book = (await live.http.get(f"/markets/{ticker}/book")).json()
    assert (book["bids"], book["asks"]) == ([[40, 5]], [])
    for conn in (w, p):
        assert (await conn.req("ping"))["type"] == "pong"
        await conn.close()


async def test_the_open_order_cap_refuses_one_more_until_one_is_done(capped: Live) -> None:
    ticker = await capped.market()
    _, tok = await capped.user()
    w = await capped.ws(tok)
    ids = []
    for i in range(5):
        ids.append((await placed(w, ticker, price=1 + i))["order_id"])
    reply = await place(w, ticker, price=10)
    assert_ws_error(reply, "too_many_open_orders", reply["id"])
    r = await capped.http.post(
        "/orders",
        json={"market": ticker, "side": "buy", "outcome": "yes", "price": 10, "qty": 1},
        headers=capped.h(tok),
    )
    assert r.status_code == 409 and r.json()["code"] == "too_many_open_orders"
    # the cap is per user: another user still trades
    _, other = await capped.user()
    o = await capped.ws(other)
    await placed(o, ticker, price=10)
    # a done order frees its slot
    await w.req("cancel", order_id=ids[0])
    await placed(w, ticker, price=10)
    await o.close()
    await w.close()


async def test_pipelined_places_past_the_cap_are_refused_in_order(capped: Live) -> None:
    ticker = await capped.market()
    _, tok = await capped.user()
    w = await capped.ws(tok)
    for i in range(8):
        await w.send(
            {
                "op": "place",
                "id": 100 + i,
                "market": ticker,
                "side": "buy",
                "outcome": "yes",
                "price": 1 + i,
                "qty": 1,
            }
        )
    replies: dict[int, dict[str, Any]] = {}
    while len(replies) < 8:
        m = await w.recv()
        replies[m["id"]] = m
    assert [replies[100 + i]["type"] for i in range(8)] == ["placed"] * 5 + ["error"] * 3
    assert {replies[100 + i]["code"] for i in range(5, 8)} == {"too_many_open_orders"}
    assert [replies[100 + i]["order"]["price"] for i in range(5)] == [1, 2, 3, 4, 5]
    await w.close()
