"""The Starlette application, assembled in one place. Lifespan owns the pool and shards.

Shutdown order (Starlette/uvicorn): stop accepting (uvicorn), close WebSockets, let each
shard finish its batch in flight and answer what is queued `unavailable`, close the pool.
"""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from loguru import logger
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from server import metrics
from server.auth import AuthService
from server.cache import make_cache
from server.config import Settings
from server.db import create_pool, migrate
from server.errors import ApiError
from server.gateway import routes_api, routes_auth
from server.gateway.http import api_error_response, error_response
from server.gateway.middleware import build_middleware
from server.gateway.openapi import openapi_json
from server.gateway.ws import ws_endpoint
from server.ratelimit import RateLimits, make_limiter
from server.services import Services

WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"

NO_UI_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>LFG</title></head>
<body><h1>LFG exchange</h1><p>The API is live at <code>/api/v1</code> and the WebSocket at
<code>/ws/v1</code>. The web UI is not built: install Node.js 20+ and run <code>make web</code>
(or <code>make run</code> again).</p></body></html>"""


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.code == "internal":
        logger.error("internal error on {} {}: {}", request.method, request.url.path, exc.message)
    return api_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "invalid_message",
        429: "rate_limited",
    }.get(exc.status_code, "invalid_message" if exc.status_code < 500 else "internal")
    resp = error_response(code, str(exc.detail))
    resp.status_code = exc.status_code
    return resp


async def _no_ui(request: Request) -> Response:
    return HTMLResponse(NO_UI_PAGE)


Hook = Callable[[Services], Awaitable[Any]]


def build_app(
    settings: Settings, dsn: str, on_started: Hook | None = None, *, distributed: bool = False
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await create_pool(dsn, settings.db_pool_min, settings.db_pool_max)
        async with pool.acquire() as conn:
            await migrate(conn)
        services = Services(settings, pool, dsn, distributed=distributed)
        auth = AuthService(pool, settings)
        services.auth = auth
        app.state.services = services
        app.state.auth = auth
        # Rate limits and the response cache live in Redis when there is one (shared by
        # gateways), in this process otherwise. Unhandled errors are answered by the
        # request-context middleware.
        redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
        app.state.redis = redis
        app.state.limits = RateLimits.from_settings(settings, make_limiter(redis))
        cache = app.state.cache = make_cache(settings, redis)
        services.hub.on_markets_changed = cache.invalidate_markets
        if settings.admin_email and settings.admin_password:
            await auth.ensure_admin(settings.admin_email, settings.admin_password)
            logger.info("admin account {} is ready", settings.admin_email)
        await services.start()
        metrics.READY.set(1)
        background = None
        if on_started is not None:
            background = await on_started(services)
        try:
            yield
        finally:
            metrics.READY.set(0)
            if background is not None:
                await background()
            await services.stop()
            await cache.close()
            await app.state.limits.limiter.close()
            if redis is not None:
                await redis.aclose()
            await pool.close()

    api = Mount(
        "/api/v1",
        routes=[
            *routes_auth.routes,
            *routes_api.routes,
            Route("/openapi.json", openapi_json, methods=["GET"]),
        ],
    )
    routes: list[Any] = [
        api,
        WebSocketRoute("/ws/v1", ws_endpoint),
        *routes_api.ops_routes,
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if (WEB_DIST / "index.html").exists():
        routes.append(Mount("/", app=StaticFiles(directory=WEB_DIST, html=True)))
    else:
        routes.append(Route("/", _no_ui, methods=["GET"]))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=build_middleware(settings),
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )


async def metrics_endpoint(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    services: Services | None = getattr(request.app.state, "services", None)
    if services is not None:
        pool = services.pool
        metrics.DB_POOL_SIZE.set(pool.get_max_size())
        metrics.DB_POOL_IN_USE.set(pool.get_size() - pool.get_idle_size())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
