"""Hypothesis drives the engine and the oracle with the same commands, step by step.

Every step is compared (rejection, trades, books, open orders, balances, positions) and
every invariant checked by `Differential.step`; a rejected command must leave the state
exactly as it was. At teardown the command log is replayed into a fresh engine.
"""

from typing import Any

from differential import Differential, replay
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from invariants import fingerprint

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
    ResolveMarket,
    Tick,
)

USERS = (1, 2, 3)
MARKETS = ("A", "B")

users = st.sampled_from(USERS)
markets = st.sampled_from(MARKETS)
prices = st.one_of(st.integers(40, 60), st.integers(1, 99))
quantities = st.one_of(st.integers(1, 5), st.integers(1, 40))


class EngineAgainstOracle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.d = Differential(EngineConfig(max_open_orders=6))
        self.ts = 0
        self.next_id = 1

    def step(self, cmd: Any) -> None:
        timers_due = bool(self.d.engine._timers) and self.d.engine._timers[0][0] <= cmd.ts
        before = fingerprint(self.d.engine)
        evs = self.d.step(cmd)
        if any(isinstance(ev, CommandRejected) for ev in evs) and not timers_due:
            assert len(evs) == 1
            assert fingerprint(self.d.engine) == before

    @initialize(
        fees=st.sampled_from([(0, 0), (10, 200), (1000, 0)]),
        cash=st.sampled_from([800, 5_000, 50_000]),
    )
    def setup(self, fees: tuple[int, int], cash: int) -> None:
        for t in MARKETS:
            self.step(
                CreateMarket(market=t, maker_fee_bps=fees[0], taker_fee_bps=fees[1], close_ts=5_000)
            )
        for u in USERS:
            self.step(CreditCash(user=u, amount=cash))

    @rule(
        user=users,
        market=markets,
        side=st.sampled_from(["buy", "buy", "sell"]),
        outcome=st.sampled_from(["yes", "no"]),
        qty=quantities,
        price=prices,
        kind=st.sampled_from(
            [
                "limit",
                "limit",
                "limit",
                "ioc",
                "fok",
                "gtd",
                "post_only",
                "market",
                "stop",
                "stop_limit",
            ]
        ),
        stop_price=prices,
        stp=st.sampled_from(["cancel_newest", "cancel_oldest", "cancel_both"]),
        coid=st.sampled_from([None, None, None, "x", "y"]),
        dt=st.integers(0, 3),
    )
    def place(
        self,
        user: int,
        market: str,
        side: str,
        outcome: str,
        qty: int,
        price: int,
        kind: str,
        stop_price: int,
        stp: str,
        coid: str | None,
        dt: int,
    ) -> None:
        self.ts += dt
        kw: dict[str, Any] = {"price": price}
        if kind in ("ioc", "fok"):
            kw["tif"] = kind
        elif kind == "gtd":
            kw |= {"tif": "gtd", "expires_at": self.ts + 1 + qty}
        elif kind == "post_only":
            kw["post_only"] = True
        elif kind == "market":
            kw |= {"type": "market", "price": None if price > 50 else price}
        elif kind in ("stop", "stop_limit"):
            kw |= {"type": kind, "stop_price": stop_price}
        self.step(
            PlaceOrder(
                ts=self.ts,
                order_id=self.next_id,
                user=user,
                market=market,
                side=side,  # type: ignore[arg-type]
                outcome=outcome,  # type: ignore[arg-type]
                qty=qty,
                stp=stp,  # type: ignore[arg-type]
                client_order_id=coid,
                **kw,
            )
        )
        self.next_id += 1

    @rule(data=st.data(), user=users)
    def cancel(self, data: st.DataObject, user: int) -> None:
        ids = sorted(o.order_id for o in self.d.oracle.orders) or [0]
        oid = data.draw(st.sampled_from(ids))
        self.step(CancelOrder(ts=self.ts, user=user, order_id=oid))

    @rule(user=users, coid=st.sampled_from(["x", "y"]))
    def cancel_by_client_id(self, user: int, coid: str) -> None:
        self.step(CancelOrder(ts=self.ts, user=user, client_order_id=coid))

    @rule(data=st.data(), qty=st.integers(0, 20))
    def amend(self, data: st.DataObject, qty: int) -> None:
        orders = self.d.oracle.orders
        if orders:
            o = data.draw(st.sampled_from(sorted(orders, key=lambda o: o.order_id)))
            self.step(AmendOrder(ts=self.ts, user=o.user, order_id=o.order_id, qty=qty))

    @rule(user=users, market=st.sampled_from([None, *MARKETS]))
    def cancel_all(self, user: int, market: str | None) -> None:
        self.step(CancelAll(ts=self.ts, user=user, market=market))

    @rule(dt=st.integers(1, 30))
    def tick(self, dt: int) -> None:
        self.ts += dt
        self.step(Tick(ts=self.ts))

    @rule(user=users, amount=st.integers(0, 3_000), debit=st.booleans())
    def cash(self, user: int, amount: int, debit: bool) -> None:
        cmd = DebitCash if debit else CreditCash
        self.step(cmd(ts=self.ts, user=user, amount=amount))

    @rule(
        market=markets,
        action=st.sampled_from(["halt", "open", "open", "close", "resolve"]),
        n=st.integers(0, 9),
    )
    def lifecycle(self, market: str, action: str, n: int) -> None:
        if action in ("close", "resolve") and n:
            return  # rare: one in ten
        cmd: Any = {
            "halt": HaltMarket(ts=self.ts, market=market),
            "open": OpenMarket(ts=self.ts, market=market),
            "close": CloseMarket(ts=self.ts, market=market),
            "resolve": ResolveMarket(
                ts=self.ts, market=market, result=("yes", "no", "void")[self.ts % 3]
            ),
        }[action]
        self.step(cmd)

    @invariant()
    def book_matches_oracle(self) -> None:
        for t in self.d.engine.markets:
            _, bids, asks = self.d.engine.book_snapshot(t)
            assert (bids, asks) == self.d.oracle.l2(t)

    def teardown(self) -> None:
        if self.d.commands:
            again, events = replay(self.d.commands, self.d.config)
            assert events == self.d.events
            assert fingerprint(again) == fingerprint(self.d.engine)


EngineAgainstOracle.TestCase.settings = settings(
    max_examples=400,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_engine_against_oracle = EngineAgainstOracle.TestCase
