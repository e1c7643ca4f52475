"""REST `/api/v1` against PROTOCOL.md: every route of the table, its reply shape, paging,
and each error code with an input that causes it."""

import time
from typing import Any

import httpx
import jsonschema
import pytest
import pytest_asyncio

from tests.server.conftest import Live
from tests.server.ledger import assert_money_conserved
from tests.server.wire import (
    ACCOUNT_KEYS,
    CANDLE_KEYS,
    FILL_KEYS,
    MARKET_KEYS,
    TRADE_KEYS,
    account,
    assert_order,
    assert_rest_error,
    pages,
    rest_order,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def penniless(live: Live) -> tuple[int, str]:
    """A user with no money, shared by the tests that only need a valid token."""
    return await live.user(credit=0)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared_market(live: Live) -> str:
    return await live.market()


# ------------------------------------------------------------------ ops


async def test_health_is_ok_with_a_timestamp(live: Live) -> None:
    r = await live.http.get(live.url + "/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and abs(body["ts"] - time.time() * 1000) < 60_000


async def test_ready_reports_database_bus_and_every_shard(live: Live) -> None:
    r = await live.http.get(live.url + "/ready")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready",
        "checks": {"database": "ok", "shard_0": "ok", "shard_1": "ok", "bus": "ok"},
    }


async def test_metrics_is_prometheus_text_with_business_counters(live: Live) -> None:
    ticker = await live.market()
    _, tok = await live.user()
    assert (await rest_order(live, tok, ticker)).status_code == 201
    r = await live.http.get(live.url + "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE lfg_orders_total counter" in text
    assert 'lfg_orders_total{result="accepted",type="limit"}' in text
    assert "lfg_ready 1.0" in text


# ------------------------------------------------------------------ markets (admin + public)


async def test_admin_creates_an_open_market_and_get_returns_its_detail(live: Live) -> None:
    close_ts = int(time.time() * 1000) + 86_400_000
    r = await live.admin(
        "POST",
        "/admin/markets",
        json={
            "ticker": "REST-CREATE",
            "title": "Will it rain?",
            "rules": "Yes if it rains.",
            "close_ts": close_ts,
            "fee_bps": 25,
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == MARKET_KEYS
    assert created["ticker"] == "REST-CREATE" and created["status"] == "open"
    assert (created["title"], created["rules"], created["close_ts"]) == (
        "Will it rain?",
        "Yes if it rains.",
        close_ts,
    )
    assert (created["maker_fee_bps"], created["taker_fee_bps"]) == (25, 25)
    assert (created["best_bid"], created["best_ask"], created["last"], created["result"]) == (
        None,
        None,
        None,
        None,
    )
    assert (created["volume"], created["volume_24h"], created["open_interest"]) == (0, 0, 0)
    r = await live.http.get("/markets/REST-CREATE")
    assert r.status_code == 200
    assert r.json() == created


async def test_market_detail_shows_best_bid_ask_last_and_volume(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    assert (await rest_order(live, ta, ticker, price=40, qty=5)).status_code == 201
    assert (await rest_order(live, ta, ticker, side="sell", price=1, qty=1)).status_code == 409
    assert (await rest_order(live, tb, ticker, outcome="no", price=30, qty=2)).status_code == 201
    assert (await rest_order(live, tb, ticker, outcome="no", price=60, qty=2)).status_code == 201
    m = (await live.http.get(f"/markets/{ticker}")).json()
    # bids: YES 40 x3 left; asks: NO 30 rests as a YES ask at 70
    assert (m["best_bid"], m["best_ask"], m["last"]) == (40, 70, 40)
    assert (m["volume"], m["volume_24h"], m["open_interest"]) == (2, 2, 2)


async def test_creating_a_market_with_a_taken_ticker_is_conflict(live: Live) -> None:
    ticker = await live.market()
    r = await live.admin("POST", "/admin/markets", json={"ticker": ticker, "title": "again"})
    assert_rest_error(r, 409, "conflict")


@pytest.mark.parametrize(
    "body",
    [
        {"ticker": "lower-case", "title": "t"},
        {"ticker": "HAS SPACE", "title": "t"},
        {"ticker": "NO-TITLE"},
        {"ticker": "PAST", "title": "t", "close_ts": 1},
        {"ticker": "FEES", "title": "t", "fee_bps": 5000},
        {"ticker": "EXTRA", "title": "t", "colour": "red"},
    ],
    ids=["lower-case", "space", "no-title", "past-close", "fee-too-high", "unknown-field"],
)
async def test_creating_a_market_with_bad_terms_is_invalid_message(
    live: Live, body: dict[str, Any]
) -> None:
    assert_rest_error(await live.admin("POST", "/admin/markets", json=body), 400, "invalid_message")


async def test_lifecycle_routes_move_a_market_and_refuse_bad_state_changes(live: Live) -> None:
    ticker = await live.market()

    async def step(action: str, **kw: Any) -> Any:
        return await live.admin("POST", f"/admin/markets/{ticker}/{action}", **kw)

    assert_rest_error(await step("open"), 409, "conflict")  # already open
    r = await step("halt")
    assert r.status_code == 200 and set(r.json()) == MARKET_KEYS
    assert r.json()["status"] == "halted"
    assert_rest_error(await step("halt"), 409, "conflict")
    assert (await step("open")).json()["status"] == "open"
    assert (await step("close")).json()["status"] == "closed"
    assert_rest_error(await step("open"), 409, "conflict")
    assert_rest_error(await step("halt"), 409, "conflict")
    assert_rest_error(await step("resolve", json={"result": "maybe"}), 400, "invalid_message")
    assert_rest_error(await step("resolve", json={}), 400, "invalid_message")
    r = await step("resolve", json={"result": "no"})
    assert (r.json()["status"], r.json()["result"]) == ("resolved", "no")
    assert_rest_error(await step("resolve", json={"result": "yes"}), 409, "conflict")
    assert_rest_error(await step("close"), 409, "conflict")
    for action in ("halt", "open", "close"):
        r = await live.admin("POST", f"/admin/markets/NOPE/{action}")
        assert_rest_error(r, 404, "not_found")
    r = await live.admin("POST", "/admin/markets/NOPE/resolve", json={"result": "yes"})
    assert_rest_error(r, 404, "not_found")


async def test_markets_list_filters_by_status_and_pages_by_cursor(live: Live) -> None:
    tickers = [await live.market() for _ in range(3)]
    await live.admin("POST", f"/admin/markets/{tickers[1]}/halt")
    r = await live.http.get("/markets", params={"status": "halted"})
    assert r.status_code == 200
    halted = [m["ticker"] for m in r.json()["markets"]]
    assert tickers[1] in halted and tickers[0] not in halted and tickers[2] not in halted
    assert all(m["status"] == "halted" for m in r.json()["markets"])
    opened = [m["ticker"] for m in (await live.http.get("/markets?status=open")).json()["markets"]]
    assert tickers[0] in opened and tickers[1] not in opened
    assert_rest_error(await live.http.get("/markets?status=bogus"), 400, "invalid_message")

    everything = (await live.http.get("/markets", params={"limit": 500})).json()
    assert everything["next_cursor"] is None
    all_tickers = [m["ticker"] for m in everything["markets"]]
    assert all_tickers == sorted(all_tickers) and set(tickers) <= set(all_tickers)
    paged = await pages(live, "/markets", "markets", limit=2)
    assert all(len(p) <= 2 for p in paged)
    assert [m["ticker"] for p in paged for m in p] == all_tickers


async def test_unknown_market_is_not_found_on_every_market_route(live: Live) -> None:
    for path in ("/markets/NOPE", "/markets/NOPE/book", "/markets/NOPE/trades"):
        assert_rest_error(await live.http.get(path), 404, "not_found")
    assert_rest_error(await live.http.get("/markets/NOPE/candles?interval=1h"), 404, "not_found")


# ------------------------------------------------------------------ book, trades, candles


async def test_book_is_the_snapshot_object_without_type_best_first_and_cut_by_depth(
    live: Live,
) -> None:
    ticker = await live.market()
    _, tok = await live.user()
    for price in (40, 45, 42):
        assert (await rest_order(live, tok, ticker, price=price, qty=price)).status_code == 201
    for price in (30, 20):  # NO bids rest as YES asks at 70 and 80
        assert (await rest_order(live, tok, ticker, outcome="no", price=price)).status_code == 201
    r = await live.http.get(f"/markets/{ticker}/book")
    assert r.status_code == 200
    book = r.json()
    assert set(book) == {"market", "seq", "bids", "asks"}, book
    assert book["market"] == ticker and book["seq"] == 5
    assert book["bids"] == [[45, 45], [42, 42], [40, 40]]
    assert book["asks"] == [[70, 1], [80, 1]]
    top = (await live.http.get(f"/markets/{ticker}/book", params={"depth": 1})).json()
    assert (top["bids"], top["asks"], top["seq"]) == ([[45, 45]], [[70, 1]], 5)


async def _trade(live: Live, market: str, maker: str, taker: str, price: int, qty: int) -> None:
    """One trade at YES `price`: the maker bids YES, the taker buys NO into it."""
    r = await rest_order(live, maker, market, price=price, qty=qty)
    assert r.status_code == 201, r.text
    r = await rest_order(live, taker, market, outcome="no", price=100 - price, qty=qty)
    assert r.status_code == 201 and r.json()["order"]["status"] == "filled", r.text


async def test_trades_are_newest_first_and_page_by_cursor(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    prints = [(40, 1), (60, 2), (50, 3), (55, 4), (45, 5)]
    for price, qty in prints:
        await _trade(live, ticker, ta, tb, price, qty)
    r = await live.http.get(f"/markets/{ticker}/trades")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"trades", "next_cursor"} and body["next_cursor"] is None
    trades = body["trades"]
    assert all(set(t) == TRADE_KEYS for t in trades)
    assert [(t["price"], t["qty"]) for t in trades] == prints[::-1]
    assert [t["trade_id"] for t in trades] == [f"{ticker}-{n}" for n in (5, 4, 3, 2, 1)]
    assert {t["taker_side"] for t in trades} == {"sell"}  # buying NO sells YES
    assert all(t["market"] == ticker for t in trades)

    paged = await pages(live, f"/markets/{ticker}/trades", "trades", limit=2)
    assert [len(p) for p in paged] == [2, 2, 1]
    assert [t for p in paged for t in p] == trades


async def test_candles_are_ohlcv_of_the_trades_in_each_interval(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    for price, qty in [(40, 1), (60, 2), (35, 3), (50, 4)]:
        await _trade(live, ticker, ta, tb, price, qty)
    trades = (await live.http.get(f"/markets/{ticker}/trades")).json()["trades"][::-1]
    steps = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}
    for interval, step in steps.items():
        expect: dict[int, list[int]] = {}
        for t in trades:
            bucket = t["ts"] // step * step
            c = expect.get(bucket)
            if c is None:
                expect[bucket] = [t["price"]] * 4 + [t["qty"]]
            else:
                c[1], c[2], c[3], c[4] = (
                    max(c[1], t["price"]),
                    min(c[2], t["price"]),
                    t["price"],
                    c[4] + t["qty"],
                )
        r = await live.http.get(f"/markets/{ticker}/candles", params={"interval": interval})
        assert r.status_code == 200, r.text
        candles = r.json()["candles"]
        assert all(set(c) == CANDLE_KEYS for c in candles)
        got = {c["ts"]: [c["open"], c["high"], c["low"], c["close"], c["volume"]] for c in candles}
        assert got == expect, interval
    day = (await live.http.get(f"/markets/{ticker}/candles", params={"interval": "1d"})).json()
    assert sum(c["volume"] for c in day["candles"]) == 10
    empty = await live.http.get(
        f"/markets/{ticker}/candles", params={"interval": "1m", "start": 0, "end": 60_000}
    )
    assert empty.status_code == 200 and empty.json()["candles"] == []


# ------------------------------------------------------------------ orders


async def test_post_order_is_201_with_the_order_and_get_returns_the_same_order(
    live: Live,
) -> None:
    ticker = await live.market()
    _, tok = await live.user()
    r = await rest_order(live, tok, ticker, price=33, qty=7, client_order_id="rest-1")
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"order"}
    order = r.json()["order"]
    assert_order(
        order,
        market=ticker,
        side="buy",
        outcome="yes",
        type="limit",
        tif="gtc",
        price=33,
        qty=7,
        filled_qty=0,
        remaining_qty=7,
        avg_price=None,
        status="open",
        client_order_id="rest-1",
        reason=None,
    )
    got = await live.http.get(f"/orders/{order['order_id']}", headers=live.h(tok))
    assert got.status_code == 200
    assert got.json() == {"order": order}


async def test_retried_place_with_the_same_client_order_id_returns_the_same_order(
    live: Live,
) -> None:
    ticker = await live.market()
    _, tok = await live.user()
    first = await rest_order(live, tok, ticker, price=20, qty=3, client_order_id="retry-me")
    again = await rest_order(live, tok, ticker, price=20, qty=3, client_order_id="retry-me")
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["order"]["order_id"] == first.json()["order"]["order_id"]
    listed = (await live.http.get("/orders", params={"market": ticker}, headers=live.h(tok))).json()
    assert len(listed["orders"]) == 1
    assert (await account(live, tok))["held"] == 60  # held once, not twice

    other = await rest_order(live, tok, ticker, price=21, qty=3, client_order_id="retry-me")
    assert_rest_error(other, 409, "conflict")

    # unique among *open* orders: once cancelled the id may be used again
    oid = first.json()["order"]["order_id"]
    assert (await live.http.delete(f"/orders/{oid}", headers=live.h(tok))).status_code == 200
    reused = await rest_order(live, tok, ticker, price=21, qty=3, client_order_id="retry-me")
    assert reused.status_code == 201 and reused.json()["order"]["order_id"] != oid


async def test_orders_list_filters_by_status_and_market_and_pages_newest_first(
    live: Live,
) -> None:
    m1, m2 = await live.market(), await live.market()
    _, tok = await live.user()
    h = live.h(tok)
    ids = []
    for i in range(5):
        r = await rest_order(live, tok, m1, price=10 + i)
        ids.append(r.json()["order"]["order_id"])
    r = await rest_order(live, tok, m2, price=10)
    other_market = r.json()["order"]["order_id"]
    for oid in ids[:2]:
        assert (await live.http.delete(f"/orders/{oid}", headers=h)).status_code == 200

    async def listed(**params: Any) -> list[str]:
        r = await live.http.get("/orders", params=params, headers=h)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"orders", "next_cursor"}
        return [o["order_id"] for o in r.json()["orders"]]

    everything = await listed()
    assert everything == sorted([*ids, other_market], key=int, reverse=True)
    assert await listed(market=m1) == ids[::-1]
    assert await listed(market=m1, status="open") == ids[2:][::-1]
    assert await listed(market=m1, status="cancelled") == ids[:2][::-1]
    assert await listed(market=m2, status="open") == [other_market]
    assert await listed(market=m1, status="filled") == []

    paged = await pages(live, "/orders", "orders", h, limit=2, market=m1)
    assert [len(p) for p in paged] == [2, 2, 1]
    assert [o["order_id"] for p in paged for o in p] == ids[::-1]
    assert_rest_error(
        await live.http.get("/orders?status=bogus", headers=h), 400, "invalid_message"
    )


async def test_get_unknown_order_is_not_found(live: Live, penniless: tuple[int, str]) -> None:
    _, tok = penniless
    assert_rest_error(
        await live.http.get("/orders/123456789", headers=live.h(tok)), 404, "not_found"
    )
    r = await live.http.delete("/orders/123456789", headers=live.h(tok))
    assert_rest_error(r, 404, "not_found")


async def test_delete_order_cancels_it_and_releases_its_hold(live: Live) -> None:
    ticker = await live.market()
    _, tok = await live.user(credit=10_000)
    oid = (await rest_order(live, tok, ticker, price=25, qty=4)).json()["order"]["order_id"]
    assert (await account(live, tok))["held"] == 100
    r = await live.http.delete(f"/orders/{oid}", headers=live.h(tok))
    assert r.status_code == 200
    assert set(r.json()) == {"order"}
    assert_order(
        r.json()["order"], order_id=oid, status="cancelled", reason="user", remaining_qty=0
    )
    acct = await account(live, tok)
    assert (acct["available"], acct["held"]) == (10_000, 0)
    again = await live.http.delete(f"/orders/{oid}", headers=live.h(tok))
    assert_rest_error(again, 404, "not_found")  # no open order with that id


async def test_delete_orders_cancels_all_or_one_markets_and_counts_them(live: Live) -> None:
    m1, m2 = await live.market(), await live.market()
    _, tok = await live.user()
    h = live.h(tok)
    for m, n in ((m1, 3), (m2, 2)):
        for _ in range(n):
            assert (await rest_order(live, tok, m, price=5)).status_code == 201
    r = await live.http.delete("/orders", params={"market": m1}, headers=h)
    assert r.status_code == 200 and r.json() == {"count": 3}
    left = (await live.http.get("/orders?status=open", headers=h)).json()["orders"]
    assert {o["market"] for o in left} == {m2} and len(left) == 2
    assert_rest_error(
        await live.http.delete("/orders", params={"market": "NOPE"}, headers=h), 404, "not_found"
    )
    r = await live.http.delete("/orders", headers=h)
    assert r.json() == {"count": 2}
    assert (await live.http.delete("/orders", headers=h)).json() == {"count": 0}
    assert (await account(live, tok))["held"] == 0


# ------------------------------------------------------------------ fills, account


async def test_fills_and_account_reflect_a_trade_for_maker_and_taker(live: Live) -> None:
    ticker = await live.market()
    (_, ta), (_, tb) = await live.user(credit=10_000), await live.user(credit=10_000)
    maker = (await rest_order(live, ta, ticker, price=60, qty=10)).json()["order"]
    taker = (await rest_order(live, tb, ticker, outcome="no", price=45, qty=4)).json()["order"]
    assert_order(taker, status="filled", filled_qty=4, remaining_qty=0, avg_price=40.0)

    fa = (await live.http.get("/fills", headers=live.h(ta))).json()
    assert set(fa) == {"fills", "next_cursor"} and len(fa["fills"]) == 1
    f = fa["fills"][0]
    assert set(f) == FILL_KEYS
    assert (f["order_id"], f["market"], f["side"], f["outcome"]) == (
        maker["order_id"],
        ticker,
        "buy",
        "yes",
    )
    assert (f["price"], f["qty"], f["fee"], f["liquidity"], f["trade_id"]) == (
        60,
        4,
        0,
        "maker",
        f"{ticker}-1",
    )
    fb = (await live.http.get("/fills", headers=live.h(tb))).json()["fills"]
    assert [(x["outcome"], x["price"], x["qty"], x["liquidity"]) for x in fb] == [
        ("no", 40, 4, "taker")
    ]
    assert fb[0]["trade_id"] == f["trade_id"] and fb[0]["order_id"] == taker["order_id"]

    acct_a = await account(live, ta)
    assert set(acct_a) == ACCOUNT_KEYS
    assert acct_a == {
        "available": 10_000 - 600,
        "held": 6 * 60,
        "positions": [{"market": ticker, "yes": 4, "no": 0}],
    }
    assert await account(live, tb) == {
        "available": 10_000 - 160,
        "held": 0,
        "positions": [{"market": ticker, "yes": 0, "no": 4}],
    }
    await assert_money_conserved(live.dsn)


async def test_fills_page_newest_first_and_filter_by_market(live: Live) -> None:
    m1, m2 = await live.market(), await live.market()
    (_, ta), (_, tb) = await live.user(), await live.user()
    for price in (30, 31, 32):
        await _trade(live, m1, ta, tb, price, 1)
    await _trade(live, m2, ta, tb, 50, 1)
    h = live.h(ta)
    every = (await live.http.get("/fills", headers=h)).json()["fills"]
    assert [(x["market"], x["price"]) for x in every] == [(m2, 50), (m1, 32), (m1, 31), (m1, 30)]
    only = (await live.http.get("/fills", params={"market": m1}, headers=h)).json()["fills"]
    assert [x["price"] for x in only] == [32, 31, 30]
    paged = await pages(live, "/fills", "fills", h, limit=1)
    assert [[x["price"] for x in p] for p in paged] == [[50], [32], [31], [30], []]


async def test_admin_credit_adds_play_money_to_available(live: Live) -> None:
    uid, tok = await live.user(credit=0)
    r = await live.admin("POST", f"/admin/users/{uid}/credit", json={"amount": 1234})
    assert r.status_code == 200
    assert r.json() == {"user_id": str(uid), "available": 1234, "held": 0}
    assert await account(live, tok) == {"available": 1234, "held": 0, "positions": []}
    await assert_money_conserved(live.dsn)


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/admin/users/987654321/credit", {"amount": 5}, 404, "not_found"),
        ("/admin/users/abc/credit", {"amount": 5}, 400, "invalid_message"),
        ("/admin/users/9999999999999999999/credit", {"amount": 5}, 400, "invalid_message"),
        ("/admin/users/{uid}/credit", {"amount": 0}, 400, "invalid_message"),
        ("/admin/users/{uid}/credit", {"amount": -5}, 400, "invalid_message"),
        ("/admin/users/{uid}/credit", {"amount": 10**13}, 400, "invalid_message"),
        ("/admin/users/{uid}/credit", {"amount": "5"}, 400, "invalid_message"),
    ],
    ids=["unknown-user", "bad-user-id", "user-id-over-int64", "zero", "negative", "huge", "string"],
)
async def test_admin_credit_refuses_bad_input(
    live: Live, penniless: tuple[int, str], path: str, body: dict[str, Any], status: int, code: str
) -> None:
    uid, _ = penniless
    assert_rest_error(await live.admin("POST", path.format(uid=uid), json=body), status, code)


# ------------------------------------------------------------------ business rejections


async def test_each_trading_rejection_has_its_code_and_409(live: Live) -> None:
    ticker, halted = await live.market(), await live.market()
    await live.admin("POST", f"/admin/markets/{halted}/halt")
    _, rich = await live.user()
    _, poor = await live.user(credit=100)
    assert (await rest_order(live, rich, ticker, price=40, qty=5)).status_code == 201
    cases = [
        (rich, halted, {}, "market_not_open"),
        (poor, ticker, {"price": 50, "qty": 3}, "insufficient_funds"),
        (rich, ticker, {"side": "sell", "price": 50}, "insufficient_position"),
        (rich, ticker, {"outcome": "no", "price": 60, "post_only": True}, "post_only_would_cross"),
        (rich, ticker, {"outcome": "no", "price": 59, "qty": 1, "tif": "fok"}, "fok_unfillable"),
    ]
    for tok, market, terms, code in cases:
        assert_rest_error(await rest_order(live, tok, market, **terms), 409, code)
    # FOK of 6 against 5 resting: unfillable, nothing done
    _, other = await live.user()
    r = await rest_order(live, other, ticker, outcome="no", price=60, qty=6, tif="fok")
    assert_rest_error(r, 409, "fok_unfillable")
    assert_rest_error(await rest_order(live, rich, "NOPE"), 404, "not_found")
    book = (await live.http.get(f"/markets/{ticker}/book")).json()
    assert (book["bids"], book["asks"]) == ([[40, 5]], [])


async def test_a_rejected_buy_keeps_the_cash_credited_before_it(live: Live) -> None:
    """Credits wait in `cash_deltas` until the user's account row is next locked; a buy
    that is then rejected must not drop them (shard.py folds them, then writes nothing)."""
    ticker = await live.market()
    _, poor = await live.user(credit=100)
    assert_rest_error(await rest_order(live, poor, ticker, qty=3), 409, "insufficient_funds")
    assert await account(live, poor) == {"available": 100, "held": 0, "positions": []}


# ------------------------------------------------------------------ malformed REST input


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {}),
        (b"[1, 2]", {}),
        (b'{"market": "M", "side": "buy", "outcome": "yes", "qty": 1, "colour": "red"}', {}),
        (b'{"market": "M", "side": "buy", "outcome": "yes", "qty": "1", "price": 5}', {}),
        (b'{"market": "M", "side": "hold", "outcome": "yes", "qty": 1, "price": 5}', {}),
        (b'{"market": "M", "side": "buy", "outcome": "yes", "qty": 1, "price": 100}', {}),
        (b'{"market": "M", "side": "buy", "outcome": "yes", "qty": 0, "price": 5}', {}),
        (b'{"market": "M", "side": "buy", "outcome": "yes", "qty": 1000000000000, "price": 5}', {}),
        (b'{"side": "buy", "outcome": "yes", "qty": 1, "price": 5}', {}),
        (b"\xff\xfe", {}),
    ],
    ids=[
        "not-json",
        "array",
        "unknown-field",
        "string-qty",
        "bad-side",
        "price-100",
        "qty-0",
        "qty-1e12",
        "no-market",
        "not-utf8",
    ],
)
async def test_malformed_order_bodies_are_invalid_message(
    live: Live, penniless: tuple[int, str], content: bytes, headers: dict[str, str]
) -> None:
    _, tok = penniless
    r = await live.http.post(
        "/orders",
        content=content,
        headers={**live.h(tok), "Content-Type": "application/json", **headers},
    )
    assert_rest_error(r, 400, "invalid_message")
    assert (await live.http.get(live.url + "/health")).status_code == 200


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1 << 20])
async def test_a_body_over_64_kib_is_refused_413_before_it_is_read(
    live: Live, penniless: tuple[int, str], size: int
) -> None:
    body = b'{"market": "' + b"A" * (size - 14) + b'"}'
    assert len(body) == size
    r = await live.http.post(
        "/orders",
        content=body,
        headers={**live.h(penniless[1]), "Content-Type": "application/json"},
    )
    assert_rest_error(r, 413, "invalid_message")
    assert (await live.http.get(live.url + "/health")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/orders?limit=0",
        "/orders?limit=501",
        "/orders?limit=abc",
        "/orders?cursor=abc",
        "/orders?cursor=-1",
        "/fills?limit=0",
        "/fills?limit=501",
        "/markets?limit=0",
        "/markets?limit=501",
        "/markets/{t}/trades?limit=501",
        "/markets/{t}/trades?cursor=x",
        "/markets/{t}/book?depth=abc",
        "/markets/{t}/book?depth=0",
        "/markets/{t}/book?depth=101",
        "/markets/{t}/candles?interval=2m",
        "/markets/{t}/candles?interval=1m&start=10&end=5",
        "/markets/{t}/candles?interval=1m&start=0&end=999999999999",
        "/orders/abc",
        "/orders/-1",
        "/orders/99999999999999999999",
        "/orders/9999999999999999999",
        "/orders/%C2%B2",
    ],
)
async def test_bad_query_parameters_and_ids_are_invalid_message(
    live: Live, penniless: tuple[int, str], shared_market: str, path: str
) -> None:
    r = await live.http.get(path.format(t=shared_market), headers=live.h(penniless[1]))
    assert_rest_error(r, 400, "invalid_message")


async def test_out_of_range_order_ids_are_refused_on_cancel_too(
    live: Live, penniless: tuple[int, str]
) -> None:
    _, tok = penniless
    for oid in ("99999999999999999999", "9999999999999999999", "abc", "%C2%B2"):
        r = await live.http.delete(f"/orders/{oid}", headers=live.h(tok))
        assert_rest_error(r, 400, "invalid_message")


async def test_unknown_route_is_not_found_and_wrong_method_is_refused(live: Live) -> None:
    assert_rest_error(await live.http.get("/nope"), 404, "not_found")
    r = await live.http.put("/markets")
    assert r.status_code == 405 and r.json()["code"] == "invalid_message"


# ------------------------------------------------------------------ the machine-readable contract

TABLE = [
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("get", "/me"),
    ("post", "/me/api-keys"),
    ("get", "/me/api-keys"),
    ("delete", "/me/api-keys/{key_id}"),
    ("get", "/markets"),
    ("get", "/markets/{ticker}"),
    ("get", "/markets/{ticker}/book"),
    ("get", "/markets/{ticker}/trades"),
    ("get", "/markets/{ticker}/candles"),
    ("post", "/orders"),
    ("get", "/orders"),
    ("get", "/orders/{order_id}"),
    ("delete", "/orders/{order_id}"),
    ("delete", "/orders"),
    ("get", "/fills"),
    ("get", "/account"),
    ("post", "/admin/markets"),
    ("post", "/admin/markets/{ticker}/halt"),
    ("post", "/admin/markets/{ticker}/open"),
    ("post", "/admin/markets/{ticker}/close"),
    ("post", "/admin/markets/{ticker}/resolve"),
    ("post", "/admin/users/{user_id}/credit"),
]


async def test_openapi_describes_every_rest_route_of_the_protocol(live: Live) -> None:
    r = await live.http.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.1")
    described = {(m, p.removeprefix("/api/v1")) for p, ops in spec["paths"].items() for m in ops}
    assert set(TABLE) <= described, sorted(set(TABLE) - described)


async def test_rest_replies_validate_against_their_openapi_schemas(live: Live) -> None:
    spec = (await live.http.get("/openapi.json")).json()

    def check(r: httpx.Response, method: str, path: str) -> None:
        responses = spec["paths"]["/api/v1" + path][method]["responses"]
        assert str(r.status_code) in responses, (method, path, r.status_code, r.text)
        schema = responses[str(r.status_code)]["content"]["application/json"]["schema"]
        jsonschema.validate(r.json(), {**schema, "components": spec["components"]})

    ticker = await live.market()
    uid, ta = await live.user(credit=10_000)
    _, tb = await live.user(credit=10_000)
    check(await live.http.get("/markets"), "get", "/markets")
    check(await live.http.get(f"/markets/{ticker}"), "get", "/markets/{ticker}")
    r = await rest_order(live, ta, ticker, price=60, qty=5)
    check(r, "post", "/orders")
    oid = r.json()["order"]["order_id"]
    check(await rest_order(live, tb, ticker, outcome="no", price=40, qty=2), "post", "/orders")
    check(await live.http.get(f"/markets/{ticker}/book"), "get", "/markets/{ticker}/book")
    check(await live.http.get(f"/markets/{ticker}/trades"), "get", "/markets/{ticker}/trades")
    check(await live.http.get(f"/markets/{ticker}/candles"), "get", "/markets/{ticker}/candles")
    h = live.h(ta)
    check(await live.http.get("/orders", headers=h), "get", "/orders")
    check(await live.http.get(f"/orders/{oid}", headers=h), "get", "/orders/{order_id}")
    check(await live.http.get("/fills", headers=h), "get", "/fills")
    check(await live.http.get("/account", headers=h), "get", "/account")
    check(await live.http.get("/me", headers=h), "get", "/me")
    check(await live.http.delete(f"/orders/{oid}", headers=h), "delete", "/orders/{order_id}")
    check(await live.http.delete("/orders", headers=h), "delete", "/orders")
    r = await live.admin("POST", "/admin/markets", json={"ticker": "OPENAPI", "title": "t"})
    check(r, "post", "/admin/markets")
    for action in ("halt", "open", "close"):
        r = await live.admin("POST", f"/admin/markets/OPENAPI/{action}")
        check(r, "post", f"/admin/markets/{{ticker}}/{action}")
    r = await live.admin("POST", "/admin/markets/OPENAPI/resolve", json={"result": "void"})
    check(r, "post", "/admin/markets/{ticker}/resolve")
    r = await live.admin("POST", f"/admin/users/{uid}/credit", json={"amount": 5})
    check(r, "post", "/admin/users/{user_id}/credit")
    # errors use the error schema (the `default` response)
    err = await live.http.get("/markets/NOPE")
    schema = spec["paths"]["/api/v1/markets/{ticker}"]["get"]["responses"]["default"]
    body_schema = schema["content"]["application/json"]["schema"]
    jsonschema.validate(err.json(), {**body_schema, "components": spec["components"]})
