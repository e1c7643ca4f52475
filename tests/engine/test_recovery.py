"""Recovery and replay: an engine rebuilt with `restore_*` from durable state behaves exactly
like the one that never stopped, and replaying the command log gives the same events."""

from collections.abc import Iterable
from typing import Any

import msgspec
import pytest
from differential import Differential, Stream, engine_trades, replay
from invariants import check_invariants, fingerprint
from kit import Exchange, M, place

from engine import (
    AnyCommand,
    AnyEvent,
    BookChanged,
    Engine,
    Event,
    Order,
    OrderState,
    Tick,
)


def restore(e: Engine, orders: Iterable[OrderState]) -> Engine:
    """A fresh engine loaded from `e`'s durable state: markets, positions, balances, and
    copies of the open `orders` in the order given."""
    r = Engine(e.config)
    for t, m in e.markets.items():
        r.restore_market(
            t,
            title=m.title,
            status=m.status,
            result=m.result,
            seq=m.seq,
            close_ts=m.close_ts,
            maker_fee_bps=m.maker_fee_bps,
            taker_fee_bps=m.taker_fee_bps,
            escrow=m.escrow,
            fees=m.fees,
            last_price=m.last_price,
            volume=m.volume,
            trade_no=m.trade_no,
        )
        for u, p in m.positions.items():
            r.restore_position(t, u, p.yes, p.no)
    for u, a in e.accounts.items():
        r.set_balance(u, a.available, a.held)
    for o in orders:
        r.restore_order(o.snapshot())
    r.credits, r.debits = e.credits, e.debits
    return r


def in_acceptance_order(e: Engine) -> list[OrderState]:
    """Open orders as a durable store would list them: in the order they were accepted."""
    return sorted(e.orders.values(), key=lambda o: o.order_id)


def in_priority_order(e: Engine) -> list[OrderState]:
    """Resting orders by queue priority, then waiting stops in the order they were placed."""
    resting = sorted((o for o in e.orders.values() if o.priority), key=lambda o: o.priority)
    return resting + [o for o in in_acceptance_order(e) if not o.priority]


def _unprioritised(x: Any) -> Any:
    """Events or state with each order's `priority` number blanked: after a restart new
    orders are numbered from the highest restored one, so the numbers (not the order) differ."""
    if isinstance(x, Order):
        return msgspec.structs.replace(x, priority=1 if x.priority else 0)
    if isinstance(x, list):
        return [_unprioritised(v) for v in x]
    return x


def behaviour(e: Engine) -> dict[str, Any]:
    f = fingerprint(e)
    del f["timers"], f["priority"]
    for m in f["markets"].values():
        for side in m["book"].values():
            for p, (qty, live, orders) in side[1].items():
                side[1][p] = (qty, live, len(orders), [o[0] for o in orders])
        m["stops"] = [o[0] for o in m["stops"]]
    f["orders"] = {i: (o[10], o[13]) for i, o in f["orders"].items()}  # remaining, status
    f["user_orders"] = {u: sorted(ids) for u, ids in f["user_orders"].items() if ids}
    return f


def _run_and_restore(seed: int, order: Any, compare: Any) -> None:
    d = Differential()
    stream = Stream(seed, markets=2, users=4)
    for cmd in stream.setup():
        d.step(cmd)
    for cut in range(3):
        for _ in range(700):
            d.step(stream.next(d.oracle))
        original = d.engine
        restored = restore(original, order(original))
        check_invariants(restored)
        assert behaviour(restored) == behaviour(original)
        for t in original.markets:
            assert restored.book_snapshot(t) == original.book_snapshot(t)
        # The same commands from here on: the same events, the same state.
        for _ in range(300):
            cmd = stream.next(d.oracle)
            mine = restored.apply(cmd)
            theirs = d.step(cmd)
            compare(mine, theirs, (cut, cmd))
            check_invariants(restored)
        assert behaviour(restored) == behaviour(original)


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_an_engine_restored_in_acceptance_order_behaves_exactly_like_the_original(
    seed: int,
) -> None:
    def same_events(mine: list[Event], theirs: list[Event], where: Any) -> None:
        assert _unprioritised(mine) == _unprioritised(theirs), where

    _run_and_restore(seed, in_acceptance_order, same_events)


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_an_engine_restored_in_priority_order_trades_like_the_original(seed: int) -> None:
    """Restoring by queue priority rebuilds the same book; from then on the trades and the
    state match (only the order of events within a cancel-all may differ)."""

    def unordered(evs: list[Event]) -> list[str]:
        evs = [
            msgspec.structs.replace(ev, seq=0) if isinstance(ev, BookChanged) else ev for ev in evs
        ]
        return sorted(map(repr, _unprioritised(evs)))

    def same_trades(mine: list[Event], theirs: list[Event], where: Any) -> None:
        assert engine_trades(mine) == engine_trades(theirs), where
        assert unordered(mine) == unordered(theirs), where

    _run_and_restore(seed, in_priority_order, same_trades)


def test_restored_orders_keep_their_place_in_the_queue() -> None:
    """A stop-limit accepted before another order but triggered after it rests behind it:
    restoring in acceptance order must not put it in front."""
    x = Exchange()
    x.apply(place(1, 1, "buy", "yes", 2, 50, type="stop_limit", stop_price=45))
    x.apply(place(2, 2, "buy", "yes", 3, 50))
    x.apply(place(3, 3, "buy", "no", 1, 50))  # ask 50: trades with order 2, which fires order 1
    e = x.engine
    assert [o.order_id for o in e.markets[M].book.bids.levels[50]] == [2, 1]
    r = restore(e, in_acceptance_order(e))
    assert [o.order_id for o in r.markets[M].book.bids.levels[50]] == [2, 1]
    check_invariants(r)


def test_replaying_the_command_log_gives_the_same_events_and_state() -> None:
    d = Differential()
    stream = Stream(7, markets=3, users=6)
    for cmd in stream.setup():
        d.step(cmd)
    for _ in range(2_000):
        d.step(stream.next(d.oracle))
    d.step(Tick(ts=stream.ts + 10_000))
    again, events = replay(d.commands)
    assert events == d.events
    assert fingerprint(again) == fingerprint(d.engine)


def test_commands_and_events_survive_a_msgpack_round_trip() -> None:
    """Distributed mode ships both over Redis; replay from decoded commands is exact."""
    d = Differential()
    stream = Stream(11, markets=2, users=4)
    for cmd in stream.setup():
        d.step(cmd)
    for _ in range(500):
        d.step(stream.next(d.oracle))
    wire = [msgspec.msgpack.encode(c) for c in d.commands]
    decoded = [msgspec.msgpack.decode(b, type=AnyCommand) for b in wire]
    assert decoded == d.commands
    _, events = replay(decoded)
    assert events == d.events
    flat: list[Event] = [ev for evs in events for ev in evs]
    back = msgspec.msgpack.decode(msgspec.msgpack.encode(flat), type=list[AnyEvent])
    assert back == flat


def test_a_market_unloaded_and_restored_comes_back_as_it_was() -> None:
    """`unload_market` forgets a market that moves to another engine; restoring it from its
    durable state (here: into the same engine) gives back the same market and orders."""
    d = Differential()
    stream = Stream(5, markets=2, users=4)
    for cmd in stream.setup():
        d.step(cmd)
    for _ in range(800):
        d.step(stream.next(d.oracle))
    e = d.engine
    t = next(t for t, m in e.markets.items() if m.status == "open" and m.close_ts is None)
    m = e.markets[t]
    before = behaviour(e)
    moving = [o.snapshot() for o in in_acceptance_order(e) if o.market == t]
    staying = {i for i, o in e.orders.items() if o.market != t}
    assert moving and staying
    positions = {u: (p.yes, p.no) for u, p in m.positions.items()}

    e.unload_market(t)
    assert t not in e.markets
    assert set(e.orders) == staying
    assert all(o.market != t for mine in e.user_orders.values() for o in mine.values())

    e.restore_market(
        t,
        title=m.title,
        seq=m.seq,
        escrow=m.escrow,
        fees=m.fees,
        last_price=m.last_price,
        volume=m.volume,
        trade_no=m.trade_no,
        maker_fee_bps=m.maker_fee_bps,
        taker_fee_bps=m.taker_fee_bps,
    )
    for u, (yes, no) in positions.items():
        e.restore_position(t, u, yes, no)
    for o in moving:
        e.restore_order(o)
    assert behaviour(e) == before
    check_invariants(e)
