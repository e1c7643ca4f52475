"""Whole-state checks of an `Engine`: invariants after every command, and a fingerprint.

`check_invariants` is the engine's `validateInternalState()` (STYLE.md): it recomputes
every derived quantity from scratch and compares it with the engine's counters.
`fingerprint` is a deep, plain-data picture of the state, for "changed nothing" and
"replay gives the same state".
"""

from collections import Counter
from itertools import pairwise
from typing import Any

import msgspec

from engine import BookChanged, Engine, Event, MarketCreated, MarketStatusChanged, TradeExecuted
from engine.orders import hold_for

PUBLIC = (BookChanged, TradeExecuted, MarketStatusChanged, MarketCreated)


def order_state(o: Any) -> tuple[Any, ...]:
    return tuple(msgspec.structs.astuple(o.snapshot()))


def fingerprint(e: Engine) -> dict[str, Any]:
    """Everything observable about the engine's state, as plain data."""
    markets = {}
    for t, m in e.markets.items():
        book = {}
        for side in (m.book.bids, m.book.asks):
            levels = {}
            for p in range(101):
                lv = side.levels[p]
                live = list(lv)
                if live or lv.qty:
                    levels[p] = (lv.qty, lv.live, [order_state(o) for o in live])
            book[side.name] = (side.best, levels)
        markets[t] = {
            "status": m.status,
            "result": m.result,
            "seq": m.seq,
            "escrow": m.escrow,
            "fees": m.fees,
            "last_price": m.last_price,
            "volume": m.volume,
            "trade_no": m.trade_no,
            "close_ts": m.close_ts,
            "bps": (m.maker_fee_bps, m.taker_fee_bps),
            "positions": {
                u: (p.yes, p.no, p.yes_reserved, p.no_reserved) for u, p in m.positions.items()
            },
            "stops": [order_state(o) for o in m.stops],
            "book": book,
        }
    return {
        "markets": markets,
        "accounts": {u: (a.available, a.held) for u, a in e.accounts.items()},
        "orders": {i: order_state(o) for i, o in e.orders.items()},
        "user_orders": {u: list(d) for u, d in e.user_orders.items()},
        "client_ids": {k: o.order_id for k, o in e.client_ids.items()},
        "credits": e.credits,
        "debits": e.debits,
        "priority": e._priority,
        "timers": sorted(e._timers),
    }


class SeqTracker:
    """Checks that each market's public events carry seq = previous + 1, with no gaps."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.seq: dict[str, int] = {}
        if engine is not None:
            self.seq = {t: m.seq for t, m in engine.markets.items()}

    def feed(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, PUBLIC):
                prev = self.seq.get(ev.market, 0)
                assert ev.seq == prev + 1, f"{ev.market}: seq {ev.seq} after {prev}: {ev}"
                self.seq[ev.market] = ev.seq


def check_invariants(
    e: Engine,
    events: list[Event] | None = None,
    before: dict[str, tuple[list[list[int]], list[list[int]]]] | None = None,
) -> None:
    """Recompute everything derivable and compare with the engine's own counters.

    With `events` (of the last command) also check that the last `BookChanged` of each level
    carries its final quantity, and with `before` (L2 books before the command) that every
    level whose quantity changed got one.
    """
    # The books: levels, FIFO, best prices; and which orders rest where.
    in_book: set[int] = set()
    for t, m in e.markets.items():
        if m.status in ("closed", "resolved"):
            assert m.book.bids.best == 0 and m.book.asks.best == 100, t
            assert not m.stops, t
            continue
        for side in (m.book.bids, m.book.asks):
            levels = side.levels
            assert levels[0].qty == 0 and levels[100].qty == 0
            assert levels[0].head is None and levels[100].head is None
            best = side.empty
            for lv in levels:
                live = list(lv)
                p = lv.price
                if not live:
                    assert lv.qty == 0 and lv.live == 0 and lv.tail is None, (t, side.name, p)
                    continue
                # The queue links both ways, and only orders with something left rest.
                assert lv.head is live[0] and lv.tail is live[-1], (t, side.name, p)
                assert live[0].prev is None and all(b.prev is a for a, b in pairwise(live)), (
                    t,
                    side.name,
                    p,
                )
                assert all(o.remaining_qty > 0 for o in live), (t, side.name, p)
                assert lv.qty == sum(o.remaining_qty for o in live), (t, side.name, p)
                assert lv.live == len(live), (t, side.name, p)
                prios = [o.priority for o in live]
                assert all(a < b for a, b in pairwise(prios)), (t, side.name, p, prios)
                for o in live:
                    assert e.orders.get(o.order_id) is o, o
                    assert o.book_price == p and o.is_bid == side.is_bid and o.market == t, o
                    in_book.add(o.order_id)
                if lv.qty and (best == side.empty or (p > best) == side.is_bid):
                    best = p
            assert side.best == best, (t, side.name, side.best, best)
        bb, ba = m.book.bids.best, m.book.asks.best
        assert bb == 0 or ba == 100 or bb < ba, f"{t}: crossed book at rest: {bb} >= {ba}"
        for s in m.stops:
            assert e.orders.get(s.order_id) is s and not s.triggered and not s.priority, s

    # Open orders: registered everywhere they should be; holds and reservations add up.
    held_by_user: Counter[int] = Counter()
    reserved: Counter[tuple[str, int, str]] = Counter()
    resting = 0
    for oid, o in e.orders.items():
        assert o.order_id == oid
        assert o.status in ("open", "partially_filled"), o
        assert o.remaining_qty > 0 and o.filled_qty + o.remaining_qty == o.qty, o
        assert e.user_orders[o.user][oid] is o
        assert o.client_order_id is None or e.client_ids[(o.user, o.client_order_id)] is o
        m = e.markets[o.market]
        if o.side == "buy":
            assert o.hold == hold_for(o.price, o.remaining_qty, m.max_fee_bps), o
            held_by_user[o.user] += o.hold
        else:
            assert o.hold == 0, o
            reserved[(o.market, o.user, o.outcome)] += o.remaining_qty
        if o.priority:
            assert oid in in_book, o
            resting += 1
        else:
            assert o.type in ("stop", "stop_limit") and not o.triggered, o
            assert any(x is o for x in m.stops), o
    assert resting == len(in_book)
    assert sum(len(d) for d in e.user_orders.values()) == len(e.orders)
    assert len(e.client_ids) == sum(o.client_order_id is not None for o in e.orders.values())

    # Cash, contracts, escrow, and the global balance.
    total = 0
    for u, a in e.accounts.items():
        assert a.available >= 0 and a.held >= 0, (u, a)
        assert a.held == held_by_user[u], (u, a, held_by_user[u])
        total += a.available + a.held
    assert set(held_by_user) <= set(e.accounts)
    for t, m in e.markets.items():
        sum_yes = sum_no = 0
        for u, p in m.positions.items():
            assert p.yes >= 0 and p.no >= 0 and min(p.yes, p.no) == 0, (t, u, p)
            assert p.yes_reserved == reserved[(t, u, "yes")], (t, u, p)
            assert p.no_reserved == reserved[(t, u, "no")], (t, u, p)
            assert 0 <= p.yes_reserved <= p.yes and 0 <= p.no_reserved <= p.no, (t, u, p)
            sum_yes += p.yes
            sum_no += p.no
        assert m.escrow == 100 * sum_yes == 100 * sum_no, (t, m.escrow, sum_yes, sum_no)
        assert m.fees >= 0
        if m.status == "resolved":
            assert m.escrow == 0 and not m.positions, t
        total += m.escrow + m.fees
    assert total == e.credits - e.debits, (total, e.credits, e.debits)

    if events is not None:
        final: dict[tuple[str, str, int], int] = {}
        for ev in events:
            if isinstance(ev, BookChanged):
                final[(ev.market, ev.side, ev.price)] = ev.qty
        for (t, side_name, p), q in final.items():
            book = e.markets[t].book
            side = book.bids if side_name == "bid" else book.asks
            assert side.levels[p].qty == q, (t, side_name, p, q)
        if before is not None:
            for t, (bids0, asks0) in before.items():
                _, bids1, asks1 = e.book_snapshot(t)
                for name, l0, l1 in (("bid", bids0, bids1), ("ask", asks0, asks1)):
                    d0, d1 = dict(map(tuple, l0)), dict(map(tuple, l1))  # type: ignore[arg-type]
                    for p in set(d0) | set(d1):
                        if d0.get(p, 0) != d1.get(p, 0):
                            assert (t, name, p) in final, f"{t} {name} {p}: no BookChanged"


def books(e: Engine) -> dict[str, tuple[list[list[int]], list[list[int]]]]:
    """L2 books of the markets that can still change."""
    out = {}
    for t, m in e.markets.items():
        if m.status not in ("open", "halted"):
            continue
        _, bids, asks = e.book_snapshot(t)
        out[t] = (bids, asks)
    return out
