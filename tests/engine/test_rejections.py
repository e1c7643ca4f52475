"""A bad command is rejected with the right reason and changes nothing at all."""

from typing import Any

import pytest
from invariants import fingerprint
from kit import Exchange, M, place

from engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CloseMarket,
    CommandRejected,
    CreateMarket,
    CreditCash,
    DebitCash,
    EngineConfig,
    HaltMarket,
    OpenMarket,
    PlaceOrder,
    Reject,
    ResolveMarket,
)

TS = 10


def base(config: EngineConfig | None = None) -> Exchange:
    """Market M with a book and positions; H halted, C closed, R resolved.

    User 1: 10 YES in M, 4 of them offered at 70; a bid of 5 at 40 (client id "c1").
    User 2: 10 NO in M; an ask (buy NO) of 3 at YES 60. User 3: cash only.
    """
    x = Exchange(config=config)
    x.give(1, "yes", 10, via=2)
    x.apply(place(1, 1, "buy", "yes", 5, 40, client_order_id="c1"))
    x.apply(place(2, 1, "sell", "yes", 4, 70))
    x.apply(place(3, 2, "buy", "no", 3, 40))  # ask 60
    x.apply(place(4, 2, "buy", "no", 1, type="stop", stop_price=90))
    for t in ("H", "C", "R"):
        x.apply(CreateMarket(market=t))
    x.apply(HaltMarket(market="H"))
    x.apply(CloseMarket(market="C"))
    x.apply(ResolveMarket(market="R", result="yes"))
    return x


def buy(**kw: Any) -> Any:
    """User 3 buys 1 YES at 30 in M at TS, with `kw` changed."""
    fields: dict[str, Any] = {"order_id": 100, "user": 3, "side": "buy", "outcome": "yes"}
    fields |= {"qty": 1, "price": 30, "ts": TS, "market": M} | kw
    return PlaceOrder(**fields)


CASES: list[tuple[str, Any, Reject]] = [
    # order terms
    ("qty 0", buy(qty=0), Reject.INVALID),
    ("qty negative", buy(qty=-3), Reject.INVALID),
    ("qty above max", buy(qty=1_000_001), Reject.INVALID),
    ("price 0", buy(price=0), Reject.INVALID),
    ("price 100", buy(price=100), Reject.INVALID),
    ("limit without price", buy(price=None), Reject.INVALID),
    ("market with price 100", buy(type="market", price=100), Reject.INVALID),
    ("order id 0", buy(order_id=0), Reject.INVALID),
    ("order id negative", buy(order_id=-1), Reject.INVALID),
    ("unknown side", buy(side="hold"), Reject.INVALID),
    ("unknown outcome", buy(outcome="maybe"), Reject.INVALID),
    ("unknown type", buy(type="iceberg"), Reject.INVALID),
    ("unknown tif", buy(tif="day"), Reject.INVALID),
    ("unknown stp", buy(stp="cancel_all"), Reject.INVALID),
    ("market gtd", buy(type="market", tif="gtd", expires_at=99), Reject.INVALID),
    ("stop fok", buy(type="stop", tif="fok", stop_price=50), Reject.INVALID),
    ("stop gtd", buy(type="stop", tif="gtd", expires_at=99, stop_price=50), Reject.INVALID),
    ("stop_limit fok", buy(type="stop_limit", tif="fok", stop_price=50), Reject.INVALID),
    ("stop post_only", buy(type="stop_limit", post_only=True, stop_price=50), Reject.INVALID),
    ("stop without stop_price", buy(type="stop"), Reject.INVALID),
    ("stop_limit without stop_price", buy(type="stop_limit"), Reject.INVALID),
    ("stop_price 0", buy(type="stop", stop_price=0), Reject.INVALID),
    ("stop_price 100", buy(type="stop", stop_price=100), Reject.INVALID),
    ("stop_price on a limit", buy(stop_price=50), Reject.INVALID),
    ("gtd without expires_at", buy(tif="gtd"), Reject.INVALID),
    ("gtd expiring now", buy(tif="gtd", expires_at=TS), Reject.INVALID),
    ("gtd expired", buy(tif="gtd", expires_at=TS - 5), Reject.INVALID),
    ("expires_at on gtc", buy(expires_at=TS + 5), Reject.INVALID),
    ("post_only ioc", buy(post_only=True, tif="ioc"), Reject.INVALID),
    ("post_only fok", buy(post_only=True, tif="fok"), Reject.INVALID),
    ("post_only market", buy(post_only=True, type="market"), Reject.INVALID),
    # where and who
    ("unknown market", buy(market="NOPE"), Reject.NOT_FOUND),
    ("halted market", buy(market="H"), Reject.MARKET_NOT_OPEN),
    ("closed market", buy(market="C"), Reject.MARKET_NOT_OPEN),
    ("resolved market", buy(market="R"), Reject.MARKET_NOT_OPEN),
    ("order id in use", buy(order_id=1), Reject.CONFLICT),
    (
        "client id in use, other terms",
        place(100, 1, "buy", "yes", 6, 40, client_order_id="c1", ts=TS),
        Reject.CONFLICT,
    ),
    # money and contracts
    ("buy beyond cash", buy(qty=400, price=30), Reject.INSUFFICIENT_FUNDS),
    (
        "buy by a user without an account",
        place(100, 42, "buy", "yes", 1, 30, ts=TS),
        Reject.INSUFFICIENT_FUNDS,
    ),
    ("sell without holdings", buy(side="sell"), Reject.INSUFFICIENT_POSITION),
    (
        "sell NO while holding YES",
        place(100, 1, "sell", "no", 1, 30, ts=TS),
        Reject.INSUFFICIENT_POSITION,
    ),
    (
        "sell more than unreserved",
        place(100, 1, "sell", "yes", 7, 80, ts=TS),
        Reject.INSUFFICIENT_POSITION,
    ),
    (
        "sell stop beyond holdings",
        place(100, 2, "sell", "no", 11, type="stop", stop_price=5, ts=TS),
        Reject.INSUFFICIENT_POSITION,
    ),
    # book conditions
    ("post_only crossing", buy(price=60, post_only=True), Reject.POST_ONLY_WOULD_CROSS),
    ("fok too big", buy(price=60, qty=4, tif="fok"), Reject.FOK_UNFILLABLE),
    ("fok priced out", buy(price=59, qty=1, tif="fok"), Reject.FOK_UNFILLABLE),
    ("market fok too big", buy(type="market", qty=8, tif="fok"), Reject.FOK_UNFILLABLE),
    # cancel / amend
    ("cancel unknown", CancelOrder(user=1, order_id=999, ts=TS), Reject.NOT_FOUND),
    ("cancel another user's", CancelOrder(user=2, order_id=1, ts=TS), Reject.FORBIDDEN),
    ("cancel without an id", CancelOrder(user=1, ts=TS), Reject.INVALID),
    (
        "cancel unknown client id",
        CancelOrder(user=1, client_order_id="zz", ts=TS),
        Reject.NOT_FOUND,
    ),
    (
        "cancel another user's client id",
        CancelOrder(user=2, client_order_id="c1", ts=TS),
        Reject.NOT_FOUND,
    ),
    ("cancel all in unknown market", CancelAll(user=1, market="NOPE", ts=TS), Reject.NOT_FOUND),
    ("amend unknown", AmendOrder(user=1, order_id=999, qty=1, ts=TS), Reject.NOT_FOUND),
    ("amend another user's", AmendOrder(user=2, order_id=1, qty=1, ts=TS), Reject.FORBIDDEN),
    ("amend to 0", AmendOrder(user=1, order_id=1, qty=0, ts=TS), Reject.INVALID),
    ("amend to the same", AmendOrder(user=1, order_id=1, qty=5, ts=TS), Reject.INVALID),
    ("amend up", AmendOrder(user=1, order_id=1, qty=6, ts=TS), Reject.INVALID),
    # cash
    ("credit 0", CreditCash(user=1, amount=0, ts=TS), Reject.INVALID),
    ("credit negative", CreditCash(user=1, amount=-5, ts=TS), Reject.INVALID),
    ("credit above max", CreditCash(user=1, amount=10**12 + 1, ts=TS), Reject.INVALID),
    ("debit 0", DebitCash(user=1, amount=0, ts=TS), Reject.INVALID),
    ("debit beyond available", DebitCash(user=1, amount=10_000, ts=TS), Reject.INSUFFICIENT_FUNDS),
    ("debit of an unknown user", DebitCash(user=42, amount=1, ts=TS), Reject.INSUFFICIENT_FUNDS),
    # markets
    ("ticker lowercase", CreateMarket(market="abc", ts=TS), Reject.INVALID),
    ("ticker empty", CreateMarket(market="", ts=TS), Reject.INVALID),
    ("ticker with space", CreateMarket(market="A B", ts=TS), Reject.INVALID),
    ("ticker too long", CreateMarket(market="A" * 65, ts=TS), Reject.INVALID),
    ("ticker taken", CreateMarket(market=M, ts=TS), Reject.CONFLICT),
    ("fee negative", CreateMarket(market="F", maker_fee_bps=-1, ts=TS), Reject.INVALID),
    ("fee above max", CreateMarket(market="F", taker_fee_bps=1001, ts=TS), Reject.INVALID),
    ("close_ts in the past", CreateMarket(market="F", close_ts=TS, ts=TS), Reject.INVALID),
    ("halt unknown", HaltMarket(market="NOPE", ts=TS), Reject.NOT_FOUND),
    ("open unknown", OpenMarket(market="NOPE", ts=TS), Reject.NOT_FOUND),
    ("close unknown", CloseMarket(market="NOPE", ts=TS), Reject.NOT_FOUND),
    ("resolve unknown", ResolveMarket(market="NOPE", result="yes", ts=TS), Reject.NOT_FOUND),
    ("resolve to nonsense", ResolveMarket(market=M, result="maybe", ts=TS), Reject.INVALID),  # type: ignore[arg-type]
    ("open an open market", OpenMarket(market=M, ts=TS), Reject.CONFLICT),
    ("resolve a resolved market", ResolveMarket(market="R", result="no", ts=TS), Reject.CONFLICT),
]


@pytest.mark.parametrize(("cmd", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_command_is_rejected_and_changes_nothing(cmd: Any, reason: Reject) -> None:
    x = base()
    x.engine.take_cash_changes()
    before = fingerprint(x.engine)
    evs = x.apply(cmd)
    assert [type(ev) for ev in evs] == [CommandRejected]
    assert evs[0].reason == reason, evs[0].message
    assert evs[0].message
    assert fingerprint(x.engine) == before
    assert x.engine.take_cash_changes() == {}


def test_too_many_open_orders_is_rejected_and_changes_nothing() -> None:
    x = base(EngineConfig(max_open_orders=3))  # user 1 has 2 open orders, user 2 has 2
    x.apply(place(5, 1, "buy", "no", 1, 10))
    before = fingerprint(x.engine)
    evs = x.apply(place(6, 1, "buy", "no", 1, 10))
    assert [ev.reason for ev in evs] == [Reject.TOO_MANY_OPEN_ORDERS]
    assert fingerprint(x.engine) == before
