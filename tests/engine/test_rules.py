"""One test per rule of DESIGN.md §1, with the exact events each command must produce.

Every command goes through `kit.Exchange.apply`, which also checks all invariants and that
public sequence numbers have no gaps.
"""

from kit import Exchange, M, accepted, done, place

from engine import (
    AmendOrder,
    BookChanged,
    CancelAll,
    CancelOrder,
    CommandRejected,
    CreateMarket,
    EngineConfig,
    OrderDeduplicated,
    OrdersCancelled,
    OrderUpdated,
    PlaceOrder,
    PositionNetted,
    Reject,
    Tick,
    TradeExecuted,
)


def trade(
    seq: int,
    trade_id: int,
    price: int,
    qty: int,
    maker: tuple[int, int, str, str],
    taker: tuple[int, int, str],
    *,
    taker_side: str,
    kind: str,
    fees: tuple[int, int] = (0, 0),
    ts: int = 0,
) -> TradeExecuted:
    """maker = (order_id, user, side, outcome); taker = (order_id, user, outcome)."""
    return TradeExecuted(
        M,
        seq,
        trade_id,
        price,
        qty,
        taker_side,
        kind,
        ts,
        maker[0],
        maker[1],
        maker[2],
        maker[3],
        fees[0],
        taker[0],
        taker[1],
        taker[2],
        fees[1],
    )


# ---------------------------------------------------------------------- one book in YES terms


def test_buy_yes_rests_as_a_bid_at_its_price_and_holds_its_cost() -> None:
    x = Exchange()
    a = place(1, 1, "buy", "yes", 10, 40)
    assert x.apply(a) == [
        OrderUpdated.of(accepted(a, priority=1)),
        BookChanged(M, 2, "bid", 40, 10),
    ]
    assert x.cash(1) == (9_600, 400)
    assert x.book() == ([[40, 10]], [])


def test_buy_no_rests_as_an_ask_at_100_minus_its_price() -> None:
    x = Exchange()
    b = place(1, 2, "buy", "no", 5, 70)
    assert x.apply(b) == [OrderUpdated.of(accepted(b, priority=1)), BookChanged(M, 2, "ask", 30, 5)]
    assert x.cash(2) == (10_000 - 350, 350)
    assert x.book() == ([], [[30, 5]])


def test_sells_rest_on_the_other_side_and_reserve_contracts_not_cash() -> None:
    x = Exchange()
    x.give(1, "yes", 10)
    x.give(2, "no", 10)
    cash1, cash2 = x.cash(1), x.cash(2)
    s1 = place(1, 1, "sell", "yes", 4, 60)  # ask 60
    s2 = place(2, 2, "sell", "no", 3, 55)  # bid 45
    seq = x.seq
    assert x.apply(s1) == [
        OrderUpdated.of(accepted(s1, priority=3)),
        BookChanged(M, seq + 1, "ask", 60, 4),
    ]
    assert x.apply(s2) == [
        OrderUpdated.of(accepted(s2, priority=4)),
        BookChanged(M, seq + 2, "bid", 45, 3),
    ]
    assert (x.cash(1), x.cash(2)) == (cash1, cash2)
    p1 = x.engine.markets[M].positions[1]
    p2 = x.engine.markets[M].positions[2]
    assert (p1.yes, p1.yes_reserved, p2.no, p2.no_reserved) == (10, 4, 10, 3)


# ---------------------------------------------------------------------- matching


def test_a_crossing_order_trades_at_the_makers_price_and_mints_a_pair() -> None:
    x = Exchange()
    a = place(1, 1, "buy", "yes", 10, 40)  # bid 40
    b = place(2, 2, "buy", "no", 10, 65)  # ask 35: crosses; YES 40 means NO 60
    x.apply(a)
    assert x.apply(b) == [
        trade(3, 1, 40, 10, (1, 1, "buy", "yes"), (2, 2, "no"), taker_side="sell", kind="mint"),
        OrderUpdated.of(done(a, "filled", "filled", filled_qty=10, filled_cost=400)),
        OrderUpdated.of(done(b, "filled", "filled", filled_qty=10, filled_cost=600)),
        BookChanged(M, 4, "bid", 40, 0),
    ]
    # The NO buyer held 65 x 10 but paid 60 x 10: the rest is released.
    assert x.cash(1) == (9_600, 0)
    assert x.cash(2) == (9_400, 0)
    assert x.escrow == 1_000
    assert (x.pos(1), x.pos(2)) == ((10, 0), (0, 10))
    m = x.engine.markets[M]
    assert (m.last_price, m.volume, m.trade_no) == (40, 10, 1)


def test_a_taker_walks_levels_best_first_and_rests_its_remainder() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 5, 70))  # ask 30
    x.apply(place(2, 3, "buy", "no", 5, 67))  # ask 33
    x.apply(place(3, 2, "buy", "no", 5, 69))  # ask 31
    t = place(4, 1, "buy", "yes", 12, 32)
    assert x.apply(t) == [
        trade(5, 1, 30, 5, (1, 2, "buy", "no"), (4, 1, "yes"), taker_side="buy", kind="mint"),
        OrderUpdated.of(
            done(place(1, 2, "buy", "no", 5, 70), "filled", "filled", filled_qty=5, filled_cost=350)
        ),
        trade(6, 2, 31, 5, (3, 2, "buy", "no"), (4, 1, "yes"), taker_side="buy", kind="mint"),
        OrderUpdated.of(
            done(place(3, 2, "buy", "no", 5, 69), "filled", "filled", filled_qty=5, filled_cost=345)
        ),
        OrderUpdated.of(
            accepted(
                t,
                status="partially_filled",
                filled_qty=10,
                remaining_qty=2,
                filled_cost=150 + 155,
                hold=64,
                priority=4,
            )
        ),
        BookChanged(M, 7, "ask", 30, 0),
        BookChanged(M, 8, "ask", 31, 0),
        BookChanged(M, 9, "bid", 32, 2),
    ]
    assert x.book() == ([[32, 2]], [[33, 5]])
    assert x.cash(1) == (10_000 - 305 - 64, 64)


def test_orders_at_one_price_fill_first_in_first_out() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 5, 70))
    x.apply(place(2, 3, "buy", "no", 5, 70))
    x.apply(place(3, 2, "buy", "no", 5, 70))
    evs = x.apply(place(4, 1, "buy", "yes", 12, 30))
    fills = [(ev.maker_order_id, ev.qty) for ev in evs if isinstance(ev, TradeExecuted)]
    assert fills == [(1, 5), (2, 5), (3, 2)]
    assert x.engine.orders[3].remaining_qty == 3


def test_a_buy_that_trades_better_than_its_limit_holds_only_for_what_rests() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 5, 50))  # ask 50
    x.apply(place(2, 1, "buy", "yes", 10, 60))
    # 5 bought at 50 (not 60), 5 rest at 60.
    assert x.cash(1) == (10_000 - 250 - 300, 300)
    assert x.engine.orders[2].hold == 300


def test_buy_meets_sell_of_one_outcome_transfers_without_touching_escrow() -> None:
    x = Exchange()
    x.give(1, "yes", 10)
    escrow, cash1 = x.escrow, x.cash(1)[0]
    s = place(1, 1, "sell", "yes", 4, 60)
    b = place(2, 3, "buy", "yes", 4, 62)
    x.apply(s)
    seq = x.seq
    assert x.apply(b) == [
        trade(
            seq + 1,
            2,
            60,
            4,
            (1, 1, "sell", "yes"),
            (2, 3, "yes"),
            taker_side="buy",
            kind="transfer",
        ),
        OrderUpdated.of(done(s, "filled", "filled", filled_qty=4, filled_cost=240)),
        OrderUpdated.of(done(b, "filled", "filled", filled_qty=4, filled_cost=240)),
        BookChanged(M, seq + 2, "ask", 60, 0),
    ]
    assert x.escrow == escrow
    assert x.cash(1)[0] == cash1 + 240
    assert x.cash(3) == (10_000 - 240, 0)
    assert (x.pos(1), x.pos(3)) == ((6, 0), (4, 0))


def test_sell_yes_meets_sell_no_burns_a_pair_and_escrow_pays_both_sellers() -> None:
    x = Exchange()
    x.give(1, "yes", 10, via=2)  # user 2 holds the 10 NO
    assert x.escrow == 1_000
    c1, c2 = x.cash(1)[0], x.cash(2)[0]
    s = place(1, 1, "sell", "yes", 10, 45)  # ask 45
    t = place(2, 2, "sell", "no", 10, 55)  # bid 45
    x.apply(s)
    seq = x.seq
    assert x.apply(t) == [
        trade(
            seq + 1, 2, 45, 10, (1, 1, "sell", "yes"), (2, 2, "no"), taker_side="buy", kind="burn"
        ),
        OrderUpdated.of(done(s, "filled", "filled", filled_qty=10, filled_cost=450)),
        OrderUpdated.of(done(t, "filled", "filled", filled_qty=10, filled_cost=550)),
        BookChanged(M, seq + 2, "ask", 45, 0),
    ]
    assert x.escrow == 0
    assert (x.cash(1)[0], x.cash(2)[0]) == (c1 + 450, c2 + 550)
    assert (x.pos(1), x.pos(2)) == ((0, 0), (0, 0))


# ---------------------------------------------------------------------- fees


def test_fees_are_bps_of_own_notional_rounded_down_per_fill_and_held_at_the_max_rate() -> None:
    x = Exchange(maker_fee_bps=100, taker_fee_bps=250)
    a = place(1, 1, "buy", "yes", 7, 33)
    evs = x.apply(a)
    # The hold covers the notional plus the fee at the larger rate: 231 + 5.
    assert evs[0] == OrderUpdated.of(accepted(a, fee_bps=250, priority=1))
    assert x.cash(1) == (10_000 - 236, 236)

    # Taker buys NO 3 at YES 33 = NO 67: maker fee 99 x 1% = 0.99 -> 0; taker 201 x 2.5% -> 5.
    evs = x.apply(place(2, 2, "buy", "no", 3, 70))
    (t1,) = [ev for ev in evs if isinstance(ev, TradeExecuted)]
    assert (t1.price, t1.qty, t1.maker_fee, t1.taker_fee) == (33, 3, 0, 5)
    # Again 4: maker 132 x 1% -> 1; taker 268 x 2.5% = 6.7 -> 6.
    evs = x.apply(place(3, 3, "buy", "no", 4, 67))
    (t2,) = [ev for ev in evs if isinstance(ev, TradeExecuted)]
    assert (t2.price, t2.qty, t2.maker_fee, t2.taker_fee) == (33, 4, 1, 6)

    # Per fill: the maker paid 0 + 1, not 231 x 1% = 2 on the whole.
    assert x.cash(1) == (10_000 - 231 - 1, 0)
    assert x.cash(2) == (10_000 - 201 - 5, 0)
    assert x.cash(3) == (10_000 - 268 - 6, 0)
    assert x.engine.markets[M].fees == 12
    filled = [ev.order for ev in evs if isinstance(ev, OrderUpdated)]
    assert [(o.order_id, o.fees, o.filled_cost) for o in filled] == [(1, 1, 231), (3, 6, 268)]


def test_a_sellers_fee_comes_out_of_the_proceeds() -> None:
    x = Exchange(maker_fee_bps=0, taker_fee_bps=500)
    x.give(1, "yes", 10)
    c1 = x.cash(1)[0]
    x.apply(place(1, 3, "buy", "yes", 10, 41))
    x.apply(place(2, 1, "sell", "yes", 10, 40))  # taker sells at 41: 410 - 20.5 -> 20
    assert x.cash(1)[0] == c1 + 410 - 20


# ---------------------------------------------------------------------- netting


def test_holding_both_outcomes_nets_pairs_at_100_each_from_escrow() -> None:
    x = Exchange()
    x.give(1, "yes", 10)  # user 1 paid 500 for 10 YES; user 99 holds 10 NO
    x.apply(place(1, 3, "buy", "yes", 4, 55))  # bid 55
    seq = x.seq
    b = place(2, 1, "buy", "no", 4, 45)  # ask 55: mints 4 pairs with user 3
    assert x.apply(b) == [
        trade(
            seq + 1, 2, 55, 4, (1, 3, "buy", "yes"), (2, 1, "no"), taker_side="sell", kind="mint"
        ),
        OrderUpdated.of(
            done(
                place(1, 3, "buy", "yes", 4, 55), "filled", "filled", filled_qty=4, filled_cost=220
            )
        ),
        PositionNetted(M, 1, 4),
        OrderUpdated.of(done(b, "filled", "filled", filled_qty=4, filled_cost=180)),
        BookChanged(M, seq + 2, "bid", 55, 0),
    ]
    assert x.pos(1) == (6, 0)
    assert x.cash(1)[0] == 10_000 - 500 - 180 + 400
    assert x.escrow == 1_000 + 400 - 400


def test_netting_shrinks_open_sells_that_reserve_more_than_is_left_newest_first() -> None:
    x = Exchange()
    x.give(1, "yes", 10)
    old = place(10, 1, "sell", "yes", 4, 70)
    new = place(11, 1, "sell", "yes", 6, 80)
    x.apply(old)
    x.apply(new)
    x.apply(place(12, 3, "buy", "yes", 5, 55))
    seq = x.seq
    evs = x.apply(place(13, 1, "buy", "no", 5, 45))
    # 5 pairs net; 5 YES are left for 10 reserved: the newest sell gives up 5.
    assert evs[2:4] == [
        PositionNetted(M, 1, 5),
        OrderUpdated.of(accepted(new, qty=1, remaining_qty=1, priority=3)),
    ]
    assert evs[-2:] == [
        BookChanged(M, seq + 2, "ask", 80, 1),
        BookChanged(M, seq + 3, "bid", 55, 0),
    ]
    assert x.engine.orders[10].remaining_qty == 4
    assert x.book() == ([], [[70, 4], [80, 1]])

    # Now 5 YES with 5 reserved; netting 3 more cancels the newest (1) and cuts the older by 2.
    x.apply(place(14, 3, "buy", "yes", 3, 55))
    evs = x.apply(place(15, 1, "buy", "no", 3, 45))
    assert PositionNetted(M, 1, 3) in evs
    assert OrderUpdated.of(done(new, "cancelled", "position_netted", qty=1, priority=0)) in evs
    assert OrderUpdated.of(accepted(old, qty=2, remaining_qty=2, priority=2)) in evs
    assert x.book() == ([], [[70, 2]])
    assert x.pos(1) == (2, 0)


# ---------------------------------------------------------------------- order types


def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 3, 60))  # ask 40
    t = place(2, 1, "buy", "yes", 5, 45, tif="ioc")
    evs = x.apply(t)
    assert evs[-2:] == [
        OrderUpdated.of(done(t, "cancelled", "ioc", filled_qty=3, filled_cost=120)),
        BookChanged(M, 4, "ask", 40, 0),
    ]
    assert x.cash(1) == (10_000 - 120, 0)
    assert x.book() == ([], [])


def test_ioc_that_crosses_nothing_is_cancelled_without_book_events() -> None:
    x = Exchange()
    t = place(1, 1, "buy", "yes", 5, 45, tif="ioc")
    assert x.apply(t) == [OrderUpdated.of(done(t, "cancelled", "ioc"))]
    assert x.cash(1) == (10_000, 0)


def test_fok_is_rejected_whole_when_the_book_cannot_fill_it() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 3, 60))  # ask 40
    x.apply(place(2, 2, "buy", "no", 3, 58))  # ask 42
    evs = x.apply(place(3, 1, "buy", "yes", 7, 42, tif="fok"))
    assert [type(ev) for ev in evs] == [CommandRejected]
    assert evs[0].reason == Reject.FOK_UNFILLABLE
    assert x.book() == ([], [[40, 3], [42, 3]])
    # Limit 41 reaches only 3; limit 42 reaches 6 — exactly 6 fills.
    assert x.apply(place(4, 1, "buy", "yes", 4, 41, tif="fok"))[0].reason == Reject.FOK_UNFILLABLE
    t = place(5, 1, "buy", "yes", 6, 42, tif="fok")
    evs = x.apply(t)
    assert OrderUpdated.of(done(t, "filled", "filled", filled_qty=6, filled_cost=246)) in evs
    assert x.book() == ([], [])


def test_fok_counts_only_what_self_trade_prevention_lets_it_take() -> None:
    x = Exchange()
    x.apply(place(1, 1, "buy", "no", 3, 60))  # own ask 40, first in line
    x.apply(place(2, 2, "buy", "no", 3, 60))
    # cancel_newest would stop at the own order: nothing fills.
    evs = x.apply(place(3, 1, "buy", "yes", 3, 40, tif="fok"))
    assert evs[0].reason == Reject.FOK_UNFILLABLE
    # cancel_oldest cancels the own order and fills against user 2.
    evs = x.apply(place(4, 1, "buy", "yes", 3, 40, tif="fok", stp="cancel_oldest"))
    assert [ev.maker_order_id for ev in evs if isinstance(ev, TradeExecuted)] == [2]
    assert x.engine.orders == {}


def test_fok_sees_the_sells_a_makers_netting_will_shrink() -> None:
    """Regression: a maker's buy that nets can cancel that maker's sells further along the
    same side; a FOK counting them would partly fill and then cancel its remainder."""
    x = Exchange()
    x.give(1, "yes", 10, via=2)
    x.apply(place(3, 1, "buy", "no", 10, 60))  # ask 40; filling it nets user 1's 10 YES
    x.apply(place(4, 1, "sell", "yes", 10, 41))  # ask 41; reserves those 10 YES
    assert x.book() == ([], [[40, 10], [41, 10]])
    evs = x.apply(place(5, 3, "buy", "yes", 20, 41, tif="fok"))
    assert [type(ev) for ev in evs] == [CommandRejected]
    assert evs[0].reason == Reject.FOK_UNFILLABLE
    # 10 is fillable, and fills whole.
    evs = x.apply(place(6, 3, "buy", "yes", 10, 41, tif="fok"))
    assert [ev.qty for ev in evs if isinstance(ev, TradeExecuted)] == [10]
    assert PositionNetted(M, 1, 10) in evs
    assert x.book() == ([], [])


def test_fok_does_not_count_a_sell_it_already_took_as_shrunk_by_netting() -> None:
    """Regression: when a maker's buy nets, the sells it shrinks are the maker's open ones;
    a sell this same FOK already filled (here the newest) is gone and cannot absorb it."""
    x = Exchange()
    x.give(1, "no", 10, via=2)
    x.apply(place(12, 1, "sell", "no", 6, 64))  # bid 36
    x.apply(place(11, 1, "buy", "yes", 4, 40))  # bid 40: netting 4 pairs
    x.apply(place(10, 1, "sell", "no", 4, 59))  # bid 41, the newest sell
    # Filling 41 (4), then 40 (4 YES: 4 pairs net, leaving 2 NO) cuts order 12 to 2: 10 in all.
    evs = x.apply(place(13, 3, "buy", "no", 11, 64, tif="fok"))
    assert [ev.reason for ev in evs] == [Reject.FOK_UNFILLABLE]
    evs = x.apply(place(14, 3, "buy", "no", 10, 64, tif="fok"))
    assert [(ev.maker_order_id, ev.qty) for ev in evs if isinstance(ev, TradeExecuted)] == [
        (10, 4),
        (11, 4),
        (12, 2),
    ]
    assert x.book() == ([], [])


def test_market_orders_take_up_to_their_worst_price_and_never_rest() -> None:
    x = Exchange()
    for i, no_price in enumerate((60, 55, 50)):  # asks 40, 45, 50
        x.apply(place(i + 1, 2, "buy", "no", 2, no_price))
    t = place(4, 1, "buy", "yes", 10, 45, type="market")
    evs = x.apply(t)
    assert [ev.price for ev in evs if isinstance(ev, TradeExecuted)] == [40, 45]
    assert OrderUpdated.of(done(t, "cancelled", "ioc", filled_qty=4, filled_cost=170)) in evs
    assert x.book() == ([], [[50, 2]])
    # Without a price the bound is 99 for a buy: it takes everything.
    t = place(5, 1, "buy", "yes", 10, type="market")
    evs = x.apply(t)
    assert (
        OrderUpdated.of(done(t, "cancelled", "ioc", filled_qty=2, filled_cost=100, price=99)) in evs
    )


def test_a_market_sell_defaults_to_a_worst_price_of_1() -> None:
    x = Exchange()
    x.give(1, "yes", 5)
    x.apply(place(1, 3, "buy", "yes", 2, 3))
    x.apply(place(2, 3, "buy", "yes", 2, 20))
    t = place(3, 1, "sell", "yes", 5, type="market")
    evs = x.apply(t)
    assert [(ev.price, ev.qty) for ev in evs if isinstance(ev, TradeExecuted)] == [(20, 2), (3, 2)]
    assert (
        OrderUpdated.of(done(t, "cancelled", "ioc", filled_qty=4, filled_cost=46, price=1)) in evs
    )
    assert x.pos(1) == (1, 0)


def test_post_only_is_rejected_if_it_would_cross_and_rests_otherwise() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 5, 60))  # ask 40
    evs = x.apply(place(2, 1, "buy", "yes", 5, 40, post_only=True))
    assert [ev.reason for ev in evs] == [Reject.POST_ONLY_WOULD_CROSS]
    p = place(3, 1, "buy", "yes", 5, 39, post_only=True)
    assert x.apply(p) == [OrderUpdated.of(accepted(p, priority=2)), BookChanged(M, 3, "bid", 39, 5)]


# ---------------------------------------------------------------------- good-till-date


def test_gtd_expires_on_a_tick_at_its_time_and_releases_its_hold() -> None:
    x = Exchange()
    g = place(1, 1, "buy", "yes", 5, 40, tif="gtd", expires_at=100, ts=10)
    x.apply(g)
    assert x.apply(Tick(ts=99)) == []
    assert x.apply(Tick(ts=100)) == [
        OrderUpdated.of(done(g, "expired", "expired", updated_ts=100)),
        BookChanged(M, 3, "bid", 40, 0),
    ]
    assert x.cash(1) == (10_000, 0)


def test_gtd_expires_before_any_later_command_runs() -> None:
    x = Exchange()
    g = place(1, 1, "buy", "no", 5, 60, tif="gtd", expires_at=100)  # ask 40
    x.apply(g)
    # A buy at ts 150 would have crossed it; the order is gone first.
    b = place(2, 2, "buy", "yes", 5, 45, ts=150)
    assert x.apply(b) == [
        OrderUpdated.of(done(g, "expired", "expired", updated_ts=100)),
        BookChanged(M, 3, "ask", 40, 0),
        OrderUpdated.of(accepted(b, priority=2)),
        BookChanged(M, 4, "bid", 45, 5),
    ]


# ---------------------------------------------------------------------- amend, cancel


def test_amend_reduces_remaining_keeps_priority_and_releases_hold() -> None:
    x = Exchange()
    a = place(1, 1, "buy", "yes", 10, 40)
    x.apply(a)
    x.apply(place(2, 2, "buy", "yes", 10, 40))
    evs = x.apply(AmendOrder(user=1, order_id=1, qty=4, ts=5))
    assert evs == [
        OrderUpdated.of(accepted(a, qty=4, remaining_qty=4, hold=160, priority=1, updated_ts=5)),
        BookChanged(M, 4, "bid", 40, 14),
    ]
    assert x.cash(1) == (10_000 - 160, 160)
    evs = x.apply(place(3, 3, "buy", "no", 5, 60))  # ask 40
    assert [(ev.maker_order_id, ev.qty) for ev in evs if isinstance(ev, TradeExecuted)] == [
        (1, 4),
        (2, 1),
    ]


def test_amend_that_does_not_reduce_is_invalid() -> None:
    x = Exchange()
    x.apply(place(1, 1, "buy", "yes", 10, 40))
    for qty in (0, 10, 11, -1):
        evs = x.apply(AmendOrder(user=1, order_id=1, qty=qty))
        assert [ev.reason for ev in evs] == [Reject.INVALID], qty


def test_cancel_releases_the_hold_and_removes_the_level() -> None:
    x = Exchange()
    a = place(1, 1, "buy", "yes", 10, 40, ts=1)
    x.apply(a)
    assert x.apply(CancelOrder(user=1, order_id=1, ts=2)) == [
        OrderUpdated.of(done(a, "cancelled", "user", updated_ts=2)),
        BookChanged(M, 3, "bid", 40, 0),
    ]
    assert x.cash(1) == (10_000, 0)
    assert x.engine.orders == {}


def test_cancel_of_a_sell_frees_its_contracts() -> None:
    x = Exchange()
    x.give(1, "yes", 5)
    x.apply(place(1, 1, "sell", "yes", 5, 70))
    assert x.apply(place(2, 1, "sell", "yes", 1, 71))[0].reason == Reject.INSUFFICIENT_POSITION
    x.apply(CancelOrder(user=1, order_id=1))
    assert x.engine.markets[M].positions[1].yes_reserved == 0
    assert isinstance(x.apply(place(2, 1, "sell", "yes", 5, 71))[0], OrderUpdated)


def test_cancel_all_in_one_market_or_everywhere() -> None:
    x = Exchange()
    x.apply(CreateMarket(market="N"))
    x.apply(place(1, 1, "buy", "yes", 1, 10))
    x.apply(place(2, 1, "buy", "yes", 1, 11, market="N"))
    x.apply(place(3, 1, "buy", "no", 1, 12))
    x.apply(place(4, 2, "buy", "yes", 1, 13))
    evs = x.apply(CancelAll(user=1, market=M))
    assert [ev.order.order_id for ev in evs if isinstance(ev, OrderUpdated)] == [1, 3]
    assert OrdersCancelled(1, M, 2) in evs
    assert sorted(x.engine.orders) == [2, 4]
    evs = x.apply(CancelAll(user=1))
    assert OrdersCancelled(1, None, 1) in evs
    assert sorted(x.engine.orders) == [4]
    assert x.apply(CancelAll(user=1)) == [OrdersCancelled(1, None, 0)]
    assert x.cash(1) == (10_000, 0)


# ---------------------------------------------------------------------- self-trade prevention


def _own_book() -> Exchange:
    """User 2 then user 1 then user 3 rest asks at 40 (buy NO 60), 3 each."""
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 3, 60))
    x.apply(place(2, 1, "buy", "no", 3, 60))
    x.apply(place(3, 3, "buy", "no", 3, 60))
    return x


def test_stp_cancel_newest_cancels_the_takers_remainder() -> None:
    x = _own_book()
    t = place(4, 1, "buy", "yes", 9, 40)
    evs = x.apply(t)
    assert [ev.maker_order_id for ev in evs if isinstance(ev, TradeExecuted)] == [1]
    assert OrderUpdated.of(done(t, "cancelled", "self_trade", filled_qty=3, filled_cost=120)) in evs
    assert sorted(x.engine.orders) == [2, 3]
    assert x.cash(1) == (10_000 - 120 - 180, 180)  # the resting buy NO 3 at 60 still holds


def test_stp_cancel_oldest_cancels_the_resting_order_and_keeps_matching() -> None:
    x = _own_book()
    t = place(4, 1, "buy", "yes", 9, 40, stp="cancel_oldest")

    def maker(oid: int, user: int) -> PlaceOrder:
        return place(oid, user, "buy", "no", 3, 60)

    assert x.apply(t) == [
        trade(5, 1, 40, 3, (1, 2, "buy", "no"), (4, 1, "yes"), taker_side="buy", kind="mint"),
        OrderUpdated.of(done(maker(1, 2), "filled", "filled", filled_qty=3, filled_cost=180)),
        OrderUpdated.of(done(maker(2, 1), "cancelled", "self_trade")),
        trade(6, 2, 40, 3, (3, 3, "buy", "no"), (4, 1, "yes"), taker_side="buy", kind="mint"),
        OrderUpdated.of(done(maker(3, 3), "filled", "filled", filled_qty=3, filled_cost=180)),
        OrderUpdated.of(
            accepted(
                t,
                status="partially_filled",
                filled_qty=6,
                remaining_qty=3,
                filled_cost=240,
                hold=120,
                priority=4,
            )
        ),
        BookChanged(M, 7, "ask", 40, 0),
        BookChanged(M, 8, "bid", 40, 3),
    ]
    assert x.book() == ([[40, 3]], [])
    assert x.cash(1) == (10_000 - 240 - 120, 120)


def test_stp_cancel_both_cancels_both() -> None:
    x = _own_book()
    t = place(4, 1, "buy", "yes", 9, 40, stp="cancel_both")
    evs = x.apply(t)
    assert [ev.maker_order_id for ev in evs if isinstance(ev, TradeExecuted)] == [1]
    updates = [
        (ev.order.order_id, ev.order.status, ev.order.reason)
        for ev in evs
        if isinstance(ev, OrderUpdated)
    ]
    assert updates == [
        (1, "filled", "filled"),
        (2, "cancelled", "self_trade"),
        (4, "cancelled", "self_trade"),
    ]
    assert x.book() == ([], [[40, 3]])
    assert x.cash(1) == (10_000 - 120, 0)


def test_stp_applies_between_a_users_buy_yes_and_buy_no() -> None:
    x = Exchange()
    x.apply(place(1, 1, "buy", "no", 3, 60))
    evs = x.apply(place(2, 1, "buy", "yes", 3, 45))
    assert not [ev for ev in evs if isinstance(ev, TradeExecuted)]
    assert x.escrow == 0


# ---------------------------------------------------------------------- client order ids


def test_a_repeated_place_with_the_same_client_order_id_and_terms_is_deduplicated() -> None:
    x = Exchange()
    a = place(1, 1, "buy", "yes", 5, 40, client_order_id="abc")
    x.apply(a)
    again = place(2, 1, "buy", "yes", 5, 40, client_order_id="abc", ts=7)
    assert x.apply(again) == [OrderDeduplicated.of(accepted(a, priority=1))]
    assert sorted(x.engine.orders) == [1]
    assert x.cash(1) == (9_800, 200)


def test_a_client_order_id_in_use_with_other_terms_is_a_conflict() -> None:
    x = Exchange()
    x.apply(place(1, 1, "buy", "yes", 5, 40, client_order_id="abc"))
    for other in (
        place(2, 1, "buy", "yes", 6, 40, client_order_id="abc"),
        place(2, 1, "buy", "yes", 5, 41, client_order_id="abc"),
        place(2, 1, "buy", "no", 5, 40, client_order_id="abc"),
        place(2, 1, "buy", "yes", 5, 40, client_order_id="abc", tif="ioc"),
        place(2, 1, "buy", "yes", 5, 40, client_order_id="abc", post_only=True),
        place(2, 1, "buy", "yes", 5, 40, client_order_id="abc", stp="cancel_both"),
        place(2, 1, "buy", "yes", 5, 40, client_order_id="abc", tif="gtd", expires_at=9),
    ):
        assert [ev.reason for ev in x.apply(other)] == [Reject.CONFLICT], other
    # Another user may use the same id.
    assert isinstance(
        x.apply(place(3, 2, "buy", "yes", 5, 40, client_order_id="abc"))[0], OrderUpdated
    )


def test_cancel_by_client_order_id_then_the_id_is_free_again() -> None:
    x = Exchange()
    x.apply(place(1, 1, "buy", "yes", 5, 40, client_order_id="abc"))
    evs = x.apply(CancelOrder(user=1, client_order_id="abc"))
    assert evs[0].order.order_id == 1
    assert [ev.reason for ev in x.apply(CancelOrder(user=1, client_order_id="abc"))] == [
        Reject.NOT_FOUND
    ]
    evs = x.apply(place(2, 1, "buy", "yes", 6, 41, client_order_id="abc"))
    assert evs[0] == OrderUpdated.of(
        accepted(place(2, 1, "buy", "yes", 6, 41, client_order_id="abc"), priority=2)
    )


# ---------------------------------------------------------------------- limits


def test_a_user_cannot_have_more_open_orders_than_the_cap() -> None:
    x = Exchange(config=EngineConfig(max_open_orders=2))
    x.apply(place(1, 1, "buy", "yes", 1, 10))
    x.apply(place(2, 1, "buy", "yes", 1, 11, type="stop_limit", stop_price=50))
    assert [ev.reason for ev in x.apply(place(3, 1, "buy", "yes", 1, 12))] == [
        Reject.TOO_MANY_OPEN_ORDERS
    ]
    # Other users are not affected; a cancel makes room.
    assert isinstance(x.apply(place(4, 2, "buy", "yes", 1, 12))[0], OrderUpdated)
    x.apply(CancelOrder(user=1, order_id=1))
    assert isinstance(x.apply(place(3, 1, "buy", "yes", 1, 12))[0], OrderUpdated)


def test_at_the_open_order_cap_a_user_can_still_trade_out_with_orders_that_never_rest() -> None:
    x = Exchange(config=EngineConfig(max_open_orders=1))
    x.give(1, "yes", 6)
    x.apply(place(1, 1, "buy", "yes", 1, 10))  # user 1 is at the cap
    x.apply(place(2, 2, "buy", "yes", 6, 40))
    for oid, kw in (
        (3, {"tif": "ioc", "price": 40}),
        (4, {"tif": "fok", "price": 40}),
        (5, {"type": "market"}),
    ):
        evs = x.apply(place(oid, 1, "sell", "yes", 2, **kw))
        assert [ev.qty for ev in evs if isinstance(ev, TradeExecuted)] == [2], kw
    for kw in (
        {"price": 50},
        {"tif": "gtd", "price": 50, "expires_at": 99},
        {"type": "stop", "stop_price": 5},
    ):
        assert [ev.reason for ev in x.apply(place(6, 1, "buy", "yes", 1, **kw))] == [
            Reject.TOO_MANY_OPEN_ORDERS
        ], kw


def test_a_buy_needs_available_cash_for_its_whole_hold() -> None:
    x = Exchange(cash=1_000, taker_fee_bps=100)
    # 25 x 40 = 1000, plus up to 10 in fees: 1010 > 1000.
    assert [ev.reason for ev in x.apply(place(1, 1, "buy", "yes", 25, 40))] == [
        Reject.INSUFFICIENT_FUNDS
    ]
    assert isinstance(x.apply(place(1, 1, "buy", "yes", 24, 40))[0], OrderUpdated)  # 960 + 9
    assert x.cash(1) == (31, 969)


def test_orders_cancelled_from_the_middle_of_a_level_leave_it_at_once_and_keep_its_fifo() -> None:
    x = Exchange(cash=100_000)
    for oid in range(1, 61):
        x.apply(place(oid, 1 + oid % 2, "buy", "yes", 1, 40))
    keep = {1, 30, 59, 60}
    for oid in range(2, 61):
        if oid not in keep:
            x.apply(CancelOrder(user=1 + oid % 2, order_id=oid))
    level = x.engine.markets[M].book.bids.levels[40]
    assert (level.qty, level.live) == (4, 4)
    assert [o.order_id for o in level] == [1, 30, 59, 60]  # nothing dead left behind
    evs = x.apply(place(100, 3, "buy", "no", 4, 60))
    assert [ev.maker_order_id for ev in evs if isinstance(ev, TradeExecuted)] == [1, 30, 59, 60]
