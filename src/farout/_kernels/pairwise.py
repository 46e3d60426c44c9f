"""NumPy's pairwise summation, compiled: the same sum, to the last bit, as
``ndarray.sum()`` of a contiguous float64 array (and of each row of a
C-ordered 2-D array along its last axis).

NumPy adds fewer than 8 numbers one after the other, up to 128 in eight
interleaved partial sums combined as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``,
and more by halves (the first half a multiple of 8). A compiled loop that
must give the scores NumPy gives has to add in that order; its reference
is ``np.sum`` itself, which the tests compare it with.
"""

import numba
import numpy as np

__all__ = ["pairwise_sum"]


@numba.njit(cache=True, nogil=True)
def _block(a, lo, n):
    """NumPy's sum of at most 128 numbers."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    m = n - n % 8
    for i in range(8, m, 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(m, n):
        res += a[lo + i]
    return res


@numba.njit(cache=True, nogil=True)
def pairwise_sum(a, lo, n):
    """The sum of ``a[lo:lo + n]`` in NumPy's order."""
    if n <= 128:
        return _block(a, lo, n)
    # NumPy recurses on halves; a stack here (numba's cache cannot hold a
    # recursive function called from another module)
    starts = np.empty(128, dtype=np.int64)
    sizes = np.empty(128, dtype=np.int64)
    split = np.zeros(128, dtype=np.bool_)
    sums = np.empty(128)
    top = done = 0
    starts[0], sizes[0] = lo, n
    top = 1
    while top > 0:
        i = top - 1
        if sizes[i] <= 128:
            sums[done] = _block(a, starts[i], sizes[i])
            done += 1
            top -= 1
        elif split[i]:  # both halves summed: the last two sums
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            top -= 1
        else:
            split[i] = True
            half = sizes[i] // 2
            half -= half % 8
            starts[top], sizes[top], split[top] = starts[i], half, False
            starts[top + 1], sizes[top + 1] = starts[i] + half, sizes[i] - half
            split[top + 1] = False
            top += 2
    return sums[0]
