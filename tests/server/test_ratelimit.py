"""Rate limits: token buckets in memory and in a real Redis, REST 429 with Retry-After
that recovers, WebSocket `rate_limited` that keeps the connection, failed logins limited
per account and per IP."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from server.ratelimit import (
    MemoryLimiter,
    Rate,
    RedisLimiter,
    ip_key,
    parse_rate,
    retry_after,
)
from tests.server.conftest import PASSWORD, Live, free_port, serve
from tests.server.local_redis import local_redis


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ------------------------------------------------------------------ rates


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100/min", Rate(100 / 60, 100)),
        ("1000/s:2000", Rate(1000.0, 2000)),
        ("5 / hour", Rate(5 / 3600, 5)),
        ("20/minute:1", Rate(20 / 60, 1)),
        ("off", None),
        (" OFF ", None),
    ],
)
def test_rates_are_n_per_unit_with_an_optional_burst(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "100", "100/week", "0/s", "10/s:0", "-1/s", "ten/s"])
def test_a_malformed_rate_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"N/s|at least 1"):
        parse_rate(text)


def test_ipv6_clients_share_one_bucket_per_64() -> None:
    assert ip_key("2001:db8::1") == ip_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert ip_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert ip_key("10.1.2.3") == "10.1.2.3"
    assert ip_key("unknown") == "unknown"


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert [retry_after(w) for w in (0.001, 1.0, 1.2, 29.5)] == ["1", "1", "2", "30"]


# ------------------------------------------------------------------ memory buckets


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_a_memory_bucket_refuses_past_its_burst_then_refills() -> None:
    clock = Clock()
    lim = MemoryLimiter(clock=clock)
    r = Rate(2.0, 3)
    assert [await lim.acquire([("k", r)]) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await lim.acquire([("k", r)]) == pytest.approx(0.5)
    clock.t += 0.5
    assert await lim.acquire([("k", r)]) == 0.0
    assert await lim.acquire([("k", r)]) == pytest.approx(0.5)
    clock.t += 3600  # refills to the burst, not beyond
    assert [await lim.acquire([("k", r)]) for _ in range(4)][-1] > 0


async def test_buckets_are_taken_together_or_not_at_all() -> None:
    clock = Clock()
    lim = MemoryLimiter(clock=clock)
    user, ip = ("user", Rate(1.0, 2)), ("ip", Rate(1.0, 1))
    assert await lim.acquire([user, ip]) == 0.0
    assert await lim.acquire([user, ip]) == pytest.approx(1.0)  # the IP bucket is empty
    assert await lim.acquire([user]) == 0.0  # ... and the user's kept its second token
    assert await lim.acquire([user]) > 0


async def test_failed_login_buckets_are_checked_without_spending_and_drained_on_failure() -> None:
    lim = MemoryLimiter(clock=Clock())
    b = [("acct", Rate(1 / 60, 2))]
    assert await lim.acquire(b, need=1, cost=0) == 0.0
    assert await lim.acquire(b, need=1, cost=0) == 0.0  # checking spends nothing
    for _ in range(3):  # failures drain it, never below zero, never refused
        assert await lim.acquire(b, need=0, cost=1) == 0.0
    assert await lim.acquire(b, need=1, cost=0) == pytest.approx(60.0)


async def test_the_memory_limiter_keeps_a_bounded_number_of_buckets() -> None:
    clock = Clock()
    lim = MemoryLimiter(max_keys=10, clock=clock)
    for i in range(100):
        await lim.acquire([(f"k{i}", Rate(1.0, 5))])
        clock.t += 0.01
    assert len(lim._buckets) <= 10
    clock.t += 10  # every bucket refilled: all can go
    await lim.acquire([("last", Rate(1.0, 5))])
    await lim.close()
    assert not lim._buckets


# ------------------------------------------------------------------ Redis buckets


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with local_redis() as url:
        yield url


async def test_redis_buckets_are_shared_by_every_gateway(redis_url: str) -> None:
    ra, rb = aioredis.from_url(redis_url), aioredis.from_url(redis_url)
    a, b = RedisLimiter(ra), RedisLimiter(rb)
    key = "t:" + uuid.uuid4().hex
    r = Rate(5.0, 2)
    try:
        assert await a.acquire([(key, r)]) == 0.0
        assert await b.acquire([(key, r)]) == 0.0
        wait = await a.acquire([(key, r)])
        assert 0 < wait <= 0.2
        assert await b.acquire([(key, r)]) > 0
        await asyncio.sleep(wait + 0.05)
        assert await b.acquire([(key, r)]) == 0.0
        assert 0 < await ra.pttl("lfg:rl:" + key) <= 2000  # gone once it would be full
        # all or nothing, as in memory
        other = "t:" + uuid.uuid4().hex
        assert await a.acquire([(other, Rate(1.0, 5)), (key, r)]) > 0
        assert await ra.exists("lfg:rl:" + other) == 0
        # failed-login semantics
        drained = "t:" + uuid.uuid4().hex
        for _ in range(3):
            assert await a.acquire([(drained, Rate(1 / 60, 2))], need=0, cost=1) == 0.0
        assert await a.acquire([(drained, Rate(1 / 60, 2))], need=1, cost=0) > 50
    finally:
        await a.close()
        await ra.aclose()
        await rb.aclose()


async def test_without_redis_requests_are_let_through() -> None:
    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    lim = RedisLimiter(client)
    try:
        assert await lim.acquire([("k", Rate(1.0, 1))]) == 0.0
        assert await lim.acquire([("k", Rate(1.0, 1))]) == 0.0
    finally:
        await client.aclose()


# ------------------------------------------------------------------ REST


async def _burst(http: httpx.AsyncClient, n: int, path: str, **kw: Any) -> list[httpx.Response]:
    return list(await asyncio.gather(*(http.get(path, **kw) for _ in range(n))))


async def test_a_burst_over_the_rest_limit_gets_429_with_retry_after_then_recovers(
    pg_server: object,
) -> None:
    # One token a second into a bucket of 4: the burst of 8 gets 4 through even on a slow
    # machine (a fifth token would need the burst to take a whole second).
    async with serve(pg_server, rate_rest_read="1/s:4") as lv:
        _, token = await lv.user(credit=0)
        refused_before = sample("lfg_rate_limited_total", limit_class="rest_read")
        replies = await _burst(lv.http, 8, "/markets")
        codes = sorted(r.status_code for r in replies)
        assert codes.count(200) == 4 and codes.count(429) == 4, codes
        refused = next(r for r in replies if r.status_code == 429)
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == "rate_limited"
        assert refused.headers["X-Content-Type-Options"] == "nosniff"
        assert refused.headers["X-Request-ID"]
        assert sample("lfg_rate_limited_total", limit_class="rest_read") - refused_before == 4
        # Another caller (a user) has its own bucket.
        assert (await lv.http.get("/markets", headers=lv.h(token))).status_code == 200
        await asyncio.sleep(1.1)
        assert (await lv.http.get("/markets")).status_code == 200
        # HTTP metrics label the refusal with its route template.
        assert (
            sample("lfg_http_requests_total", method="GET", route="/api/v1/markets", status="429")
            >= 4
        )


async def test_the_ip_bucket_caps_every_caller_from_one_address(pg_server: object) -> None:
    async with serve(pg_server, rate_rest_read="100/s", rate_rest_read_ip="1/s:3") as lv:
        (_, t1), (_, t2) = await lv.user(credit=0), await lv.user(credit=0)
        replies = [await lv.http.get("/markets", headers=lv.h(t)) for t in (t1, t2, t1, t2, t1, t2)]
        codes = [r.status_code for r in replies]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes


async def test_writes_and_auth_have_their_own_buckets(pg_server: object) -> None:
    async with serve(pg_server, rate_rest_write="1/s:2", rate_auth="3/s") as lv:
        _, token = await lv.user(credit=0)
        await asyncio.sleep(1.0)  # the auth bucket refills after the set-up logins
        body = {"market": "NOPE", "side": "buy", "outcome": "yes", "price": 10, "qty": 1}
        writes = [
            (await lv.http.post("/orders", json=body, headers=lv.h(token))).status_code
            for _ in range(4)
        ]
        assert writes[:2] == [404, 404] and writes[2:] == [429, 429], writes
        # Reads are another class: still served.
        assert (await lv.http.get("/markets", headers=lv.h(token))).status_code == 200
        bad = {"email": "x@test.lfg", "password": "wrong"}
        logins = await asyncio.gather(*(lv.http.post("/auth/login", json=bad) for _ in range(5)))
        codes = sorted(r.status_code for r in logins)
        assert codes == [401, 401, 401, 429, 429], codes


async def test_failed_logins_are_limited_per_account_and_per_ip(pg_server: object) -> None:
    async with serve(pg_server, rate_login_failures="2/min", rate_login_failures_ip="4/min") as lv:
        emails = [f"lf{i}-{uuid.uuid4().hex[:6]}@test.lfg" for i in range(3)]
        for e in emails:
            r = await lv.http.post("/auth/register", json={"email": e, "password": PASSWORD})
            assert r.status_code == 201

        async def login(email: str, password: str = PASSWORD) -> httpx.Response:
            return await lv.http.post("/auth/login", json={"email": email, "password": password})

        failed_before = sample("lfg_logins_total", result="failed")
        ok_before = sample("lfg_logins_total", result="ok")
        a, b, c = emails
        assert [(await login(a, "Wrong-Pass-123!")).status_code for _ in range(2)] == [401, 401]
        locked = await login(a)  # the right password, but the account is locked for now
        assert locked.status_code == 429 and locked.json()["code"] == "rate_limited"
        assert 1 <= int(locked.headers["Retry-After"]) <= 30
        assert (await login(a.upper())).status_code == 429  # same account, any spelling
        assert (await login(b)).status_code == 200  # other accounts are not affected
        assert [(await login(b, "Wrong-Pass-123!")).status_code for _ in range(2)] == [401, 401]
        # Four failures from this IP: every account is refused from here for now.
        assert (await login(c)).status_code == 429
        assert sample("lfg_logins_total", result="failed") - failed_before == 4
        assert sample("lfg_logins_total", result="ok") - ok_before == 1


# ------------------------------------------------------------------ WebSocket


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ws_limited(pg_server: object) -> AsyncIterator[Live]:
    async with serve(pg_server, rate_ws_orders="3/s", rate_ws_subscriptions="2/s") as lv:
        yield lv


async def test_ws_orders_over_the_limit_get_rate_limited_and_the_connection_stays(
    ws_limited: Live,
) -> None:
    lv = ws_limited
    market = await lv.market()
    _, token = await lv.user()
    w = await lv.ws(token)
    try:
        order = {"market": market, "side": "buy", "outcome": "yes", "type": "limit"}
        for i in range(6):
            await w.send({"op": "place", "id": 100 + i, **order, "price": 10, "qty": 1})
        replies: dict[int, dict[str, Any]] = {}
        while len(replies) < 6:
            msg = await w.recv()
            if msg.get("id") in range(100, 106) and msg["type"] in ("placed", "error"):
                replies[msg["id"]] = msg
        kinds = [replies[100 + i]["type"] for i in range(6)]
        assert kinds[:3] == ["placed"] * 3, kinds
        assert all(replies[100 + i]["code"] == "rate_limited" for i in range(3, 6))
        assert (await w.req("ping"))["type"] == "pong"  # still connected
        await asyncio.sleep(0.4)
        placed = await w.req("place", **order, price=11, qty=1)
        assert placed["type"] == "placed", placed
    finally:
        await w.close()


async def test_ws_subscriptions_over_the_limit_get_rate_limited(ws_limited: Live) -> None:
    lv = ws_limited
    market = await lv.market()
    w = await lv.ws()
    try:
        replies = [await w.req("subscribe", channels=[f"trades:{market}"]) for _ in range(3)]
        assert [r["type"] for r in replies] == ["subscribed", "subscribed", "error"]
        assert replies[2]["code"] == "rate_limited"
        assert (await w.req("ping"))["type"] == "pong"
    finally:
        await w.close()


# ------------------------------------------------------------------ with Redis


async def test_with_redis_limits_and_cache_are_kept_in_redis(
    pg_server: object, redis_url: str
) -> None:
    client = aioredis.from_url(redis_url)
    try:
        async with serve(pg_server, redis_url=redis_url, rate_rest_read="3/s") as lv:
            codes = [r.status_code for r in await _burst(lv.http, 5, "/markets")]
            assert codes.count(429) == 2, codes
            assert await client.keys("lfg:rl:rest_read:*")
            ready = (await lv.http.get(lv.url + "/ready")).json()
            assert ready["checks"]["redis"] == "ok"
            market = await lv.market()
            await asyncio.sleep(1.0)
            first = await lv.http.get(f"/markets/{market}")
            second = await lv.http.get(f"/markets/{market}")
            assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
            assert first.json() == second.json()
            assert await client.keys("lfg:c:{m:" + market + "}*")
            halted = await lv.admin("POST", f"/admin/markets/{market}/halt")
            assert halted.status_code == 200
            await asyncio.sleep(0.1)  # the invalidation is one Redis round trip behind
            after = await lv.http.get(f"/markets/{market}")
            assert after.headers["X-Cache"] == "miss" and after.json()["status"] == "halted"
    finally:
        await client.aclose()
