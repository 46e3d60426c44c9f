"""The anomaly likelihood of a stream's score against its recent scores
(see :mod:`farout.streaming.history` for what it means), compiled over a
ring buffer of the last ``window`` scores, beside the NumPy reference the
tests hold it to (:func:`likelihood_reference`, the code it replaced).

The reference rebuilt the window's statistics on every row: an array of the
scores, the ``short``-row means of the clipped scores (``np.convolve``) and
their quantile. The compiled state keeps, beside the ring, the scores in
sorted order and, for each ``short``-row stretch, its mean and its maximum:
a stretch whose maximum is at most the clip (the window's ``q`` quantile)
has the mean it had when it was complete, and only the few stretches
holding a score above it are averaged again. Every number is the reference's
to the last bit: the means add in ``np.convolve``'s order (one after the
other, for ``short`` <= 11), the sums in NumPy's pairwise order, the
quantile interpolates as ``np.quantile``; and the tails beyond the quantile,
which take logarithms (NumPy's differ from the C library's in the last bit),
are the reference's own code, run on the rows that need them (about 2
in 100; numba's object mode cannot be cached).
"""

import numba
import numpy as np

from .pairwise import pairwise_sum

__all__ = [
    "MAX_SHORT",
    "finish_likelihood",
    "history_add",
    "history_likelihood",
    "history_scores",
    "history_usual",
    "likelihood_reference",
    "tail",
    "tail_level",
]

#: ``np.convolve`` adds up to 11 products one after the other; from 12 on,
#: BLAS adds them in its own order, which the compiled means do not follow.
MAX_SHORT = 11

# The spread of the history is at least this share of its mean (at least
# of a tiny absolute floor), so identical scores divide by no zero.
_SD_FLOOR = 1e-3
_ABS_FLOOR = 1e-12
# Fewer excesses over the q quantile than this: the tail's scale is the
# window's standard deviation.
_MIN_EXCESS = 5


# ------------------------------------------------------------ reference
def base_reference(sorted_values, q):
    """The ``q`` quantile of sorted scores (linear interpolation, as NumPy's
    default, in the order of operations the stream has always used)."""
    n = len(sorted_values)
    position = q * (n - 1)
    low = int(position)
    high = min(low + 1, n - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def likelihood_reference(values, short, q, score):
    """L of a row scoring ``score`` against the scores ``values`` before it
    (in arrival order)."""
    n = len(values)
    if n < 2:
        return 0.5
    values = np.asarray(values, dtype=np.float64)
    base = base_reference(sorted(values.tolist()), q)
    spike = tail_level(values, base, q, score)
    w = min(short, n)
    if n <= w or w < 2:
        return spike
    # scores clipped at the q quantile: a spike is the spike's to
    # flag, and must not lift the run of the rows after it
    averages = np.convolve(np.minimum(values, base), np.full(w, 1.0 / w), mode="valid")
    recent = (np.minimum(values[n - w + 1 :], base).sum() + min(score, base)) / w
    run_base = float(np.quantile(averages, q))
    run = tail_level(averages, run_base, q, recent)
    return max(spike, run)


def tail(values, base):
    """The tail of ``values`` beyond their quantile ``base``: ``(True,
    hill)``, a Pareto tail whose index 1 / hill is Hill's estimate from the
    excesses; or, without enough excesses (or a base at 0), ``(False,
    scale)``, an exponential tail with the values' standard deviation as
    its scale."""
    above = values[values > base]
    if base > _ABS_FLOOR and above.size >= _MIN_EXCESS:
        return True, max(float(np.log(above / base).mean()), _ABS_FLOOR)
    return False, max(float(values.std()), _SD_FLOOR * abs(float(values.mean())), _ABS_FLOOR)


def tail_level(values, base, q, x):
    """1 minus the tail probability of ``x`` among ``values``: beyond their
    ``q`` quantile ``base``, the fitted tail (:func:`tail`), (1 - q) *
    (x / base) ** (-1 / hill) for a Pareto one; below it, the empirical
    distribution. A Pareto tail is heavy enough for the spikes of real
    metrics, and on light-tailed data it errs towards fewer flags."""
    if x <= base:
        below = np.count_nonzero(values <= x) / (len(values) + 1)
        return float(min(below, q))
    pareto, parameter = tail(values, base)
    if pareto:
        return float(1.0 - (1.0 - q) * (x / base) ** (-1.0 / parameter))
    return float(1.0 - (1.0 - q) * np.exp(-(x - base) / parameter))


# ------------------------------------------------------------- compiled
# state: ring (window,) the scores, sorted_ (window,) the same in order,
# means and highs (window,) each complete short-row stretch's mean and
# maximum at the slot of its first score, meta (2,) int64: head, count.


@numba.njit(cache=True, nogil=True)
def _bisect_left(a, n, x):
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def _bisect_right(a, n, x):
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@numba.njit(cache=True, nogil=True)
def history_usual(sorted_, n, q):
    """:func:`base_reference` of the first ``n`` of ``sorted_``."""
    position = q * (n - 1)
    low = int(position)
    high = min(low + 1, n - 1)
    return sorted_[low] + (sorted_[high] - sorted_[low]) * (position - low)


@numba.njit(cache=True, nogil=True)
def history_add(ring, sorted_, means, highs, meta, short, score):
    """Record ``score``: the oldest leaves a full window."""
    window = ring.shape[0]
    head, n = meta[0], meta[1]
    if n == window:
        at = _bisect_left(sorted_, n, ring[head])
        for i in range(at, n - 1):
            sorted_[i] = sorted_[i + 1]
        head = (head + 1) % window
        n -= 1
    ring[(head + n) % window] = score
    at = _bisect_right(sorted_, n, score)
    for i in range(n, at, -1):
        sorted_[i] = sorted_[i - 1]
    sorted_[at] = score
    n += 1
    if short >= 2 and n >= short:  # a stretch has just completed
        first = (head + n - short) % window
        c = 1.0 / short
        total = 0.0
        high = -np.inf
        for k in range(short):
            v = ring[(first + k) % window]
            total += v * c
            high = max(high, v)
        means[first] = total
        highs[first] = high
    meta[0], meta[1] = head, n


@numba.njit(cache=True, nogil=True)
def _arrival(ring, head, n):
    window = ring.shape[0]
    out = np.empty(n)
    first = min(n, window - head)
    out[:first] = ring[head : head + first]
    out[first:] = ring[: n - first]
    return out


@numba.njit(cache=True, nogil=True)
def _order_pair(values, n, low):
    """The ``low``-th and ``low + 1``-th smallest of ``values[:n]``."""
    top = n - low  # the low-th smallest is the top-th largest
    if top > 64:
        ordered = np.sort(values[:n])
        return ordered[low], ordered[low + 1]
    best = np.empty(top)  # the largest so far, ascending
    filled = 0
    for i in range(n):
        v = values[i]
        if filled < top:
            j = filled
            while j > 0 and best[j - 1] > v:
                best[j] = best[j - 1]
                j -= 1
            best[j] = v
            filled += 1
        elif v > best[0]:
            j = 0
            while j + 1 < top and best[j + 1] < v:
                best[j] = best[j + 1]
                j += 1
            best[j] = v
    return best[0], best[1]


@numba.njit(cache=True, nogil=True)
def _order_pair_hinted(scratch, n, low, window):
    """:func:`_order_pair` of ``scratch[:n]``, first among the values at
    least a guess, kept in ``scratch[window - 1]`` (never a stretch's: there
    are at most ``window - 1``) from the row before: the means move little
    from row to row. Whenever at least ``n - low`` values reach the guess,
    the top ``n - low`` are among them, so the pair is exact either way."""
    top = n - low
    guess = scratch[window - 1]
    if n < window and top <= 64:
        cap = 4 * top + 64
        found = np.empty(cap)
        m = 0
        for i in range(n):
            if scratch[i] >= guess:
                if m < cap:
                    found[m] = scratch[i]
                m += 1
        if top <= m <= cap:
            ordered = np.sort(found[:m])
            pair = ordered[m - top], ordered[m - top + 1]
            scratch[window - 1] = 0.9 * pair[0] if pair[0] > 0 else -np.inf
            return pair
    pair = _order_pair(scratch, n, low)
    if n < window:
        scratch[window - 1] = 0.9 * pair[0] if pair[0] > 0 else -np.inf
    return pair


@numba.njit(cache=True, nogil=True)
def history_likelihood(ring, sorted_, means, highs, meta, short, q, score, scratch):
    """The two parts of :func:`likelihood_reference` of ``score`` against
    the ring's scores: ``(spike, run, base, run_base, recent, count)``.
    ``run`` is -inf where there is no run part. A part beyond its quantile
    is NaN, for :func:`finish_likelihood` to fit the tail: ``base`` and
    ``run_base`` are the quantiles, ``recent`` the run's mean, and
    ``scratch[:count]`` (at least ``window`` floats) the short-row means."""
    window = ring.shape[0]
    head, n = meta[0], meta[1]
    if n < 2:
        return 0.5, -np.inf, 0.0, 0.0, 0.0, 0
    base = history_usual(sorted_, n, q)
    spike = np.nan
    if score <= base:
        spike = min(_bisect_right(sorted_, n, score) / (n + 1), q)
    w = min(short, n)
    if n <= w or w < 2:
        return spike, -np.inf, base, 0.0, 0.0, 0
    count = n - w + 1
    c = 1.0 / w
    s = head  # the slot of stretch i (no modulo in the loop: it cost most of the row)
    for i in range(count):
        if highs[s] <= base:
            scratch[i] = means[s]
        else:
            total = 0.0
            t = s
            for _ in range(w):
                total += min(ring[t], base) * c
                t = t + 1 if t + 1 < window else 0
            scratch[i] = total
        s = s + 1 if s + 1 < window else 0
    last = np.empty(w - 1)
    for k in range(w - 1):
        last[k] = min(ring[(head + n - w + 1 + k) % window], base)
    recent = (pairwise_sum(last, 0, w - 1) + min(score, base)) / w
    # np.quantile, method "linear": beyond the last index, the maximum
    virtual = (count - 1) * q
    if virtual >= count - 1:
        run_base = scratch[0]
        for i in range(count):
            run_base = max(run_base, scratch[i])
    else:
        low = int(np.floor(virtual))
        low_value, high_value = _order_pair_hinted(scratch, count, low, window)
        gamma = virtual - low
        diff = high_value - low_value
        run_base = low_value + diff * gamma
        if gamma >= 0.5:
            run_base = high_value - diff * (1 - gamma)
    run = np.nan
    if recent <= run_base:
        below = 0
        for i in range(count):
            below += scratch[i] <= recent
        run = min(below / (count + 1), q)
    return spike, run, base, run_base, recent, count


def finish_likelihood(parts, values, averages, q, score):
    """The likelihood from :func:`history_likelihood`'s ``parts``, its tails
    fitted where it left them (``values``: a function giving the window's
    scores in arrival order; ``averages``: its short-row means)."""
    spike, run, base, run_base, recent, _ = parts
    if spike != spike:
        spike = tail_level(values(), base, q, score)
    if run == -np.inf:
        return float(spike)
    if run != run:
        run = tail_level(averages, run_base, q, recent)
    return float(max(spike, run))


@numba.njit(cache=True, nogil=True)
def history_scores(ring, meta):
    """The ring's scores in arrival order."""
    return _arrival(ring, meta[0], meta[1])
