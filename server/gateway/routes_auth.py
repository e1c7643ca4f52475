"""REST routes for accounts and credentials (PROTOCOL.md, REST): register, login, refresh,
logout, profile, bot API keys, admin user lookup. Paths are relative to the `/api/v1`
mount. `require_user` / `require_admin` are the bearer checks every other route uses."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import metrics
from server.auth import AuthService, Principal, TokenPair, User
from server.errors import ApiError
from server.gateway.http import JSONResponse, decode_body, query_int
from server.logs import set_user
from server.ratelimit import RateLimits
from server.schema_auth import (
    ApiKeyList,
    CreateApiKey,
    LogIn,
    LogOut,
    Me,
    RefreshTokens,
    Registered,
    RegisterUser,
    Tokens,
    UserList,
    UserSummary,
)

#: Replies carrying credentials must not be stored by caches (RFC 6749 §5.1).
_NO_STORE = {"Cache-Control": "no-store"}


def auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth
    return service


def bearer_token(request: Request) -> str:
    """The token of `Authorization: Bearer <token>`, or `unauthorized`."""
    header = request.headers.get("authorization")
    if not header:
        raise ApiError("unauthorized", "missing Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError("unauthorized", "expected Authorization: Bearer <token>")
    return token


async def require_user(request: Request) -> Principal:
    """The authenticated caller (access token or API key), verified once per request."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = await auth_service(request).authenticate_token(bearer_token(request))
        request.state.principal = principal
    return principal


async def require_admin(request: Request) -> Principal:
    principal = await require_user(request)
    if not principal.is_admin:
        raise ApiError("forbidden", "admin only")
    return principal


def _tokens(pair: TokenPair) -> JSONResponse:
    body = Tokens(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        user_id=str(pair.user_id),
    )
    return JSONResponse(body, headers=_NO_STORE)


async def register(request: Request) -> Response:
    body = await decode_body(request, RegisterUser)
    user_id = await auth_service(request).register(body.email, body.password)
    metrics.USERS_REGISTERED.inc()
    return JSONResponse(Registered(user_id=str(user_id)), status_code=201)


async def login(request: Request) -> Response:
    """Failed logins are limited per account and per IP (server/ratelimit.py)."""
    body = await decode_body(request, LogIn)
    limits: RateLimits | None = getattr(request.app.state, "limits", None)
    ip = request.client.host if request.client else "unknown"
    if limits is not None:
        await limits.check_login(body.email, ip)
    try:
        pair = await auth_service(request).login(body.email, body.password)
    except ApiError as exc:
        if exc.code == "unauthorized":
            metrics.LOGINS.labels("failed").inc()
            if limits is not None:
                await limits.login_failed(body.email, ip)
        raise
    metrics.LOGINS.labels("ok").inc()
    set_user(pair.user_id)
    return _tokens(pair)


async def refresh(request: Request) -> Response:
    body = await decode_body(request, RefreshTokens)
    return _tokens(await auth_service(request).refresh(body.refresh_token))


async def logout(request: Request) -> Response:
    principal = await require_user(request)
    body = await decode_body(request, LogOut)
    await auth_service(request).logout(principal.user_id, body.refresh_token)
    return Response(status_code=204)


def _me(user: User) -> Me:
    return Me(
        user_id=str(user.user_id), email=user.email, role=user.role, created_ts=user.created_ts
    )


async def me(request: Request) -> Response:
    principal = await require_user(request)
    return JSONResponse(_me(await auth_service(request).get_user(principal.user_id)))


async def create_api_key(request: Request) -> Response:
    principal = await require_user(request)
    body = await decode_body(request, CreateApiKey)
    created = await auth_service(request).create_api_key(principal.user_id, body.name)
    return JSONResponse(created, status_code=201, headers=_NO_STORE)


async def list_api_keys(request: Request) -> Response:
    principal = await require_user(request)
    keys = await auth_service(request).list_api_keys(principal.user_id)
    return JSONResponse(ApiKeyList(api_keys=keys))


async def revoke_api_key(request: Request) -> Response:
    principal = await require_user(request)
    await auth_service(request).revoke_api_key(principal.user_id, request.path_params["key_id"])
    return Response(status_code=204)


async def admin_users(request: Request) -> Response:
    """`?email=` (exact, case-insensitive), `limit` (≤ 500, default 100), `cursor`."""
    await require_admin(request)
    limit = query_int(request, "limit", 100, 1, 500)
    assert limit is not None
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and not (cursor.isascii() and cursor.isdigit() and len(cursor) < 19):
        raise ApiError("invalid_message", "cursor must be a next_cursor from a previous page")
    users, next_after = await auth_service(request).find_users(
        request.query_params.get("email") or None, limit, None if cursor is None else int(cursor)
    )
    return JSONResponse(
        UserList(
            users=[UserSummary(user_id=str(u.user_id), email=u.email, role=u.role) for u in users],
            next_cursor=None if next_after is None else str(next_after),
        )
    )


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/me", me, methods=["GET"]),
    Route("/me/api-keys", create_api_key, methods=["POST"]),
    Route("/me/api-keys", list_api_keys, methods=["GET"]),
    Route("/me/api-keys/{key_id}", revoke_api_key, methods=["DELETE"]),
    Route("/admin/users", admin_users, methods=["GET"]),
]
