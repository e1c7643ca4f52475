"""Failures in distributed mode: a shard killed under load, Redis restarted, PostgreSQL
stopped. Each test gets its own cluster (real processes on 127.0.0.1)."""

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from server.cluster import Cluster
from server.db import LocalPostgres
from tests.distributed.conftest import Client, admin_token
from tests.server.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.server.ledger import assert_money_conserved


@pytest.fixture
def fresh_cluster(tmp_path: Any) -> Iterator[Cluster]:
    c = Cluster(
        gateways=2,
        shards=2,
        standby=1,
        data_dir=str(tmp_path),
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        env={"LFG_LOG_LEVEL": "INFO", "LFG_COMMAND_TIMEOUT_MS": "3000"},
    )
    try:
        c.start()
        yield c
    finally:
        c.stop()


async def shard_markets(c: Cluster, g: Client, shard: int, n: int) -> list[str]:
    out: list[str] = []
    conn = await asyncpg.connect(c.database_url)
    try:
        while len(out) < n:
            t, _ = await g.market()
            if await conn.fetchval("SELECT shard_id FROM markets WHERE ticker = $1", t) == shard:
                out.append(t)
    finally:
        await conn.close()
    return out


class Trader:
    """Places resting (non-crossing) buys with client_order_ids; retries an unanswered or
    failed place with the same client_order_id, as a careful bot does."""

    def __init__(self, url: str, token: str, name: str, markets: list[str]) -> None:
        self.url, self.token, self.name, self.markets = url, token, name, markets
        self.acked: dict[str, dict[str, Any]] = {}  # client_order_id -> order
        self.failures: dict[str, int] = {}
        self.first_ack_after: dict[str, float] = {}
        #: set at the kill: only commands sent after it count for the takeover time
        self.since: float = float("inf")

    async def run(self, stop: asyncio.Event, n: int = 10_000) -> None:
        i = 0
        while not stop.is_set() and i < n:
            coid = f"{self.name}-{i}"
            market = self.markets[i % len(self.markets)]
            for _attempt in range(20):
                try:
                    async with websockets.connect(self.url, open_timeout=3) as ws:
                        await ws.send(json.dumps({"op": "auth", "id": 0, "token": self.token}))
                        json.loads(await ws.recv())
                        while not stop.is_set() and i < n:
                            coid = f"{self.name}-{i}"
                            market = self.markets[i % len(self.markets)]
                            msg = {
                                "op": "place",
                                "id": i + 1,
                                "market": market,
                                "side": "buy",
                                "outcome": "yes",
                                "price": 1 + i % 30,
                                "qty": 1,
                                "client_order_id": coid,
                            }
                            if (
                                i % 4 == 3
                            ):  # now and then take liquidity: an IOC that may fill at once
                                msg.update(outcome="no", price=75, tif="ioc")
                            sent = time.monotonic()
                            await ws.send(json.dumps(msg))
                            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                            if reply["type"] == "placed":
                                self.acked[coid] = reply["order"]
                                if sent > self.since:
                                    self.first_ack_after.setdefault("t", time.monotonic())
                                i += 1
                            else:
                                self.failures[reply["code"]] = (
                                    self.failures.get(reply["code"], 0) + 1
                                )
                                await asyncio.sleep(0.05)  # then retry the same client_order_id
                        return
                except (OSError, websockets.ConnectionClosed, TimeoutError):
                    self.failures["connection"] = self.failures.get("connection", 0) + 1
                    await asyncio.sleep(0.1)


async def test_killing_the_active_shard_under_load_loses_and_duplicates_nothing(
    fresh_cluster: Cluster,
) -> None:
    c = fresh_cluster
    a_url, b_url = c.urls()
    g = Client(a_url, await admin_token(a_url))
    markets = await shard_markets(c, g, 0, 2)
    traders = []
    for i, url in enumerate((a_url, b_url, a_url, b_url)):
        _, token = await g.user(credit=10_000_000)
        traders.append(Trader(url.replace("http", "ws") + "/ws/v1", token, f"t{i}", markets))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(t.run(stop)) for t in traders]
    await asyncio.sleep(2.0)
    active = c.active_shard(0)
    assert active is not None
    before = sum(len(t.acked) for t in traders)
    killed_at = time.monotonic()
    for t in traders:
        t.since = killed_at
    c.kill(active)
    # Takeover: the first acknowledgement of a command sent after the kill.
    while not any(t.first_ack_after for t in traders) and time.monotonic() - killed_at < 15:
        await asyncio.sleep(0.01)
    takeover = min(t.first_ack_after["t"] for t in traders if t.first_ack_after) - killed_at
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*tasks)
    after = sum(len(t.acked) for t in traders)
    failures = {
        k: sum(t.failures.get(k, 0) for t in traders)
        for k in {k for t in traders for k in t.failures}
    }
    print(
        f"\nshard takeover: {takeover:.2f} s after kill -9; acked {before} before, {after - before} after; retried failures {failures}"
    )
    assert takeover < 3.0
    assert after > before

    conn = await asyncpg.connect(c.database_url)
    try:
        rows = await conn.fetch(
            "SELECT order_id, client_order_id, status, user_id FROM orders WHERE market = ANY($1::text[])",
            markets,
        )
    finally:
        await conn.close()
    by_coid: dict[tuple[int, str], list[Any]] = {}
    for r in rows:
        by_coid.setdefault((r["user_id"], r["client_order_id"]), []).append(r)
    dupes = {k: v for k, v in by_coid.items() if len(v) > 1}
    assert not dupes, f"executed twice: {dupes}"
    ids = {str(r["order_id"]) for r in rows}
    for t in traders:
        for coid, order in t.acked.items():
            assert order["order_id"] in ids, f"acknowledged order {coid} lost"
    # The new active shard serves the book the database holds (every order is qty 1).
    conn = await asyncpg.connect(c.database_url)
    try:
        async with httpx.AsyncClient() as h:
            for m in markets:
                book = (await h.get(f"{b_url}/api/v1/markets/{m}/book")).json()
                open_n = await conn.fetchval(
                    "SELECT count(*) FROM orders WHERE market = $1 AND status = 'open'", m
                )
                assert sum(q for _, q in book["bids"]) == open_n
    finally:
        await conn.close()
    await assert_money_conserved(c.database_url or "")
    await g.aclose()


async def test_redis_restart_mid_stream_gateways_recover_and_clients_resync(
    fresh_cluster: Cluster,
) -> None:
    c = fresh_cluster
    a_url, b_url = c.urls()
    g = Client(a_url, await admin_token(a_url))
    market, _ = await g.market()
    _, token = await g.user()
    watcher = await Client(b_url, g.admin_token).ws()
    assert (await watcher.req("subscribe", channels=[f"book:{market}"]))["type"] == "subscribed"
    await watcher.until(lambda m: m["type"] == "book_snapshot")
    ws = await g.ws(token)
    acked = []
    for i in range(5):
        r = await ws.req("place", market=market, side="buy", outcome="yes", price=10 + i, qty=1)
        assert r["type"] == "placed"
        acked.append(r["order"]["order_id"])

    c.stop_redis(kill=True)
    r = await ws.req("place", market=market, side="buy", outcome="yes", price=20, qty=1)
    assert r["type"] == "error" and r["code"] in ("unavailable", "timeout"), r
    c.start_redis()  # same port, empty: no data survives

    deadline = time.monotonic() + 20
    while True:
        r = await ws.req("place", market=market, side="buy", outcome="yes", price=21, qty=1)
        if r["type"] == "placed":
            acked.append(r["order"]["order_id"])
            break
        assert time.monotonic() < deadline, r
        await asyncio.sleep(0.2)
    # The watcher on the other gateway got a fresh snapshot with everything, then deltas.
    snap = await watcher.until(
        lambda m: (
            (m["type"] == "book_snapshot" and [21, 1] in m["bids"])
            or (m["type"] == "book_delta" and m["price"] == 21)
        ),
        timeout=15,
    )
    assert snap is not None
    book = (await httpx.AsyncClient().get(f"{b_url}/api/v1/markets/{market}/book")).json()
    assert {p for p, _ in book["bids"]} == {10, 11, 12, 13, 14, 21}
    conn = await asyncpg.connect(c.database_url)
    try:
        ids = {
            str(x)
            for x in await conn.fetchval(
                "SELECT array_agg(order_id) FROM orders WHERE market = $1", market
            )
        }
    finally:
        await conn.close()
    assert set(acked) <= ids
    for w in (ws, watcher):
        await w.close()
    await g.aclose()


async def test_postgres_stopped_shards_fail_stop_clients_get_unavailable_then_service_resumes(
    fresh_cluster: Cluster,
) -> None:
    c = fresh_cluster
    a_url, _ = c.urls()
    g = Client(a_url, await admin_token(a_url))
    market, _ = await g.market()
    _, token = await g.user()
    ws = await g.ws(token)
    assert (await ws.req("place", market=market, side="buy", outcome="yes", price=10, qty=1))[
        "type"
    ] == "placed"

    assert c.pg is not None
    c.pg.stop()
    codes = []
    t0 = time.monotonic()
    for _ in range(5):
        r = await ws.req("place", market=market, side="buy", outcome="yes", price=11, qty=1)
        codes.append(r.get("code", r["type"]))
    assert time.monotonic() - t0 < 20
    assert set(codes) <= {"unavailable", "timeout"} and "unavailable" in codes, codes

    c.pg = LocalPostgres(c.tmp)  # the same data directory and socket
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(Exception):
            r = await ws.req("place", market=market, side="buy", outcome="yes", price=12, qty=1)
            if r["type"] == "placed":
                break
        assert time.monotonic() < deadline, r
        await asyncio.sleep(0.3)
    book = (await httpx.AsyncClient().get(f"{a_url}/api/v1/markets/{market}/book")).json()
    assert {p for p, _ in book["bids"]} == {10, 12}
    await ws.close()
    await g.aclose()
    await assert_money_conserved(c.database_url or "")
