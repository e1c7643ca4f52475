"""The gateway's ASGI middleware, one per module, assembled here (outermost first):

1. `SecurityHeadersMiddleware` — CSP, HSTS (TLS only), X-Frame-Options, nosniff,
   Referrer-Policy on every HTTP response, including the ones produced below;
2. `RequestContextMiddleware` — request id, access log line, HTTP metrics, `internal`
   reply for uncaught errors;
3. Starlette's `CORSMiddleware` — the `LFG_CORS_ORIGINS` allow-list (empty: same-origin
   only; preflights from other origins get 400 and no CORS headers);
4. `BodySizeLimitMiddleware` — 413 over `LFG_MAX_BODY_BYTES`;
5. `WebSocketOriginMiddleware` — WebSocket Origin against this host and the allow-list;
6. `RateLimitMiddleware` — REST token buckets (429 + Retry-After).
"""

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from server.config import Settings, cors_origins
from server.gateway.middleware.body_limit import BodySizeLimitMiddleware
from server.gateway.middleware.rate_limit import RateLimitMiddleware
from server.gateway.middleware.request_context import RequestContextMiddleware
from server.gateway.middleware.security_headers import SecurityHeadersMiddleware
from server.gateway.middleware.ws_origin import WebSocketOriginMiddleware


def build_middleware(settings: Settings) -> list[Middleware]:
    origins = cors_origins(settings)
    return [
        Middleware(SecurityHeadersMiddleware),
        Middleware(RequestContextMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID", "X-Cache"],
            max_age=600,
        ),
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(WebSocketOriginMiddleware, allowed=origins),
        Middleware(RateLimitMiddleware),
    ]
