"""Distributed mode with real processes: gateways, shards, Redis, PostgreSQL."""

import asyncio

import httpx

from server.cluster import Cluster
from tests.distributed.conftest import Client, admin_token
from tests.server.ledger import assert_money_conserved
from tests.server.test_trading import assert_gapless, public_stream


async def clients(cluster: Cluster) -> tuple[Client, Client]:
    a_url, b_url = cluster.urls()
    token = await admin_token(a_url)
    return Client(a_url, token), Client(b_url, token)


async def test_traders_on_two_gateways_trade_and_both_see_the_same_gapless_market(
    cluster: Cluster,
) -> None:
    ga, gb = await clients(cluster)
    ticker, _ = await ga.market()
    (_, ta), (_, tb) = await ga.user(), await gb.user()
    a, b = await ga.ws(ta), await gb.ws(tb)
    watch_a, watch_b = await ga.ws(), await gb.ws()
    for w in (watch_a, watch_b):
        assert (await w.req("subscribe", channels=[f"book:{ticker}"]))["type"] == "subscribed"
        await w.until(lambda m: m["type"] == "book_snapshot")
    for w in (a, b):
        assert (await w.req("subscribe", channels=["orders", "fills"]))["type"] == "subscribed"

    placed = await a.req("place", market=ticker, side="buy", outcome="yes", price=60, qty=5)
    assert placed["type"] == "placed", placed
    taken = await b.req("place", market=ticker, side="buy", outcome="no", price=45, qty=3)
    assert taken["type"] == "placed", taken
    assert taken["order"]["filled_qty"] == 3
    fa = await a.until(lambda m: m["type"] == "fill")
    fb = await b.until(lambda m: m["type"] == "fill")
    assert (fa["fill"]["price"], fa["fill"]["liquidity"]) == (60, "maker")
    assert (fb["fill"]["price"], fb["fill"]["liquidity"]) == (40, "taker")

    streams = []
    for w in (watch_a, watch_b):
        await w.until(lambda m: m["type"] == "trade")
        await w.drain(0.3)
        stream = public_stream(w.log, ticker)
        assert_gapless(stream, 0)
        streams.append([(m["type"], m["seq"]) for m in stream])
    assert streams[0] == streams[1]
    for g in (ga, gb):
        book = (await g.http.get(f"/markets/{ticker}/book")).json()
        assert (book["bids"], book["asks"]) == ([[60, 2]], [])
    for w in (a, b, watch_a, watch_b):
        await w.close()
    await ga.aclose()
    await gb.aclose()


async def test_one_user_trades_markets_on_both_shards_without_overdraft(cluster: Cluster) -> None:
    ga, gb = await clients(cluster)
    tickers = [(await ga.market())[0] for _ in range(4)]
    shards = {}
    import asyncpg

    conn = await asyncpg.connect(cluster.database_url)
    try:
        for t in tickers:
            shards[t] = await conn.fetchval("SELECT shard_id FROM markets WHERE ticker = $1", t)
    finally:
        await conn.close()
    assert set(shards.values()) == {0, 1}, shards
    _uid, token = await ga.user(credit=10_000)  # exactly enough for 2 orders of 50 x 100
    a = await ga.ws(token)
    b = await gb.ws(token)
    # Four concurrent orders of 5000 each over two gateways and both shards: only two fit.
    for i, (w, t) in enumerate(zip((a, b, a, b), tickers, strict=True)):
        await w.send(
            {
                "op": "place",
                "id": 100 + i,
                "market": t,
                "side": "buy",
                "outcome": "yes",
                "price": 50,
                "qty": 100,
            }
        )
    replies = []
    for w in (a, a, b, b):
        replies.append(await w.until(lambda m: m.get("id") in (100, 101, 102, 103)))
    kinds = sorted(r["type"] if r["type"] == "placed" else r["code"] for r in replies)
    assert kinds == ["insufficient_funds", "insufficient_funds", "placed", "placed"], replies
    acct = (await ga.http.get("/account", headers=ga.h(token))).json()
    assert (acct["available"], acct["held"]) == (0, 10_000)
    await a.close()
    await b.close()
    await ga.aclose()
    await gb.aclose()
    await assert_money_conserved(cluster.database_url or "")


async def test_admin_moves_a_halted_market_to_the_other_shard_with_its_book_and_positions(
    cluster: Cluster,
) -> None:
    ga, gb = await clients(cluster)
    ticker, _ = await ga.market()
    import asyncpg

    conn = await asyncpg.connect(cluster.database_url)
    try:
        before = await conn.fetchval("SELECT shard_id FROM markets WHERE ticker = $1", ticker)
        (_, ta), (_, tb) = await ga.user(), await gb.user()
        a, b = await ga.ws(ta), await gb.ws(tb)
        resting = await a.req("place", market=ticker, side="buy", outcome="yes", price=40, qty=5)
        assert resting["type"] == "placed"
        assert (await b.req("place", market=ticker, side="buy", outcome="no", price=60, qty=2))[
            "order"
        ]["filled_qty"] == 2
        h = ga.h(ga.admin_token)
        moved = await ga.http.post(
            f"/admin/markets/{ticker}/move", json={"shard_id": 1 - before}, headers=h
        )
        assert moved.status_code == 409 and moved.json()["code"] == "conflict"  # must be halted
        assert (await ga.http.post(f"/admin/markets/{ticker}/halt", headers=h)).status_code == 200
        moved = await ga.http.post(
            f"/admin/markets/{ticker}/move", json={"shard_id": 1 - before}, headers=h
        )
        assert moved.status_code == 200, moved.text
        assert (
            await conn.fetchval("SELECT shard_id FROM markets WHERE ticker = $1", ticker)
            == 1 - before
        )
        assert (await ga.http.post(f"/admin/markets/{ticker}/open", headers=h)).status_code == 200
        book = (await ga.http.get(f"/markets/{ticker}/book")).json()
        assert book["bids"] == [[40, 3]]
        # The resting order lives on in the new shard: it trades, and it can be cancelled.
        assert (await b.req("place", market=ticker, side="buy", outcome="no", price=60, qty=1))[
            "order"
        ]["filled_qty"] == 1
        await asyncio.sleep(2.5)  # gateway B learns the move within its 2 s refresh
        cancelled = await a.req("cancel", order_id=resting["order"]["order_id"])
        assert cancelled["type"] == "cancelled" and cancelled["order"]["filled_qty"] == 3
        pos = await conn.fetchval("SELECT yes FROM positions WHERE market = $1 AND yes > 0", ticker)
        assert pos == 3
    finally:
        await conn.close()
    for w in (a, b):
        await w.close()
    await ga.aclose()
    await gb.aclose()
    await assert_money_conserved(cluster.database_url or "")


async def test_shard_processes_answer_probes_as_active_or_standby(cluster: Cluster) -> None:
    roles = []
    async with httpx.AsyncClient() as h:
        for port in cluster.metrics_ports:
            assert (await h.get(f"http://127.0.0.1:{port}/health")).status_code == 200
            r = await h.get(f"http://127.0.0.1:{port}/ready")
            assert r.status_code == 200, r.text
            roles.append((r.json()["shard"], r.json()["role"]))
            assert "lfg_shard_active" in (await h.get(f"http://127.0.0.1:{port}/metrics")).text
    assert sorted(roles) == [(0, "active"), (0, "standby"), (1, "active"), (1, "standby")]
