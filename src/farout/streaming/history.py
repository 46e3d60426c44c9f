"""The recent history of a stream's scores: the anomaly likelihood and the
dynamic cut are read from it. The window holds the scores of every row,
flagged or not: an event that keeps recurring becomes usual, rather than
alerting for ever. (Keeping flagged scores out, as SPOT does, flagged 2,520
of the 4,032 rows of NAB's noiseless daily pattern and scored 0 on NAB;
keeping them in, 41.1.)

The likelihood L of a row is the larger of two:

- **a spike:** 1 minus the tail probability of its score. Beyond the ``q``
  quantile of the last ``window`` scores the tail is fitted to the
  excesses over that quantile (peaks over threshold, as in SPOT, Siffer
  et al., KDD 2017), as a Pareto tail with Hill's index; below it, the
  empirical distribution.
- **a run:** after Numenta's likelihood (Ahmad et al., 2017): the mean of
  the last ``short`` scores, this row's included, against
  the window's ``short``-row means, with the same tail. Scores are clipped
  at the ``q`` quantile here, so a spike does not lift the run of the rows
  after it; a run of moderately high scores raises it where no single
  score would.

The dynamic cut is the score whose spike likelihood is the flagging level:
it follows the recent scores. Both read only scores already seen, so a
row's values use that row and those before it.
"""

import bisect
from collections import deque

import numpy as np

__all__ = ["ScoreHistory"]

# The spread of the history is at least this share of its mean (at least
# of a tiny absolute floor), so identical scores divide by no zero.
_SD_FLOOR = 1e-3
_ABS_FLOOR = 1e-12
# Fewer excesses over the q quantile than this: the tail's scale is the
# window's standard deviation.
_MIN_EXCESS = 5


class ScoreHistory:
    """The last ``window`` scores, and the last ``short`` of them."""

    def __init__(self, window, short, q, scores=()):
        self.window, self.short, self.q = int(window), int(short), float(q)
        self.recent = deque((float(s) for s in scores), maxlen=self.window)
        self.sorted = sorted(self.recent)

    def __len__(self):
        return len(self.recent)

    def usual(self):
        """The ``q`` quantile of the window: above it, a score is far."""
        return self._base()

    def _base(self):
        """The ``q`` quantile of the window (linear interpolation, as
        NumPy's default)."""
        n = len(self.sorted)
        position = self.q * (n - 1)
        low = int(position)
        high = min(low + 1, n - 1)
        return self.sorted[low] + (self.sorted[high] - self.sorted[low]) * (position - low)

    def cut(self, likelihood):
        """The dynamic cut: the score whose spike likelihood is
        ``likelihood``, the fitted tail inverted (+inf while the history is
        too short)."""
        n = len(self.recent)
        if n < 2:
            return np.inf
        values = np.fromiter(self.recent, dtype=np.float64, count=n)
        base = self._base()
        if likelihood <= self.q:
            return float(np.quantile(values, likelihood))
        rest = (1.0 - self.q) / (1.0 - likelihood)
        pareto, parameter = _tail(values, base)
        return base * rest**parameter if pareto else base + parameter * np.log(rest)

    def likelihood(self, score):
        """L of a row scoring ``score``, against the scores before it."""
        n = len(self.recent)
        if n < 2:
            return 0.5
        values = np.fromiter(self.recent, dtype=np.float64, count=n)
        base = self._base()
        spike = _tail_level(values, base, self.q, score)
        w = min(self.short, n)
        if n <= w or w < 2:
            return spike
        # scores clipped at the q quantile: a spike is the spike's to
        # flag, and must not lift the run of the rows after it
        averages = np.convolve(np.minimum(values, base), np.full(w, 1.0 / w), mode="valid")
        recent = (np.minimum(values[n - w + 1 :], base).sum() + min(score, base)) / w
        run_base = float(np.quantile(averages, self.q))
        run = _tail_level(averages, run_base, self.q, recent)
        return max(spike, run)

    def add(self, score):
        """Record a row's score."""
        if len(self.recent) == self.window:
            gone = self.recent[0]
            del self.sorted[bisect.bisect_left(self.sorted, gone)]
        self.recent.append(float(score))
        bisect.insort(self.sorted, float(score))

    def get_state(self):
        meta = {"window": self.window, "short": self.short, "q": self.q}
        return {"meta": meta, "arrays": {"scores": np.array(self.recent, dtype=np.float64)}}

    @classmethod
    def from_state(cls, state):
        meta = state["meta"]
        return cls(meta["window"], meta["short"], meta["q"], state["arrays"]["scores"])


def _tail(values, base):
    """The tail of ``values`` beyond their quantile ``base``: ``(True,
    hill)``, a Pareto tail whose index 1 / hill is Hill's estimate from the
    excesses; or, without enough excesses (or a base at 0), ``(False,
    scale)``, an exponential tail with the values' standard deviation as
    its scale."""
    above = values[values > base]
    if base > _ABS_FLOOR and above.size >= _MIN_EXCESS:
        return True, max(float(np.log(above / base).mean()), _ABS_FLOOR)
    return False, max(float(values.std()), _SD_FLOOR * abs(float(values.mean())), _ABS_FLOOR)


def _tail_level(values, base, q, x):
    """1 minus the tail probability of ``x`` among ``values``: beyond their
    ``q`` quantile ``base``, the fitted tail (:func:`_tail`), (1 - q) *
    (x / base) ** (-1 / hill) for a Pareto one; below it, the empirical
    distribution. A Pareto tail is heavy enough for the spikes of real
    metrics, and on light-tailed data it errs towards fewer flags."""
    if x <= base:
        below = np.count_nonzero(values <= x) / (len(values) + 1)
        return float(min(below, q))
    pareto, parameter = _tail(values, base)
    if pareto:
        return float(1.0 - (1.0 - q) * (x / base) ** (-1.0 / parameter))
    return float(1.0 - (1.0 - q) * np.exp(-(x - base) / parameter))
