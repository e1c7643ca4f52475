"""A bot that got no reply retries with the same client_order_id: with a retry window,
the engine answers an order that already finished instead of placing a second one."""

from engine import (
    CreateMarket,
    CreditCash,
    Engine,
    EngineConfig,
    OrderDeduplicated,
    OrderUpdated,
    PlaceOrder,
    TradeExecuted,
)

WINDOW = 60_000


def engine(window: int = WINDOW) -> Engine:
    e = Engine(EngineConfig(retry_window_ms=window))
    e.apply(CreateMarket(market="M", ts=0))
    for u in (1, 2):
        e.apply(CreditCash(user=u, amount=100_000, ts=0))
    e.apply(
        PlaceOrder(order_id=1, user=1, market="M", side="buy", outcome="yes", price=60, qty=5, ts=1)
    )
    return e


def ioc(order_id: int, ts: int, qty: int = 5, coid: str = "bot-1") -> PlaceOrder:
    return PlaceOrder(
        order_id=order_id, user=2, market="M", side="buy", outcome="no", price=45, qty=qty,
        tif="ioc", client_order_id=coid, ts=ts,
    )  # fmt: skip


def test_a_retried_place_of_an_order_that_filled_at_once_returns_it_and_trades_nothing() -> None:
    e = engine()
    first = e.apply(ioc(10, ts=100))
    assert any(type(ev) is TradeExecuted for ev in first)
    again = e.apply(ioc(11, ts=200))
    assert [type(ev) for ev in again] == [OrderDeduplicated]
    assert again[0].order.order_id == 10 and again[0].order.status == "filled"
    assert e.markets["M"].trade_no == 1


def test_after_the_window_the_same_id_places_a_new_order() -> None:
    e = engine()
    e.apply(ioc(10, ts=100))
    later = e.apply(ioc(11, ts=100 + WINDOW + 1))
    assert any(type(ev) is OrderUpdated and ev.order.order_id == 11 for ev in later)


def test_the_same_id_with_other_terms_is_a_new_order_not_a_retry() -> None:
    e = engine()
    e.apply(ioc(10, ts=100, qty=2))
    other = e.apply(ioc(11, ts=200, qty=3))
    assert any(type(ev) is OrderUpdated and ev.order.order_id == 11 for ev in other)


def test_without_a_window_the_engine_keeps_open_order_semantics_only() -> None:
    e = engine(window=0)
    e.apply(ioc(10, ts=100, qty=2))
    again = e.apply(ioc(11, ts=200, qty=2))
    assert any(type(ev) is OrderUpdated and ev.order.order_id == 11 for ev in again)


def test_recovery_restores_the_window() -> None:
    e = engine()
    done = next(
        ev.order
        for ev in e.apply(ioc(10, ts=100))
        if type(ev) is OrderUpdated and ev.order.order_id == 10
    )
    fresh = engine()
    fresh.restore_done(done)
    again = fresh.apply(ioc(11, ts=200))
    assert [type(ev) for ev in again] == [OrderDeduplicated]
