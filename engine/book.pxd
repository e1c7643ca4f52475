# Compiled layout of book.py.

cimport cython

from engine.orders cimport OrderState


@cython.final
cdef class Level:
    cdef public str side
    cdef public long long price
    cdef public OrderState head
    cdef public OrderState tail
    cdef public long long qty
    cdef public long long live
    cdef public bint dirty
    cdef public Level next_dirty
    cdef public object owner

    cpdef append(self, OrderState order)
    @cython.locals(after=OrderState)
    cpdef insert(self, OrderState order)
    @cython.locals(before=OrderState)
    cdef _link_after(self, OrderState order, OrderState after)
    @cython.locals(prev=OrderState, nxt=OrderState)
    cpdef remove(self, OrderState order, long long qty)


@cython.final
cdef class BookSide:
    cdef public bint is_bid
    cdef public str name
    cdef public long long step
    cdef public long long empty
    cdef public long long best
    cdef public list levels

    @cython.locals(p=cython.longlong, level=Level)
    cpdef Level add(self, OrderState order)
    @cython.locals(p=cython.longlong)
    cpdef insert(self, OrderState order)
    @cython.locals(p=cython.longlong, levels=list, step=cython.longlong, empty=cython.longlong,
                   level=Level)
    cpdef settle_best(self)
    cpdef bint crosses(self, long long limit)


@cython.final
cdef class Book:
    cdef public BookSide bids
    cdef public BookSide asks
