"""Two traders meet over the WebSocket; a third connection watches the market."""

from typing import Any

from tests.server.conftest import Live
from tests.server.ledger import assert_money_conserved


def public_stream(log: list[dict[str, Any]], market: str) -> list[dict[str, Any]]:
    return [
        m
        for m in log
        if m.get("market") == market and m["type"] in ("book_delta", "trade", "market")
    ]


def assert_gapless(msgs: list[dict[str, Any]], start: int) -> int:
    seq = start
    for m in msgs:
        assert m["seq"] == seq + 1, (seq, m)
        seq = m["seq"]
    return seq


async def test_two_traders_trade_and_a_watcher_sees_gapless_book_and_trade(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b, watcher = await live.ws(ta), await live.ws(tb), await live.ws()
    sub = await watcher.req("subscribe", channels=[f"book:{ticker}", f"trades:{ticker}"])
    assert sub["type"] == "subscribed"
    snap = await watcher.until(lambda m: m["type"] == "book_snapshot")
    assert (snap["seq"], snap["bids"], snap["asks"]) == (0, [], [])
    for w in (a, b):
        assert (await w.req("subscribe", channels=["orders", "fills", "account"]))[
            "type"
        ] == "subscribed"

    placed = await a.req(
        "place", market=ticker, side="buy", outcome="yes", type="limit", price=55, qty=10
    )
    assert placed["type"] == "placed"
    assert placed["order"]["status"] == "open" and placed["order"]["remaining_qty"] == 10

    taken = await b.req(
        "place", market=ticker, side="buy", outcome="no", type="limit", price=50, qty=4
    )
    assert taken["type"] == "placed"
    assert taken["order"]["status"] == "filled" and taken["order"]["filled_qty"] == 4
    assert taken["order"]["avg_price"] == 45.0  # NO at 100 - 55, the maker's price

    fill_a = await a.until(lambda m: m["type"] == "fill")
    assert fill_a["fill"]["liquidity"] == "maker" and fill_a["fill"]["price"] == 55
    fill_b = await b.until(lambda m: m["type"] == "fill")
    assert fill_b["fill"]["liquidity"] == "taker" and fill_b["fill"]["price"] == 45
    upd = await a.until(lambda m: m["type"] == "order" and m["order"]["filled_qty"] == 4)
    assert upd["order"]["status"] == "partially_filled"
    acct_a = await a.until(lambda m: m["type"] == "account" and m["positions"])
    assert acct_a["positions"] == [{"market": ticker, "yes": 4, "no": 0}]
    assert acct_a["held"] == 6 * 55

    await watcher.until(lambda m: m["type"] == "trade")
    await watcher.drain()
    stream = public_stream(watcher.log, ticker)
    trades = [m for m in stream if m["type"] == "trade"]
    assert [(t["price"], t["qty"], t["taker_side"]) for t in trades] == [(55, 4, "sell")]
    seq = assert_gapless(stream, snap["seq"])

    book = (await live.http.get(f"/markets/{ticker}/book")).json()
    assert book["seq"] == seq
    assert (book["bids"], book["asks"]) == ([[55, 6]], [])
    for w in (a, b, watcher):
        await w.close()
    await assert_money_conserved(live.dsn)


async def test_a_retried_place_of_a_filled_order_returns_it_and_trades_nothing_twice(
    live: Live,
) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    a, b = await live.ws(ta), await live.ws(tb)
    assert (await a.req("place", market=ticker, side="buy", outcome="yes", price=60, qty=10))[
        "type"
    ] == "placed"
    terms = {
        "market": ticker,
        "side": "buy",
        "outcome": "no",
        "price": 45,
        "qty": 3,
        "tif": "ioc",
        "client_order_id": "retry-1",
    }
    first = await b.req("place", **terms)
    assert first["order"]["status"] == "filled"
    again = await b.req("place", **terms)  # as if the first reply had been lost
    assert again["type"] == "placed" and again["order"]["order_id"] == first["order"]["order_id"]
    trades = (await live.http.get(f"/markets/{ticker}/trades")).json()["trades"]
    assert len(trades) == 1
    for w in (a, b):
        await w.close()
