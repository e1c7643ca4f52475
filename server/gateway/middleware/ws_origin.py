"""WebSocket Origin check: a browser connection from an origin that is neither this host
nor in `LFG_CORS_ORIGINS` is refused before the handshake completes (close 1008 before
accept, which the server answers with HTTP 403). Clients that send no Origin (bots,
scripts) are not browsers and are let through: they authenticate with tokens, not
cookies, so there is nothing for a cross-site page to ride on besides the browser's."""

from collections.abc import Iterable
from urllib.parse import urlsplit

from loguru import logger
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send


def origin_allowed(headers: Headers, allowed: frozenset[str]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.strip().lower()
    if origin in allowed:
        return True
    host = headers.get("host")
    parts = urlsplit(origin)
    return (
        host is not None
        and parts.scheme in ("http", "https")
        and parts.netloc == host.strip().lower()
    )


class WebSocketOriginMiddleware:
    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(o.lower() for o in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            headers = Headers(scope=scope)
            if not origin_allowed(headers, self.allowed):
                logger.warning("refused a WebSocket from origin {!r}", headers.get("origin"))
                await send(
                    {"type": "websocket.close", "code": 1008, "reason": "origin not allowed"}
                )
                return
        await self.app(scope, receive, send)
