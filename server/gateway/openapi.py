"""`/api/v1/openapi.json`, generated from the same Structs the server validates with."""

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from server import schema as s
from server import schema_auth as sa

Op = tuple[str, str, str, Any, Any, str]  # method, path, summary, body, reply, who

OPERATIONS: list[Op] = [
    (
        "post",
        "/auth/register",
        "Register (password: 10+ chars, upper, lower, digit, special)",
        sa.RegisterUser,
        sa.Registered,
        "anyone",
    ),
    ("post", "/auth/login", "Log in: access and refresh tokens", sa.LogIn, sa.Tokens, "anyone"),
    (
        "post",
        "/auth/refresh",
        "Rotate a refresh token (reuse revokes its family)",
        sa.RefreshTokens,
        sa.Tokens,
        "anyone",
    ),
    (
        "post",
        "/auth/logout",
        "Revoke the refresh token's family (or all sessions)",
        sa.LogOut,
        None,
        "user",
    ),
    ("get", "/me", "Profile", None, sa.Me, "user"),
    (
        "post",
        "/me/api-keys",
        "Create a bot API key (secret shown once)",
        sa.CreateApiKey,
        sa.ApiKeyCreated,
        "user",
    ),
    ("get", "/me/api-keys", "List API keys", None, sa.ApiKeyList, "user"),
    ("delete", "/me/api-keys/{key_id}", "Revoke an API key", None, None, "user"),
    ("get", "/markets", "Markets (filter: status)", None, s.MarketsReply, "anyone"),
    ("get", "/markets/{ticker}", "One market", None, s.MarketView, "anyone"),
    (
        "get",
        "/markets/{ticker}/book",
        "L2 book snapshot with seq (depth)",
        None,
        s.BookView,
        "anyone",
    ),
    ("get", "/markets/{ticker}/trades", "Trades, newest first", None, s.TradesReply, "anyone"),
    (
        "get",
        "/markets/{ticker}/candles",
        "OHLCV candles (interval 1m|5m|1h|1d, start, end)",
        None,
        s.CandlesReply,
        "anyone",
    ),
    ("post", "/orders", "Place an order", s.PlaceOrderBody, s.OrderReply, "user"),
    ("get", "/orders", "My orders (status, market)", None, s.OrdersReply, "user"),
    ("delete", "/orders", "Cancel all my orders (market)", None, s.CancelledAllReply, "user"),
    ("get", "/orders/{order_id}", "One of my orders", None, s.OrderReply, "user"),
    ("delete", "/orders/{order_id}", "Cancel an order", None, s.OrderReply, "user"),
    ("get", "/fills", "My fills (market)", None, s.FillsReply, "user"),
    ("get", "/account", "Balances and positions", None, s.AccountView, "user"),
    ("post", "/admin/markets", "Create a market", s.CreateMarketBody, s.MarketView, "admin"),
    ("post", "/admin/markets/{ticker}/halt", "Halt trading", None, s.MarketView, "admin"),
    ("post", "/admin/markets/{ticker}/open", "Resume trading", None, s.MarketView, "admin"),
    (
        "post",
        "/admin/markets/{ticker}/close",
        "Close (cancels open orders)",
        None,
        s.MarketView,
        "admin",
    ),
    (
        "post",
        "/admin/markets/{ticker}/resolve",
        "Resolve yes|no|void (pays from escrow)",
        s.ResolveBody,
        s.MarketView,
        "admin",
    ),
    (
        "post",
        "/admin/users/{user_id}/credit",
        "Credit play money (cents)",
        s.CreditBody,
        s.CreditReply,
        "admin",
    ),
    ("get", "/admin/users", "Find users by email", None, sa.UserList, "admin"),
]


#: The operations that answer 201 Created.
CREATED = {
    ("post", "/auth/register"),
    ("post", "/me/api-keys"),
    ("post", "/orders"),
    ("post", "/admin/markets"),
}


def _status(method: str, path: str, reply: Any) -> str:
    if reply is None:
        return "204"
    return "201" if (method, path) in CREATED else "200"


def build() -> dict[str, Any]:
    types = {t for op in OPERATIONS for t in (op[3], op[4]) if t is not None}
    types |= {s.ErrorBody, s.ClientMessage}
    ordered = sorted(types, key=lambda t: getattr(t, "__name__", str(t)))
    schemas, components = msgspec.json.schema_components(
        ordered, ref_template="#/components/schemas/{name}"
    )
    ref = dict(zip(ordered, schemas, strict=True))
    paths: dict[str, Any] = {}
    error = {"content": {"application/json": {"schema": ref[s.ErrorBody]}}}
    for method, path, summary, body, reply, who in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {
                _status(method, path, reply): (
                    {"description": "OK", "content": {"application/json": {"schema": ref[reply]}}}
                    if reply is not None
                    else {"description": "Done"}
                ),
                "default": {"description": "Error (see PROTOCOL.md codes)", **error},
            },
        }
        if body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref[body]}},
            }
        if who != "anyone":
            op["security"] = [{"bearer": []}]
            op["description"] = f"Needs a {who} token (access JWT or API key)."
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        paths.setdefault("/api/v1" + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LFG exchange API",
            "version": "1",
            "description": "See docs/PROTOCOL.md; WebSocket messages at /ws/v1 are the ClientMessage schema.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


_SPEC: bytes | None = None


async def openapi_json(request: Request) -> Response:
    global _SPEC
    if _SPEC is None:
        _SPEC = msgspec.json.encode(build())
    return Response(_SPEC, media_type="application/json")
