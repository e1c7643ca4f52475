"""Orders: `Order`, the immutable record events carry, and `OrderState`, the engine's own
mutable working copy of an open order (a C struct when the engine is compiled)."""

from typing import Final, TypeVar

import msgspec

from engine.accounts import Account, Position
from engine.types import BPS


class Order(msgspec.Struct, frozen=True, gc=False):
    """One order, open or done, as of one moment: what events carry and what is stored.

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


_O = TypeVar("_O", bound=Order)

#: The fields of `Order` (and of `OrderState`), in order.
FIELDS: Final = Order.__struct_fields__


class OrderState:
    """The engine's working copy of an order: the fields of `Order`, mutable, plus its place
    in its price level's queue (`prev`, `next`; None at the ends or when not resting) and
    its owner's `Account` and `Position` in its market (so that a fill looks nothing up).

    Compiled, every integer field is a C integer (orders.pxd); `snapshot` makes the `Order`
    an event carries.
    """

    __slots__ = (*FIELDS, "acct", "immediate", "is_buy", "is_yes", "mine", "next", "pos", "prev")

    def __init__(
        self,
        order_id: int,
        user: int,
        market: str,
        side: str,
        outcome: str,
        type: str,
        tif: str,
        price: int,
        qty: int,
        filled_qty: int,
        remaining_qty: int,
        filled_cost: int,
        fees: int,
        status: str,
        client_order_id: str | None,
        created_ts: int,
        updated_ts: int,
        expires_at: int | None,
        stop_price: int | None,
        post_only: bool,
        stp: str,
        reason: str | None,
        triggered: bool,
        is_bid: bool,
        book_price: int,
        hold: int,
        priority: int,
    ) -> None:
        self.order_id = order_id
        self.user = user
        self.market = market
        self.side = side
        self.outcome = outcome
        self.type = type
        self.tif = tif
        self.price = price
        self.qty = qty
        self.filled_qty = filled_qty
        self.remaining_qty = remaining_qty
        self.filled_cost = filled_cost
        self.fees = fees
        self.status = status
        self.client_order_id = client_order_id
        self.created_ts = created_ts
        self.updated_ts = updated_ts
        self.expires_at = expires_at
        self.stop_price = stop_price
        self.post_only = post_only
        self.stp = stp
        self.reason = reason
        self.triggered = triggered
        self.is_bid = is_bid
        self.book_price = book_price
        self.hold = hold
        self.priority = priority
        # Derived flags, so that the hot paths compare no strings.
        self.is_buy = side == "buy"
        self.is_yes = outcome == "yes"
        #: ioc or fok: never rests
        self.immediate = tif == "ioc" or tif == "fok"
        self.prev: OrderState | None = None
        self.next: OrderState | None = None
        #: its owner's account and position in its market, once the engine knows them
        self.acct: Account | None = None
        self.pos: Position | None = None
        #: its owner's open orders (`Engine.user_orders[user]`), once registered there
        self.mine: dict[int, OrderState] | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open" or self.status == "partially_filled"

    def snapshot(self) -> Order:
        """The order as it is now."""
        return self.snapshot_as(Order)

    def snapshot_as(self, cls: type[_O]) -> _O:
        """The order as it is now, as an `Order` or an event that is one (`OrderUpdated`)."""
        return cls(
            self.order_id,
            self.user,
            self.market,
            self.side,
            self.outcome,
            self.type,
            self.tif,
            self.price,
            self.qty,
            self.filled_qty,
            self.remaining_qty,
            self.filled_cost,
            self.fees,
            self.status,
            self.client_order_id,
            self.created_ts,
            self.updated_ts,
            self.expires_at,
            self.stop_price,
            self.post_only,
            self.stp,
            self.reason,
            self.triggered,
            self.is_bid,
            self.book_price,
            self.hold,
            self.priority,
        )

    def __repr__(self) -> str:
        return f"OrderState({self.snapshot()!r})"


def order_state(o: Order) -> OrderState:
    """A working copy of the order `o` (recovery puts back open orders this way)."""
    return OrderState(*msgspec.structs.astuple(o))


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
