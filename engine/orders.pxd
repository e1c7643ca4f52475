# Compiled layout of orders.py. The integers that change on fills are C integers; ids,
# timestamps and the ones set once (price, qty, priority) stay Python ints, boxed once
# instead of on every event.

cimport cython

from engine.accounts cimport Account, Position


@cython.final
cdef class OrderState:
    cdef public object order_id
    cdef public object user
    cdef public str market
    cdef public str side
    cdef public str outcome
    cdef public str type
    cdef public str tif
    cdef public object price
    cdef public object qty
    cdef public long long filled_qty
    cdef public long long remaining_qty
    cdef public long long filled_cost
    cdef public long long fees
    cdef public str status
    cdef public object client_order_id
    cdef public object created_ts
    cdef public object updated_ts
    cdef public object expires_at
    cdef public object stop_price
    cdef public bint post_only
    cdef public str stp
    cdef public object reason
    cdef public bint triggered
    cdef public bint is_bid
    cdef public bint is_buy
    cdef public bint is_yes
    cdef public bint immediate
    cdef public long long book_price
    cdef public long long hold
    cdef public object priority
    cdef public OrderState next
    cdef public OrderState prev
    cdef public Account acct
    cdef public Position pos
    cdef public dict mine

    cpdef object snapshot(self)
    cpdef object snapshot_as(self, object cls)


cdef long long BPS

cpdef long long hold_for(long long price, long long qty, long long fee_bps)
cpdef long long fee_for(long long price, long long qty, long long fee_bps)
