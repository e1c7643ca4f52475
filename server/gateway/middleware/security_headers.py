"""Security headers on every HTTP response (errors and static files included), unless
the response already set them.

HSTS only over TLS: the request came as https (uvicorn sets the scheme from a trusted
proxy's `X-Forwarded-Proto`) or says `X-Forwarded-Proto: https` itself; browsers ignore
HSTS received over plain http anyway.
"""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The web UI loads only its own scripts and styles (plus inline style attributes), talks
#: to its own origin over HTTP and WebSocket, and shows data: images.
CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=63072000; includeSubDomains"
_ALWAYS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_TLS = (*_ALWAYS, (b"strict-transport-security", HSTS.encode()))


def is_tls(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    proto = Headers(scope=scope).get("x-forwarded-proto", "")
    return proto.split(",")[0].strip().lower() == "https"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _TLS if is_tls(scope) else _ALWAYS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                present = {k.lower() for k, _ in raw}
                raw += [h for h in extra if h[0] not in present]
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)
