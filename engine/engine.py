"""The engine: a deterministic state machine. `Engine.apply(command) -> list[Event]`.

No I/O, no clock reads, no randomness: replaying the same commands into a fresh engine
gives the same events and the same state. A business rejection is a `CommandRejected`
event; an exception is a bug.

Rules implemented here (DESIGN.md §1):
- one book per market in YES terms: buy YES p = bid p, sell YES p = ask p,
  buy NO p = ask 100-p, sell NO p = bid 100-p;
- price-time priority; a trade executes at the resting (maker) order's price;
- buy YES meets buy NO mints a pair (escrow +100), sell meets sell burns one (escrow -100),
  buy meets sell of one outcome transfers contracts and cash;
- a buy holds price x qty (plus the most fee it can owe) of its own outcome's price; fills
  spend the hold at the maker's price and release the rest; a sell reserves contracts;
- complete YES/NO pairs held by one user are merged at once and paid 100 each (netting);
- a stop fires when any trade prints at or through its stop price (own-outcome cents), and
  stops fire in the order they were placed;
- a fill-or-kill order is checked against exactly what matching would fill, including
  makers' sells that netting would shrink on the way.
"""

import heapq
from collections import deque
from typing import Any, Final

import msgspec

from engine.accounts import Account, Position
from engine.book import BookSide, Level
from engine.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CloseMarket,
    Command,
    CreateMarket,
    CreditCash,
    DebitCash,
    HaltMarket,
    OpenMarket,
    PlaceOrder,
    ResolveMarket,
    Tick,
)
from engine.events import (
    BookChanged,
    CashCredited,
    CashDebited,
    CommandRejected,
    Event,
    MarketCreated,
    MarketStatusChanged,
    OrderDeduplicated,
    OrdersCancelled,
    OrderUpdated,
    PayoutMade,
    PositionNetted,
    TradeExecuted,
)
from engine.markets import TRANSITIONS, Market
from engine.orders import Order, OrderState, hold_for, order_state
from engine.types import (
    BPS,
    BUY,
    MAX_PRICE,
    MIN_PRICE,
    NO,
    PAYOUT,
    SELL,
    VOID_PAYOUT,
    YES,
    DoneReason,
    Reject,
)

_EXPIRY: Final = 0
_CLOSE: Final = 1
#: (maker buys?, taker buys?) -> what the trade does to the pair supply.
_TRADE_KIND: Final = (("burn", "transfer"), ("transfer", "mint"))
_TICKER_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_astuple: Final = msgspec.structs.astuple
#: Why orders finish (module constants: one C global read, not an enum attribute lookup).
_DONE_EXPIRED: Final = DoneReason.EXPIRED
_DONE_FILLED: Final = DoneReason.FILLED
_DONE_IOC: Final = DoneReason.IOC
_DONE_MARKET_CLOSED: Final = DoneReason.MARKET_CLOSED
_DONE_NETTED: Final = DoneReason.NETTED
_DONE_SELF_TRADE: Final = DoneReason.SELF_TRADE
_DONE_USER: Final = DoneReason.USER
#: The values of a place's string fields, as codes.
_BUY: Final = 0
_YES: Final = 0
_SIDES: Final = {BUY: _BUY, SELL: 1}
_OUTCOMES: Final = {YES: _YES, NO: 1}
_NEWEST_S: Final = "cancel_newest"
_STPS: Final = {_NEWEST_S: 0, "cancel_oldest": 1, "cancel_both": 2}
_LIMIT: Final = 0
_MARKET: Final = 1
_STOP: Final = 2
_STOP_LIMIT: Final = 3
_LIMIT_S: Final = "limit"
_MARKET_S: Final = "market"
_TYPES: Final = {_LIMIT_S: _LIMIT, _MARKET_S: _MARKET, "stop": _STOP, "stop_limit": _STOP_LIMIT}
_GTC: Final = 0
_GTD: Final = 1
_IOC: Final = 2
_FOK: Final = 3
_GTC_S: Final = "gtc"
_TIFS: Final = {_GTC_S: _GTC, "gtd": _GTD, "ioc": _IOC, "fok": _FOK}
#: `_place` unpacks a PlaceOrder's fields in this order.
assert PlaceOrder.__struct_fields__ == (
    "ts",
    "order_id",
    "user",
    "market",
    "side",
    "outcome",
    "qty",
    "type",
    "tif",
    "price",
    "post_only",
    "client_order_id",
    "expires_at",
    "stop_price",
    "stp",
)


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Limits the engine enforces on every command."""

    max_open_orders: int = 1000
    min_qty: int = 1
    max_qty: int = 1_000_000
    max_cash_amount: int = 10**12
    max_fee_bps: int = 1000
    max_ticker_len: int = 64
    #: A place that repeats the client_order_id of an order that finished this recently
    #: (and has the same terms) is a retry: it gets that order back, not a second one.
    #: 0 (the pure engine's default) turns this off; the server sets it (60 s).
    retry_window_ms: int = 0


def _same_terms(o: OrderState, c: PlaceOrder, price: int, tif: str) -> bool:
    """Does place `c` ask for exactly the order `o` was placed as?"""
    return (
        o.market == c.market
        and o.side == c.side
        and o.outcome == c.outcome
        and o.type == c.type
        and o.tif == tif
        and o.price == price
        and o.qty == c.qty
        and o.post_only == c.post_only
        and o.expires_at == c.expires_at
        and o.stop_price == c.stop_price
        and o.stp == c.stp
    )


def _stop_hit(o: OrderState, lo: int, hi: int) -> bool:
    """Trades printed at YES prices `lo`..`hi`: a buy stop fires if one of them was at
    or above its stop price (in its own outcome's cents), a sell stop if one was at or
    below. A sweep through several levels prints every level's price, not just its last.
    """
    sp = o.stop_price
    assert sp is not None
    if o.is_yes:
        return hi >= sp if o.is_buy else lo <= sp
    return PAYOUT - lo >= sp if o.is_buy else PAYOUT - hi <= sp


def _code(table: dict[str, int], value: object) -> int:
    """`value`'s code in `table`, or -1 if it is none of its keys."""
    try:
        return table.get(value, -1)  # type: ignore[call-overload, no-any-return]
    except TypeError:  # not even hashable
        return -1


class _Rejected(Exception):
    """Internal: unwinds validation to a `CommandRejected` event. Never escapes `apply`."""

    def __init__(self, reason: Reject, message: str) -> None:
        self.reason = reason
        self.message = message


class Engine:
    """All markets of one shard, with the accounts it knows about."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        # The limits every place checks, read once (the config is frozen).
        self._min_qty = self.config.min_qty
        self._max_qty = self.config.max_qty
        self._max_open = self.config.max_open_orders
        self._retry_ms = self.config.retry_window_ms
        self.markets: dict[str, Market] = {}
        self.accounts: dict[int, Account] = {}
        #: Open orders: resting in a book, or stop orders waiting for their trigger.
        self.orders: dict[int, OrderState] = {}
        self.user_orders: dict[int, dict[int, OrderState]] = {}
        self.client_ids: dict[tuple[int, str], OrderState] = {}
        #: finished orders with a client_order_id, for retries (see retry_window_ms)
        self.recent_ids: dict[tuple[int, str], OrderState] = {}
        self._recent_q: deque[tuple[int, tuple[int, str], OrderState]] = deque()
        self.credits = 0
        self.debits = 0
        self._priority = 0
        self._now = 0
        self._timers: list[tuple[int, int, int, Any]] = []
        self._timer_no = 0
        self._evs: list[Event] = []
        #: levels the command changed, in the order it first changed them: a list linked
        #: through `Level.next_dirty` (no allocation per command)
        self._dirty_head: Level | None = None
        self._dirty_tail: Level | None = None
        #: accounts changed since `take_cash_changes`, each with its balance before
        self._cash_base: dict[int, Account] = {}

    # ------------------------------------------------------------------ entry point

    def apply(self, cmd: Command) -> list[Event]:
        """Apply one command; return what happened. Timers due at `cmd.ts` fire first."""
        evs: list[Event] = []
        self._evs = evs
        ts = cmd.ts
        self._now = ts
        timers = self._timers
        if timers and timers[0][0] <= ts:
            self._run_timers(ts)
        t = type(cmd)
        try:
            if t is PlaceOrder:
                self._place(cmd)  # type: ignore[arg-type]
            elif t is CancelOrder:
                self._cancel(cmd)  # type: ignore[arg-type]
            elif t is AmendOrder:
                self._amend(cmd)  # type: ignore[arg-type]
            elif t is CancelAll:
                self._cancel_all(cmd)  # type: ignore[arg-type]
            elif t is Tick:
                pass  # timers ran above
            elif t is CreditCash:
                self._credit(cmd)  # type: ignore[arg-type]
            elif t is DebitCash:
                self._debit(cmd)  # type: ignore[arg-type]
            elif t is CreateMarket:
                self._create_market(cmd)  # type: ignore[arg-type]
            elif t is HaltMarket:
                self._transition(self._market(cmd.market), "halt", cmd.ts)  # type: ignore[attr-defined]
            elif t is OpenMarket:
                self._transition(self._market(cmd.market), "open", cmd.ts)  # type: ignore[attr-defined]
            elif t is CloseMarket:
                self._transition(self._market(cmd.market), "close", cmd.ts)  # type: ignore[attr-defined]
            elif t is ResolveMarket:
                self._resolve(cmd)  # type: ignore[arg-type]
            else:
                raise TypeError(f"not a command: {cmd!r}")
        except _Rejected as r:
            evs.append(CommandRejected(r.reason, r.message))
        if self._dirty_head is not None:
            self._flush_book()
        return evs

    # ------------------------------------------------------------------ queries

    def account(self, user: int) -> Account:
        """The user's account as this engine knows it (created empty on first use)."""
        acct = self.accounts.get(user)
        if acct is None:
            acct = self.accounts[user] = Account()
        return acct

    def book_snapshot(
        self, market: str, depth: int | None = None
    ) -> tuple[int, list[list[int]], list[list[int]]]:
        """`(seq, bids, asks)`: L2 levels in YES cents, best first, as of event `seq`."""
        m = self.markets[market]
        return m.seq, m.book.bids.depth(depth), m.book.asks.depth(depth)

    def take_cash_changes(self) -> dict[int, tuple[int, int]]:
        """Per-user `(available delta, held delta)` since the last call, and reset.

        The shard writes these as increments, so an account it did not lock (a maker who
        was paid) is updated correctly even if this engine's copy of its balance is stale.
        """
        out: dict[int, tuple[int, int]] = {}
        for user, a in self._cash_base.items():
            d_avail = a.available - a.base_available
            d_held = a.held - a.base_held
            a.tracked = False
            if d_avail or d_held:
                out[user] = (d_avail, d_held)
        self._cash_base.clear()
        return out

    def set_balance(self, user: int, available: int, held: int) -> None:
        """Load the durable balance of a user (the shard does this before each batch)."""
        acct = self.account(user)
        acct.available = available
        acct.held = held
        acct.tracked = False
        self._cash_base.pop(user, None)

    # ------------------------------------------------------------------ recovery

    def restore_market(
        self,
        ticker: str,
        *,
        title: str = "",
        status: str = "open",
        result: str | None = None,
        seq: int = 0,
        close_ts: int | None = None,
        maker_fee_bps: int = 0,
        taker_fee_bps: int = 0,
        escrow: int = 0,
        fees: int = 0,
        last_price: int = 0,
        volume: int = 0,
        trade_no: int = 0,
    ) -> Market:
        """Recreate a market from durable state, without events."""
        m = Market(ticker, title, close_ts, maker_fee_bps, taker_fee_bps)
        m.status = status
        m.result = result
        m.seq = seq
        m.escrow = escrow
        m.fees = fees
        m.last_price = last_price
        m.volume = volume
        m.trade_no = trade_no
        self.markets[ticker] = m
        if close_ts is not None and status in ("open", "halted"):
            self._add_timer(close_ts, _CLOSE, ticker)
        return m

    def unload_market(self, ticker: str) -> None:
        """Forget a market and its open orders (it moves to another engine), without events.
        Its durable state is unchanged: the receiving engine restores it."""
        self.markets.pop(ticker)
        for o in [o for o in self.orders.values() if o.market == ticker]:
            self._unregister(o)
        self._timers = [t for t in self._timers if not (t[1] == _CLOSE and t[3] == ticker)]
        heapq.heapify(self._timers)

    def restore_position(self, market: str, user: int, yes: int, no: int) -> None:
        pos = self.markets[market].position(user)
        pos.yes = yes
        pos.no = no

    def restore_order(self, order: Order) -> None:
        """Put back an open order, after its market and positions.

        Call in the order the orders were accepted (ascending `order_id` when the caller
        numbers them in order): that order decides which sells netting shrinks first, the
        order waiting stops fire in, and the order of events of a cancel-all. The place in
        the queue of its price level comes from `priority`, whatever the call order (a
        stop-limit accepted early may have come to rest late).

        Cash holds are part of the durable account balance; contracts are re-reserved here.
        """
        m = self.markets[order.market]
        o = order_state(order)
        o.acct = self.account(o.user)
        if o.is_buy:
            o.pos = m.positions.get(o.user)  # as when placed: looked up at its first fill
        else:
            o.pos = m.position(o.user)
            self._reserve(o.pos, o.outcome, o.remaining_qty)
        self._register(o)
        if o.type in ("stop", "stop_limit") and not o.triggered:
            m.stops.append(o)
        else:
            (m.book.bids if o.is_bid else m.book.asks).insert(o)
            if o.priority > self._priority:
                self._priority = o.priority
        if o.expires_at is not None:
            self._add_timer(o.expires_at, _EXPIRY, o.order_id)

    # ------------------------------------------------------------------ markets and cash

    def _market(self, ticker: str) -> Market:
        m = self.markets.get(ticker)
        if m is None:
            raise _Rejected(Reject.NOT_FOUND, f"unknown market {ticker!r}")
        return m

    def _create_market(self, c: CreateMarket) -> None:
        cfg = self.config
        t = c.market
        if not t or len(t) > cfg.max_ticker_len or not set(t) <= _TICKER_CHARS:
            raise _Rejected(
                Reject.INVALID,
                f"ticker must be 1-{cfg.max_ticker_len} characters of A-Z, 0-9, '-', '_', '.'",
            )
        for bps in (c.maker_fee_bps, c.taker_fee_bps):
            if not 0 <= bps <= cfg.max_fee_bps:
                raise _Rejected(Reject.INVALID, f"fee_bps must be 0..{cfg.max_fee_bps}")
        if t in self.markets:
            raise _Rejected(Reject.CONFLICT, f"market {t!r} already exists")
        if c.close_ts is not None and c.close_ts <= c.ts:
            raise _Rejected(Reject.INVALID, "close_ts must be in the future")
        m = Market(t, c.title, c.close_ts, c.maker_fee_bps, c.taker_fee_bps)
        self.markets[t] = m
        m.seq += 1
        self._evs.append(
            MarketCreated(t, m.seq, c.title, c.close_ts, c.maker_fee_bps, c.taker_fee_bps, c.ts)
        )
        if c.close_ts is not None:
            self._add_timer(c.close_ts, _CLOSE, t)

    def _transition(self, m: Market, action: str, ts: int) -> None:
        new = TRANSITIONS.get((m.status, action))
        if new is None:
            raise _Rejected(Reject.CONFLICT, f"cannot {action} a market that is {m.status}")
        if action == "close":
            self._cancel_market_orders(m, ts)
        m.status = new
        m.seq += 1
        self._evs.append(MarketStatusChanged(m.ticker, m.seq, new, m.result, ts))

    def _resolve(self, c: ResolveMarket) -> None:
        m = self._market(c.market)
        if c.result not in ("yes", "no", "void"):
            raise _Rejected(Reject.INVALID, "result must be yes, no or void")
        if m.status == "resolved":
            raise _Rejected(Reject.CONFLICT, "cannot resolve a market that is resolved")
        if m.status != "closed":
            self._transition(m, "close", c.ts)
        evs = self._evs
        for user, pos in sorted(m.positions.items()):
            if not pos.yes and not pos.no:
                continue
            if c.result == "void":
                amount = VOID_PAYOUT * (pos.yes + pos.no)
            elif c.result == "yes":
                amount = PAYOUT * pos.yes
            else:
                amount = PAYOUT * pos.no
            if amount:
                acct = self._acct(user)
                acct.available += amount
                m.escrow -= amount
            evs.append(PayoutMade(m.ticker, user, pos.yes, pos.no, amount))
            pos.yes = pos.no = 0
        m.positions.clear()
        m.result = c.result
        self._transition(m, "resolve", c.ts)

    def _check_amount(self, amount: int) -> None:
        if not 0 < amount <= self.config.max_cash_amount:
            raise _Rejected(
                Reject.INVALID, f"amount must be 1..{self.config.max_cash_amount} cents"
            )

    def _credit(self, c: CreditCash) -> None:
        self._check_amount(c.amount)
        acct = self._acct(c.user)
        acct.available += c.amount
        self.credits += c.amount
        self._evs.append(CashCredited(c.user, c.amount))

    def _debit(self, c: DebitCash) -> None:
        self._check_amount(c.amount)
        acct = self.accounts.get(c.user)
        if acct is None or acct.available < c.amount:
            raise _Rejected(Reject.INSUFFICIENT_FUNDS, "available cash is below the amount")
        acct = self._acct(c.user)
        acct.available -= c.amount
        self.debits += c.amount
        self._evs.append(CashDebited(c.user, c.amount))

    def _acct(self, user: int) -> Account:
        """The account, about to change (see `_track`)."""
        return self._track(self.account(user), user)

    def _track(self, acct: Account, user: int) -> Account:
        """Record the balance of an account about to change, at its first change since
        `take_cash_changes`."""
        if not acct.tracked:
            acct.tracked = True
            acct.base_available = acct.available
            acct.base_held = acct.held
            self._cash_base[user] = acct
        return acct

    # ------------------------------------------------------------------ placing

    def _validate(
        self,
        order_id: int,
        side: int,
        outcome: int,
        stp: int,
        typ: int,
        tif: int,
        qty: int,
        price: int,
        post_only: bool,
        expires_at: int | None,
        stop_price: int | None,
        ts: int,
    ) -> int:
        """Check a place's terms (its strings as codes, -1 for none of the values; `price`
        -1 when none was given); return the own-outcome limit price."""
        if side < 0 or outcome < 0 or stp < 0 or typ < 0 or tif < 0:
            raise _Rejected(
                Reject.INVALID, "side, outcome, type, tif or stp is not one of its values"
            )
        if not self._min_qty <= qty <= self._max_qty:
            raise _Rejected(Reject.INVALID, f"qty must be {self._min_qty}..{self._max_qty}")
        if order_id <= 0:
            raise _Rejected(Reject.INVALID, "order_id must be positive")
        if typ in (_MARKET, _STOP):
            if price == -1:
                price = MAX_PRICE if side == _BUY else MIN_PRICE
            if tif == _GTD or (tif == _FOK and typ == _STOP):
                raise _Rejected(Reject.INVALID, "a market or stop order's tif must be ioc")
        elif price == -1:
            raise _Rejected(Reject.INVALID, "a limit or stop_limit order needs a price")
        if not MIN_PRICE <= price <= MAX_PRICE:
            raise _Rejected(Reject.INVALID, f"price must be {MIN_PRICE}..{MAX_PRICE} cents")
        if typ in (_STOP, _STOP_LIMIT):
            if stop_price is None or not MIN_PRICE <= stop_price <= MAX_PRICE:
                raise _Rejected(Reject.INVALID, "stop orders need a stop_price of 1..99 cents")
            if post_only or tif == _FOK:
                raise _Rejected(Reject.INVALID, "stop orders cannot be post_only or fok")
        elif stop_price is not None:
            raise _Rejected(Reject.INVALID, "stop_price is only for stop and stop_limit orders")
        if tif == _GTD:
            if expires_at is None or expires_at <= ts:
                raise _Rejected(Reject.INVALID, "a gtd order needs expires_at in the future")
        elif expires_at is not None:
            raise _Rejected(Reject.INVALID, "expires_at is only for gtd orders")
        if post_only and (typ in (_MARKET, _STOP) or (tif != _GTC and tif != _GTD)):
            raise _Rejected(Reject.INVALID, "post_only orders must rest: tif gtc or gtd")
        return price

    def _place(self, c: PlaceOrder) -> None:
        # Every field once, in one C call (a field read costs as much as the whole tuple).
        (
            ts,
            order_id,
            user,
            market,
            side,
            outcome,
            qty,
            typ,
            tif,
            price_or_none,
            post_only,
            coid,
            expires_at,
            stop_price,
            stp,
        ) = _astuple(c)
        m = self.markets.get(market)
        if m is None:
            raise _Rejected(Reject.NOT_FOUND, f"unknown market {market!r}")
        # msgspec checks these values when decoding; a command built in code is checked
        # here too: one dict lookup per field instead of comparing strings.
        # The common values are the very string objects decoding and literals give, so an
        # identity check settles most fields before any lookup.
        side_code = 0 if side is BUY else 1 if side is SELL else _code(_SIDES, side)
        outcome_code = 0 if outcome is YES else 1 if outcome is NO else _code(_OUTCOMES, outcome)
        stp_code = 0 if stp is _NEWEST_S else _code(_STPS, stp)
        type_code = (
            _LIMIT if typ is _LIMIT_S else _MARKET if typ is _MARKET_S else _code(_TYPES, typ)
        )
        tif_code = _GTC if tif is _GTC_S else _code(_TIFS, tif)
        # Compiled, quantities and prices are C integers: a value out of their range is
        # out of the bounds `_validate` checks, and gets the same rejection from it.
        try:
            qty_c = qty
        except (OverflowError, TypeError):
            qty_c = -1
        try:
            price_c = -1 if price_or_none is None else price_or_none
        except (OverflowError, TypeError):
            price_c = 0
        price = self._validate(
            order_id,
            side_code,
            outcome_code,
            stp_code,
            type_code,
            tif_code,
            qty_c,
            price_c,
            post_only,
            expires_at,
            stop_price,
            ts,
        )
        is_stop = type_code in (_STOP, _STOP_LIMIT)
        if (type_code in (_MARKET, _STOP)) and tif_code == _GTC:
            tif = "ioc"  # market and stop orders never rest
            tif_code = _IOC
        if coid is not None:
            key = (user, coid)
            prev = self.client_ids.get(key)
            if prev is not None:
                if _same_terms(prev, c, price, tif):
                    self._evs.append(prev.snapshot_as(OrderDeduplicated))
                    return
                raise _Rejected(
                    Reject.CONFLICT, f"client_order_id {coid!r} is in use by an open order"
                )
            if self.recent_ids:
                self._forget_old(ts)
                done = self.recent_ids.get(key)
                if done is not None and _same_terms(done, c, price, tif):
                    # A retry of an order that already finished (filled at once, say):
                    # answer with it. Different terms: a new order reusing the id.
                    self._evs.append(done.snapshot_as(OrderDeduplicated))
                    return
        if m.status != "open":
            raise _Rejected(Reject.MARKET_NOT_OPEN, f"market {market} is {m.status}")
        if order_id in self.orders:
            raise _Rejected(Reject.CONFLICT, f"order_id {order_id} is in use")
        mine = self.user_orders.get(user)
        if (
            mine is not None
            and len(mine) >= self._max_open
            # Only an order that can stay open counts: at the cap a user can still trade
            # out with IOC, FOK and market orders.
            and (tif_code in (_GTC, _GTD) or is_stop)
        ):
            raise _Rejected(
                Reject.TOO_MANY_OPEN_ORDERS,
                f"at most {self.config.max_open_orders} open orders per user",
            )
        is_yes = outcome_code == _YES
        is_buy = side_code == _BUY
        is_bid = is_buy == is_yes
        book_price = price if is_yes else PAYOUT - price
        hold = 0
        if is_buy:
            hold = hold_for(price, qty_c, m.max_fee_bps)
            acct = self.accounts.get(user)
            if acct is None or acct.available < hold:
                raise _Rejected(
                    Reject.INSUFFICIENT_FUNDS,
                    f"order needs {hold} cents; available is {acct.available if acct else 0}",
                )
        else:
            pos = m.positions.get(user)
            free = 0
            if pos is not None:
                free = pos.yes - pos.yes_reserved if is_yes else pos.no - pos.no_reserved
            if free < qty_c:
                raise _Rejected(
                    Reject.INSUFFICIENT_POSITION,
                    f"selling {qty} {outcome.upper()} needs them held and unreserved; "
                    f"{free} are free",
                )
        book = m.book
        opp = book.asks if is_bid else book.bids
        if not is_stop:
            if post_only and opp.crosses(book_price):
                raise _Rejected(
                    Reject.POST_ONLY_WOULD_CROSS, "post-only order would take liquidity"
                )
            if tif_code == _FOK and self._fillable(m, opp, book_price, user, stp, qty_c) < qty_c:
                raise _Rejected(Reject.FOK_UNFILLABLE, "fill-or-kill order cannot fill completely")

        # Accepted: from here on nothing is rejected. (Fields set one by one: compiled, a
        # C struct filled in place, without parsing 27 arguments.)
        o = OrderState.__new__(OrderState)
        o.order_id = order_id
        o.user = user
        o.market = market
        o.side = side
        o.outcome = outcome
        o.type = typ
        o.tif = tif
        o.price = price
        o.qty = qty
        o.filled_qty = 0
        o.remaining_qty = qty_c
        o.filled_cost = 0
        o.fees = 0
        o.status = "open"
        o.client_order_id = coid
        o.created_ts = ts
        o.updated_ts = ts
        o.expires_at = expires_at
        o.stop_price = stop_price
        o.post_only = post_only
        o.stp = stp
        o.reason = None
        o.triggered = False
        o.is_bid = is_bid
        o.is_buy = is_buy
        o.is_yes = is_yes
        o.immediate = tif_code in (_IOC, _FOK)
        o.book_price = book_price
        o.hold = hold
        o.priority = 0
        o.prev = None
        o.next = None
        o.mine = mine
        if is_buy:
            assert acct is not None  # checked above
            self._track(acct, user)
            acct.available -= hold
            acct.held += hold
            o.acct = acct
            o.pos = None  # looked up at its first fill (most resting buys never fill)
        else:
            assert pos is not None  # checked above
            o.acct = self.accounts.get(user)
            o.pos = pos
            self._reserve(pos, outcome, qty_c)
        if is_stop:
            last = m.last_price
            if last and _stop_hit(o, last, last):
                o.triggered = True
            else:
                self._register(o)
                m.stops.append(o)
                if expires_at is not None:
                    self._add_timer(expires_at, _EXPIRY, order_id)
                self._evs.append(o.snapshot_as(OrderUpdated))
                return
        traded = m.trade_no
        self._take(m, o, opp)
        if m.stops and m.trade_no != traded:
            self._trigger_stops(m, traded)

    def _take(self, m: Market, o: OrderState, opp: BookSide) -> None:
        """Run `o` as the incoming order: match, then rest or cancel what is left."""
        if opp.crosses(o.book_price):
            self._match(m, o, opp)
        if not o.remaining_qty:
            if o.status == "filled":
                o.reason = _DONE_FILLED
                self._unregister(o)
        elif o.immediate:
            self._finish(o, "cancelled", _DONE_IOC, m, False)
        else:
            self._priority += 1
            o.priority = self._priority
            book = m.book
            level = (book.bids if o.is_bid else book.asks).add(o)
            self._touch(level)
            self._register(o)
            if o.expires_at is not None:
                self._add_timer(o.expires_at, _EXPIRY, o.order_id)
        self._evs.append(o.snapshot_as(OrderUpdated))

    def _fillable(
        self, m: Market, opp: BookSide, limit: int, user: int, stp: str, need: int
    ) -> int:
        """How much of a fill-or-kill would fill, walking the book as matching would.

        A maker that buys while holding the other outcome nets, and netting can shrink that
        maker's sells further along this same side: then count exactly (`_fillable_netted`).
        """
        total = 0
        p = opp.best
        step = opp.step
        levels = opp.levels
        positions = m.positions
        while p != opp.empty and (limit - p) * step >= 0:
            level = levels[p]
            mk = level.head
            while mk is not None:
                if mk.user == user:
                    if stp != "cancel_oldest":
                        return total
                else:
                    if mk.is_buy:
                        pos = positions.get(mk.user)
                        if pos is not None and (pos.no if mk.is_yes else pos.yes):
                            return self._fillable_netted(m, opp, limit, user, stp, need)
                    total += mk.remaining_qty
                    if total >= need:
                        return total
                mk = mk.next
            p += step
        return total

    def _fillable_netted(
        self, m: Market, opp: BookSide, limit: int, user: int, stp: str, need: int
    ) -> int:
        """`_fillable`, simulating the makers' positions: each maker that is filled whole
        nets like `_net` would, and the sells that netting shrinks count only what is left.
        """
        total = 0
        cut: dict[int, int] = {}  # order_id -> contracts netting would take off it
        sim: dict[int, list[int]] = {}  # user -> [yes, no, yes_reserved, no_reserved]
        p = opp.best
        step = opp.step
        levels = opp.levels
        while p != opp.empty and (limit - p) * step >= 0:
            for mk in levels[p]:
                rem = mk.remaining_qty - cut.get(mk.order_id, 0)
                if rem <= 0:
                    continue
                if mk.user == user:
                    if stp == "cancel_oldest":
                        continue
                    return total
                total += rem
                if total >= need:
                    return total
                # The maker is filled whole (and gone): move its contracts, then net.
                cut[mk.order_id] = mk.remaining_qty
                s = sim.get(mk.user)
                if s is None:
                    pos = m.positions.get(mk.user) or Position()
                    s = sim[mk.user] = [pos.yes, pos.no, pos.yes_reserved, pos.no_reserved]
                i = 0 if mk.is_yes else 1
                if not mk.is_buy:
                    s[i] -= rem
                    s[i + 2] -= rem
                    continue
                s[i] += rem
                pairs = min(s[0], s[1])
                s[0] -= pairs
                s[1] -= pairs
                for j, outcome in ((0, YES), (1, NO)):
                    excess = s[j + 2] - s[j]
                    for o in reversed(list(self.user_orders[mk.user].values())):
                        if excess <= 0:
                            break
                        if o.market != m.ticker or o.is_buy or o.outcome != outcome:
                            continue
                        left = o.remaining_qty - cut.get(o.order_id, 0)
                        if left > 0:
                            c = min(excess, left)
                            cut[o.order_id] = cut.get(o.order_id, 0) + c
                            s[j + 2] -= c
                            excess -= c
            p += step
        return total

    def _match(self, m: Market, o: OrderState, opp: BookSide) -> None:
        """Trade `o` against the opposite side while prices cross, best price first."""
        levels = opp.levels
        step = opp.step
        limit = o.book_price
        user = o.user
        while o.remaining_qty:
            p = opp.best
            if p == opp.empty or (limit - p) * step < 0:
                break
            level = levels[p]
            while o.remaining_qty and level.head is not None:
                mk = level.head
                if mk.user == user:
                    stp = o.stp
                    if stp != "cancel_newest":
                        self._finish(mk, "cancelled", _DONE_SELF_TRADE, m, True)
                    if stp != "cancel_oldest":
                        self._finish(o, "cancelled", _DONE_SELF_TRADE, m, False)
                    continue
                q = mk.remaining_qty if mk.remaining_qty < o.remaining_qty else o.remaining_qty
                self._trade(m, mk, o, p, q, level)
            self._touch(level)
            if not level.qty:
                opp.settle_best()

    def _trade(
        self, m: Market, mk: OrderState, tk: OrderState, p: int, q: int, level: Level
    ) -> None:
        """Execute `q` at YES price `p` between resting `mk` and incoming `tk`."""
        ts = self._now
        m.trade_no += 1
        m.seq += 1
        m.last_price = p
        m.volume += q
        mk_own = p if mk.is_yes else PAYOUT - p
        tk_own = p if tk.is_yes else PAYOUT - p
        mk_fee = mk_own * q * m.maker_fee_bps // BPS if m.maker_fee_bps else 0
        tk_fee = tk_own * q * m.taker_fee_bps // BPS if m.taker_fee_bps else 0
        mk_buy = mk.is_buy
        tk_buy = tk.is_buy
        self._fill(m, mk, mk_own, q, mk_fee, mk_buy)
        self._fill(m, tk, tk_own, q, tk_fee, tk_buy)
        m.fees += mk_fee + tk_fee
        kind = _TRADE_KIND[mk_buy][tk_buy]
        self._evs.append(
            TradeExecuted(
                m.ticker,
                m.seq,
                m.trade_no,
                p,
                q,
                "buy" if tk.is_bid else "sell",
                kind,
                ts,
                mk.order_id,
                mk.user,
                mk.side,
                mk.outcome,
                mk_fee,
                tk.order_id,
                tk.user,
                tk.outcome,
                tk_fee,
            )
        )
        if mk.remaining_qty:
            level.qty -= q
            self._evs.append(mk.snapshot_as(OrderUpdated))
        else:
            level.remove(mk, q)
            self._finish(mk, "filled", _DONE_FILLED, m, True)
        if mk_buy:
            self._net(m, mk)
        if tk_buy:
            self._net(m, tk)

    def _fill(self, m: Market, o: OrderState, own: int, q: int, fee: int, is_buy: bool) -> None:
        """Settle one side of a trade: cash, contracts and the order's own counters."""
        rem = o.remaining_qty - q
        o.remaining_qty = rem
        o.filled_qty += q
        o.filled_cost += own * q
        o.fees += fee
        o.status = "partially_filled" if rem else "filled"
        o.updated_ts = self._now
        acct = o.acct
        if acct is None:
            acct = o.acct = self.account(o.user)
        self._track(acct, o.user)
        pos = o.pos
        if pos is None:
            pos = o.pos = m.position(o.user)
        if is_buy:
            new_hold = hold_for(o.price, rem, m.max_fee_bps) if rem else 0
            freed = o.hold - new_hold
            o.hold = new_hold
            acct.held -= freed
            acct.available += freed - own * q - fee
            m.escrow += own * q
            if o.is_yes:
                pos.yes += q
            else:
                pos.no += q
        else:
            acct.available += own * q - fee
            m.escrow -= own * q
            if o.is_yes:
                pos.yes -= q
                pos.yes_reserved -= q
            else:
                pos.no -= q
                pos.no_reserved -= q

    def _net(self, m: Market, filled: OrderState) -> None:
        """Merge the complete YES/NO pairs of the owner of the buy order `filled` (just
        filled; it holds its owner's account and position): each pays 100 from escrow."""
        pos = filled.pos
        assert pos is not None and filled.acct is not None
        pairs = pos.yes if pos.yes < pos.no else pos.no
        if not pairs:
            return
        user = filled.user
        pos.yes -= pairs
        pos.no -= pairs
        m.escrow -= PAYOUT * pairs
        acct = self._track(filled.acct, user)
        acct.available += PAYOUT * pairs
        self._evs.append(PositionNetted(m.ticker, user, pairs))
        # Contracts promised to open sells may be gone now: shrink those sells, newest first.
        for outcome in ("yes", "no"):
            held = pos.yes if outcome == YES else pos.no
            reserved = pos.yes_reserved if outcome == YES else pos.no_reserved
            excess = reserved - held
            if excess <= 0:
                continue
            mine = self.user_orders.get(user, {})
            for o in reversed(list(mine.values())):
                if excess <= 0:
                    break
                if o.market != m.ticker or o.is_buy or o.outcome != outcome:
                    continue
                cut = min(excess, o.remaining_qty)
                excess -= cut
                if cut == o.remaining_qty:
                    self._finish(o, "cancelled", _DONE_NETTED, m, True)
                else:
                    self._reduce(m, o, o.remaining_qty - cut)

    def _reserve(self, pos: Position, outcome: str, qty: int) -> None:
        if outcome == YES:
            pos.yes_reserved += qty
        else:
            pos.no_reserved += qty

    # ------------------------------------------------------------------ stops

    def _trigger_stops(self, m: Market, traded: int) -> None:
        """Fire every stop that the trades after trade number `traded` reached, in the order
        they were placed; the trades of those stops may fire more, round by round."""
        evs = self._evs
        while m.stops:
            prices = [ev.price for ev in evs if type(ev) is TradeExecuted and ev.trade_id > traded]
            if not prices:
                return
            lo = min(prices)
            hi = max(prices)
            hit = [o for o in m.stops if _stop_hit(o, lo, hi)]
            if not hit:
                return
            traded = m.trade_no
            for o in hit:
                if not o.is_open or o.triggered:
                    continue
                m.stops.remove(o)
                o.triggered = True
                book = m.book
                self._take(m, o, book.asks if o.is_bid else book.bids)

    # ------------------------------------------------------------------ order book upkeep

    def _register(self, o: OrderState) -> None:
        self.orders[o.order_id] = o
        mine = o.mine
        if mine is None:
            mine = self.user_orders.get(o.user)
            if mine is None:
                mine = self.user_orders[o.user] = {}
            o.mine = mine
        mine[o.order_id] = o
        if o.client_order_id is not None:
            self.client_ids[(o.user, o.client_order_id)] = o

    def _unregister(self, o: OrderState) -> None:
        oid = o.order_id
        if self.orders.pop(oid, None) is not None:
            assert o.mine is not None  # set when it was registered
            del o.mine[oid]
            if o.client_order_id is not None:
                self.client_ids.pop((o.user, o.client_order_id), None)
        if o.client_order_id is not None and self._retry_ms and not o.is_open:
            self._remember_done(o)

    def _remember_done(self, o: OrderState) -> None:
        assert o.client_order_id is not None
        key = (o.user, o.client_order_id)
        self.recent_ids[key] = o
        self._recent_q.append((o.updated_ts, key, o))

    def _forget_old(self, now: int) -> None:
        """Drop finished orders older than the retry window."""
        q = self._recent_q
        horizon = now - self.config.retry_window_ms
        while q and q[0][0] < horizon:
            _, key, o = q.popleft()
            if self.recent_ids.get(key) is o:
                del self.recent_ids[key]

    def restore_done(self, order: Order) -> None:
        """Recovery: a recently finished order with a client_order_id (retries find it)."""
        if order.client_order_id is not None and self.config.retry_window_ms:
            self._remember_done(order_state(order))

    def _finish(
        self,
        o: OrderState,
        status: str,
        reason: str,
        m: Market,
        emit: bool,
    ) -> None:
        """The order is done (filled, cancelled, expired): release what it still holds and
        take it off the book. A maker already taken off its level has `priority` 0 only
        after this; a filled maker (nothing remaining) is off its level already."""
        rem = o.remaining_qty
        if o.is_buy:
            if o.hold:
                acct = o.acct
                assert acct is not None  # a buy holds cash: its account was set
                self._track(acct, o.user)
                acct.held -= o.hold
                acct.available += o.hold
                o.hold = 0
        elif rem:
            pos = o.pos
            assert pos is not None  # a sell reserves contracts: its position was set
            if o.is_yes:
                pos.yes_reserved -= rem
            else:
                pos.no_reserved -= rem
        if o.priority:
            if rem:
                side = m.book.bids if o.is_bid else m.book.asks
                level = side.levels[o.book_price]
                level.remove(o, rem)
                self._touch(level)
                if not level.qty and side.best == level.price:
                    side.settle_best()
            o.priority = 0
        elif not o.triggered and (o.type == "stop" or o.type == "stop_limit") and o in m.stops:
            m.stops.remove(o)
        o.remaining_qty = 0
        o.status = status
        o.reason = reason
        o.updated_ts = self._now
        self._unregister(o)
        if emit:
            self._evs.append(o.snapshot_as(OrderUpdated))

    def _reduce(self, m: Market, o: OrderState, qty: int) -> None:
        """Cut an open order to `qty` remaining, keeping its place in the queue."""
        cut = o.remaining_qty - qty
        o.remaining_qty = qty
        o.qty -= cut
        o.updated_ts = self._now
        if o.is_buy:
            new_hold = hold_for(o.price, qty, m.max_fee_bps)
            freed = o.hold - new_hold
            o.hold = new_hold
            acct = o.acct
            assert acct is not None
            self._track(acct, o.user)
            acct.held -= freed
            acct.available += freed
        else:
            assert o.pos is not None
            self._reserve(o.pos, o.outcome, -cut)
        if o.priority:
            side = m.book.bids if o.is_bid else m.book.asks
            level = side.levels[o.book_price]
            level.qty -= cut
            self._touch(level)
        self._evs.append(o.snapshot_as(OrderUpdated))

    def _touch(self, level: Level) -> None:
        """The command changed `level`: report it (once) when it is done."""
        if not level.dirty:
            level.dirty = True
            tail = self._dirty_tail
            if tail is None:
                self._dirty_head = level
            else:
                tail.next_dirty = level
            self._dirty_tail = level

    def _flush_book(self) -> None:
        """One `BookChanged` per level the command touched, with the level's final total."""
        evs = self._evs
        level = self._dirty_head
        self._dirty_head = self._dirty_tail = None
        while level is not None:
            m: Market = level.owner
            m.seq += 1
            evs.append(BookChanged(m.ticker, m.seq, level.side, level.price, level.qty))
            level.dirty = False
            nxt = level.next_dirty
            level.next_dirty = None
            level = nxt

    def _flush_book_if_dirty(self) -> None:
        if self._dirty_head is not None:
            self._flush_book()

    # ------------------------------------------------------------------ cancel / amend

    def _own_open_order(self, user: int, order_id: int | None, coid: str | None) -> OrderState:
        if order_id is not None:
            o = self.orders.get(order_id)
        elif coid is not None:
            o = self.client_ids.get((user, coid))
        else:
            raise _Rejected(Reject.INVALID, "name the order by order_id or client_order_id")
        if o is None:
            raise _Rejected(Reject.NOT_FOUND, "no open order with that id")
        if o.user != user:
            raise _Rejected(Reject.FORBIDDEN, "that order belongs to another user")
        return o

    def _cancel(self, c: CancelOrder) -> None:
        o = self._own_open_order(c.user, c.order_id, c.client_order_id)
        self._finish(o, "cancelled", _DONE_USER, self.markets[o.market], True)

    def _cancel_all(self, c: CancelAll) -> None:
        if c.market is not None:
            self._market(c.market)
        mine = self.user_orders.get(c.user, {})
        victims = [o for o in mine.values() if c.market is None or o.market == c.market]
        for o in victims:
            self._finish(o, "cancelled", _DONE_USER, self.markets[o.market], True)
        self._evs.append(OrdersCancelled(c.user, c.market, len(victims)))

    def _amend(self, c: AmendOrder) -> None:
        o = self._own_open_order(c.user, c.order_id, None)
        if not 1 <= c.qty < o.remaining_qty:
            raise _Rejected(
                Reject.INVALID,
                f"amend can only reduce: qty must be 1..{o.remaining_qty - 1} "
                "(the new remaining quantity)",
            )
        self._reduce(self.markets[o.market], o, c.qty)

    def _cancel_market_orders(self, m: Market, ts: int) -> None:
        victims = [o for o in self.orders.values() if o.market == m.ticker]
        for o in victims:
            self._finish(o, "cancelled", _DONE_MARKET_CLOSED, m, True)
        self._flush_book_if_dirty()

    # ------------------------------------------------------------------ time

    def _add_timer(self, ts: int, kind: int, key: Any) -> None:
        self._timer_no += 1
        heapq.heappush(self._timers, (ts, kind, self._timer_no, key))

    def _run_timers(self, now: int) -> None:
        """Fire every timer due at `now`, in time order; what each does is stamped with the
        time it was due (an order expired at its `expires_at`, not when the engine noticed)."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            ts, kind, _, key = heapq.heappop(timers)
            self._now = ts
            if kind == _EXPIRY:
                o = self.orders.get(key)
                if o is not None and o.expires_at == ts:
                    self._finish(o, "expired", _DONE_EXPIRED, self.markets[o.market], True)
            else:
                m = self.markets[key]
                if m.close_ts == ts and m.status in ("open", "halted"):
                    self._flush_book_if_dirty()
                    self._transition(m, "close", ts)
        self._now = now
        self._flush_book_if_dirty()
