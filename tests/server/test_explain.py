"""Every hot query has an index: on a database filled with realistic volume (110k orders,
100k trades, fills and ledger entries, 50k positions, 40k refresh tokens, 20k users), the real code paths run (REST
routes, login and API keys, shard recovery and a batch, cancel by client order id), every
statement they send is captured with its arguments, and EXPLAIN of each must not
sequentially scan a large table (10k rows or more after ANALYZE). The reporting views are
checked the same way."""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from server import config
from server.db import migrate
from server.gateway import app as app_module
from server.gateway.app import build_app
from tests.conftest import new_database
from tests.server.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, NO_RATE_LIMITS

PASSWORD = "Fill-Pass-1234!"
API_SECRET = "fill-api-secret"
USER = 5  # has an open order with client order id c40, fills, positions, an API key
NOW = "(extract(epoch FROM now()) * 1000)::bigint"

#: Two halves, loaded in parallel on two connections.
FILL_ACCOUNTS_AND_ORDERS = f"""
INSERT INTO users (email, role, created_ts)
SELECT 'u' || g || '@fill.lfg', 'trader', 0 FROM generate_series(1, 20000) g;
INSERT INTO credentials (user_id, password_hash, updated_ts)
SELECT user_id, $hash$, 0 FROM users;
INSERT INTO accounts (user_id, available, held) SELECT user_id, 1000000000, 0 FROM users;
INSERT INTO cash_deltas (user_id, d_available, d_held)
SELECT 1 + g % 20000, g % 500, 0 FROM generate_series(1, 20000) g;
INSERT INTO markets (ticker, title, status, result, shard_id, last_price, created_ts)
SELECT 'F' || lpad(g::text, 4, '0'), 'Fill market ' || g,
       CASE WHEN g % 5 = 0 THEN 'open' ELSE 'resolved' END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'yes' END, g % 2, 50, 0
FROM generate_series(1, 200) g;
INSERT INTO orders (order_id, user_id, market, side, outcome, type, tif, price, qty,
    filled_qty, remaining_qty, filled_cost, fees, status, client_order_id, created_ts,
    updated_ts, post_only, stp, triggered, hold, priority)
SELECT g, 1 + (g / 10) % 20000,
       'F' || lpad((5 * (1 + g % 40))::text, 4, '0'),
       'buy', CASE WHEN (g / 10) % 2 = 0 THEN 'yes' ELSE 'no' END, 'limit', 'gtc',
       1 + (g / 10) % 40, 10,
       CASE WHEN g % 10 = 0 THEN 0 ELSE 10 END, CASE WHEN g % 10 = 0 THEN 10 ELSE 0 END,
       CASE WHEN g % 10 = 0 THEN 0 ELSE 10 * (1 + (g / 10) % 40) END, 0,
       CASE WHEN g % 10 = 0 THEN 'open' WHEN g % 3 = 0 THEN 'cancelled' ELSE 'filled' END,
       CASE WHEN g % 20 = 0 THEN 'c' || g END,
       {NOW} - (110000 - g) * 1000, {NOW} - (110000 - g) * 1000, false, 'cancel_newest',
       false, CASE WHEN g % 10 = 0 THEN 10 * (1 + (g / 10) % 40) ELSE 0 END, g
FROM generate_series(1, 110000) g;
SELECT setval('order_ids', 1000000000);
INSERT INTO positions (market, user_id, yes, no)
SELECT 'F' || lpad((1 + g % 200)::text, 4, '0'), 1 + ((g / 200) * 79) % 20000,
       CASE WHEN g % 1000 < 200 AND g % 2 = 0 THEN 1 + g % 9 ELSE 0 END,
       CASE WHEN g % 1000 < 200 AND g % 2 = 1 THEN 1 + g % 9 ELSE 0 END
FROM generate_series(0, 49999) g;
INSERT INTO refresh_tokens (token_id, family_id, user_id, token_hash, issued_ts, expires_ts)
SELECT 't' || g, 'f' || (g / 2), 1 + g % 20000, '\\x00'::bytea, 0, {NOW} + 86400000
FROM generate_series(1, 40000) g;
INSERT INTO api_keys (key_id, user_id, name, secret_hash, created_ts)
SELECT 'k' || g, 1 + g % 20000, 'bot', $secret$, 0 FROM generate_series(1, 20000) g;
"""
#: Trade n of the fill: market F(1 + n % 200), maker user 1 + n % 20000, over ~42 hours.
FILL_TRADES = f"""
INSERT INTO trades (market, trade_no, price, qty, taker_side, kind, ts, seq, maker_order_id,
    taker_order_id, maker_user, taker_user, maker_fee, taker_fee)
SELECT 'F' || lpad((1 + g % 200)::text, 4, '0'), 1 + g / 200, 1 + g % 99, 1 + g % 7,
       CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 'transfer',
       {NOW} - (100000 - g) * 1500, g, g, g + 1, 1 + g % 20000, 1 + (g * 7) % 20000, 0, 0
FROM generate_series(1, 100000) g;
INSERT INTO fills (user_id, market, trade_no, order_id, side, outcome, price, qty, fee,
    liquidity, ts)
SELECT 1 + g % 20000, 'F' || lpad((1 + g % 200)::text, 4, '0'), 1 + g / 200, g, 'sell',
       'yes', 1 + g % 99, 1 + g % 7, 0, 'maker', {NOW} - (100000 - g) * 1500
FROM generate_series(1, 100000) g;
INSERT INTO ledger (user_id, kind, amount, market, ref, ts)
SELECT 1 + g % 20000, 'trade', (1 + g % 99) * (1 + g % 7),
       'F' || lpad((1 + g % 200)::text, 4, '0'), 'F-' || g, {NOW} - (100000 - g) * 1500
FROM generate_series(1, 100000) g;
"""

#: Statements that read or write tables (DDL, transaction control and COPY are skipped).
EXPLAINABLE = ("SELECT", "WITH", "UPDATE", "DELETE", "INSERT")


class Recorder:
    def __init__(self) -> None:
        self.seen: dict[str, tuple[Any, ...]] = {}

    def __call__(self, record: Any) -> None:
        q = record.query.strip()
        if (
            q.split(None, 1)[0].upper() in EXPLAINABLE
            and "pg_catalog" not in q  # asyncpg's type introspection
            and ";" not in q.rstrip(";")  # the pool's connection reset script
        ):
            self.seen.setdefault(q, tuple(record.args or ()))


def seq_scans(plan: dict[str, Any]) -> list[str]:
    out = []
    if plan.get("Node Type") == "Seq Scan":
        out.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        out += seq_scans(child)
    return out


@pytest.fixture(scope="module")
def filled_db(pg_server: object) -> str:
    return new_database(pg_server)


async def _fill(dsn: str) -> None:
    conn, other = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        pw_hash = PasswordHasher().hash(PASSWORD)
        secret = hashlib.sha256(API_SECRET.encode()).digest()
        accounts = FILL_ACCOUNTS_AND_ORDERS.replace("$hash$", "'" + pw_hash + "'").replace(
            "$secret$", "'\\x" + secret.hex() + "'::bytea"
        )
        # Bulk load: secondary indexes built after the rows are in, no per-row foreign-key
        # triggers (the data is consistent by construction), no waiting for WAL flushes.
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for ix in indexes:
            await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        bulk = "SET session_replication_role = replica; SET synchronous_commit = off;"
        await asyncio.gather(conn.execute(bulk + accounts), other.execute(bulk + FILL_TRADES))
        await conn.execute("SET maintenance_work_mem = '128MB'")
        await other.execute("SET maintenance_work_mem = '128MB'")
        for i in range(0, len(indexes), 2):
            pair = indexes[i : i + 2]
            await asyncio.gather(
                *(c.execute(ix["indexdef"]) for c, ix in zip((conn, other), pair, strict=False))
            )
        await conn.execute("ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM trades) AS trades"
        )
        assert counts["orders"] >= 100_000 and counts["trades"] >= 100_000
    finally:
        await conn.close()
        await other.close()


async def _drive(dsn: str, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the real code paths against the filled database, recording every statement."""
    real_create_pool = app_module.create_pool
    real_connect = asyncpg.connect

    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(recorder)

    async def create_pool(dsn: str, *a: Any, **kw: Any) -> asyncpg.Pool:
        return await real_create_pool(dsn, *a, init=init, **kw)

    async def connect(*a: Any, **kw: Any) -> asyncpg.Connection:  # the shards' connections
        conn = await real_connect(*a, **kw)
        conn.add_query_logger(recorder)
        return conn

    monkeypatch.setattr(app_module, "create_pool", create_pool)
    monkeypatch.setattr(asyncpg, "connect", connect)
    settings = config.load(
        {},
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        jwt_secret="explain-secret-" + "y" * 40,
        shards=2,
        **NO_RATE_LIMITS,
    )
    app = build_app(settings, dsn)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api/v1") as h:
            await _requests(h, app.state.services)


async def _requests(h: httpx.AsyncClient, services: Any) -> None:
    async def ok(method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await h.request(method, path, headers=headers, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    admin = (
        await ok("POST", "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    )["access_token"]
    tokens = await ok(
        "POST", "/auth/login", json={"email": f"u{USER}@fill.lfg", "password": PASSWORD}
    )
    user = tokens["access_token"]
    tokens = await ok("POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    for path in (
        "/markets",
        "/markets?status=open",
        "/markets?cursor=F0100&limit=10",
        "/markets/F0005",
        "/markets/F0005/trades",
        "/markets/F0005/trades?cursor=500",
        "/markets/F0005/candles?interval=1h",
        "/markets/F0005/book",
    ):
        await ok("GET", path)
    for path in (
        "/me",
        "/orders",
        "/orders?status=open",
        "/orders?status=filled,cancelled&market=F0010",
        "/orders/40",
        "/fills",
        "/fills?market=F0005",
        "/account",
        "/me/api-keys",
    ):
        await ok("GET", path, user)
    await ok("GET", "/me", f"lfg_k{USER}_{API_SECRET}")  # a bot's API key
    key = await ok("POST", "/me/api-keys", user, json={"name": "new"})
    await ok("DELETE", f"/me/api-keys/{key['key_id']}", user)
    order = {"market": "F0005", "side": "buy", "outcome": "yes", "type": "limit", "qty": 1}
    await ok("POST", "/orders", user, json={**order, "price": 2})
    await services.prepare_cancel(USER, None, "c40")  # the WS cancel by client order id
    await ok("DELETE", "/orders/40", user)  # not remembered by this process: looked up
    await ok("DELETE", "/orders?market=F0005", user)
    await ok("POST", "/auth/logout", tokens["access_token"], json={})
    await ok("POST", "/auth/register", json={"email": "new@fill.lfg", "password": PASSWORD})
    await ok("GET", "/admin/users?email=u7@fill.lfg", admin)
    await ok("GET", "/admin/users?limit=50&cursor=100", admin)
    await ok("POST", f"/admin/users/{USER}/credit", admin, json={"amount": 100})
    await ok("POST", "/admin/markets/F0010/halt", admin)


REPORTS = [
    ("SELECT * FROM user_pnl WHERE user_id = $1", (USER,)),
    ("SELECT * FROM user_market_pnl WHERE user_id = $1 AND market = $2", (USER, "F0005")),
    ("SELECT * FROM market_volume_24h WHERE market = $1", ("F0005",)),
    ("SELECT * FROM balances WHERE user_id = $1", (USER,)),
]


@pytest.fixture
async def explained(filled_db: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    await _fill(filled_db)
    recorder = Recorder()
    await _drive(filled_db, recorder, monkeypatch)
    monkeypatch.undo()
    conn = await asyncpg.connect(filled_db)
    try:
        yield conn, recorder
    finally:
        await conn.close()


async def test_no_hot_query_scans_a_large_table(explained: Any) -> None:
    conn, recorder = explained
    large = {
        r["relname"]
        for r in await conn.fetch(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples >= 10000 "
            "AND relnamespace = 'public'::regnamespace"
        )
    }
    assert {"orders", "trades", "fills", "ledger", "users", "positions"} <= large
    queries = list(recorder.seen.items())
    assert len(queries) >= 40, len(queries)  # the scenario really ran
    texts = "\n".join(q for q, _ in queries)
    for needle in (  # the queries the issue names, by a fragment of each
        "FROM trades WHERE market = ANY",  # 24 h volume
        "FROM orders WHERE user_id = $1 AND client_order_id",  # cancel by client order id
        "status IN ('open', 'partially_filled') ORDER BY (priority = 0)",  # recovery
        "FROM positions WHERE market = ANY",  # recovery
        "lower(u.email) = $1",  # login
        "FROM balances",  # accounts
        "FOR UPDATE",  # the batch's account locks
    ):
        assert needle in texts, needle
    failures = []
    for query, args in [*queries, *REPORTS]:
        plan = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + query, *args))[0]["Plan"]
        scanned = [t for t in seq_scans(plan) if t in large]
        if scanned:
            failures.append(f"{scanned}: {query}")
    assert not failures, "sequential scans of large tables:\n" + "\n".join(failures)
