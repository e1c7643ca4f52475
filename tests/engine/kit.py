"""Small builders for the rule tests: an engine with a market and funded users, terse
order commands, and the exact `Order` snapshot an event should carry."""

from typing import Any

from invariants import SeqTracker, books, check_invariants

from engine import (
    CreateMarket,
    CreditCash,
    Engine,
    EngineConfig,
    Event,
    Order,
    PlaceOrder,
)
from engine.orders import hold_for

M = "M"


class Exchange:
    """An engine checked after every command (invariants, gapless seq)."""

    def __init__(
        self,
        *,
        cash: int = 10_000,
        users: tuple[int, ...] = (1, 2, 3),
        maker_fee_bps: int = 0,
        taker_fee_bps: int = 0,
        config: EngineConfig | None = None,
        close_ts: int | None = None,
    ) -> None:
        self.engine = Engine(config)
        self.seqs = SeqTracker()
        self.apply(
            CreateMarket(
                market=M,
                title="Will it?",
                maker_fee_bps=maker_fee_bps,
                taker_fee_bps=taker_fee_bps,
                close_ts=close_ts,
            )
        )
        for u in users:
            self.apply(CreditCash(user=u, amount=cash))

    def apply(self, cmd: Any) -> list[Event]:
        before = books(self.engine)
        evs = self.engine.apply(cmd)
        self.seqs.feed(evs)
        check_invariants(self.engine, evs, before)
        return evs

    @property
    def seq(self) -> int:
        return self.engine.markets[M].seq

    def cash(self, user: int) -> tuple[int, int]:
        a = self.engine.accounts[user]
        return a.available, a.held

    def pos(self, user: int, market: str = M) -> tuple[int, int]:
        p = self.engine.markets[market].positions.get(user)
        return (p.yes, p.no) if p else (0, 0)

    def book(self, market: str = M) -> tuple[list[list[int]], list[list[int]]]:
        _, bids, asks = self.engine.book_snapshot(market)
        return bids, asks

    @property
    def escrow(self) -> int:
        return self.engine.markets[M].escrow

    def give(self, user: int, outcome: str, qty: int, *, via: int = 99, price: int = 50) -> None:
        """Mint `qty` contracts of `outcome` for `user` against counterparty `via`."""
        other = "no" if outcome == "yes" else "yes"
        for u in (user, via):
            if u not in self.engine.accounts:
                self.apply(CreditCash(user=u, amount=100 * qty))
        oid = 9_000_000 + self.engine.markets[M].trade_no * 2
        self.apply(place(oid, via, "buy", other, qty, 100 - price))
        self.apply(place(oid + 1, user, "buy", outcome, qty, price))
        assert self.pos(user)[0 if outcome == "yes" else 1] >= qty


def place(
    order_id: int,
    user: int,
    side: str,
    outcome: str,
    qty: int,
    price: int | None = None,
    **kw: Any,
) -> PlaceOrder:
    """`PlaceOrder` in market M; keyword arguments set the other fields."""
    kw.setdefault("market", M)
    return PlaceOrder(
        order_id=order_id,
        user=user,
        side=side,  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        qty=qty,
        price=price,
        **kw,
    )


def accepted(cmd: PlaceOrder, *, fee_bps: int = 0, **changes: Any) -> Order:
    """The order `cmd` creates, as its snapshot looks right after acceptance (before any
    matching), with `changes` applied."""
    is_yes = cmd.outcome == "yes"
    is_buy = cmd.side == "buy"
    price = cmd.price
    tif = cmd.tif
    if cmd.type in ("market", "stop"):
        if price is None:
            price = 99 if is_buy else 1
        if tif == "gtc":
            tif = "ioc"
    assert price is not None
    fields: dict[str, Any] = {
        "order_id": cmd.order_id,
        "user": cmd.user,
        "market": cmd.market,
        "side": cmd.side,
        "outcome": cmd.outcome,
        "type": cmd.type,
        "tif": tif,
        "price": price,
        "qty": cmd.qty,
        "filled_qty": 0,
        "remaining_qty": cmd.qty,
        "filled_cost": 0,
        "fees": 0,
        "status": "open",
        "client_order_id": cmd.client_order_id,
        "created_ts": cmd.ts,
        "updated_ts": cmd.ts,
        "expires_at": cmd.expires_at,
        "stop_price": cmd.stop_price,
        "post_only": cmd.post_only,
        "stp": cmd.stp,
        "reason": None,
        "triggered": False,
        "is_bid": is_buy == is_yes,
        "book_price": price if is_yes else 100 - price,
        "hold": hold_for(price, cmd.qty, fee_bps) if is_buy else 0,
        "priority": 0,
    }
    fields.update(changes)
    return Order(**fields)


def done(cmd: PlaceOrder, status: str, reason: str, **changes: Any) -> Order:
    """The final snapshot of an order that left the book: nothing remains or is held."""
    changes.setdefault("remaining_qty", 0)
    changes.setdefault("hold", 0)
    return accepted(cmd, status=status, reason=reason, **changes)
