"""Compiling kernels with numba: one place for the flags and the cache rule.

A kernel is written once as a plain Python function and compiled twice: a
parallel version (``prange`` spread over the cores) for large inputs, and a
serial one, which releases the GIL, for small inputs and for worker threads
that are already the one level of parallelism. numba names its on-disk
cache after the function's qualified name and line, so the two versions
must not share one: they would load each other's machine code (a parallel
call then ran on one core, at half the speed).
"""

import types

import numba

__all__ = ["parallel_and_serial"]


def parallel_and_serial(func, **flags):
    """(parallel, serial) compiled versions of ``func``, cached separately."""
    serial_func = types.FunctionType(
        func.__code__, func.__globals__, func.__name__ + "_serial", func.__defaults__
    )
    serial_func.__qualname__ = func.__qualname__ + "_serial"
    parallel = numba.njit(parallel=True, cache=True, **flags)(func)
    serial = numba.njit(cache=True, nogil=True, **flags)(serial_func)
    return parallel, serial
