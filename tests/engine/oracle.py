"""A naive reference exchange: the same rules as `engine/`, written to be obviously right.

No incremental counters, no price-indexed arrays, no lazy deletion: open orders are one
plain list, the best resting order is found by sorting candidates by (price, arrival)
every time, holds and reservations are recomputed from the open orders whenever they are
needed, and a fill-or-kill order is tried on a copy of the whole state. It is slow, which
is the point: it shares no code and no data structure with the engine it checks.

Rules (DESIGN.md §1 and the engine's docstrings):
- one book in YES terms: buy YES p and sell NO 100-p are bids, sell YES p and buy NO
  100-p are asks; price-time priority; trades at the maker's price;
- buy+buy mints a pair (escrow +100), sell+sell burns one, buy+sell transfers;
- a buy holds price x remaining (+ the most fee it can owe) of its own outcome; a sell
  needs unreserved contracts;
- a user never holds YES and NO of one market: pairs are paid 100 each, and sells that
  then reserve more than is held shrink, newest first;
- stops trigger on any trade print at or through the stop price (own-outcome cents), in
  placement order, round by round; one already hit by the last price fires at once.
"""

import copy
from dataclasses import dataclass, field

from engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CloseMarket,
    Command,
    CreateMarket,
    CreditCash,
    DebitCash,
    EngineConfig,
    HaltMarket,
    OpenMarket,
    PlaceOrder,
    Reject,
    ResolveMarket,
    Tick,
)

TICKER_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class Rejected(Exception):
    def __init__(self, reason: Reject) -> None:
        self.reason = reason


@dataclass(eq=False)
class OOrder:
    order_id: int
    user: int
    market: str
    side: str
    outcome: str
    type: str
    tif: str
    price: int  # own-outcome cents (market orders: the worst price)
    qty: int
    remaining: int
    post_only: bool
    stp: str
    coid: str | None
    expires_at: int | None
    stop_price: int | None
    placed: int  # acceptance order: "newest first" means highest `placed`
    priority: int | None = None  # arrival in the book; None while not resting
    pending: bool = False  # a stop waiting for its trigger

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def is_bid(self) -> bool:
        return (self.side == "buy") == (self.outcome == "yes")

    @property
    def book_price(self) -> int:
        return self.price if self.outcome == "yes" else 100 - self.price


@dataclass
class OMarket:
    ticker: str
    maker_bps: int
    taker_bps: int
    close_ts: int | None
    status: str = "open"
    result: str | None = None
    escrow: int = 0
    fees: int = 0
    last: int = 0  # last trade price, YES cents; 0 before the first trade

    @property
    def max_bps(self) -> int:
        return max(self.maker_bps, self.taker_bps)


@dataclass
class Trade:
    market: str
    price: int
    qty: int
    kind: str
    maker_order_id: int
    maker_user: int
    maker_fee: int
    taker_order_id: int
    taker_user: int
    taker_fee: int


@dataclass
class Result:
    """What a command did, in the terms the tests compare."""

    reject: Reject | None = None
    trades: list[Trade] = field(default_factory=list)
    deduplicated: int | None = None


def hold_of(price: int, qty: int, bps: int) -> int:
    notional = price * qty
    return notional + notional * bps // 10_000


class Oracle:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.markets: dict[str, OMarket] = {}
        self.cash: dict[int, int] = {}  # available + held
        self.pos: dict[tuple[str, int], dict[str, int]] = {}
        self.orders: list[OOrder] = []  # every open order (resting or pending stop)
        self.credits = 0
        self.debits = 0
        self.placed = 0
        self.arrivals = 0
        self.trades: list[Trade] = []

    def clone(self) -> "Oracle":
        """An independent copy of the whole state (for trying a fill-or-kill order)."""
        c = copy.copy(self)
        c.markets = {t: copy.copy(m) for t, m in self.markets.items()}
        c.cash = dict(self.cash)
        c.pos = {k: dict(p) for k, p in self.pos.items()}
        c.orders = [copy.copy(o) for o in self.orders]
        c.trades = list(self.trades)
        return c

    # ------------------------------------------------------------------ derived state

    def order(self, order_id: int) -> OOrder | None:
        for o in self.orders:
            if o.order_id == order_id:
                return o
        return None

    def hold(self, o: OOrder) -> int:
        if not o.is_buy:
            return 0
        return hold_of(o.price, o.remaining, self.markets[o.market].max_bps)

    def held(self, user: int) -> int:
        return sum(self.hold(o) for o in self.orders if o.user == user)

    def available(self, user: int) -> int:
        return self.cash.get(user, 0) - self.held(user)

    def position(self, market: str, user: int) -> dict[str, int]:
        return self.pos.setdefault((market, user), {"yes": 0, "no": 0})

    def reserved(self, market: str, user: int, outcome: str) -> int:
        return sum(
            o.remaining
            for o in self.orders
            if o.market == market and o.user == user and not o.is_buy and o.outcome == outcome
        )

    def resting(self, market: str) -> list[OOrder]:
        return [o for o in self.orders if o.market == market and o.priority is not None]

    def l2(self, market: str) -> tuple[list[list[int]], list[list[int]]]:
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for o in self.resting(market):
            side = bids if o.is_bid else asks
            side[o.book_price] = side.get(o.book_price, 0) + o.remaining
        return (
            [[p, bids[p]] for p in sorted(bids, reverse=True)],
            [[p, asks[p]] for p in sorted(asks)],
        )

    def open_orders(self) -> dict[int, tuple[int, int]]:
        return {o.order_id: (o.remaining, o.qty) for o in self.orders}

    def balances(self) -> dict[int, tuple[int, int]]:
        """user -> (available, held), for users with any cash."""
        held: dict[int, int] = {}
        for o in self.orders:
            held[o.user] = held.get(o.user, 0) + self.hold(o)
        out = {}
        for u, cash in self.cash.items():
            h = held.get(u, 0)
            if cash or h:
                out[u] = (cash - h, h)
        return out

    def positions(self) -> dict[tuple[str, int], tuple[int, int, int, int]]:
        """(market, user) -> (yes, no, yes reserved, no reserved), where any is non-zero."""
        res: dict[tuple[str, int, str], int] = {}
        for o in self.orders:
            if not o.is_buy:
                k = (o.market, o.user, o.outcome)
                res[k] = res.get(k, 0) + o.remaining
        out = {}
        for (t, u), p in self.pos.items():
            row = (p["yes"], p["no"], res.get((t, u, "yes"), 0), res.get((t, u, "no"), 0))
            if any(row):
                out[(t, u)] = row
        return out

    # ------------------------------------------------------------------ commands

    def apply(self, c: Command) -> Result:
        res = Result()
        self.trades = res.trades
        self._timers(c.ts)
        try:
            match c:
                case PlaceOrder():
                    res.deduplicated = self._place(c)
                case CancelOrder():
                    self._remove(self._own(c.user, c.order_id, c.client_order_id))
                case CancelAll():
                    if c.market is not None:
                        self._market(c.market)
                    for o in list(self.orders):
                        if o.user == c.user and c.market in (None, o.market):
                            self._remove(o)
                case AmendOrder():
                    o = self._own(c.user, c.order_id, None)
                    if not 1 <= c.qty < o.remaining:
                        raise Rejected(Reject.INVALID)
                    o.qty -= o.remaining - c.qty
                    o.remaining = c.qty
                case CreditCash():
                    self._amount(c.amount)
                    self.cash[c.user] = self.cash.get(c.user, 0) + c.amount
                    self.credits += c.amount
                case DebitCash():
                    self._amount(c.amount)
                    if self.available(c.user) < c.amount:
                        raise Rejected(Reject.INSUFFICIENT_FUNDS)
                    self.cash[c.user] -= c.amount
                    self.debits += c.amount
                case CreateMarket():
                    self._create(c)
                case HaltMarket():
                    self._transition(self._market(c.market), "halt")
                case OpenMarket():
                    self._transition(self._market(c.market), "open")
                case CloseMarket():
                    self._transition(self._market(c.market), "close")
                case ResolveMarket():
                    self._resolve(c)
                case Tick():
                    pass
                case _:
                    raise AssertionError(c)
        except Rejected as r:
            res.reject = r.reason
        return res

    def _timers(self, now: int) -> None:
        for o in list(self.orders):
            if o.expires_at is not None and o.expires_at <= now:
                self._remove(o)
        for m in self.markets.values():
            if m.close_ts is not None and m.close_ts <= now and m.status in ("open", "halted"):
                self._transition(m, "close")

    def _market(self, ticker: str) -> OMarket:
        if ticker not in self.markets:
            raise Rejected(Reject.NOT_FOUND)
        return self.markets[ticker]

    def _amount(self, amount: int) -> None:
        if not 0 < amount <= self.config.max_cash_amount:
            raise Rejected(Reject.INVALID)

    def _own(self, user: int, order_id: int | None, coid: str | None) -> OOrder:
        if order_id is not None:
            found = [o for o in self.orders if o.order_id == order_id]
        elif coid is not None:
            found = [o for o in self.orders if o.user == user and o.coid == coid]
        else:
            raise Rejected(Reject.INVALID)
        if not found:
            raise Rejected(Reject.NOT_FOUND)
        if found[0].user != user:
            raise Rejected(Reject.FORBIDDEN)
        return found[0]

    def _remove(self, o: OOrder) -> None:
        """The order is done; what it held is free again (holds are derived)."""
        self.orders.remove(o)
        o.remaining = 0

    def _create(self, c: CreateMarket) -> None:
        cfg = self.config
        t = c.market
        if not t or len(t) > cfg.max_ticker_len or not set(t) <= TICKER_CHARS:
            raise Rejected(Reject.INVALID)
        if not (
            0 <= c.maker_fee_bps <= cfg.max_fee_bps and 0 <= c.taker_fee_bps <= cfg.max_fee_bps
        ):
            raise Rejected(Reject.INVALID)
        if t in self.markets:
            raise Rejected(Reject.CONFLICT)
        if c.close_ts is not None and c.close_ts <= c.ts:
            raise Rejected(Reject.INVALID)
        self.markets[t] = OMarket(t, c.maker_fee_bps, c.taker_fee_bps, c.close_ts)

    def _transition(self, m: OMarket, action: str) -> None:
        allowed = {
            ("open", "halt"): "halted",
            ("halted", "open"): "open",
            ("open", "close"): "closed",
            ("halted", "close"): "closed",
            ("closed", "resolve"): "resolved",
        }
        if (m.status, action) not in allowed:
            raise Rejected(Reject.CONFLICT)
        if action == "close":
            for o in list(self.orders):
                if o.market == m.ticker:
                    self._remove(o)
        m.status = allowed[(m.status, action)]

    def _resolve(self, c: ResolveMarket) -> None:
        m = self._market(c.market)
        if c.result not in ("yes", "no", "void"):
            raise Rejected(Reject.INVALID)
        if m.status == "resolved":
            raise Rejected(Reject.CONFLICT)
        if m.status != "closed":
            self._transition(m, "close")
        for (t, u), p in self.pos.items():
            if t != m.ticker:
                continue
            pay = {"yes": 100 * p["yes"], "no": 100 * p["no"], "void": 50 * (p["yes"] + p["no"])}
            self.cash[u] = self.cash.get(u, 0) + pay[c.result]
            m.escrow -= pay[c.result]
            p["yes"] = p["no"] = 0
        m.result = c.result
        self._transition(m, "resolve")

    # ------------------------------------------------------------------ placing

    def _validate(self, c: PlaceOrder) -> tuple[int, str]:
        cfg = self.config
        if (
            c.side not in ("buy", "sell")
            or c.outcome not in ("yes", "no")
            or c.type not in ("limit", "market", "stop", "stop_limit")
            or c.tif not in ("gtc", "gtd", "ioc", "fok")
            or c.stp not in ("cancel_newest", "cancel_oldest", "cancel_both")
        ):
            raise Rejected(Reject.INVALID)
        if not cfg.min_qty <= c.qty <= cfg.max_qty or c.order_id <= 0:
            raise Rejected(Reject.INVALID)
        price, tif = c.price, c.tif
        if c.type in ("market", "stop"):
            # IOC bounded by a worst price (default: anything).
            if price is None:
                price = 99 if c.side == "buy" else 1
            if tif in ("gtc", "ioc"):
                tif = "ioc"
            elif not (tif == "fok" and c.type == "market"):
                raise Rejected(Reject.INVALID)
        if price is None or not 1 <= price <= 99:
            raise Rejected(Reject.INVALID)
        if c.type in ("stop", "stop_limit"):
            if c.stop_price is None or not 1 <= c.stop_price <= 99:
                raise Rejected(Reject.INVALID)
            if c.post_only or tif == "fok":
                raise Rejected(Reject.INVALID)
        elif c.stop_price is not None:
            raise Rejected(Reject.INVALID)
        if tif == "gtd":
            if c.expires_at is None or c.expires_at <= c.ts:
                raise Rejected(Reject.INVALID)
        elif c.expires_at is not None:
            raise Rejected(Reject.INVALID)
        if c.post_only and tif not in ("gtc", "gtd"):
            raise Rejected(Reject.INVALID)
        return price, tif

    def _place(self, c: PlaceOrder) -> int | None:
        m = self._market(c.market)
        price, tif = self._validate(c)
        if c.client_order_id is not None:
            same = [o for o in self.orders if o.user == c.user and o.coid == c.client_order_id]
            if same:
                o = same[0]
                terms = (c.market, c.side, c.outcome, c.type, tif, price, c.qty, c.post_only)
                terms += (c.expires_at, c.stop_price, c.stp)
                if terms == (
                    o.market,
                    o.side,
                    o.outcome,
                    o.type,
                    o.tif,
                    o.price,
                    o.qty,
                    o.post_only,
                    o.expires_at,
                    o.stop_price,
                    o.stp,
                ):
                    return o.order_id
                raise Rejected(Reject.CONFLICT)
        if m.status != "open":
            raise Rejected(Reject.MARKET_NOT_OPEN)
        if self.order(c.order_id) is not None:
            raise Rejected(Reject.CONFLICT)
        may_stay_open = tif in ("gtc", "gtd") or c.type in ("stop", "stop_limit")
        open_orders = sum(o.user == c.user for o in self.orders)
        if may_stay_open and open_orders >= self.config.max_open_orders:
            raise Rejected(Reject.TOO_MANY_OPEN_ORDERS)
        o = OOrder(
            c.order_id,
            c.user,
            c.market,
            c.side,
            c.outcome,
            c.type,
            tif,
            price,
            c.qty,
            c.qty,
            c.post_only,
            c.stp,
            c.client_order_id,
            c.expires_at,
            c.stop_price,
            placed=self.placed + 1,
        )
        if o.is_buy:
            if self.available(c.user) < self.hold(o):
                raise Rejected(Reject.INSUFFICIENT_FUNDS)
        else:
            p = self.pos.get((c.market, c.user), {"yes": 0, "no": 0})
            if p[c.outcome] - self.reserved(c.market, c.user, c.outcome) < c.qty:
                raise Rejected(Reject.INSUFFICIENT_POSITION)
        is_stop = c.type in ("stop", "stop_limit")
        if not is_stop:
            if c.post_only and any(self._crosses(o, r) for r in self.resting(c.market)):
                raise Rejected(Reject.POST_ONLY_WOULD_CROSS)
            if tif == "fok":
                trial = self.clone()
                trial_order = copy.copy(o)
                trial.orders.append(trial_order)
                before = len(trial.trades)
                trial._take(trial.markets[c.market], trial_order)
                if sum(t.qty for t in trial.trades[before:]) < c.qty:
                    raise Rejected(Reject.FOK_UNFILLABLE)
        # Accepted.
        self.placed += 1
        self.orders.append(o)
        if is_stop and not (m.last and self._stop_hit(o, [m.last])):
            o.pending = True
            return None
        prints = self._take(m, o)
        while prints:
            hit = [s for s in self.orders if s.market == m.ticker and s.pending]
            hit = [s for s in hit if self._stop_hit(s, prints)]
            prints = []
            for s in hit:
                if s.pending and s in self.orders:
                    s.pending = False
                    prints += self._take(m, s)
        return None

    @staticmethod
    def _stop_hit(o: OOrder, prints: list[int]) -> bool:
        assert o.stop_price is not None
        own = [p if o.outcome == "yes" else 100 - p for p in prints]
        if o.is_buy:
            return max(own) >= o.stop_price
        return min(own) <= o.stop_price

    @staticmethod
    def _crosses(taker: OOrder, r: OOrder) -> bool:
        if taker.is_bid == r.is_bid:
            return False
        if taker.is_bid:
            return r.book_price <= taker.book_price
        return r.book_price >= taker.book_price

    def _take(self, m: OMarket, o: OOrder) -> list[int]:
        """Match the incoming (already accepted, open) order; rest or drop what is left.
        Returns the prices (YES cents) it traded at."""
        prints: list[int] = []
        while o.remaining:
            cands = [r for r in self.resting(m.ticker) if self._crosses(o, r)]
            if not cands:
                break
            best = min(
                cands, key=lambda r: (-r.book_price if r.is_bid else r.book_price, r.priority)
            )
            if best.user == o.user:
                if o.stp in ("cancel_oldest", "cancel_both"):
                    self._remove(best)
                if o.stp in ("cancel_newest", "cancel_both"):
                    self._remove(o)
                continue
            q = min(best.remaining, o.remaining)
            self._trade(m, best, o, best.book_price, q)
            prints.append(best.book_price)
        if o in self.orders and (not o.remaining or o.tif in ("ioc", "fok")):
            self._remove(o)  # filled, or what an IOC/FOK order could not fill
        elif o.remaining and o.priority is None:
            self.arrivals += 1
            o.priority = self.arrivals
        return prints

    def _trade(self, m: OMarket, mk: OOrder, tk: OOrder, p: int, q: int) -> None:
        fees = {}
        for o, bps in ((mk, m.maker_bps), (tk, m.taker_bps)):
            own = p if o.outcome == "yes" else 100 - p
            fee = own * q * bps // 10_000
            fees[o.order_id] = fee
            pos = self.position(m.ticker, o.user)
            self.cash.setdefault(o.user, 0)
            if o.is_buy:
                self.cash[o.user] -= own * q + fee
                m.escrow += own * q
                pos[o.outcome] += q
            else:
                self.cash[o.user] += own * q - fee
                m.escrow -= own * q
                pos[o.outcome] -= q
            m.fees += fee
            o.remaining -= q
        kind = {(True, True): "mint", (False, False): "burn"}.get(
            (mk.is_buy, tk.is_buy), "transfer"
        )
        m.last = p
        self.trades.append(
            Trade(
                m.ticker,
                p,
                q,
                kind,
                mk.order_id,
                mk.user,
                fees[mk.order_id],
                tk.order_id,
                tk.user,
                fees[tk.order_id],
            )
        )
        if not mk.remaining:
            self._remove(mk)
        for o in (mk, tk):
            if o.is_buy:
                self._net(m, o.user)

    def _net(self, m: OMarket, user: int) -> None:
        pos = self.position(m.ticker, user)
        pairs = min(pos["yes"], pos["no"])
        if not pairs:
            return
        pos["yes"] -= pairs
        pos["no"] -= pairs
        self.cash[user] += 100 * pairs
        m.escrow -= 100 * pairs
        for outcome in ("yes", "no"):
            excess = self.reserved(m.ticker, user, outcome) - pos[outcome]
            sells = [
                o
                for o in self.orders
                if o.market == m.ticker and o.user == user and not o.is_buy and o.outcome == outcome
            ]
            for o in sorted(sells, key=lambda o: o.placed, reverse=True):
                if excess <= 0:
                    break
                cut = min(excess, o.remaining)
                excess -= cut
                o.remaining -= cut
                o.qty -= cut
                if not o.remaining:
                    self._remove(o)
