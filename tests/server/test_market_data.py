"""Public market data over the WebSocket: a snapshot then gapless deltas on `book:M`
(every public event of M, one seq stream), snapshots that agree with REST, tickers,
heartbeats, unsubscribe, and the `markets` channel."""

import asyncio
import time
from typing import Any

from tests.server.conftest import WS, Live
from tests.server.wire import placed

PUBLIC = ("book_delta", "trade", "market")
SHAPES = {
    "book_snapshot": {"type", "market", "seq", "bids", "asks"},
    "book_delta": {"type", "market", "seq", "side", "price", "qty"},
    "trade": {"type", "market", "seq", "trade_id", "price", "qty", "taker_side", "ts"},
    "ticker": {
        "type",
        "market",
        "seq",
        "last",
        "best_bid",
        "best_ask",
        "volume",
        "open_interest",
    },
    "market": {"type", "market", "seq", "status", "result"},
}


def stream(w: WS, market: str) -> list[dict[str, Any]]:
    """The watcher's public messages of `market`, in arrival order, shapes checked."""
    out = [m for m in w.log if m.get("market") == market and m["type"] in SHAPES]
    for m in out:
        assert set(m) == SHAPES[m["type"]], m
    return out


def replay(msgs: list[dict[str, Any]]) -> tuple[int, list[list[int]], list[list[int]]]:
    """Apply a snapshot and the book deltas after it, checking seq = last + 1 throughout."""
    snap = msgs[0]
    assert snap["type"] == "book_snapshot", snap
    seq = snap["seq"]
    side: dict[str, dict[int, int]] = {
        "bid": {p: q for p, q in snap["bids"]},
        "ask": {p: q for p, q in snap["asks"]},
    }
    for m in msgs[1:]:
        if m["type"] == "ticker":
            continue
        assert m["seq"] == seq + 1, (seq, m)
        seq = m["seq"]
        if m["type"] == "book_delta":
            if m["qty"]:
                side[m["side"]][m["price"]] = m["qty"]
            else:
                assert m["price"] in side[m["side"]], m  # only known levels are removed
                del side[m["side"]][m["price"]]
    bids = [[p, q] for p, q in sorted(side["bid"].items(), reverse=True)]
    asks = [[p, q] for p, q in sorted(side["ask"].items())]
    return seq, bids, asks


async def rest_book(live: Live, market: str) -> dict[str, Any]:
    r = await live.http.get(f"/markets/{market}/book")
    assert r.status_code == 200
    book: dict[str, Any] = r.json()
    return book


async def activity(live: Live, market: str, a: WS, b: WS) -> None:
    """Every kind of public event: rests, a cancel, an amend, trades, halt and reopen."""
    o1 = await placed(a, market, price=40, qty=5)
    await placed(a, market, price=42, qty=3)
    await placed(a, market, outcome="no", price=30, qty=4)  # YES ask at 70
    o4 = await placed(a, market, price=38, qty=2)
    await a.req("cancel", order_id=o4["order_id"])
    await a.req("amend", order_id=o1["order_id"], qty=4)
    await placed(b, market, outcome="no", price=60, qty=5)  # sells YES 3 @ 42, 2 @ 40
    await placed(b, market, price=75, qty=1)  # lifts the 70 ask
    await live.admin("POST", f"/admin/markets/{market}/halt")
    await live.admin("POST", f"/admin/markets/{market}/open")


async def test_book_channel_is_a_snapshot_then_every_public_event_with_seq_plus_one(
    live: Live,
) -> None:
    m = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b, watcher = await live.ws(ta), await live.ws(tb), await live.ws()
    reply = await watcher.req("subscribe", channels=[f"book:{m}"])
    assert reply["type"] == "subscribed"
    snap = await watcher.until(lambda x: x["type"] == "book_snapshot")
    assert snap == {"type": "book_snapshot", "market": m, "seq": 0, "bids": [], "asks": []}
    assert watcher.log.index(reply) < watcher.log.index(snap)  # the reply comes first

    await activity(live, m, a, b)
    await watcher.until(lambda x: x["type"] == "market" and x["status"] == "open")
    await watcher.drain(0.2)
    msgs = stream(watcher, m)
    kinds = [x["type"] for x in msgs]
    assert set(kinds) == {"book_snapshot", *PUBLIC}  # no tickers on book:
    assert kinds.count("trade") == 3
    assert [x["status"] for x in msgs if x["type"] == "market"] == ["halted", "open"]
    trades = [(x["price"], x["qty"], x["taker_side"]) for x in msgs if x["type"] == "trade"]
    assert trades == [(42, 3, "sell"), (40, 2, "sell"), (70, 1, "buy")]
    seq, bids, asks = replay(msgs)
    book = await rest_book(live, m)
    assert (book["seq"], book["bids"], book["asks"]) == (seq, bids, asks)
    assert bids == [[40, 2]] and asks == [[70, 3]]
    market = (await live.http.get(f"/markets/{m}")).json()
    assert market["seq"] == seq
    for w in (a, b, watcher):
        await w.close()


async def test_a_late_subscriber_gets_a_snapshot_equal_to_the_rest_book_at_its_seq(
    live: Live,
) -> None:
    m = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b, early = await live.ws(ta), await live.ws(tb), await live.ws()
    await early.req("subscribe", channels=[f"book:{m}"])
    await activity(live, m, a, b)
    await early.until(lambda x: x["type"] == "market" and x["status"] == "open")
    late = await live.ws()
    await late.req("subscribe", channels=[f"book:{m}"])
    snap = await late.until(lambda x: x["type"] == "book_snapshot")
    early_seq, bids, asks = replay(stream(early, m))
    assert (snap["seq"], snap["bids"], snap["asks"]) == (early_seq, bids, asks)
    book = await rest_book(live, m)
    assert (book["seq"], book["bids"], book["asks"]) == (snap["seq"], snap["bids"], snap["asks"])
    # both then see the same next event with the next seq
    await placed(a, m, price=41, qty=1)
    nxt_late = await late.until(lambda x: x["type"] == "book_delta")
    nxt_early = await early.until(lambda x: x["type"] == "book_delta" and x["price"] == 41)
    assert nxt_late == nxt_early
    assert nxt_late == {
        "type": "book_delta",
        "market": m,
        "seq": snap["seq"] + 1,
        "side": "bid",
        "price": 41,
        "qty": 1,
    }
    for w in (a, b, early, late):
        await w.close()


async def test_trades_and_ticker_channels_carry_trades_tickers_and_status(live: Live) -> None:
    m = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b = await live.ws(ta), await live.ws(tb)
    t, k = await live.ws(), await live.ws()
    await t.req("subscribe", channels=[f"trades:{m}"])
    await k.req("subscribe", channels=[f"ticker:{m}"])
    await placed(a, m, price=55, qty=10)
    await placed(a, m, outcome="no", price=40, qty=2)  # YES ask 60
    await placed(b, m, outcome="no", price=45, qty=4)  # sells YES 4 @ 55
    trade = await t.until(lambda x: x["type"] == "trade")
    assert set(trade) == SHAPES["trade"]
    assert (trade["market"], trade["price"], trade["qty"], trade["taker_side"]) == (
        m,
        55,
        4,
        "sell",
    )
    assert trade["trade_id"] == f"{m}-1" and abs(trade["ts"] - time.time() * 1000) < 60_000
    tick = await k.until(lambda x: x["type"] == "ticker" and x["volume"] == 4)
    assert tick == {
        "type": "ticker",
        "market": m,
        "seq": trade["seq"] + 1,  # the delta of the 55 level followed the trade
        "last": 55,
        "best_bid": 55,
        "best_ask": 60,
        "volume": 4,
        "open_interest": 4,
    }
    await live.admin("POST", f"/admin/markets/{m}/halt")
    for w in (t, k):  # a market's status goes to every channel of that market
        status = await w.until(lambda x: x["type"] == "market")
        assert (status["market"], status["status"], status["result"]) == (m, "halted", None)
    await t.drain(0.1)
    assert {x["type"] for x in t.log} == {"subscribed", "trade", "market"}
    for w in (a, b, t, k):
        await w.close()


async def test_heartbeats_arrive_on_a_subscribed_connection(live: Live) -> None:
    m = await live.market()
    w = await live.ws()
    await w.req("subscribe", channels=[f"ticker:{m}"])
    start = time.monotonic()
    hb = await w.until(lambda x: x["type"] == "heartbeat", timeout=10.5)
    assert time.monotonic() - start <= 10.5
    assert set(hb) == {"type", "ts"} and abs(hb["ts"] - time.time() * 1000) < 60_000
    await w.close()


async def test_unsubscribe_stops_delivery_of_that_channel_only(live: Live) -> None:
    m, other = await live.market(), await live.market()
    _, ta = await live.user()
    a, w = await live.ws(ta), await live.ws()
    await w.req("subscribe", channels=[f"book:{m}", f"book:{other}"])
    await placed(a, m, price=10)
    await w.until(lambda x: x["type"] == "book_delta" and x["market"] == m)
    reply = await w.req("unsubscribe", channels=[f"book:{m}"])
    assert reply["type"] == "unsubscribed"
    mark = len(w.log)
    await placed(a, m, price=11)
    await live.admin("POST", f"/admin/markets/{m}/halt")
    await placed(a, other, price=12)
    await w.until(lambda x: x["type"] == "book_delta" and x["market"] == other)
    await w.drain(0.2)
    assert [x for x in w.log[mark:] if x.get("market") == m] == []
    for c in (a, w):
        await c.close()


async def test_markets_channel_sees_new_markets_and_status_changes(live: Live) -> None:
    w = await live.ws()
    await w.req("subscribe", channels=["markets"])
    m = await live.market()
    created = await w.until(lambda x: x["type"] == "market" and x["market"] == m)
    assert created == {"type": "market", "market": m, "seq": 0, "status": "open", "result": None}
    await live.admin("POST", f"/admin/markets/{m}/close")
    closed = await w.until(lambda x: x["type"] == "market" and x["market"] == m)
    assert (closed["status"], closed["seq"]) == ("closed", 1)
    await w.close()


async def test_every_subscriber_gets_the_same_messages(live: Live) -> None:
    m = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b = await live.ws(ta), await live.ws(tb)
    watchers = [await live.ws() for _ in range(5)]
    for w in watchers:
        await w.req("subscribe", channels=[f"book:{m}"])
    await activity(live, m, a, b)
    for w in watchers:
        await w.until(lambda x: x["type"] == "market" and x["status"] == "open")
    await asyncio.sleep(0.1)
    streams = [stream(w, m) for w in watchers]
    assert all(s == streams[0] for s in streams)
    for w in (a, b, *watchers):
        await w.close()


async def test_resubscribing_to_a_book_sends_a_fresh_snapshot_to_recover_from_a_gap(
    live: Live,
) -> None:
    m = await live.market()
    _, ta = await live.user()
    a, w = await live.ws(ta), await live.ws()
    await w.req("subscribe", channels=[f"book:{m}"])
    await w.until(lambda x: x["type"] == "book_snapshot")
    await placed(a, m, price=30, qty=2)
    await placed(a, m, price=31, qty=3)
    await w.until(lambda x: x["type"] == "book_delta" and x["price"] == 31)
    assert (await w.req("subscribe", channels=[f"book:{m}"]))["type"] == "subscribed"
    again = await w.until(lambda x: x["type"] == "book_snapshot")
    assert again == {
        "type": "book_snapshot",
        "market": m,
        "seq": 2,
        "bids": [[31, 3], [30, 2]],
        "asks": [],
    }
    await placed(a, m, price=32, qty=1)
    nxt = await w.until(lambda x: x["type"] == "book_delta" and x["price"] == 32)
    assert nxt["seq"] == 3
    for c in (a, w):
        await c.close()
