# Compiled layout of engine.py: the Engine as a C struct, its private methods as C
# functions, and the C types of hot locals. engine.py stays the one source of behaviour.

cimport cython

from engine.accounts cimport Account, Position
from engine.book cimport Book, BookSide, Level
from engine.markets cimport Market
from engine.orders cimport OrderState, hold_for


# Module constants read on every command: C variables instead of module-dict lookups.
cdef str BUY, SELL, YES, NO
cdef long long PAYOUT, BPS, MIN_PRICE, MAX_PRICE, VOID_PAYOUT
cdef object OrderUpdated, TradeExecuted, BookChanged, PositionNetted, OrderDeduplicated
cdef object DoneReason, Reject, _TRADE_KIND, _astuple
cdef object _DONE_EXPIRED, _DONE_FILLED, _DONE_IOC, _DONE_MARKET_CLOSED, _DONE_NETTED
cdef object _DONE_SELF_TRADE, _DONE_USER
cdef object PlaceOrder, CancelOrder, AmendOrder, CancelAll, Tick, CreditCash, DebitCash
cdef object CreateMarket, HaltMarket, OpenMarket, CloseMarket, ResolveMarket
cdef int _EXPIRY, _CLOSE
cdef int _BUY, _YES, _LIMIT, _MARKET, _STOP, _STOP_LIMIT, _GTC, _GTD, _IOC, _FOK
cdef dict _SIDES, _OUTCOMES, _STPS, _TYPES, _TIFS
cdef str _NEWEST_S, _LIMIT_S, _MARKET_S, _GTC_S


cdef int _code(dict table, object value)

@cython.locals(price=cython.longlong)
cdef bint _same_terms(OrderState o, object c, long long price, str tif) except -1

@cython.locals(sp=cython.longlong)
cdef bint _stop_hit(OrderState o, long long lo, long long hi) except -1


@cython.final
cdef class Engine:
    cdef public object config
    cdef public long long _min_qty
    cdef public long long _max_qty
    cdef public Py_ssize_t _max_open
    cdef public long long _retry_ms
    cdef public dict markets
    cdef public dict accounts
    cdef public dict orders
    cdef public dict user_orders
    cdef public dict client_ids
    cdef public dict recent_ids
    cdef public object _recent_q
    cdef public long long credits
    cdef public long long debits
    cdef public long long _priority
    cdef public object _now
    cdef public list _timers
    cdef public long long _timer_no
    cdef public list _evs
    cdef public Level _dirty_head
    cdef public Level _dirty_tail
    cdef public dict _cash_base

    @cython.locals(evs=list, timers=list)
    cpdef list apply(self, object cmd)

    @cython.locals(acct=Account)
    cpdef Account account(self, object user)
    cdef Market _market(self, str ticker)
    cdef _create_market(self, object c)
    cdef _transition(self, Market m, str action, object ts)
    @cython.locals(m=Market, pos=Position, acct=Account, amount=cython.longlong)
    cdef _resolve(self, object c)
    cdef _check_amount(self, object amount)
    @cython.locals(acct=Account)
    cdef _credit(self, object c)
    @cython.locals(acct=Account)
    cdef _debit(self, object c)
    cdef Account _acct(self, object user)
    cdef Account _track(self, Account acct, object user)

    cdef Py_ssize_t _validate(
        self, object order_id, int side, int outcome, int stp, int typ, int tif,
        long long qty, long long price, object post_only, object expires_at,
        object stop_price, object ts,
    ) except -1
    @cython.locals(
        m=Market, price=cython.longlong, hold=cython.longlong, side_code=int,
        outcome_code=int, stp_code=int, type_code=int, tif_code=int, qty_c=cython.longlong,
        price_c=cython.longlong,
        book_price=cython.longlong, is_yes=bint, is_buy=bint, is_bid=bint, is_stop=bint,
        acct=Account, pos=Position, free=cython.longlong, book=Book, opp=BookSide,
        o=OrderState, prev=OrderState, done=OrderState, mine=dict, last=cython.longlong,
        traded=cython.longlong,
    )
    cdef _place(self, object c)
    @cython.locals(book=Book, level=Level)
    cdef _take(self, Market m, OrderState o, BookSide opp)
    @cython.locals(
        total=cython.longlong, p=cython.longlong, step=cython.longlong, levels=list,
        positions=dict, level=Level, mk=OrderState, pos=Position,
    )
    cdef Py_ssize_t _fillable(
        self, Market m, BookSide opp, long long limit, object user, str stp, long long need
    ) except -1
    @cython.locals(
        total=cython.longlong, p=cython.longlong, step=cython.longlong, levels=list,
        mk=OrderState, o=OrderState, pos=Position, rem=cython.longlong,
    )
    cdef Py_ssize_t _fillable_netted(
        self, Market m, BookSide opp, long long limit, object user, str stp, long long need
    ) except -1
    @cython.locals(
        levels=list, step=cython.longlong, limit=cython.longlong,
        p=cython.longlong, level=Level, mk=OrderState, q=cython.longlong, stp=str,
    )
    cdef _match(self, Market m, OrderState o, BookSide opp)
    @cython.locals(
        mk_own=cython.longlong, tk_own=cython.longlong, mk_fee=cython.longlong,
        tk_fee=cython.longlong, mk_buy=bint, tk_buy=bint,
    )
    cdef _trade(self, Market m, OrderState mk, OrderState tk, long long p, long long q, Level level)
    @cython.locals(rem=cython.longlong, acct=Account, pos=Position, new_hold=cython.longlong,
                   freed=cython.longlong)
    cdef _fill(self, Market m, OrderState o, long long own, long long q, long long fee, bint is_buy)
    @cython.locals(pos=Position, pairs=cython.longlong, held=cython.longlong, acct=Account,
                   reserved=cython.longlong, excess=cython.longlong, mine=dict, o=OrderState,
                   cut=cython.longlong)
    cdef _net(self, Market m, OrderState filled)
    cdef _reserve(self, Position pos, str outcome, long long qty)
    @cython.locals(o=OrderState)
    cdef _trigger_stops(self, Market m, long long traded)
    @cython.locals(mine=dict)
    cdef _register(self, OrderState o)
    cdef _unregister(self, OrderState o)
    cdef _remember_done(self, OrderState o)
    @cython.locals(o=OrderState)
    cdef _forget_old(self, object now)
    @cython.locals(rem=cython.longlong, acct=Account, pos=Position, side=BookSide, level=Level)
    cdef _finish(self, OrderState o, str status, object reason, Market m, bint emit)
    @cython.locals(cut=cython.longlong, new_hold=cython.longlong, freed=cython.longlong,
                   acct=Account, side=BookSide, level=Level)
    cdef _reduce(self, Market m, OrderState o, long long qty)
    @cython.locals(tail=Level)
    cdef _touch(self, Level level)
    @cython.locals(evs=list, level=Level, m=Market)
    cdef _flush_book(self)
    cdef _flush_book_if_dirty(self)
    @cython.locals(o=OrderState)
    cdef OrderState _own_open_order(self, object user, object order_id, object coid)
    @cython.locals(o=OrderState)
    cdef _cancel(self, object c)
    @cython.locals(o=OrderState, mine=dict)
    cdef _cancel_all(self, object c)
    @cython.locals(o=OrderState)
    cdef _amend(self, object c)
    @cython.locals(o=OrderState)
    cdef _cancel_market_orders(self, Market m, object ts)
    cdef _add_timer(self, object ts, int kind, object key)
    @cython.locals(timers=list, o=OrderState, m=Market)
    cdef _run_timers(self, object now)
