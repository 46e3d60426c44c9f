"""Column statistics in one compiled pass: pure array functions, no
validation, no I/O. The encoder's scaling needs each column's mean,
variance, minimum and maximum; NumPy would make a float64 copy and several
temporaries of a large table to get them.
"""

import numba
import numpy as np
from numba import prange

from .compile import parallel_and_serial
from .moments import merge_moments

__all__ = ["column_moments", "column_moments_numpy"]


def _moments_blocks(X, limit, counts, means, m2s, lows, highs, bad):
    """Per-task count, mean, M2, min and max of each column over a
    contiguous row range; ``bad[task]`` is set when a value is NaN, inf or
    not below ``limit`` in magnitude (the caller's general path names it)."""
    n, p = X.shape
    n_tasks = counts.shape[0]
    step = (n + n_tasks - 1) // n_tasks
    for task in prange(n_tasks):
        start, stop = task * step, min(n, (task + 1) * step)
        if stop <= start:
            continue
        total = np.zeros(p)
        for i in range(start, stop):
            for j in range(p):
                value = np.float64(X[i, j])
                total[j] += value
                if not abs(value) < limit:
                    bad[task] = True
                lows[task, j] = min(lows[task, j], value)
                highs[task, j] = max(highs[task, j], value)
        count = stop - start
        for j in range(p):
            means[task, j] = total[j] / count
        for i in range(start, stop):
            for j in range(p):
                dev = np.float64(X[i, j]) - means[task, j]
                m2s[task, j] += dev * dev
        counts[task] = count


_moments_parallel, _moments_serial = parallel_and_serial(_moments_blocks)


def column_moments(X, limit=np.inf):
    """(count, mean, M2, min, max) of each column of a float array, in
    float64, or None when a value is NaN, inf or at least ``limit`` in
    magnitude. M2 is the sum of squared deviations from the mean."""
    X = np.ascontiguousarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    n, p = X.shape
    n_tasks = max(1, min(numba.get_num_threads(), n // 4096))
    counts = np.zeros(n_tasks)
    means = np.zeros((n_tasks, p))
    m2s = np.zeros((n_tasks, p))
    lows = np.full((n_tasks, p), np.inf)
    highs = np.full((n_tasks, p), -np.inf)
    bad = np.zeros(n_tasks, dtype=np.bool_)
    kernel = _moments_parallel if n_tasks > 1 else _moments_serial
    kernel(X, float(limit), counts, means, m2s, lows, highs, bad)
    if bad.any():
        return None
    moments = (counts[0], means[0], m2s[0])
    for t in range(1, n_tasks):
        moments = merge_moments(moments, (counts[t], means[t], m2s[t]))
    count, mean, m2 = moments
    return int(count), mean, m2, lows.min(axis=0), highs.max(axis=0)


def column_moments_numpy(X):
    """Reference for :func:`column_moments` (finite input)."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    return X.shape[0], mean, ((X - mean) ** 2).sum(axis=0), X.min(axis=0), X.max(axis=0)
