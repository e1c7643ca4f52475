"""Commands: immutable, imperative requests to the engine. Time comes in on the command.

Every command is a tagged msgspec Struct, so the whole union decodes in one call (the
distributed mode ships them over Redis) and replay is exact.
"""

import msgspec

from engine.types import OrderType, Outcome, Resolution, SelfTradePrevention, Side, TimeInForce


class Command(msgspec.Struct, frozen=True, kw_only=True, tag=True, tag_field="cmd", gc=False):
    """Base of every command. `ts` is milliseconds since the epoch, stamped by the caller."""

    ts: int = 0


class CreateMarket(Command, frozen=True, kw_only=True):
    """Open a new market. Fees are basis points of the notional (own-outcome price x qty)."""

    market: str
    title: str = ""
    close_ts: int | None = None
    maker_fee_bps: int = 0
    taker_fee_bps: int = 0


class HaltMarket(Command, frozen=True, kw_only=True):
    """Stop trading in an open market; resting orders stay and may be cancelled."""

    market: str


class OpenMarket(Command, frozen=True, kw_only=True):
    """Resume trading in a halted market."""

    market: str


class CloseMarket(Command, frozen=True, kw_only=True):
    """Stop trading for good: every open order is cancelled and its hold released."""

    market: str


class ResolveMarket(Command, frozen=True, kw_only=True):
    """Pay out from escrow: 100 per winning contract, or 50 per contract when void."""

    market: str
    result: Resolution


class CreditCash(Command, frozen=True, kw_only=True):
    """Deposit (play money): `amount` cents into the user's available cash."""

    user: int
    amount: int


class DebitCash(Command, frozen=True, kw_only=True):
    """Withdraw `amount` cents from the user's available cash."""

    user: int
    amount: int


class PlaceOrder(Command, frozen=True, kw_only=True):
    """Place an order. `price` is in cents of the chosen outcome.

    For `market` orders `price` is the worst acceptable price (default 99 for buys, 1 for
    sells). Stop types need `stop_price`; `gtd` needs `expires_at`. `order_id` is assigned by
    the caller (unique, positive) so that replay is exact.
    """

    order_id: int
    user: int
    market: str
    side: Side
    outcome: Outcome
    qty: int
    type: OrderType = "limit"
    tif: TimeInForce = "gtc"
    price: int | None = None
    post_only: bool = False
    client_order_id: str | None = None
    expires_at: int | None = None
    stop_price: int | None = None
    stp: SelfTradePrevention = "cancel_newest"


class CancelOrder(Command, frozen=True, kw_only=True):
    """Cancel one open order, named by `order_id` or by the user's `client_order_id`."""

    user: int
    order_id: int | None = None
    client_order_id: str | None = None


class CancelAll(Command, frozen=True, kw_only=True):
    """Cancel every open order of the user, in one market or (market None) in all."""

    user: int
    market: str | None = None


class AmendOrder(Command, frozen=True, kw_only=True):
    """Reduce an open order to `qty` remaining contracts; it keeps its queue priority."""

    user: int
    order_id: int
    qty: int


class Tick(Command, frozen=True, kw_only=True):
    """Let time pass: expires GTD orders and closes markets whose time is up (at `ts`)."""


AnyCommand = (
    CreateMarket
    | HaltMarket
    | OpenMarket
    | CloseMarket
    | ResolveMarket
    | CreditCash
    | DebitCash
    | PlaceOrder
    | CancelOrder
    | CancelAll
    | AmendOrder
    | Tick
)
