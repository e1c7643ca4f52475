# Compiled layout of accounts.py (the .py stays the source: setup.py compiles it with this
# file, engine/native.py picks the build).

cimport cython

@cython.final
cdef class Account:
    cdef public long long available
    cdef public long long held
    cdef public bint tracked
    cdef public long long base_available
    cdef public long long base_held


@cython.final
cdef class Position:
    cdef public long long yes
    cdef public long long no
    cdef public long long yes_reserved
    cdef public long long no_reserved
