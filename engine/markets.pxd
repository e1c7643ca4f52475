# Compiled layout of markets.py.

cimport cython

from engine.accounts cimport Position
from engine.book cimport Book


@cython.final
cdef class Market:
    cdef public str ticker
    cdef public str title
    cdef public object close_ts
    cdef public long long maker_fee_bps
    cdef public long long taker_fee_bps
    cdef public long long max_fee_bps
    cdef public str status
    cdef public object result
    cdef public long long seq
    cdef public Book book
    cdef public dict positions
    cdef public list stops
    cdef public long long escrow
    cdef public long long fees
    cdef public long long last_price
    cdef public long long volume
    cdef public long long trade_no

    cpdef Position position(self, object user)
