"""Vocabulary shared by commands, events, the server and the protocol.

The same word means the same thing in code, SQL, protocol and UI (STYLE.md), so these are
plain strings: exactly the values that go over the wire.
"""

from enum import StrEnum
from typing import Final, Literal

Side = Literal["buy", "sell"]
Outcome = Literal["yes", "no"]
OrderType = Literal["limit", "market", "stop", "stop_limit"]
TimeInForce = Literal["gtc", "gtd", "ioc", "fok"]
SelfTradePrevention = Literal["cancel_newest", "cancel_oldest", "cancel_both"]
OrderStatus = Literal["open", "partially_filled", "filled", "cancelled", "expired", "rejected"]
BookSideName = Literal["bid", "ask"]
MarketStatus = Literal["open", "halted", "closed", "resolved"]
Resolution = Literal["yes", "no", "void"]
Liquidity = Literal["maker", "taker"]

BUY: Final = "buy"
SELL: Final = "sell"
YES: Final = "yes"
NO: Final = "no"

#: A winning contract pays this many cents; a YES/NO pair is always worth exactly this.
PAYOUT: Final = 100
#: A void market pays this much per contract of either outcome.
VOID_PAYOUT: Final = 50
MIN_PRICE: Final = 1
MAX_PRICE: Final = 99
BPS: Final = 10_000


class Reject(StrEnum):
    """Why a command was refused. Values are the error codes of PROTOCOL.md."""

    INVALID = "invalid_message"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    MARKET_NOT_OPEN = "market_not_open"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INSUFFICIENT_POSITION = "insufficient_position"
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    FOK_UNFILLABLE = "fok_unfillable"
    TOO_MANY_OPEN_ORDERS = "too_many_open_orders"


class DoneReason(StrEnum):
    """Why an order left the book (or never rested), carried on the order as `reason`."""

    FILLED = "filled"
    USER = "user"
    IOC = "ioc"
    SELF_TRADE = "self_trade"
    EXPIRED = "expired"
    MARKET_CLOSED = "market_closed"
    NETTED = "position_netted"
