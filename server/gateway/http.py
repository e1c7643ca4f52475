"""Small helpers every REST route uses: decode a body into a schema Struct, encode a reply,
turn errors into the protocol's error body."""

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from server.errors import ApiError

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
MAX_BODY = 64 * 1024


class JSONResponse(Response):
    """A JSON response encoded with msgspec (Structs, dicts, lists)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def error_response(code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    err = ApiError(code, message)
    return JSONResponse({"code": code, "message": message}, status_code=err.status, headers=headers)


def api_error_response(exc: ApiError) -> Response:
    return error_response(exc.code, exc.message, exc.headers)


def describe_validation_error(exc: msgspec.ValidationError | msgspec.DecodeError) -> str:
    return str(exc)


async def decode_body(request: Request, typ: type[T]) -> T:
    """The request's JSON body as `typ`, or `invalid_message` naming what is wrong."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError("invalid_message", f"body over {MAX_BODY} bytes")
    try:
        return msgspec.json.decode(body or b"{}", type=typ)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError("invalid_message", describe_validation_error(exc)) from None


#: Ids are PostgreSQL bigints.
MAX_ID = 2**63 - 1


def parse_id(raw: str, what: str) -> int:
    """A decimal id from a path or a message, or `invalid_message` (never a database error
    for an id out of bigint range)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > MAX_ID:
        raise ApiError("invalid_message", f"{what} must be a decimal integer below 2**63")
    return int(raw)


def query_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    """An integer query parameter within [lo, hi], or `invalid_message`."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ApiError("invalid_message", f"{name} must be an integer") from None
    if not lo <= v <= hi:
        raise ApiError("invalid_message", f"{name} must be {lo}..{hi}")
    return v
