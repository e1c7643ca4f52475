"""Turn a committed batch of engine events into protocol messages, once (DESIGN.md §5).

The result (`BatchOut`) is what a shard publishes: in embedded mode straight to the
gateway's hub, in distributed mode over Redis. Public messages carry their market's seq.
"""

from collections.abc import Callable, Sequence

import msgspec

from engine import (
    BookChanged,
    CashCredited,
    CashDebited,
    Engine,
    MarketCreated,
    MarketStatusChanged,
    OrderUpdated,
    PayoutMade,
    PositionNetted,
    TradeExecuted,
)
from engine.commands import Command
from engine.events import Event
from server.schema import (
    BookDeltaMsg,
    Fill,
    FillMsg,
    MarketMsg,
    OrderMsg,
    TickerMsg,
    TradeMsg,
    order_view,
    trade_id,
)

#: Kinds of public message, for routing to channels.
BOOK, TRADE, STATUS = 0, 1, 2


class PublicMsg(msgspec.Struct, array_like=True):
    market: str
    kind: int
    msg: BookDeltaMsg | TradeMsg | MarketMsg


class PrivateMsg(msgspec.Struct, array_like=True):
    user: int
    channel: str  # "orders" | "fills"
    msg: OrderMsg | FillMsg


class BatchOut(msgspec.Struct):
    public: list[PublicMsg]
    tickers: list[TickerMsg]
    private: list[PrivateMsg]
    #: users whose cash or positions changed (their `account` subscribers get an update)
    account_users: list[int]


def own_price(outcome: str, yes_price: int) -> int:
    """A YES-terms price in cents of `outcome`."""
    return yes_price if outcome == "yes" else 100 - yes_price


def trade_sides(e: TradeExecuted) -> tuple[tuple[int, int, str, str, int, str], ...]:
    """Both parties of a trade: (user, order id, own side, outcome, fee, liquidity). The
    taker's own side: a YES-terms buy is buy YES or sell NO."""
    taker_side = "buy" if (e.taker_side == "buy") == (e.taker_outcome == "yes") else "sell"
    return (
        (e.maker_user, e.maker_order_id, e.maker_side, e.maker_outcome, e.maker_fee, "maker"),
        (e.taker_user, e.taker_order_id, taker_side, e.taker_outcome, e.taker_fee, "taker"),
    )


def render(
    engine: Engine,
    results: Sequence[tuple[Command, list[Event]]],
    wants: Callable[[int, str], bool] | None = None,
) -> BatchOut:
    """Messages for a batch; call right after commit, while the engine is at that state.

    `wants(user, channel)` says whether anyone listens to a user's private channel; a
    private message nobody would receive is not built (None: build all, as a shard
    publishing to gateways it cannot see must)."""
    public: list[PublicMsg] = []
    private: list[PrivateMsg] = []
    users: set[int] = set()
    touched: dict[str, bool] = {}
    for _cmd, evs in results:
        for e in evs:
            t = type(e)
            if t is BookChanged:
                public.append(
                    PublicMsg(
                        e.market,  # type: ignore[attr-defined]
                        BOOK,
                        BookDeltaMsg(
                            market=e.market,  # type: ignore[attr-defined]
                            seq=e.seq,  # type: ignore[attr-defined]
                            side=e.side,  # type: ignore[attr-defined]
                            price=e.price,  # type: ignore[attr-defined]
                            qty=e.qty,  # type: ignore[attr-defined]
                        ),
                    )
                )
                touched[e.market] = True  # type: ignore[attr-defined]
            elif t is OrderUpdated:
                o = e.order  # type: ignore[attr-defined]
                if wants is None or wants(o.user, "orders"):
                    private.append(PrivateMsg(o.user, "orders", OrderMsg(order=order_view(o))))
                users.add(o.user)
            elif t is TradeExecuted:
                _trade(e, public, private, wants)  # type: ignore[arg-type]
                users.add(e.maker_user)  # type: ignore[attr-defined]
                users.add(e.taker_user)  # type: ignore[attr-defined]
                touched[e.market] = True  # type: ignore[attr-defined]
            elif t is MarketStatusChanged or t is MarketCreated:
                status = e.status if t is MarketStatusChanged else "open"  # type: ignore[attr-defined]
                result = e.result if t is MarketStatusChanged else None  # type: ignore[attr-defined]
                public.append(
                    PublicMsg(
                        e.market,  # type: ignore[attr-defined]
                        STATUS,
                        MarketMsg(
                            market=e.market,  # type: ignore[attr-defined]
                            seq=e.seq,  # type: ignore[attr-defined]
                            status=status,
                            result=result,
                        ),
                    )
                )
                touched[e.market] = True  # type: ignore[attr-defined]
            elif t is PositionNetted or t is PayoutMade or t is CashCredited or t is CashDebited:
                users.add(e.user)  # type: ignore[attr-defined]
    tickers = [ticker(engine, m) for m in touched if m in engine.markets]
    return BatchOut(public, tickers, private, sorted(users))


def ticker(engine: Engine, market: str) -> TickerMsg:
    m = engine.markets[market]
    bids, asks = m.book.bids, m.book.asks
    return TickerMsg(
        market=market,
        seq=m.seq,
        last=m.last_price or None,
        best_bid=bids.best if bids.best != bids.empty else None,
        best_ask=asks.best if asks.best != asks.empty else None,
        volume=m.volume,
        open_interest=m.open_interest,
    )


def _trade(
    e: TradeExecuted,
    public: list[PublicMsg],
    private: list[PrivateMsg],
    wants: Callable[[int, str], bool] | None,
) -> None:
    tid = trade_id(e.market, e.trade_id)
    public.append(
        PublicMsg(
            e.market,
            TRADE,
            TradeMsg(
                market=e.market,
                seq=e.seq,
                trade_id=tid,
                price=e.price,
                qty=e.qty,
                taker_side=e.taker_side,
                ts=e.ts,
            ),
        )
    )
    for user, oid, side, outcome, fee, liq in trade_sides(e):
        if wants is not None and not wants(user, "fills"):
            continue
        fill = Fill(
            trade_id=tid,
            order_id=str(oid),
            market=e.market,
            side=side,
            outcome=outcome,
            price=own_price(outcome, e.price),
            qty=e.qty,
            fee=fee,
            liquidity=liq,  # type: ignore[arg-type]
            ts=e.ts,
        )
        private.append(PrivateMsg(user, "fills", FillMsg(fill=fill)))
