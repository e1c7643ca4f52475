"""Markets (open -> halted <-> open -> closed -> resolved), cash, and the engine's queries."""

import pytest
from invariants import fingerprint
from kit import Exchange, M, done, place

from engine import (
    AmendOrder,
    BookChanged,
    CancelOrder,
    CashCredited,
    CashDebited,
    CloseMarket,
    CommandRejected,
    CreateMarket,
    CreditCash,
    DebitCash,
    Engine,
    HaltMarket,
    MarketCreated,
    MarketStatusChanged,
    OpenMarket,
    OrderUpdated,
    PayoutMade,
    Reject,
    ResolveMarket,
    Tick,
)


def test_create_market_announces_it_with_seq_1() -> None:
    e = Engine()
    cmd = CreateMarket(
        market="BTC-100K", title="BTC above 100k?", close_ts=500, taker_fee_bps=20, ts=3
    )
    assert e.apply(cmd) == [MarketCreated("BTC-100K", 1, "BTC above 100k?", 500, 0, 20, 3)]
    assert e.book_snapshot("BTC-100K") == (1, [], [])


def test_halt_blocks_new_orders_but_cancel_and_amend_still_work() -> None:
    x = Exchange()
    x.apply(place(1, 1, "buy", "yes", 5, 40))
    x.apply(place(2, 1, "buy", "yes", 5, 41))
    assert x.apply(HaltMarket(market=M, ts=5)) == [MarketStatusChanged(M, 4, "halted", None, 5)]
    evs = x.apply(place(3, 2, "buy", "no", 5, 60))
    assert [ev.reason for ev in evs if isinstance(ev, CommandRejected)] == [Reject.MARKET_NOT_OPEN]
    assert isinstance(x.apply(CancelOrder(user=1, order_id=1))[0], OrderUpdated)
    assert isinstance(x.apply(AmendOrder(user=1, order_id=2, qty=1))[0], OrderUpdated)
    assert x.apply(OpenMarket(market=M, ts=6)) == [MarketStatusChanged(M, 7, "open", None, 6)]
    assert isinstance(x.apply(place(3, 2, "buy", "no", 5, 50))[0], OrderUpdated)


def test_close_cancels_every_open_order_and_releases_holds_and_reservations() -> None:
    x = Exchange()
    x.give(1, "yes", 5)
    a = place(1, 1, "buy", "yes", 5, 40)
    s = place(2, 1, "sell", "yes", 5, 70)
    st = place(3, 2, "buy", "no", 2, type="stop", stop_price=80)
    for c in (a, s, st):
        x.apply(c)
    seq = x.seq
    assert x.apply(CloseMarket(market=M, ts=9)) == [
        OrderUpdated.of(done(a, "cancelled", "market_closed", updated_ts=9)),
        OrderUpdated.of(done(s, "cancelled", "market_closed", updated_ts=9)),
        OrderUpdated.of(done(st, "cancelled", "market_closed", updated_ts=9, price=99, tif="ioc")),
        BookChanged(M, seq + 1, "bid", 40, 0),
        BookChanged(M, seq + 2, "ask", 70, 0),
        MarketStatusChanged(M, seq + 3, "closed", None, 9),
    ]
    assert x.cash(1)[1] == 0 and x.cash(2) == (10_000, 0)
    assert x.engine.markets[M].positions[1].yes_reserved == 0
    assert x.engine.orders == {}
    assert x.pos(1) == (5, 0)  # contracts stay until resolution


def _positions() -> Exchange:
    """User 1: 6 YES; user 2: 4 NO; user 99: 2 NO (escrow 600)."""
    x = Exchange()
    x.give(1, "yes", 4, via=2, price=30)
    x.give(1, "yes", 2, via=99, price=70)
    assert (x.pos(1), x.pos(2), x.pos(99), x.escrow) == ((6, 0), (0, 4), (0, 2), 600)
    x.apply(CloseMarket(market=M))
    return x


@pytest.mark.parametrize(
    ("result", "paid"),
    [
        ("yes", {1: 600, 2: 0, 99: 0}),
        ("no", {1: 0, 2: 400, 99: 200}),
        ("void", {1: 300, 2: 200, 99: 100}),
    ],
)
def test_resolve_pays_winners_from_escrow(result: str, paid: dict[int, int]) -> None:
    x = _positions()
    before = {u: x.cash(u)[0] for u in paid}
    seq = x.seq
    evs = x.apply(ResolveMarket(market=M, result=result, ts=20))  # type: ignore[arg-type]
    assert evs == [
        PayoutMade(M, 1, 6, 0, paid[1]),
        PayoutMade(M, 2, 0, 4, paid[2]),
        PayoutMade(M, 99, 0, 2, paid[99]),
        MarketStatusChanged(M, seq + 1, "resolved", result, 20),
    ]
    assert {u: x.cash(u)[0] - before[u] for u in paid} == paid
    assert x.escrow == 0
    assert x.engine.markets[M].positions == {}


def test_resolving_an_open_market_closes_it_first() -> None:
    x = Exchange()
    a = place(1, 1, "buy", "yes", 5, 40)
    x.apply(a)
    assert x.apply(ResolveMarket(market=M, result="no", ts=4)) == [
        OrderUpdated.of(done(a, "cancelled", "market_closed", updated_ts=4)),
        BookChanged(M, 3, "bid", 40, 0),
        MarketStatusChanged(M, 4, "closed", None, 4),
        MarketStatusChanged(M, 5, "resolved", "no", 4),
    ]
    assert x.cash(1) == (10_000, 0)


@pytest.mark.parametrize(
    ("setup", "cmd"),
    [
        ([], OpenMarket(market=M)),
        ([HaltMarket(market=M)], HaltMarket(market=M)),
        ([CloseMarket(market=M)], HaltMarket(market=M)),
        ([CloseMarket(market=M)], OpenMarket(market=M)),
        ([CloseMarket(market=M)], CloseMarket(market=M)),
        ([ResolveMarket(market=M, result="yes")], ResolveMarket(market=M, result="no")),
        ([ResolveMarket(market=M, result="yes")], OpenMarket(market=M)),
        ([ResolveMarket(market=M, result="yes")], CloseMarket(market=M)),
        ([ResolveMarket(market=M, result="void")], HaltMarket(market=M)),
    ],
)
def test_a_transition_the_lifecycle_does_not_allow_is_a_conflict(setup: list, cmd: object) -> None:
    x = Exchange()
    for c in setup:
        x.apply(c)
    before = fingerprint(x.engine)
    evs = x.apply(cmd)
    assert [type(ev) for ev in evs] == [CommandRejected]
    assert evs[0].reason == Reject.CONFLICT
    assert fingerprint(x.engine) == before


def test_a_market_closes_itself_at_close_ts() -> None:
    x = Exchange(close_ts=100)
    a = place(1, 1, "buy", "yes", 5, 40, ts=50)
    x.apply(a)
    assert x.apply(Tick(ts=99)) == []
    assert x.apply(Tick(ts=100)) == [
        OrderUpdated.of(done(a, "cancelled", "market_closed", updated_ts=100, created_ts=50)),
        BookChanged(M, 3, "bid", 40, 0),
        MarketStatusChanged(M, 4, "closed", None, 100),
    ]


def test_a_late_command_finds_the_market_already_closed() -> None:
    x = Exchange(close_ts=100)
    a = place(1, 1, "buy", "yes", 5, 40, ts=50)
    x.apply(a)
    evs = x.apply(place(2, 2, "buy", "no", 5, 60, ts=150))
    # Everything the close did happened at 100, before the order arrived at 150.
    assert evs == [
        OrderUpdated.of(done(a, "cancelled", "market_closed", updated_ts=100, created_ts=50)),
        BookChanged(M, 3, "bid", 40, 0),
        MarketStatusChanged(M, 4, "closed", None, 100),
        CommandRejected(Reject.MARKET_NOT_OPEN, evs[-1].message),
    ]


def test_credit_and_debit_move_available_cash() -> None:
    e = Engine()
    assert e.apply(CreditCash(user=7, amount=500)) == [CashCredited(7, 500)]
    assert e.apply(DebitCash(user=7, amount=200)) == [CashDebited(7, 200)]
    evs = e.apply(DebitCash(user=7, amount=301))
    assert [ev.reason for ev in evs] == [Reject.INSUFFICIENT_FUNDS]
    assert (e.accounts[7].available, e.credits, e.debits) == (300, 500, 200)


def test_held_cash_cannot_be_debited() -> None:
    x = Exchange(cash=1_000)
    x.apply(place(1, 1, "buy", "yes", 10, 50))
    assert [ev.reason for ev in x.apply(DebitCash(user=1, amount=501))] == [
        Reject.INSUFFICIENT_FUNDS
    ]
    assert x.apply(DebitCash(user=1, amount=500)) == [CashDebited(1, 500)]


def test_book_snapshot_is_l2_best_first_with_the_current_seq() -> None:
    x = Exchange()
    for i, (side, outcome, qty, price) in enumerate(
        [
            ("buy", "yes", 1, 40),
            ("buy", "yes", 2, 42),
            ("buy", "yes", 3, 40),
            ("buy", "no", 4, 50),
            ("buy", "no", 5, 45),
        ]
    ):
        x.apply(place(i + 1, 1 + i % 2, side, outcome, qty, price))
    assert x.engine.book_snapshot(M) == (x.seq, [[42, 2], [40, 4]], [[50, 4], [55, 5]])
    assert x.engine.book_snapshot(M, 1) == (x.seq, [[42, 2]], [[50, 4]])


def test_take_cash_changes_reports_per_user_deltas_since_the_last_call() -> None:
    x = Exchange()
    x.engine.take_cash_changes()
    x.apply(place(1, 1, "buy", "yes", 10, 40))
    x.apply(place(2, 2, "buy", "no", 4, 70))  # trades 4 at YES 40: NO pays 60
    assert x.engine.take_cash_changes() == {1: (-400, 240), 2: (-240, 0)}
    assert x.engine.take_cash_changes() == {}
    x.apply(CancelOrder(user=1, order_id=1))
    assert x.engine.take_cash_changes() == {1: (240, -240)}


def test_set_balance_loads_a_durable_balance_without_reporting_it_as_a_change() -> None:
    x = Exchange()
    x.engine.take_cash_changes()
    x.engine.set_balance(1, 5_000, 0)
    assert x.engine.take_cash_changes() == {}
    assert x.cash(1) == (5_000, 0)
