"""Request context: a request id for every HTTP request and WebSocket connection, one
access log line and the HTTP metrics per request, and the `internal` reply for errors no
handler caught.

The request id is the client's `X-Request-ID` when well-formed (1-64 characters of
`A-Z a-z 0-9 . _ : -`), a new one otherwise; it is returned in the `X-Request-ID`
response header and carried by every log line written while the request is served
(`server.logs.REQUEST`). Metrics are labelled by route template (`/api/v1/orders/{order_id}`),
never by raw path; requests that match no route count as `unmatched`.
"""

import time
from typing import Any

from loguru import logger
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.gateway.http import error_response
from server.logs import REQUEST, RequestInfo, request_id_from

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Probes and scrapes: logged at DEBUG so that they do not drown the rest.
_QUIET = frozenset({"/health", "/ready", "/metrics"})


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _walk(routes: list[BaseRoute], scope: Scope, prefix: str) -> str | None:
    for r in routes:
        match, child = r.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(r, Mount):
            inner = _walk(r.routes, {**scope, **child}, prefix + r.path) if r.routes else None
            return inner or prefix + r.path_format
        return prefix + str(getattr(r, "path_format", ""))
    return None


def route_template(scope: Scope) -> str:
    """The template of the route that served (or would serve) this request."""
    route = scope.get("route")
    if route is not None and not isinstance(route, Mount):
        root: str = scope.get("root_path", "")
        prefix = root[len(scope.get("app_root_path", root)) :]
        return prefix + str(getattr(route, "path_format", ""))
    router = getattr(scope.get("app"), "router", None)
    if router is None:
        return "unmatched"
    return _walk(router.routes, dict(scope), "") or "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        info = RequestInfo(request_id_from(Headers(scope=scope).get("x-request-id")))
        token = REQUEST.set(info)
        try:
            if scope["type"] == "http":
                await self._http(scope, receive, send, info)
            else:
                logger.bind(ip=client_ip(scope)).debug("websocket connecting")
                try:
                    await self.app(scope, receive, send)
                finally:
                    REQUEST.set(info)  # the session set one per message
                    logger.debug("websocket closed")
        finally:
            REQUEST.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, info: RequestInfo) -> None:
        start = time.perf_counter()
        status = 0
        rid = info.request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = [*message.get("headers", ()), (b"x-request-id", rid)]
                message = {**message, "headers": headers}
            await send(message)

        method = scope["method"]
        path = scope["path"]
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            logger.opt(exception=exc).error("unhandled error on {} {}", method, path)
            if status:  # the response has started: nothing more can be sent
                raise
            await error_response("internal", "internal error")(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = route_template(scope)
            m = method if method in _METHODS else "OTHER"
            metrics.HTTP_REQUESTS.labels(m, route, str(status)).inc()
            metrics.HTTP_REQUEST_DURATION.labels(m, route).observe(elapsed)
            level = "DEBUG" if path in _QUIET else ("WARNING" if status >= 500 else "INFO")
            logger.bind(
                method=method,
                path=path,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                ip=client_ip(scope),
            ).log(level, "{} {} {}", method, path, status)
