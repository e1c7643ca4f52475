"""REST rate limits: each /api/v1 request takes a token of its class (`auth` for
/api/v1/auth/*, `rest_read` for GET/HEAD, `rest_write` otherwise) for its caller and its
IP (server/ratelimit.py); an empty bucket gets 429 `rate_limited` with Retry-After.
CORS preflights are not counted.

The caller is identified here, once: a valid bearer token (JWT or API key) makes the
request the user's, and the principal is kept for the handler's `require_user`; an
invalid one leaves the request anonymous (counted against the IP), and the handler
answers it 401 as usual.
"""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import ApiError
from server.gateway.http import error_response
from server.gateway.middleware.request_context import client_ip
from server.logs import set_user
from server.ratelimit import RateLimits, retry_after

API_PREFIX = "/api/v1/"
AUTH_PREFIX = "/api/v1/auth/"


def limit_class(method: str, path: str) -> str:
    if path.startswith(AUTH_PREFIX):
        return "auth"
    return "rest_read" if method in ("GET", "HEAD") else "rest_write"


async def identify(scope: Scope) -> int | None:
    """The user id of the request's valid bearer token, or None."""
    header = Headers(scope=scope).get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        principal = await scope["app"].state.auth.authenticate_token(token)
    except ApiError:
        return None
    scope.setdefault("state", {})["principal"] = principal
    set_user(principal.user_id)
    user_id: int = principal.user_id
    return user_id


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or not scope["path"].startswith(API_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        limits: RateLimits | None = getattr(scope["app"].state, "limits", None)
        if limits is None:
            await self.app(scope, receive, send)
            return
        cls = limit_class(scope["method"], scope["path"])
        user_id = None if cls == "auth" else await identify(scope)
        wait = await limits.check(cls, user_id, client_ip(scope))
        if wait:
            after = retry_after(wait)
            resp = error_response(
                "rate_limited",
                f"rate limit exceeded ({cls}); retry in {after} s",
                headers={"Retry-After": after},
            )
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)
