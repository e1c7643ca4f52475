"""The order record. The engine mutates its own copy; events carry snapshots (`__copy__`)."""

from collections.abc import Callable

import msgspec

from engine.types import BPS


class Order(msgspec.Struct, gc=False):
    """One order, open or done.

    `price` is the limit in cents of the order's own outcome (for market orders: the worst
    price). `book_price` is where it sits in the one YES book: `price` for YES, `100 - price`
    for NO. `is_bid` is true for buy YES and sell NO. `hold` is the cash still held for a
    buy order; a sell order reserves `remaining_qty` contracts instead. `filled_cost` is the
    sum of own-outcome price x qty over its fills (avg price = filled_cost / filled_qty).
    `priority` orders the book: lower rests earlier (assigned when the order rests).
    """

    order_id: int
    user: int
    market: str
    side: str
    outcome: str
    type: str
    tif: str
    price: int
    qty: int
    filled_qty: int
    remaining_qty: int
    filled_cost: int
    fees: int
    status: str
    client_order_id: str | None
    created_ts: int
    updated_ts: int
    expires_at: int | None
    stop_price: int | None
    post_only: bool
    stp: str
    reason: str | None
    triggered: bool
    is_bid: bool
    book_price: int
    hold: int
    priority: int

    @property
    def is_open(self) -> bool:
        return self.status == "open" or self.status == "partially_filled"


#: A copy of an order as it is now, for an event (msgspec's C-level shallow copy).
snapshot: Callable[[Order], Order] = Order.__copy__  # type: ignore[attr-defined]


def hold_for(price: int, qty: int, fee_bps: int) -> int:
    """Cash a buy of `qty` at `price` must hold: the notional plus the most fee it can owe.

    Fees are rounded down per fill, and floor(a) + floor(b) <= floor(a + b), so the fees of
    any set of fills at or below `price` never exceed the fee on the whole notional.
    """
    notional = price * qty
    return notional + notional * fee_bps // BPS


def fee_for(price: int, qty: int, fee_bps: int) -> int:
    """The fee on one fill: basis points of the own-outcome notional, rounded down."""
    return price * qty * fee_bps // BPS
