"""HTTP hardening and observability on a live server: security headers on every response,
CORS and the WebSocket Origin check, body size limit, request ids in responses and logs,
no secrets in logs, JSON log lines, the response cache and its invalidation, metrics,
configuration errors."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import websockets
from loguru import logger
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from server import config
from server.cache import MemoryCache, RedisCache, ResponseCache, cached
from server.gateway.app import WEB_DIST
from server.gateway.middleware import build_middleware
from server.gateway.middleware.security_headers import CSP
from server.logs import REQUEST, JsonSink, RequestInfo
from tests.server.conftest import PASSWORD, WS, Live, free_port, serve
from tests.server.local_redis import local_redis

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "https://app.example.org"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(pg_server: object) -> AsyncIterator[Live]:
    async with serve(pg_server, cors_origins=ALLOWED + ", http://localhost:5173") as lv:
        yield lv


def parse(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in lines]


@pytest.fixture
def raw_logs() -> Iterator[list[str]]:
    """Every log line written during the test (JSON, all levels)."""
    lines: list[str] = []
    sink = logger.add(JsonSink(lines.append), level="TRACE")
    try:
        yield lines
    finally:
        logger.remove(sink)


def assert_security_headers(r: httpx.Response, *, tls: bool = False) -> None:
    h = r.headers
    assert h["Content-Security-Policy"] == CSP, (r.request.url, h)
    assert h["X-Frame-Options"] == "DENY"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert ("Strict-Transport-Security" in h) == tls
    assert h["X-Request-ID"]


# ------------------------------------------------------------------ headers


async def test_every_response_carries_the_security_headers(site: Live) -> None:
    market = await site.market()
    cases = [
        ("GET", "/health", 200),
        ("GET", "/ready", 200),
        ("GET", "/metrics", 200),
        ("GET", "/", 200),
        ("GET", "/api/v1/openapi.json", 200),
        ("GET", "/api/v1/markets", 200),
        ("GET", f"/api/v1/markets/{market}", 200),
        ("GET", f"/api/v1/markets/{market}/book", 200),
        ("GET", "/api/v1/markets/NOPE", 404),
        ("GET", "/api/v1/me", 401),
        ("PUT", "/api/v1/markets", 405),
        ("POST", "/api/v1/auth/login", 400),
        ("GET", "/api/v1/nothing-here", 404),
    ]
    if (WEB_DIST / "favicon.svg").exists():
        cases.append(("GET", "/favicon.svg", 200))
        cases.append(("GET", "/assets/no-such-file.js", 404))
    async with httpx.AsyncClient(base_url=site.url) as h:
        for method, path, status in cases:
            r = await h.request(method, path)
            assert r.status_code == status, (method, path, r.status_code, r.text[:200])
            assert_security_headers(r)
        tls = await h.get("/api/v1/markets", headers={"X-Forwarded-Proto": "https"})
        assert_security_headers(tls, tls=True)
        assert tls.headers["Strict-Transport-Security"].startswith("max-age=")


def _tiny_app() -> Starlette:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    return Starlette(routes=[Route("/boom", boom)], middleware=build_middleware(config.load({})))


async def test_an_unhandled_error_is_internal_with_headers_and_its_request_id_logged(
    raw_logs: list[str],
) -> None:
    transport = httpx.ASGITransport(app=_tiny_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as h:
        r = await h.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500
    assert r.json() == {"code": "internal", "message": "internal error"}
    assert_security_headers(r)
    assert r.headers["X-Request-ID"] == "boom-1"
    lines = parse(raw_logs)
    error = next(x for x in lines if x["level"] == "ERROR")
    assert error["request_id"] == "boom-1" and "RuntimeError: a bug" in error["exc"]
    access = next(x for x in lines if x["msg"] == "GET /boom 500")
    assert access["route"] == "/boom" and access["status"] == 500


# ------------------------------------------------------------------ CORS and Origin


async def test_cors_preflight_from_an_allowed_origin_is_answered(site: Live) -> None:
    r = await site.http.options(
        "/orders",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    assert_security_headers(r)
    simple = await site.http.get("/markets", headers={"Origin": ALLOWED})
    assert simple.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Retry-After" in simple.headers["Access-Control-Expose-Headers"]


async def test_cors_preflight_from_a_refused_origin_gets_no_cors_headers(site: Live) -> None:
    r = await site.http.options(
        "/orders",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 400
    assert "Access-Control-Allow-Origin" not in r.headers
    assert_security_headers(r)
    simple = await site.http.get("/markets", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200 and "Access-Control-Allow-Origin" not in simple.headers


async def test_a_websocket_from_a_refused_origin_is_rejected_before_accept(site: Live) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await websockets.connect(site.ws_url, origin=Origin("https://evil.example"))
    assert caught.value.response.status_code == 403
    same_host = site.url  # http://127.0.0.1:<port>: the page the server itself served
    for origin in (ALLOWED, same_host, None):
        conn = await websockets.connect(
            site.ws_url, origin=None if origin is None else Origin(origin)
        )
        w = WS(conn)
        try:
            assert (await w.req("ping"))["type"] == "pong"
        finally:
            await w.close()


# ------------------------------------------------------------------ body size


async def test_a_body_over_the_limit_gets_413_with_the_protocol_error(site: Live) -> None:
    big = b'{"email": "' + b"x" * (70 * 1024) + b'"}'
    r = await site.http.post("/auth/login", content=big)
    assert r.status_code == 413
    assert r.json()["code"] == "invalid_message" and "65536" in r.json()["message"]
    assert_security_headers(r)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(10):
            yield b" " * 8192

    r = await site.http.post("/auth/login", content=chunks())
    assert r.status_code == 413 and r.json()["code"] == "invalid_message"
    ok = await site.http.post("/auth/login", content=b'{"email": "a@b.c", "password": "x"}')
    assert ok.status_code == 401  # under the limit: handled as usual


# ------------------------------------------------------------------ request ids and logs


async def test_a_request_id_is_returned_and_carried_by_its_log_lines(
    site: Live, raw_logs: list[str]
) -> None:
    r = await site.http.get("/markets/NOPE", headers={"X-Request-ID": "client.req-42"})
    assert r.headers["X-Request-ID"] == "client.req-42"
    bad = await site.http.get("/markets", headers={"X-Request-ID": "not ok; has spaces"})
    generated = bad.headers["X-Request-ID"]
    assert generated != "not ok; has spaces" and len(generated) == 32
    other = await site.http.get("/markets")
    assert other.headers["X-Request-ID"] not in (generated, "client.req-42")
    lines = parse(raw_logs)
    mine = [x for x in lines if x.get("request_id") == "client.req-42"]
    assert any(
        x["msg"] == "GET /api/v1/markets/NOPE 404"
        and x["route"] == "/api/v1/markets/{ticker}"
        and x["status"] == 404
        and x["ip"] == "127.0.0.1"
        for x in mine
    ), mine
    assert any(x.get("request_id") == generated for x in lines)


async def test_websocket_log_lines_carry_a_message_request_id_and_the_user(
    site: Live, raw_logs: list[str]
) -> None:
    uid, token = await site.user(credit=0)
    conn = await websockets.connect(site.ws_url, additional_headers={"X-Request-ID": "wsconn"})
    w = WS(conn)
    try:
        assert (await w.req("auth", token=token))["type"] == "authed"
        reply = await w.req("cancel", order_id="999999999")
        assert reply["type"] == "error"
    finally:
        await w.close()
    await asyncio.sleep(0.1)
    lines = parse(raw_logs)
    err = next(x for x in lines if x["msg"].startswith("websocket error not_found"))
    assert err["request_id"] == "wsconn.2" and err["user_id"] == uid
    assert any(x["msg"] == "websocket connecting" and x["request_id"] == "wsconn" for x in lines)


async def test_passwords_and_tokens_never_reach_the_logs(site: Live, raw_logs: list[str]) -> None:
    email = "secretive@test.lfg"
    wrong = "Not-The-Pass-999!"
    await site.http.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert (
        await site.http.post("/auth/login", json={"email": email, "password": wrong})
    ).status_code == 401
    r = await site.http.post("/auth/login", json={"email": email, "password": PASSWORD})
    tokens = r.json()
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    r = await site.http.post("/auth/refresh", json={"refresh_token": refresh})
    refreshed = r.json()
    key = (
        await site.http.post("/me/api-keys", json={"name": "bot"}, headers=site.h(access))
    ).json()["secret"]
    assert (await site.http.get("/me", headers=site.h(key))).status_code == 200
    assert (await site.http.get("/me", headers=site.h(access + "x"))).status_code == 401
    w = await site.ws(refreshed["access_token"])
    await w.close()
    await asyncio.sleep(0.1)
    text = "\n".join(raw_logs)
    assert "POST /api/v1/auth/login 200" in text  # the capture worked
    secrets = [
        PASSWORD,
        wrong,
        access,
        refresh,
        refreshed["access_token"],
        refreshed["refresh_token"],
        key,
        key.rsplit("_", 1)[1],
    ]
    for s in secrets:
        assert s not in text


def test_a_log_line_is_one_compact_json_object() -> None:
    lines: list[str] = []
    sink = logger.add(JsonSink(lines.append), level="DEBUG")
    token = REQUEST.set(RequestInfo("rid-1", 7))
    try:
        logger.bind(password="hunter2", api_key="k", Authorization="b", count=3).info(
            "hello {}", "world"
        )
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("it failed")
    finally:
        REQUEST.reset(token)
        logger.remove(sink)
    first, second = (json.loads(x) for x in lines)
    assert list(first)[:6] == ["ts", "level", "msg", "logger", "request_id", "user_id"]
    assert first["ts"].endswith("Z") and first["level"] == "INFO"
    assert first["msg"] == "hello world" and first["logger"] == __name__
    assert (first["request_id"], first["user_id"], first["count"]) == ("rid-1", 7, 3)
    assert first["password"] == first["api_key"] == first["Authorization"] == "***"
    assert "hunter2" not in lines[0]
    assert second["level"] == "ERROR" and "ValueError: bad" in second["exc"]


@pytest.mark.parametrize("json_lines", [True, False])
def test_setup_logging_writes_json_lines_or_the_human_format(json_lines: bool) -> None:
    code = (
        "from loguru import logger\n"
        "import logging\n"
        "from server.logs import setup_logging, REQUEST, RequestInfo\n"
        f"setup_logging('INFO', json={json_lines})\n"
        "REQUEST.set(RequestInfo('r-9', 5))\n"
        "logger.bind(token='s3cret').info('hello')\n"
        "logger.debug('hidden')\n"
        "logging.getLogger('uvicorn.error').warning('from stdlib')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    ).stdout
    assert "hidden" not in out
    if json_lines:
        a, b = (json.loads(x) for x in out.splitlines())
        assert (a["msg"], a["request_id"], a["user_id"], a["token"]) == ("hello", "r-9", 5, "***")
        assert (b["logger"], b["level"], b["msg"]) == ("uvicorn.error", "WARNING", "from stdlib")
    else:
        assert "[r-9 u5] hello" in out and "s3cret" not in out and "from stdlib" in out


# ------------------------------------------------------------------ cache


async def _place(lv: Live, token: str, market: str, outcome: str, price: int, qty: int) -> None:
    """A limit buy of `outcome` (buying NO at p is selling YES at 100 - p)."""
    body = {"market": market, "side": "buy", "outcome": outcome, "type": "limit"}
    r = await lv.http.post(
        "/orders", json={**body, "price": price, "qty": qty}, headers=lv.h(token)
    )
    assert r.status_code == 201, r.text


async def test_a_second_market_list_request_is_a_cache_hit(site: Live) -> None:
    await site.market()  # a new market invalidates the list
    hits = sample("lfg_cache_requests_total", cache="markets", result="hit")
    first = await site.http.get("/markets", params={"limit": 7})
    second = await site.http.get("/markets", params={"limit": 7, "unknown": "x"})
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert sample("lfg_cache_requests_total", cache="markets", result="hit") == hits + 1
    assert_security_headers(second)
    assert (await site.http.get("/markets", params={"limit": 8})).headers["X-Cache"] == "miss"
    for _ in range(2):  # errors are not cached
        r = await site.http.get("/markets/NOPE-X")
        assert r.status_code == 404 and "X-Cache" not in r.headers


async def test_a_trade_invalidates_what_it_changes(site: Live) -> None:
    market = await site.market()
    (_, buyer), (_, seller) = await site.user(), await site.user()
    paths = [
        f"/markets/{market}",
        f"/markets/{market}/trades",
        f"/markets/{market}/candles",
        "/markets",
    ]
    for p in paths:
        await site.http.get(p)
        assert (await site.http.get(p)).headers["X-Cache"] == "hit", p
    await _place(site, seller, market, "no", 60, 5)
    await _place(site, buyer, market, "yes", 40, 5)
    after = {p: await site.http.get(p) for p in paths}
    assert all(r.headers["X-Cache"] == "miss" for r in after.values())
    assert after[f"/markets/{market}"].json()["last"] == 40
    assert after[f"/markets/{market}/trades"].json()["trades"][0]["qty"] == 5
    assert after[f"/markets/{market}/candles"].json()["candles"][-1]["volume"] == 5
    listed = [m for m in after["/markets"].json()["markets"] if m["ticker"] == market]
    assert listed == [] or listed[0]["volume"] == 5  # (the list may page past it)
    # A status change invalidates too.
    assert (await site.http.get(f"/markets/{market}")).headers["X-Cache"] == "hit"
    assert (await site.admin("POST", f"/admin/markets/{market}/halt")).status_code == 200
    r = await site.http.get(f"/markets/{market}")
    assert r.headers["X-Cache"] == "miss" and r.json()["status"] == "halted"


async def test_quotes_in_cached_market_replies_are_at_most_a_second_old(site: Live) -> None:
    market = await site.market()
    _, maker = await site.user()
    await site.http.get(f"/markets/{market}")
    await _place(site, maker, market, "yes", 30, 1)  # moves the best bid, trades nothing
    cached = await site.http.get(f"/markets/{market}")
    assert cached.headers["X-Cache"] == "hit" and cached.json()["best_bid"] is None
    await asyncio.sleep(1.05)
    fresh = await site.http.get(f"/markets/{market}")
    assert fresh.headers["X-Cache"] == "miss" and fresh.json()["best_bid"] == 30


# ------------------------------------------------------------------ metrics


async def test_metrics_cover_http_business_and_process(site: Live) -> None:
    market = await site.market()
    (_, buyer), (_, seller) = await site.user(), await site.user()
    await _place(site, seller, market, "no", 65, 3)
    await _place(site, buyer, market, "yes", 35, 3)
    await _place(site, buyer, market, "yes", 20, 2)  # stays open
    await site.http.get(f"/markets/{market}/book")
    text = (await site.http.get(site.url + "/metrics")).text
    assert f'lfg_escrow_cents{{market="{market}"}} 300.0' in text  # 3 pairs minted
    open_orders = sum(sample("lfg_open_orders", shard=s) for s in ("0", "1"))
    assert open_orders >= 1
    assert (
        sample(
            "lfg_http_requests_total",
            method="GET",
            route="/api/v1/markets/{ticker}/book",
            status="200",
        )
        >= 1
    )
    assert f"/api/v1/markets/{market}" not in text  # templates, never raw paths
    assert (
        sample("lfg_http_request_duration_seconds_count", method="POST", route="/api/v1/orders")
        >= 3
    )
    assert sample("lfg_users_registered_total") >= 2
    assert sample("lfg_logins_total", result="ok") >= 2
    assert sample("lfg_db_pool_size") == 10
    assert sample("lfg_db_pool_in_use") >= 0
    for name in ("process_cpu_seconds_total", "python_gc_objects_collected_total"):
        assert name in text


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LFG_RATE_WS_ORDERS": "fast"}, "LFG_RATE_WS_ORDERS"),
        ({"LFG_CORS_ORIGINS": "https://ok.example, evil.example/path"}, "LFG_CORS_ORIGINS"),
        ({"LFG_MAX_BODY_BYTES": "10"}, "LFG_MAX_BODY_BYTES"),
        ({"LFG_CACHE_TTL_MS": "soon"}, "LFG_CACHE_TTL_MS"),
    ],
)
def test_a_bad_setting_stops_the_start_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(config.ConfigError, match=named):
        config.load(env)


def test_lfg_serve_refuses_a_bad_setting_before_starting() -> None:
    env = {**os.environ, "LFG_RATE_REST_READ": "lots"}
    p = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert p.returncode == 2 and "LFG_RATE_REST_READ" in p.stderr


def test_outside_embedded_mode_a_jwt_secret_is_required() -> None:
    with pytest.raises(config.ConfigError, match="LFG_JWT_SECRET"):
        config.load({"LFG_EMBEDDED": "false"})


def test_the_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Configuration" in readme
    table = readme.split("## Configuration", 1)[1]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {name for cell in first_cells for name in cell.split("`")[1::2]}
    wanted = {
        config.env_name(f) for f in config.Settings.__struct_fields__ if f != "jwt_secret_generated"
    }
    assert wanted <= documented, sorted(wanted - documented)


# ------------------------------------------------------------------ report views


async def test_the_report_views_follow_their_documented_definitions(site: Live) -> None:
    market = await site.market()
    (yes_uid, yes_buyer), (no_uid, no_buyer) = await site.user(), await site.user()
    await _place(site, no_buyer, market, "no", 60, 5)
    await _place(site, yes_buyer, market, "yes", 40, 5)
    conn = await asyncpg.connect(site.dsn)
    try:

        async def pnl(uid: int) -> tuple[Any, ...]:
            row = await conn.fetchrow(
                "SELECT cash_flow, mark_value, pnl FROM user_market_pnl "
                "WHERE user_id = $1 AND market = $2",
                uid,
                market,
            )
            total = await conn.fetchrow(
                "SELECT realised_cents, unrealised_cents, pnl_cents FROM user_pnl "
                "WHERE user_id = $1",
                uid,
            )
            return tuple(row), tuple(total)

        volume = await conn.fetchrow(
            "SELECT trades, contracts, notional_cents FROM market_volume_24h WHERE market = $1",
            market,
        )
        assert tuple(volume) == (1, 5, 200)
        # Bought 5 YES for 200, marked at the last price 40; 5 NO for 300, marked at 60.
        assert await pnl(yes_uid) == ((-200, 200, 0), (0, 0, 0))
        assert await pnl(no_uid) == ((-300, 300, 0), (0, 0, 0))
        r = await site.admin("POST", f"/admin/markets/{market}/resolve", json={"result": "yes"})
        assert r.status_code == 200, r.text
        # Paid 100 a YES contract: the positions are closed, the P&L realised.
        assert await pnl(yes_uid) == ((300, 0, 300), (300, 0, 300))
        assert await pnl(no_uid) == ((-300, 0, -300), (-300, 0, -300))
    finally:
        await conn.close()


# ------------------------------------------------------------------ cache stores


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def test_the_memory_cache_expires_evicts_and_refuses_stale_stores() -> None:
    clock = Clock()
    c = MemoryCache(max_entries=2, clock=clock)
    body, gen = await c.get("m:A", "k")
    assert body is None
    await c.put("m:A", "k", gen, b"v1", 1.0)
    assert await c.get("m:A", "k") == (b"v1", gen)
    clock.t += 1.0
    assert (await c.get("m:A", "k"))[0] is None  # expired
    await c.put("m:A", "k", gen, b"v2", 1.0)
    _, before = await c.get("m:A", "k")
    c.invalidate(["m:A"])
    assert (await c.get("m:A", "k"))[0] is None  # invalidated
    await c.put("m:A", "k", before, b"stale", 1.0)  # read before the invalidation
    assert (await c.get("m:A", "k"))[0] is None
    for i in range(3):
        await c.put("list", f"k{i}", 0, b"x", 10.0)
    assert (await c.get("list", "k0"))[0] is None  # the oldest went
    assert (await c.get("list", "k2"))[0] == b"x"
    await c.close()
    assert (await c.get("list", "k2"))[0] is None


async def test_the_redis_cache_shares_entries_and_generations_between_gateways() -> None:
    with local_redis() as url:
        ra, rb = aioredis.from_url(url), aioredis.from_url(url)
        a, b = RedisCache(ra), RedisCache(rb)
        try:
            body, gen = await a.get("m:T", "trades?")
            assert body is None and gen == 0
            await a.put("m:T", "trades?", gen, b"[1]", 5.0)
            assert await b.get("m:T", "trades?") == (b"[1]", 0)
            assert 0 < await ra.pttl("lfg:c:{m:T}:0:trades?") <= 5000
            b.invalidate(["m:T", "list"])
            await b.close()  # waits for the invalidation
            assert await a.get("m:T", "trades?") == (None, 1)
            await a.put("m:T", "trades?", 0, b"stale", 5.0)  # read before: not stored
            assert (await a.get("m:T", "trades?"))[0] is None
        finally:
            await ra.aclose()
            await rb.aclose()


async def test_without_redis_the_cache_is_a_miss_and_stores_nothing(raw_logs: list[str]) -> None:
    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    c = RedisCache(client)
    try:
        assert await c.get("list", "k") == (None, -1)
        await c.put("list", "k", -1, b"x", 1.0)
        await c.put("list", "k", 0, b"x", 1.0)
        c.invalidate(["list"])
        await c.close()
    finally:
        await client.aclose()
    assert sum("cache: Redis" in line for line in raw_logs) == 1  # once a minute at most


async def test_cached_routes_bypass_the_cache_when_it_is_off_or_the_key_is_odd() -> None:
    calls = 0

    @cached("t", params=("q",), per_market=True, quote=False)
    async def route(request: Request) -> Response:
        nonlocal calls
        calls += 1
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/m/{ticker}", route)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as h:
        assert "X-Cache" not in (await h.get("/m/A")).headers  # no cache configured
        app.state.cache = ResponseCache(MemoryCache(), ttl_s=0, quote_ttl_s=1)
        assert "X-Cache" not in (await h.get("/m/A")).headers  # TTL 0: off
        app.state.cache = ResponseCache(MemoryCache(), ttl_s=5, quote_ttl_s=1)
        long = "x" * 600
        for _ in range(2):
            assert "X-Cache" not in (await h.get("/m/A", params={"q": long})).headers
        assert [(await h.get("/m/A")).headers["X-Cache"] for _ in range(2)] == ["miss", "hit"]
    assert calls == 5  # the hit did not call the route
