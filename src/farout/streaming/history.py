"""The recent history of a stream's scores: the anomaly likelihood and the
dynamic cut are read from it. The window holds the scores of rows that
were not flagged: what "usual" means for this stream.

The likelihood L of a row is the larger of two:

- **a spike:** 1 minus the tail probability of its score. Beyond the ``q``
  quantile of the last ``window`` scores the tail is exponential, its scale
  the mean excess over that quantile (peaks over threshold, as in SPOT,
  Siffer et al., KDD 2017); below it, the empirical distribution. So L is
  calibrated in its tail: on a stationary stream a share of about
  ``1 - L`` of the rows reach L.
- **a run:** after Numenta's likelihood (Ahmad et al., 2017): the mean of
  the last ``short`` scores (of every row), this row's included, against
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
# of a tiny absolute floor): a stream of identical scores gives L = 0.5 for
# the same score again, and 1 for any higher one.
_SD_FLOOR = 1e-3
_ABS_FLOOR = 1e-12
# Fewer excesses over the q quantile than this: the tail's scale is the
# window's standard deviation.
_MIN_EXCESS = 5


class ScoreHistory:
    """The last ``window`` scores, and the last ``short`` of them."""

    def __init__(self, window, short, q, scores=(), last=()):
        self.window, self.short, self.q = int(window), int(short), float(q)
        # the scores of normal rows: what "usual" means for this stream
        self.recent = deque((float(s) for s in scores), maxlen=self.window)
        self.sorted = sorted(self.recent)
        # the last scores of every row, flagged or not, for the run
        self.last = deque((float(s) for s in last), maxlen=max(self.short - 1, 1))

    def __len__(self):
        return len(self.recent)

    def _base(self):
        """The ``q`` quantile of the window (linear interpolation, as
        NumPy's default)."""
        n = len(self.sorted)
        position = self.q * (n - 1)
        low = int(position)
        high = min(low + 1, n - 1)
        return self.sorted[low] + (self.sorted[high] - self.sorted[low]) * (position - low)

    def _tail(self, values, base):
        """The mean excess over ``base`` of the window's scores above it:
        the scale of an exponential tail (peaks over threshold)."""
        excess = values[values > base] - base
        if excess.size >= _MIN_EXCESS:
            return max(float(excess.mean()), _ABS_FLOOR)
        return max(float(values.std()), _SD_FLOOR * abs(float(values.mean())), _ABS_FLOOR)

    def cut(self, likelihood):
        """The score whose spike likelihood is ``likelihood``: the dynamic
        cut, +inf while the history is too short."""
        if len(self.recent) < 2:
            return np.inf
        values = np.fromiter(self.recent, dtype=np.float64, count=len(self.recent))
        base = self._base()
        rest = (1.0 - self.q) / (1.0 - likelihood)
        return base + self._tail(values, base) * np.log(max(rest, 1.0))

    def likelihood(self, score):
        """L of a row scoring ``score``, against the scores before it."""
        n = len(self.recent)
        if n < 2:
            return 0.5
        values = np.fromiter(self.recent, dtype=np.float64, count=n)
        base = self._base()
        spike = _pot_level(values, base, self._tail(values, base), self.q, score)
        w = min(self.short, n)
        if n <= w or w < 2:
            return spike
        # scores clipped at the q quantile: a spike is the spike's to
        # flag, and must not lift the run of the rows after it
        averages = np.convolve(np.minimum(values, base), np.full(w, 1.0 / w), mode="valid")
        last = list(self.last)[-(w - 1) :]
        recent = (sum(min(s, base) for s in last) + min(score, base)) / (len(last) + 1)
        run_base = float(np.quantile(averages, self.q))
        run = _pot_level(averages, run_base, self._tail(averages, run_base), self.q, recent)
        return max(spike, run)

    def add(self, score, normal=True):
        """Record a row's score; only a ``normal`` (unflagged) row's joins
        the window that defines the usual scores, as SPOT keeps anomalies
        out of its peaks."""
        if self.short > 1:
            self.last.append(float(score))
        if not normal:
            return
        if len(self.recent) == self.window:
            gone = self.recent[0]
            del self.sorted[bisect.bisect_left(self.sorted, gone)]
        self.recent.append(float(score))
        bisect.insort(self.sorted, float(score))

    def get_state(self):
        meta = {"window": self.window, "short": self.short, "q": self.q}
        arrays = {
            "scores": np.array(self.recent, dtype=np.float64),
            "last": np.array(self.last, dtype=np.float64),
        }
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state):
        meta = state["meta"]
        arrays = state["arrays"]
        return cls(meta["window"], meta["short"], meta["q"], arrays["scores"], arrays["last"])


def _pot_level(values, base, scale, q, x):
    """1 minus the tail probability of ``x`` among ``values``: exponential
    beyond their ``q`` quantile ``base`` (mean excess ``scale``), the
    empirical distribution below it."""
    if x > base:
        return float(1.0 - (1.0 - q) * np.exp(-(x - base) / scale))
    below = np.count_nonzero(values <= x) / (len(values) + 1)
    return float(min(below, q))
