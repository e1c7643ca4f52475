"""Run the engine and the oracle side by side and compare them after every command."""

import random
from dataclasses import astuple
from typing import Any

import msgspec
from invariants import SeqTracker, books, check_invariants
from msgspec.structs import astuple as struct_tuple
from oracle import Oracle

from engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CloseMarket,
    Command,
    CommandRejected,
    CreateMarket,
    CreditCash,
    DebitCash,
    Engine,
    EngineConfig,
    Event,
    HaltMarket,
    OpenMarket,
    OrderDeduplicated,
    OrderUpdated,
    PlaceOrder,
    ResolveMarket,
    Tick,
    TradeExecuted,
)


def engine_trades(events: list[Event]) -> list[tuple[Any, ...]]:
    return [
        (
            ev.market,
            ev.price,
            ev.qty,
            ev.kind,
            ev.maker_order_id,
            ev.maker_user,
            ev.maker_fee,
            ev.taker_order_id,
            ev.taker_user,
            ev.taker_fee,
        )
        for ev in events
        if isinstance(ev, TradeExecuted)
    ]


DONE_REASONS = {
    "filled": {"filled"},
    "expired": {"expired"},
    "cancelled": {"user", "ioc", "self_trade", "market_closed", "position_netted"},
}


class OrderLedger:
    """What the trade events say each order filled, to check every order snapshot."""

    def __init__(self) -> None:
        self.filled: dict[int, list[int]] = {}  # order_id -> [qty, own-outcome cost, fees]

    def feed(self, cmd: Command, evs: list[Event], engine: Engine) -> None:
        last = {}
        for ev in evs:
            if isinstance(ev, TradeExecuted):
                for oid, outcome, fee in (
                    (ev.maker_order_id, ev.maker_outcome, ev.maker_fee),
                    (ev.taker_order_id, ev.taker_outcome, ev.taker_fee),
                ):
                    own = ev.price if outcome == "yes" else 100 - ev.price
                    f = self.filled.setdefault(oid, [0, 0, 0])
                    f[0] += ev.qty
                    f[1] += own * ev.qty
                    f[2] += fee
            elif isinstance(ev, OrderUpdated | OrderDeduplicated):
                o = ev.order
                f = self.filled.get(o.order_id, [0, 0, 0])
                assert [o.filled_qty, o.filled_cost, o.fees] == f, o
                if o.status in ("open", "partially_filled"):
                    assert o.remaining_qty > 0 and o.filled_qty + o.remaining_qty == o.qty, o
                    assert (o.status == "partially_filled") == (o.filled_qty > 0), o
                    assert o.reason is None, o
                else:
                    assert o.remaining_qty == 0 and o.hold == 0 and o.priority == 0, o
                    assert o.reason in DONE_REASONS[o.status], o
                    assert (o.status == "filled") == (o.filled_qty == o.qty), o
                if isinstance(ev, OrderUpdated):
                    last[o.order_id] = o
                else:
                    assert struct_tuple(engine.orders[o.order_id].snapshot()) == struct_tuple(o), o
        for oid, o in last.items():
            if o.status in ("open", "partially_filled"):
                assert oid in engine.orders, o
                assert struct_tuple(engine.orders[oid].snapshot()) == struct_tuple(o), o
            else:
                assert oid not in engine.orders, o
        if isinstance(cmd, PlaceOrder) and not any(
            isinstance(ev, CommandRejected | OrderDeduplicated) for ev in evs
        ):
            assert cmd.order_id in last, (cmd, evs)


class Differential:
    """An engine and an oracle fed the same commands, compared after each one."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config
        self.engine = Engine(config)
        self.oracle = Oracle(config)
        self.seqs = SeqTracker()
        self.commands: list[Command] = []
        self.events: list[list[Event]] = []
        self.trades = 0
        self.rejects = 0
        self.ledger = OrderLedger()

    def step(self, cmd: Command) -> list[Event]:
        before = books(self.engine)
        cash0 = {u: (a.available, a.held) for u, a in self.engine.accounts.items()}
        evs = self.engine.apply(cmd)
        res = self.oracle.apply(cmd)
        self.commands.append(cmd)
        self.events.append(evs)
        where = f"command #{len(self.commands)}: {cmd}"

        rejects = [ev.reason for ev in evs if isinstance(ev, CommandRejected)]
        assert rejects == ([res.reject] if res.reject else []), (where, evs)
        if rejects:
            self.rejects += 1
        trades = engine_trades(evs)
        assert trades == [astuple(t) for t in res.trades], where
        self.trades += len(trades)
        dedup = [ev.order.order_id for ev in evs if isinstance(ev, OrderDeduplicated)]
        assert dedup == ([res.deduplicated] if res.deduplicated else []), where
        self.compare(where)
        changes = {}
        for u, a in self.engine.accounts.items():
            d = (a.available - cash0.get(u, (0, 0))[0], a.held - cash0.get(u, (0, 0))[1])
            if d != (0, 0):
                changes[u] = d
        assert self.engine.take_cash_changes() == changes, where
        self.seqs.feed(evs)
        self.ledger.feed(cmd, evs, self.engine)
        check_invariants(self.engine, evs, before)
        return evs

    def compare(self, where: str) -> None:
        e, o = self.engine, self.oracle
        assert set(e.markets) == set(o.markets), where
        for t, m in e.markets.items():
            om = o.markets[t]
            if m.status in ("open", "halted") or om.status in ("open", "halted"):
                _, bids, asks = e.book_snapshot(t)
                assert (bids, asks) == o.l2(t), (where, t)
            assert (m.status, m.result, m.escrow, m.fees) == (
                om.status,
                om.result,
                om.escrow,
                om.fees,
            ), (where, t)
        assert {i: (x.remaining_qty, x.qty) for i, x in e.orders.items()} == o.open_orders(), where
        balances = {
            u: (a.available, a.held) for u, a in e.accounts.items() if a.available or a.held
        }
        assert balances == o.balances(), where
        positions = {}
        for t, m in e.markets.items():
            for u, p in m.positions.items():
                row = (p.yes, p.no, p.yes_reserved, p.no_reserved)
                if any(row):
                    positions[(t, u)] = row
        assert positions == o.positions(), where
        assert (e.credits, e.debits) == (o.credits, o.debits), where


def replay(
    commands: list[Command], config: EngineConfig | None = None
) -> tuple[Engine, list[list[Event]]]:
    e = Engine(config)
    return e, [e.apply(c) for c in commands]


class Stream:
    """A seeded random command stream: several users, a few markets, prices near a drifting
    mid so that about a third of the orders cross. Reads the oracle to pick sensible
    targets (orders to cancel, contracts to sell) but still sends some nonsense."""

    def __init__(self, seed: int, *, markets: int = 2, users: int = 5, cash: int = 30_000) -> None:
        self.rng = random.Random(seed)
        self.n_markets = markets
        self.users = list(range(1, users + 1))
        self.cash = cash
        self.ts = 1_000
        self.next_id = 1
        self.market_no = 0
        self.mid: dict[str, int] = {}
        self.pending: list[Command] = []

    def _new_market(self) -> Command:
        rng = self.rng
        self.market_no += 1
        t = f"M{self.market_no}"
        self.mid[t] = rng.randint(20, 80)
        close_ts = self.ts + rng.randint(500, 5_000) if rng.random() < 0.2 else None
        maker, taker = rng.choice([(0, 0), (0, 0), (0, 100), (25, 250), (10, 10), (1000, 1000)])
        return CreateMarket(
            ts=self.ts, market=t, close_ts=close_ts, maker_fee_bps=maker, taker_fee_bps=taker
        )

    def setup(self) -> list[Command]:
        cmds = [self._new_market() for _ in range(self.n_markets)]
        cmds += [CreditCash(ts=self.ts, user=u, amount=self.cash) for u in self.users]
        return cmds

    def next(self, oracle: Oracle) -> Command:
        rng = self.rng
        self.ts += rng.choice((0, 0, 0, 1, 1, 2, 5))
        if self.pending:
            return self.pending.pop()
        live = [t for t, m in oracle.markets.items() if m.status in ("open", "halted")]
        if len(live) < self.n_markets:
            return self._new_market()
        halted = [t for t in live if oracle.markets[t].status == "halted"]
        if halted and rng.random() < 0.1:
            return OpenMarket(ts=self.ts, market=halted[0])
        r = rng.random()
        user = rng.choice(self.users)
        mine = [o for o in oracle.orders if o.user == user]
        if r < 0.58:
            return self._place(oracle, user, rng.choice(live))
        if r < 0.66:
            if mine and rng.random() < 0.9:
                o = rng.choice(mine)
                if o.coid is not None and rng.random() < 0.3:
                    return CancelOrder(ts=self.ts, user=user, client_order_id=o.coid)
                return CancelOrder(ts=self.ts, user=user, order_id=o.order_id)
            if oracle.orders and rng.random() < 0.5:
                return CancelOrder(
                    ts=self.ts, user=user, order_id=rng.choice(oracle.orders).order_id
                )
            return CancelOrder(ts=self.ts, user=user, order_id=rng.randint(1, self.next_id + 5))
        if r < 0.71:
            if mine:
                o = rng.choice(mine)
                qty = rng.randint(0, o.remaining) if rng.random() < 0.9 else o.remaining + 1
                return AmendOrder(ts=self.ts, user=user, order_id=o.order_id, qty=qty)
            return AmendOrder(ts=self.ts, user=user, order_id=rng.randint(1, self.next_id), qty=1)
        if r < 0.715:
            market = rng.choice([None, rng.choice(live), "NOPE"])
            return CancelAll(ts=self.ts, user=user, market=market)
        if r < 0.74:
            self.ts += rng.randint(1, 40)
            return Tick(ts=self.ts)
        if r < 0.77:
            return CreditCash(ts=self.ts, user=user, amount=rng.choice((0, 500, 5_000, 20_000)))
        if r < 0.78:
            return DebitCash(ts=self.ts, user=user, amount=rng.choice((0, 100, 2_000, 50_000)))
        if r < 0.785:
            t = rng.choice(live)
            if oracle.markets[t].status == "halted":
                return OpenMarket(ts=self.ts, market=t)
            return HaltMarket(ts=self.ts, market=t)
        if r < 0.7855:
            if rng.random() < 0.1:
                return CreateMarket(ts=self.ts, market=rng.choice(("M1", "bad ticker", "")))
            t = rng.choice(list(oracle.markets))
            if rng.random() < 0.3:
                return CloseMarket(ts=self.ts, market=t)
            return ResolveMarket(ts=self.ts, market=t, result=rng.choice(("yes", "no", "void")))
        return self._place(oracle, user, rng.choice(live))

    def _place(self, oracle: Oracle, user: int, market: str) -> Command:
        rng = self.rng
        m = oracle.markets[market]
        mid = self.mid[market] = min(95, max(5, self.mid[market] + rng.choice((-1, 0, 0, 1))))
        pos = oracle.pos.get((market, user), {"yes": 0, "no": 0})
        held = "yes" if pos["yes"] else "no" if pos["no"] else None
        free = 0 if held is None else pos[held] - oracle.reserved(market, user, held)
        if held is not None and free > 0 and rng.random() < 0.45:
            side, outcome = "sell", held
            qty = rng.randint(1, free) if rng.random() < 0.95 else free + 1
        else:
            side = "buy" if rng.random() < 0.97 else "sell"
            outcome = rng.choice(("yes", "no"))
            qty = rng.choice((1, 1, 2, 3, 5, 8, 10, 15, 25, 40))
        is_bid = (side == "buy") == (outcome == "yes")
        offset = rng.randint(-4, 6)
        book_price = min(99, max(1, mid - offset if is_bid else mid + offset))
        price: int | None = book_price if outcome == "yes" else 100 - book_price
        kind = rng.random()
        typ, tif = "limit", "gtc"
        post_only = False
        expires_at = stop_price = None
        if kind < 0.06:
            typ = "market"
            tif = rng.choice(("ioc", "ioc", "gtc", "fok"))
            if rng.random() < 0.5:
                price = None
        elif kind < 0.15:
            typ = "stop" if kind < 0.11 else "stop_limit"
            last = m.last or mid
            own_last = last if outcome == "yes" else 100 - last
            d = rng.randint(-2, 5)
            stop_price = min(99, max(1, own_last + d if side == "buy" else own_last - d))
            if typ == "stop" and rng.random() < 0.5:
                price = None
            if typ == "stop_limit":
                tif = rng.choice(("gtc", "gtc", "ioc", "gtd"))
        else:
            tif = rng.choice(("gtc",) * 6 + ("ioc", "ioc", "fok", "fok", "gtd", "gtd"))
            post_only = tif in ("gtc", "gtd") and rng.random() < 0.12
        if tif == "gtd":
            expires_at = self.ts + rng.randint(1, 300)
        coid = None
        if rng.random() < 0.15:
            coid = rng.choice("abcd")
            same = [o for o in oracle.orders if o.user == user and o.coid == coid]
            if same and rng.random() < 0.5:
                return self._repeat(same[0])
        order_id = self.next_id
        self.next_id += 1
        if rng.random() < 0.01 and oracle.orders:
            order_id = rng.choice(oracle.orders).order_id
        stp = rng.choice(("cancel_newest",) * 4 + ("cancel_oldest", "cancel_oldest", "cancel_both"))
        cmd = PlaceOrder(
            ts=self.ts,
            order_id=order_id,
            user=user,
            market=market,
            side=side,  # type: ignore[arg-type]
            outcome=outcome,  # type: ignore[arg-type]
            qty=qty,
            type=typ,  # type: ignore[arg-type]
            tif=tif,  # type: ignore[arg-type]
            price=price,
            post_only=post_only,
            client_order_id=coid,
            expires_at=expires_at,
            stop_price=stop_price,
            stp=stp,  # type: ignore[arg-type]
        )
        if rng.random() < 0.02:
            cmd = self._spoil(cmd)
        return cmd

    def _repeat(self, o: Any) -> Command:
        """The same place again (a client retry), sometimes with one term changed."""
        rng = self.rng
        self.next_id += 1
        cmd = PlaceOrder(
            ts=self.ts,
            order_id=self.next_id,
            user=o.user,
            market=o.market,
            side=o.side,
            outcome=o.outcome,
            qty=o.qty,
            type=o.type,
            tif=o.tif,
            price=o.price,
            post_only=o.post_only,
            client_order_id=o.coid,
            expires_at=o.expires_at,
            stop_price=o.stop_price,
            stp=o.stp,
        )
        if o.tif == "gtd" and o.expires_at is not None and o.expires_at <= self.ts:
            return cmd  # invalid now; the oracle will say so too
        if rng.random() < 0.3:
            cmd = msgspec.structs.replace(cmd, qty=o.qty + 1)
        return cmd

    def _spoil(self, cmd: PlaceOrder) -> Command:
        rng = self.rng
        change = rng.choice(
            [
                {"qty": 0},
                {"price": 0},
                {"price": 100},
                {"market": "NOPE"},
                {"tif": "gtd", "expires_at": None},
                {"tif": "gtd", "expires_at": self.ts},
                {"type": "stop_limit", "stop_price": None},
                {"order_id": 0},
                {"side": "hold"},
                {"stp": "whatever"},
                {"post_only": True, "tif": "ioc"},
                {"expires_at": self.ts + 5, "tif": "gtc"},
            ]
        )
        if "price" in change and cmd.price is None:
            change = {"qty": -1}
        return msgspec.structs.replace(cmd, **change)
