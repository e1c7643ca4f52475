"""The error codes of PROTOCOL.md, their HTTP statuses, and the one exception that carries them.

A business rejection from the engine (`engine.Reject`) maps to the same code; anything
else that escapes a handler is a bug and becomes `internal`.
"""

from enum import StrEnum
from typing import Final


class ErrorCode(StrEnum):
    INVALID_MESSAGE = "invalid_message"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    MARKET_NOT_OPEN = "market_not_open"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INSUFFICIENT_POSITION = "insufficient_position"
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    FOK_UNFILLABLE = "fok_unfillable"
    TOO_MANY_OPEN_ORDERS = "too_many_open_orders"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


HTTP_STATUS: Final[dict[str, int]] = {
    "invalid_message": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
    "market_not_open": 409,
    "insufficient_funds": 409,
    "insufficient_position": 409,
    "post_only_would_cross": 409,
    "fok_unfillable": 409,
    "too_many_open_orders": 409,
    "timeout": 504,
    "unavailable": 503,
    "internal": 500,
}


class ApiError(Exception):
    """A request failed with one of the protocol's codes. Raise it anywhere in a handler."""

    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.headers = headers

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]
