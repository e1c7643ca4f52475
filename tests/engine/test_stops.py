"""Stop and stop-limit orders: they wait off the book, holding cash or reserving contracts,
and fire when a trade prints at or through their stop price (in their own outcome's cents):
a buy stop when a print is >= the stop price, a sell stop when one is <= it."""

from kit import Exchange, M, accepted, done, place

from engine import (
    BookChanged,
    CancelOrder,
    OrderUpdated,
    PositionNetted,
    Reject,
    Tick,
    TradeExecuted,
)


def fills(evs: list) -> list[tuple[int, int, int, int]]:
    """(taker order, maker order, price, qty) of each trade."""
    return [
        (ev.taker_order_id, ev.maker_order_id, ev.price, ev.qty)
        for ev in evs
        if isinstance(ev, TradeExecuted)
    ]


def test_a_pending_stop_holds_cash_for_its_worst_price_and_is_not_in_the_book() -> None:
    x = Exchange()
    s = place(1, 1, "buy", "yes", 5, type="stop", stop_price=50)
    assert x.apply(s) == [OrderUpdated.of(accepted(s))]
    assert x.cash(1) == (10_000 - 495, 495)  # bound 99 x 5
    assert x.book() == ([], [])
    assert x.apply(CancelOrder(user=1, order_id=1)) == [
        OrderUpdated.of(done(s, "cancelled", "user", price=99, tif="ioc"))
    ]
    assert x.cash(1) == (10_000, 0)


def test_a_pending_sell_stop_reserves_its_contracts() -> None:
    x = Exchange()
    x.give(1, "yes", 5)
    x.apply(place(1, 1, "sell", "yes", 4, type="stop", stop_price=40))
    assert [ev.reason for ev in x.apply(place(2, 1, "sell", "yes", 2, 60))] == [
        Reject.INSUFFICIENT_POSITION
    ]


def test_a_buy_stop_fires_when_a_trade_prints_at_its_stop_price() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 2, 50))  # ask 50
    x.apply(place(2, 2, "buy", "no", 5, 48))  # ask 52
    s = place(3, 3, "buy", "yes", 3, type="stop", stop_price=50)
    x.apply(s)
    seq = x.seq
    t = place(4, 1, "buy", "yes", 2, 50)
    evs = x.apply(t)
    assert evs == [
        TradeExecuted(M, seq + 1, 1, 50, 2, "buy", "mint", 0, 1, 2, "buy", "no", 0, 4, 1, "yes", 0),
        OrderUpdated.of(
            done(place(1, 2, "buy", "no", 2, 50), "filled", "filled", filled_qty=2, filled_cost=100)
        ),
        OrderUpdated.of(done(t, "filled", "filled", filled_qty=2, filled_cost=100)),
        TradeExecuted(M, seq + 2, 2, 52, 3, "buy", "mint", 0, 2, 2, "buy", "no", 0, 3, 3, "yes", 0),
        OrderUpdated.of(
            accepted(
                place(2, 2, "buy", "no", 5, 48),
                status="partially_filled",
                filled_qty=3,
                remaining_qty=2,
                filled_cost=144,
                hold=96,
                priority=2,
            )
        ),
        OrderUpdated.of(
            done(
                s,
                "filled",
                "filled",
                filled_qty=3,
                filled_cost=156,
                price=99,
                tif="ioc",
                triggered=True,
            )
        ),
        BookChanged(M, seq + 3, "ask", 50, 0),
        BookChanged(M, seq + 4, "ask", 52, 2),
    ]
    assert x.cash(3) == (10_000 - 156, 0)


def test_a_stop_below_its_price_does_not_fire() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 2, 51))  # ask 49
    x.apply(place(2, 3, "buy", "yes", 3, type="stop", stop_price=50))
    evs = x.apply(place(3, 1, "buy", "yes", 2, 49))
    assert fills(evs) == [(3, 1, 49, 2)]
    assert x.engine.orders[2].triggered is False
    assert x.engine.markets[M].stops == [x.engine.orders[2]]


def test_a_sell_stop_fires_when_a_trade_prints_at_or_below_its_stop_price() -> None:
    x = Exchange()
    x.give(3, "yes", 4, price=60)  # last trade 60
    x.apply(place(10, 3, "sell", "yes", 4, type="stop", stop_price=40))
    x.apply(place(11, 2, "buy", "yes", 2, 40))  # bid 40
    x.apply(place(12, 2, "buy", "yes", 5, 35))  # bid 35
    x.give(1, "yes", 1, via=2, price=60)
    evs = x.apply(place(13, 1, "sell", "yes", 1, 40))  # prints 40
    assert fills(evs) == [(13, 11, 40, 1), (10, 11, 40, 1), (10, 12, 35, 3)]
    assert x.pos(3) == (0, 0)


def test_a_no_stop_compares_no_cents() -> None:
    """Buy NO with stop 60 fires when NO trades at 60 or more, i.e. YES at 40 or less."""
    x = Exchange()
    x.apply(place(1, 3, "buy", "no", 2, type="stop", stop_price=60))
    x.apply(place(2, 2, "buy", "yes", 1, 41))
    x.apply(place(3, 2, "buy", "yes", 5, 40))
    evs = x.apply(place(4, 1, "buy", "no", 1, 59))  # YES 41 = NO 59: no trigger
    assert fills(evs) == [(4, 2, 41, 1)]
    evs = x.apply(place(5, 1, "buy", "no", 1, 60))  # YES 40 = NO 60: fires
    assert fills(evs) == [(5, 3, 40, 1), (1, 3, 40, 2)]


def test_a_stop_limit_rests_at_its_limit_after_it_fires() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 2, 50))  # ask 50
    x.apply(place(2, 2, "buy", "no", 2, 49))  # ask 51
    x.apply(place(3, 2, "buy", "no", 2, 47))  # ask 53
    s = place(4, 3, "buy", "yes", 5, 51, type="stop_limit", stop_price=50)
    x.apply(s)
    evs = x.apply(place(5, 1, "buy", "yes", 1, 50))
    assert fills(evs) == [(5, 1, 50, 1), (4, 1, 50, 1), (4, 2, 51, 2)]
    o = x.engine.orders[4]
    assert (o.triggered, o.remaining_qty, o.priority, o.book_price) == (True, 2, 4, 51)
    assert x.book() == ([[51, 2]], [[53, 2]])
    assert x.cash(3) == (10_000 - 50 - 102 - 102, 102)


def test_stops_hit_by_the_same_trade_fire_in_the_order_they_were_placed() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 1, 50))  # ask 50
    x.apply(place(2, 2, "buy", "no", 1, 45))  # ask 55
    x.apply(place(3, 2, "buy", "no", 1, 44))  # ask 56
    x.apply(place(4, 3, "buy", "yes", 1, type="stop", stop_price=50))
    x.apply(place(5, 1, "buy", "yes", 1, type="stop", stop_price=48))
    evs = x.apply(place(6, 1, "buy", "yes", 1, 50))
    # The trade at 50 hits both; order 4 was placed first and gets the better price.
    assert fills(evs) == [(6, 1, 50, 1), (4, 2, 55, 1), (5, 3, 56, 1)]


def test_a_stops_own_trades_can_fire_further_stops() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 1, 50))  # ask 50
    x.apply(place(2, 2, "buy", "no", 1, 45))  # ask 55
    x.apply(place(3, 2, "buy", "no", 1, 40))  # ask 60
    x.apply(place(4, 3, "buy", "yes", 1, type="stop", stop_price=55))
    x.apply(place(5, 1, "buy", "yes", 1, type="stop", stop_price=50))
    evs = x.apply(place(6, 3, "buy", "yes", 1, 50))
    # 50 fires order 5 only; its trade at 55 then fires order 4.
    assert fills(evs) == [(6, 1, 50, 1), (5, 2, 55, 1), (4, 3, 60, 1)]
    assert x.book() == ([], [])
    assert x.engine.orders == {}


def test_a_stop_already_hit_when_placed_fires_at_once() -> None:
    x = Exchange()
    x.apply(place(1, 2, "buy", "no", 1, 50))
    x.apply(place(2, 1, "buy", "yes", 1, 50))  # last = 50
    x.apply(place(3, 2, "buy", "no", 4, 45))  # ask 55
    s = place(4, 3, "buy", "yes", 2, 60, type="stop_limit", stop_price=45)
    evs = x.apply(s)
    assert fills(evs) == [(4, 3, 55, 2)]
    assert (
        OrderUpdated.of(done(s, "filled", "filled", filled_qty=2, filled_cost=110, triggered=True))
        in evs
    )


def test_a_sweep_fires_stops_at_every_price_it_prints_not_only_the_last() -> None:
    """Regression: a buy sweeping asks 50, 51, 52 prints 50; a sell stop at 50 must fire even
    though the last price after the sweep is 52."""
    x = Exchange()
    x.give(3, "yes", 2, price=60)  # last trade 60: the sell stop below is not yet hit
    x.apply(place(10, 3, "sell", "yes", 2, type="stop", stop_price=50))
    x.apply(place(11, 1, "buy", "yes", 2, 45))  # bid 45, for the stop to sell into
    for oid, no_price in ((12, 50), (13, 49), (14, 48)):  # asks 50, 51, 52
        x.apply(place(oid, 2, "buy", "no", 1, no_price))
    evs = x.apply(place(15, 1, "buy", "yes", 3, 52))
    assert fills(evs) == [(15, 12, 50, 1), (15, 13, 51, 1), (15, 14, 52, 1), (10, 11, 45, 2)]
    assert x.pos(3) == (0, 0)


def test_a_gtd_stop_limit_expires_while_it_waits() -> None:
    x = Exchange()
    s = place(1, 1, "buy", "yes", 2, 50, type="stop_limit", stop_price=60, tif="gtd", expires_at=10)
    x.apply(s)
    assert x.apply(Tick(ts=10)) == [OrderUpdated.of(done(s, "expired", "expired", updated_ts=10))]
    assert x.cash(1) == (10_000, 0)
    assert x.engine.markets[M].stops == []


def test_netting_shrinks_a_waiting_sell_stop_like_any_other_sell() -> None:
    x = Exchange()
    x.give(1, "yes", 5)
    s = place(1, 1, "sell", "yes", 5, type="stop", stop_price=30)
    x.apply(s)
    x.apply(place(2, 3, "buy", "yes", 3, 55))
    evs = x.apply(place(3, 1, "buy", "no", 3, 45))  # nets 3 pairs: 2 YES left for 5 reserved
    assert evs[2:4] == [
        PositionNetted(M, 1, 3),
        OrderUpdated.of(accepted(s, qty=2, remaining_qty=2, price=1, tif="ioc")),
    ]
    assert x.engine.markets[M].positions[1].yes_reserved == 2
