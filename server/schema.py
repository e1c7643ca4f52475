"""The wire schema: one module of msgspec Structs for WebSocket and REST (PROTOCOL.md).

Client WebSocket messages are a tagged union on `op`, decoded in one call; unknown fields
and out-of-range values are rejected by the decoder (`invalid_message`). Server messages
are tagged on `type`. REST bodies reuse the same Structs. `/api/v1/openapi.json` is
generated from these types.
"""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from engine import Order as EngineOrder
from engine.types import MAX_PRICE, MIN_PRICE

Price = Annotated[int, Meta(ge=MIN_PRICE, le=MAX_PRICE)]
Qty = Annotated[int, Meta(ge=1, le=1_000_000)]
RequestId = Annotated[int, Meta(ge=0, le=2**53)]
Ticker = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9._-]*$")]
ClientOrderId = Annotated[str, Meta(min_length=1, max_length=64)]
Channel = Annotated[str, Meta(min_length=1, max_length=80)]
Side = Literal["buy", "sell"]
Outcome = Literal["yes", "no"]
OrderType = Literal["limit", "market", "stop", "stop_limit"]
Tif = Literal["gtc", "gtd", "ioc", "fok"]
Stp = Literal["cancel_newest", "cancel_oldest", "cancel_both"]
Ts = Annotated[int, Meta(ge=0, le=2**53)]
IdStr = Annotated[str, Meta(min_length=1, max_length=32, pattern=r"^[0-9]+$")]


class _Op(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, kw_only=True):
    id: RequestId | None = None


class AuthOp(_Op, tag="auth", kw_only=True):
    token: Annotated[str, Meta(min_length=1, max_length=4096)]


class SubscribeOp(_Op, tag="subscribe", kw_only=True):
    channels: Annotated[list[Channel], Meta(min_length=1, max_length=100)]


class UnsubscribeOp(_Op, tag="unsubscribe", kw_only=True):
    channels: Annotated[list[Channel], Meta(min_length=1, max_length=100)]


class OrderFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The terms of a new order; `price` is in cents of the chosen outcome."""

    market: Ticker
    side: Side
    outcome: Outcome
    qty: Qty
    type: OrderType = "limit"
    tif: Tif = "gtc"
    price: Price | None = None
    post_only: bool = False
    client_order_id: ClientOrderId | None = None
    expires_at: Ts | None = None
    stop_price: Price | None = None
    stp: Stp = "cancel_newest"


class PlaceOp(OrderFields, tag_field="op", tag="place", kw_only=True):
    id: RequestId | None = None


class CancelOp(_Op, tag="cancel", kw_only=True):
    order_id: IdStr | None = None
    client_order_id: ClientOrderId | None = None


class CancelAllOp(_Op, tag="cancel_all", kw_only=True):
    market: Ticker | None = None


class AmendOp(_Op, tag="amend", kw_only=True):
    order_id: IdStr
    qty: Qty


class PingOp(_Op, tag="ping", kw_only=True):
    pass


ClientMessage = (
    AuthOp | SubscribeOp | UnsubscribeOp | PlaceOp | CancelOp | CancelAllOp | AmendOp | PingOp
)


# ---------------------------------------------------------------------------- objects


class Order(msgspec.Struct, kw_only=True):
    """The Order object of PROTOCOL.md (plus `post_only`, `stp`, `stop_price`,
    `expires_at`, `fees`, `filled_cost` and `reason`: why it is done, if it is)."""

    order_id: str
    client_order_id: str | None
    market: str
    side: str
    outcome: str
    type: str
    tif: str
    price: int
    qty: int
    filled_qty: int
    remaining_qty: int
    avg_price: float | None
    filled_cost: int
    fees: int
    status: str
    reason: str | None
    post_only: bool
    stp: str
    stop_price: int | None
    expires_at: int | None
    created_ts: int
    updated_ts: int


def order_view(o: EngineOrder) -> Order:
    """The protocol's view of an engine order. `avg_price` is display only (cents, 2 dp);
    `filled_cost` is the exact integer."""
    return Order(
        order_id=str(o.order_id),
        client_order_id=o.client_order_id,
        market=o.market,
        side=o.side,
        outcome=o.outcome,
        type=o.type,
        tif=o.tif,
        price=o.price,
        qty=o.qty,
        filled_qty=o.filled_qty,
        remaining_qty=o.remaining_qty,
        avg_price=round(o.filled_cost / o.filled_qty, 2) if o.filled_qty else None,
        filled_cost=o.filled_cost,
        fees=o.fees,
        status=o.status,
        reason=str(o.reason) if o.reason is not None else None,
        post_only=o.post_only,
        stp=o.stp,
        stop_price=o.stop_price,
        expires_at=o.expires_at,
        created_ts=o.created_ts,
        updated_ts=o.updated_ts,
    )


class Fill(msgspec.Struct, kw_only=True):
    trade_id: str
    order_id: str
    market: str
    side: str
    outcome: str
    price: int
    qty: int
    fee: int
    liquidity: Literal["maker", "taker"]
    ts: int


class PositionView(msgspec.Struct, kw_only=True):
    market: str
    yes: int
    no: int


class AccountView(msgspec.Struct, kw_only=True):
    available: int
    held: int
    positions: list[PositionView]


class MarketView(msgspec.Struct, kw_only=True):
    ticker: str
    title: str
    rules: str
    status: str
    result: str | None
    close_ts: int | None
    maker_fee_bps: int
    taker_fee_bps: int
    best_bid: int | None
    best_ask: int | None
    last: int | None
    volume: int
    volume_24h: int
    open_interest: int
    seq: int
    created_ts: int


class TradeView(msgspec.Struct, kw_only=True):
    trade_id: str
    market: str
    price: int
    qty: int
    taker_side: str
    ts: int


class Candle(msgspec.Struct, kw_only=True):
    ts: int
    open: int
    high: int
    low: int
    close: int
    volume: int


def trade_id(market: str, trade_no: int) -> str:
    """Trade ids are `<ticker>-<n>`: n counts the market's trades from 1."""
    return f"{market}-{trade_no}"


# ---------------------------------------------------------------------------- server messages


class _Msg(msgspec.Struct, tag_field="type", kw_only=True):
    pass


class ErrorMsg(_Msg, tag="error", kw_only=True):
    code: str
    message: str
    id: int | None = None


class AuthedMsg(_Msg, tag="authed", kw_only=True):
    id: int | None
    user_id: str


class SubscribedMsg(_Msg, tag="subscribed", kw_only=True):
    id: int | None
    channels: list[str]


class UnsubscribedMsg(_Msg, tag="unsubscribed", kw_only=True):
    id: int | None
    channels: list[str]


class PlacedMsg(_Msg, tag="placed", kw_only=True):
    id: int | None
    order: Order


class CancelledMsg(_Msg, tag="cancelled", kw_only=True):
    id: int | None
    order: Order


class CancelledAllMsg(_Msg, tag="cancelled_all", kw_only=True):
    id: int | None
    count: int


class AmendedMsg(_Msg, tag="amended", kw_only=True):
    id: int | None
    order: Order


class PongMsg(_Msg, tag="pong", kw_only=True):
    id: int | None
    ts: int


class BookSnapshotMsg(_Msg, tag="book_snapshot", kw_only=True):
    market: str
    seq: int
    bids: list[list[int]]
    asks: list[list[int]]


class BookDeltaMsg(_Msg, tag="book_delta", kw_only=True):
    market: str
    seq: int
    side: str
    price: int
    qty: int


class TradeMsg(_Msg, tag="trade", kw_only=True):
    market: str
    seq: int
    trade_id: str
    price: int
    qty: int
    taker_side: str
    ts: int


class TickerMsg(_Msg, tag="ticker", kw_only=True):
    market: str
    seq: int
    last: int | None
    best_bid: int | None
    best_ask: int | None
    volume: int
    open_interest: int


class MarketMsg(_Msg, tag="market", kw_only=True):
    market: str
    seq: int
    status: str
    result: str | None = None


class HeartbeatMsg(_Msg, tag="heartbeat", kw_only=True):
    ts: int


class OrderMsg(_Msg, tag="order", kw_only=True):
    order: Order


class FillMsg(_Msg, tag="fill", kw_only=True):
    fill: Fill


class AccountMsg(_Msg, tag="account", kw_only=True):
    available: int
    held: int
    positions: list[PositionView]


# ---------------------------------------------------------------------------- REST bodies


class PlaceOrderBody(OrderFields, kw_only=True):
    pass


class CreateMarketBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ticker: Ticker
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    rules: Annotated[str, Meta(max_length=10_000)] = ""
    close_ts: Ts | None = None
    fee_bps: Annotated[int, Meta(ge=0, le=1000)] | None = None
    maker_fee_bps: Annotated[int, Meta(ge=0, le=1000)] | None = None
    taker_fee_bps: Annotated[int, Meta(ge=0, le=1000)] | None = None


class ResolveBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    result: Literal["yes", "no", "void"]


class MoveBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    shard_id: Annotated[int, Meta(ge=0, le=63)]


class CreditBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount: Annotated[int, Meta(ge=1, le=10**12)]


class CreditReply(msgspec.Struct, kw_only=True):
    """`POST /admin/users/{id}/credit`: the user's cash after the deposit."""

    user_id: str
    available: int
    held: int


class OrderReply(msgspec.Struct, kw_only=True):
    order: Order


class ListReply(msgspec.Struct, kw_only=True):
    next_cursor: str | None = None


class OrdersReply(ListReply, kw_only=True):
    orders: list[Order]


class FillsReply(ListReply, kw_only=True):
    fills: list[Fill]


class TradesReply(ListReply, kw_only=True):
    trades: list[TradeView]


class MarketsReply(ListReply, kw_only=True):
    markets: list[MarketView]


class BookView(msgspec.Struct, kw_only=True):
    """`GET /markets/{ticker}/book`: the `book_snapshot` message without `type`."""

    market: str
    seq: int
    bids: list[list[int]]
    asks: list[list[int]]


class CandlesReply(msgspec.Struct, kw_only=True):
    candles: list[Candle]


class CancelledAllReply(msgspec.Struct, kw_only=True):
    count: int


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str
    message: str
