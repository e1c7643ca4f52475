"""REST `/api/v1`: markets, market data, orders, fills, account, admin (PROTOCOL.md).

Bodies reuse the WebSocket shapes without `type`/`id`. Lists are `{"<things>": [...],
"next_cursor": ...}`, newest first, paged with `limit` (<= 500) and `cursor`.
"""

import asyncio
import time
from typing import Any

import asyncpg
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.commands import CloseMarket, HaltMarket, OpenMarket, ResolveMarket
from server import metrics
from server.cache import cached
from server.db import now_ms
from server.errors import ApiError
from server.gateway.http import JSONResponse, decode_body, parse_id, query_int
from server.gateway.routes_auth import require_admin, require_user
from server.schema import (
    BookView,
    CancelledAllReply,
    Candle,
    CandlesReply,
    CreateMarketBody,
    CreditBody,
    CreditReply,
    Fill,
    FillsReply,
    MarketsReply,
    MarketView,
    MoveBody,
    Order,
    OrderReply,
    OrdersReply,
    PlaceOrderBody,
    ResolveBody,
    TradesReply,
    TradeView,
    trade_id,
)
from server.services import Services

INTERVALS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}
DAY_MS = 86_400_000
MARKET_STATUSES = ("open", "halted", "closed", "resolved")
ORDER_STATUSES = ("open", "partially_filled", "filled", "cancelled", "expired")


def services(request: Request) -> Services:
    s: Services = request.app.state.services
    return s


def _limit(request: Request) -> int:
    v = query_int(request, "limit", 100, 1, 500)
    assert v is not None
    return v


def _cursor(request: Request) -> int | None:
    return query_int(request, "cursor", None, 0, 2**62)


def _ticker(request: Request) -> str:
    t: str = request.path_params["ticker"]
    return t


def _order_id(request: Request) -> int:
    return parse_id(request.path_params["order_id"], "order_id")


# ------------------------------------------------------------------ markets


def _market_view(r: asyncpg.Record, volume_24h: int) -> MarketView:
    return MarketView(
        ticker=r["ticker"],
        title=r["title"],
        rules=r["rules"],
        status=r["status"],
        result=r["result"],
        close_ts=r["close_ts"],
        maker_fee_bps=r["maker_fee_bps"],
        taker_fee_bps=r["taker_fee_bps"],
        best_bid=r["best_bid"],
        best_ask=r["best_ask"],
        last=r["last_price"] or None,
        volume=r["volume"],
        volume_24h=volume_24h,
        open_interest=r["escrow"] // 100,
        seq=r["seq"],
        created_ts=r["created_ts"],
    )


async def _volumes_24h(conn: Any, tickers: list[str]) -> dict[str, int]:
    if not tickers:
        return {}
    rows = await conn.fetch(
        "SELECT market, sum(qty)::bigint AS v FROM trades WHERE market = ANY($1::text[]) AND ts >= $2 GROUP BY market",
        tickers,
        now_ms() - DAY_MS,
    )
    return {r["market"]: r["v"] for r in rows}


@cached("markets", params=("status", "cursor", "limit"), per_market=False, quote=True)
async def list_markets(request: Request) -> Response:
    status = request.query_params.get("status")
    if status is not None and status not in MARKET_STATUSES:
        raise ApiError("invalid_message", f"status must be one of {', '.join(MARKET_STATUSES)}")
    limit = _limit(request)
    after = request.query_params.get("cursor") or ""
    pool = services(request).pool
    rows = await pool.fetch(
        "SELECT * FROM markets WHERE ($1::text IS NULL OR status = $1) AND ticker > $2 ORDER BY ticker LIMIT $3",
        status,
        after,
        limit,
    )
    vols = await _volumes_24h(pool, [r["ticker"] for r in rows])
    views = [_market_view(r, vols.get(r["ticker"], 0)) for r in rows]
    nxt = views[-1].ticker if len(views) == limit else None
    return JSONResponse(MarketsReply(markets=views, next_cursor=nxt))


async def _market_row(pool: asyncpg.Pool, ticker: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM markets WHERE ticker = $1", ticker)
    if row is None:
        raise ApiError("not_found", f"unknown market {ticker!r}")
    return row


@cached("market", params=(), per_market=True, quote=True)
async def get_market(request: Request) -> Response:
    pool = services(request).pool
    row = await _market_row(pool, _ticker(request))
    vols = await _volumes_24h(pool, [row["ticker"]])
    return JSONResponse(_market_view(row, vols.get(row["ticker"], 0)))


async def get_book(request: Request) -> Response:
    depth = query_int(request, "depth", None, 1, 100)
    s = services(request)
    replica = await s.hub.ensure_replica(_ticker(request))
    snap = replica.snapshot(depth)
    return JSONResponse(BookView(market=snap.market, seq=snap.seq, bids=snap.bids, asks=snap.asks))


@cached("trades", params=("cursor", "limit"), per_market=True, quote=False)
async def get_trades(request: Request) -> Response:
    s = services(request)
    ticker = _ticker(request)
    s.shard_of(ticker)
    limit = _limit(request)
    rows = await s.pool.fetch(
        "SELECT trade_no, price, qty, taker_side, ts FROM trades WHERE market = $1 "
        "AND ($2::bigint IS NULL OR trade_no < $2) ORDER BY trade_no DESC LIMIT $3",
        ticker,
        _cursor(request),
        limit,
    )
    trades = [
        TradeView(
            trade_id=trade_id(ticker, r["trade_no"]),
            market=ticker,
            price=r["price"],
            qty=r["qty"],
            taker_side=r["taker_side"],
            ts=r["ts"],
        )
        for r in rows
    ]
    nxt = str(rows[-1]["trade_no"]) if len(rows) == limit else None
    return JSONResponse(TradesReply(trades=trades, next_cursor=nxt))


@cached("candles", params=("interval", "start", "end"), per_market=True, quote=False)
async def get_candles(request: Request) -> Response:
    s = services(request)
    ticker = _ticker(request)
    s.shard_of(ticker)
    interval = request.query_params.get("interval", "1m")
    step = INTERVALS.get(interval)
    if step is None:
        raise ApiError("invalid_message", "interval must be 1m, 5m, 1h or 1d")
    end = query_int(request, "end", None, 0, 2**53) or now_ms()
    start = query_int(request, "start", None, 0, 2**53)
    if start is None:
        start = end - 500 * step
    if start > end or (end - start) // step > 5000:
        raise ApiError("invalid_message", "start..end must span at most 5000 intervals")
    rows = await s.pool.fetch(
        "SELECT (ts / $2) * $2 AS bucket, "
        "(array_agg(price ORDER BY trade_no))[1] AS open, max(price) AS high, min(price) AS low, "
        "(array_agg(price ORDER BY trade_no DESC))[1] AS close, sum(qty)::bigint AS volume "
        "FROM trades WHERE market = $1 AND ts >= $3 AND ts < $4 GROUP BY bucket ORDER BY bucket",
        ticker,
        step,
        start - start % step,
        end,
    )
    candles = [
        Candle(
            ts=r["bucket"],
            open=r["open"],
            high=r["high"],
            low=r["low"],
            close=r["close"],
            volume=r["volume"],
        )
        for r in rows
    ]
    return JSONResponse(CandlesReply(candles=candles))


# ------------------------------------------------------------------ orders, fills, account


def _order_from_db(r: asyncpg.Record) -> Order:
    filled = r["filled_qty"]
    return Order(
        order_id=str(r["order_id"]),
        client_order_id=r["client_order_id"],
        market=r["market"],
        side=r["side"],
        outcome=r["outcome"],
        type=r["type"],
        tif=r["tif"],
        price=r["price"],
        qty=r["qty"],
        filled_qty=filled,
        remaining_qty=r["remaining_qty"],
        avg_price=round(r["filled_cost"] / filled, 2) if filled else None,
        filled_cost=r["filled_cost"],
        fees=r["fees"],
        status=r["status"],
        reason=r["reason"],
        post_only=r["post_only"],
        stp=r["stp"],
        stop_price=r["stop_price"],
        expires_at=r["expires_at"],
        created_ts=r["created_ts"],
        updated_ts=r["updated_ts"],
    )


async def post_order(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, PlaceOrderBody)
    order = await services(request).place(user.user_id, body)
    return JSONResponse(OrderReply(order=order), status_code=201)


async def list_orders(request: Request) -> Response:
    user = await require_user(request)
    status = request.query_params.get("status")
    statuses: list[str] | None = None
    if status is not None:
        wanted = status.split(",")
        if any(x not in ORDER_STATUSES for x in wanted):
            raise ApiError("invalid_message", f"status must be among {', '.join(ORDER_STATUSES)}")
        statuses = ["open", "partially_filled"] if wanted == ["open"] else wanted
    market = request.query_params.get("market")
    limit = _limit(request)
    rows = await services(request).pool.fetch(
        "SELECT * FROM orders WHERE user_id = $1 AND ($2::text[] IS NULL OR status = ANY($2)) "
        "AND ($3::text IS NULL OR market = $3) AND ($4::bigint IS NULL OR order_id < $4) "
        "ORDER BY order_id DESC LIMIT $5",
        user.user_id,
        statuses,
        market,
        _cursor(request),
        limit,
    )
    nxt = str(rows[-1]["order_id"]) if len(rows) == limit else None
    return JSONResponse(OrdersReply(orders=[_order_from_db(r) for r in rows], next_cursor=nxt))


async def get_order(request: Request) -> Response:
    user = await require_user(request)
    row = await services(request).pool.fetchrow(
        "SELECT * FROM orders WHERE order_id = $1", _order_id(request)
    )
    if row is None:
        raise ApiError("not_found", "no such order")
    if row["user_id"] != user.user_id:
        raise ApiError("forbidden", "that order belongs to another user")
    return JSONResponse(OrderReply(order=_order_from_db(row)))


async def delete_order(request: Request) -> Response:
    user = await require_user(request)
    order = await services(request).cancel(user.user_id, _order_id(request), None)
    return JSONResponse(OrderReply(order=order))


async def delete_orders(request: Request) -> Response:
    user = await require_user(request)
    market = request.query_params.get("market")
    count = await services(request).cancel_all(user.user_id, market)
    return JSONResponse(CancelledAllReply(count=count))


async def list_fills(request: Request) -> Response:
    user = await require_user(request)
    limit = _limit(request)
    rows = await services(request).pool.fetch(
        "SELECT * FROM fills WHERE user_id = $1 AND ($2::text IS NULL OR market = $2) "
        "AND ($3::bigint IS NULL OR fill_id < $3) ORDER BY fill_id DESC LIMIT $4",
        user.user_id,
        request.query_params.get("market"),
        _cursor(request),
        limit,
    )
    fills = [
        Fill(
            trade_id=trade_id(r["market"], r["trade_no"]),
            order_id=str(r["order_id"]),
            market=r["market"],
            side=r["side"],
            outcome=r["outcome"],
            price=r["price"],
            qty=r["qty"],
            fee=r["fee"],
            liquidity=r["liquidity"],
            ts=r["ts"],
        )
        for r in rows
    ]
    nxt = str(rows[-1]["fill_id"]) if len(rows) == limit else None
    return JSONResponse(FillsReply(fills=fills, next_cursor=nxt))


async def get_account(request: Request) -> Response:
    user = await require_user(request)
    views = await services(request).fetch_accounts([user.user_id])
    view = views.get(user.user_id)
    if view is None:
        raise ApiError("not_found", "no account")
    return JSONResponse(
        {"available": view.available, "held": view.held, "positions": view.positions}
    )


# ------------------------------------------------------------------ admin


async def admin_create_market(request: Request) -> Response:
    await require_admin(request)
    b = await decode_body(request, CreateMarketBody)
    maker = b.maker_fee_bps if b.maker_fee_bps is not None else (b.fee_bps or 0)
    taker = b.taker_fee_bps if b.taker_fee_bps is not None else (b.fee_bps or 0)
    s = services(request)
    await s.create_market(b.ticker, b.title, b.rules, b.close_ts, maker, taker)
    row = await _market_row(s.pool, b.ticker)
    return JSONResponse(_market_view(row, 0), status_code=201)


def _lifecycle(cmd_type: Any) -> Any:
    async def handler(request: Request) -> Response:
        await require_admin(request)
        ticker = _ticker(request)
        s = services(request)
        if cmd_type is ResolveMarket:
            b = await decode_body(request, ResolveBody)
            cmd = ResolveMarket(ts=now_ms(), market=ticker, result=b.result)
        else:
            cmd = cmd_type(ts=now_ms(), market=ticker)
        await s.admin_command(ticker, cmd)
        row = await _market_row(s.pool, ticker)
        vols = await _volumes_24h(s.pool, [ticker])
        return JSONResponse(_market_view(row, vols.get(ticker, 0)))

    return handler


async def admin_move_market(request: Request) -> Response:
    """Move a halted market to another shard (distributed mode's rebalancing)."""
    await require_admin(request)
    ticker = _ticker(request)
    b = await decode_body(request, MoveBody)
    s = services(request)
    await s.move_market(ticker, b.shard_id)
    row = await _market_row(s.pool, ticker)
    return JSONResponse(
        {**msgspec.structs.asdict(_market_view(row, 0)), "shard_id": row["shard_id"]}
    )


async def admin_credit(request: Request) -> Response:
    await require_admin(request)
    uid = parse_id(request.path_params["user_id"], "user id")
    b = await decode_body(request, CreditBody)
    s = services(request)
    await s.credit(uid, b.amount)
    v = (await s.fetch_accounts([uid]))[uid]
    return JSONResponse(CreditReply(user_id=str(uid), available=v.available, held=v.held))


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "ts": time.time_ns() // 1_000_000})


async def ready(request: Request) -> Response:
    s = services(request)
    checks: dict[str, str] = {}
    try:
        await s.pool.fetchval("SELECT 1", timeout=2)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    for sh in s.shards:
        checks[f"shard_{sh.shard_id}"] = "ok" if sh.ready else "unavailable"
    if s.bus is not None:
        try:
            await s.bus.redis.ping()
            checks["redis"] = "ok" if s.bus.connected else "reconnecting"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["bus"] = "ok"
        redis = getattr(request.app.state, "redis", None)
        if redis is not None:  # rate limits and cache (REDIS_URL in embedded mode)
            try:
                await asyncio.wait_for(redis.ping(), 2)
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
    # A gateway whose database and Redis answer can serve (reads, other shards' markets):
    # in distributed mode a shard that is down makes it "degraded", not unready, so one
    # shard's outage does not take every gateway out of the load balancer. In embedded
    # mode the shards are this process: all must be up.
    essential = {
        k: v for k, v in checks.items() if not (s.bus is not None and k.startswith("shard_"))
    }
    ok = all(v == "ok" for v in essential.values())
    status = (
        "ready"
        if ok and all(v == "ok" for v in checks.values())
        else "degraded"
        if ok
        else "not_ready"
    )
    metrics.READY.set(1 if ok else 0)
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)


routes = [
    Route("/markets", list_markets, methods=["GET"]),
    Route("/markets/{ticker}", get_market, methods=["GET"]),
    Route("/markets/{ticker}/book", get_book, methods=["GET"]),
    Route("/markets/{ticker}/trades", get_trades, methods=["GET"]),
    Route("/markets/{ticker}/candles", get_candles, methods=["GET"]),
    Route("/orders", post_order, methods=["POST"]),
    Route("/orders", list_orders, methods=["GET"]),
    Route("/orders", delete_orders, methods=["DELETE"]),
    Route("/orders/{order_id}", get_order, methods=["GET"]),
    Route("/orders/{order_id}", delete_order, methods=["DELETE"]),
    Route("/fills", list_fills, methods=["GET"]),
    Route("/account", get_account, methods=["GET"]),
    Route("/admin/markets", admin_create_market, methods=["POST"]),
    Route("/admin/markets/{ticker}/halt", _lifecycle(HaltMarket), methods=["POST"]),
    Route("/admin/markets/{ticker}/open", _lifecycle(OpenMarket), methods=["POST"]),
    Route("/admin/markets/{ticker}/close", _lifecycle(CloseMarket), methods=["POST"]),
    Route("/admin/markets/{ticker}/resolve", _lifecycle(ResolveMarket), methods=["POST"]),
    Route("/admin/markets/{ticker}/move", admin_move_market, methods=["POST"]),
    Route("/admin/users/{user_id}/credit", admin_credit, methods=["POST"]),
]

ops_routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
]
