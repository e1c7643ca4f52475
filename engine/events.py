"""Events: what happened, in past tense. The engine's only output.

Public market events (`BookChanged`, `TradeExecuted`, `MarketStatusChanged`) carry the
market's `seq`, +1 per event with no gaps. Private and bookkeeping events carry none.
"""

from typing import Self

import msgspec

from engine.orders import Order
from engine.types import Reject


class Event(msgspec.Struct, frozen=True, tag=True, tag_field="event", gc=False):
    """Base of every event."""


class CommandRejected(Event, frozen=True):
    """The command was refused and changed nothing."""

    reason: Reject
    message: str


class MarketCreated(Event, frozen=True):
    market: str
    seq: int
    title: str
    close_ts: int | None
    maker_fee_bps: int
    taker_fee_bps: int
    ts: int


class MarketStatusChanged(Event, frozen=True):
    market: str
    seq: int
    status: str
    result: str | None
    ts: int


class OrderEvent(Order, Event, frozen=True):
    """An event that is an order: the order's state as of the command, every field of
    `Order` (so the event is one object, not an event holding a copy)."""

    @property
    def order(self) -> Order:
        """The order (this event itself)."""
        return self

    @classmethod
    def of(cls, order: Order) -> Self:
        """The event carrying `order`'s fields."""
        return cls(*msgspec.structs.astuple(order))


class OrderUpdated(OrderEvent, frozen=True):
    """The order's state after the command (accepted, filled, cancelled, reduced, ...)."""


class OrderDeduplicated(OrderEvent, frozen=True):
    """A place repeated an open order's `client_order_id` with the same terms: no new order."""


class BookChanged(Event, frozen=True):
    """The level's new total quantity in YES cents; 0 removes the level."""

    market: str
    seq: int
    side: str
    price: int
    qty: int


class TradeExecuted(Event, frozen=True):
    """A match. `price` in YES cents at the maker's price; `taker_side` in YES terms.

    `kind` is mint (two buyers create a pair), burn (two sellers retire one) or transfer.
    """

    market: str
    seq: int
    trade_id: int
    price: int
    qty: int
    taker_side: str
    kind: str
    ts: int
    maker_order_id: int
    maker_user: int
    maker_side: str
    maker_outcome: str
    maker_fee: int
    taker_order_id: int
    taker_user: int
    taker_outcome: str
    taker_fee: int


class PositionNetted(Event, frozen=True):
    """A user held YES and NO of one market: `pairs` pairs were paid 100 each from escrow."""

    market: str
    user: int
    pairs: int


class PayoutMade(Event, frozen=True):
    """Resolution paid `amount` cents for the user's `yes` and `no` contracts."""

    market: str
    user: int
    yes: int
    no: int
    amount: int


class OrdersCancelled(Event, frozen=True):
    """Summary of a cancel-all: how many orders it cancelled."""

    user: int
    market: str | None
    count: int


class CashCredited(Event, frozen=True):
    user: int
    amount: int


class CashDebited(Event, frozen=True):
    user: int
    amount: int


AnyEvent = (
    CommandRejected
    | MarketCreated
    | MarketStatusChanged
    | OrderUpdated
    | OrderDeduplicated
    | BookChanged
    | TradeExecuted
    | PositionNetted
    | PayoutMade
    | OrdersCancelled
    | CashCredited
    | CashDebited
)
