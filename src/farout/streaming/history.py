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

import numpy as np

from .._kernels.likelihood import (
    MAX_SHORT,
    finish_likelihood,
    history_add,
    history_likelihood,
    history_scores,
    history_usual,
    likelihood_reference,
    tail,
)
from .._kernels.likelihood import tail_level as _tail_level  # noqa: F401 (its old home)

__all__ = ["ScoreHistory"]


class ScoreHistory:
    """The last ``window`` scores, and the last ``short`` of them.

    The scores are held in a ring with, beside it, the same scores in
    order and the mean and maximum of each ``short``-row stretch, so a
    row's likelihood costs a pass over the window rather than its
    rebuilding (:mod:`farout._kernels.likelihood`, which holds the NumPy
    reference that every number equals).
    """

    def __init__(self, window, short, q, scores=()):
        self.window, self.short, self.q = int(window), int(short), float(q)
        self.ring = np.zeros(self.window)
        self.sorted = np.zeros(self.window)
        self.means = np.zeros(self.window)
        self.highs = np.zeros(self.window)
        self.meta = np.zeros(2, dtype=np.int64)  # the oldest's slot, the count
        self.scratch = np.zeros(self.window)
        for score in scores:
            self.add(score)

    def __len__(self):
        return int(self.meta[1])

    def scores(self):
        """The window's scores, oldest first."""
        return history_scores(self.ring, self.meta)

    @property
    def recent(self):
        """The window's scores, oldest first (as :meth:`scores`)."""
        return self.scores()

    def usual(self):
        """The ``q`` quantile of the window: above it, a score is far."""
        return float(history_usual(self.sorted, len(self), self.q))

    def cut(self, likelihood):
        """The dynamic cut: the score whose spike likelihood is
        ``likelihood``, the fitted tail inverted (+inf while the history is
        too short)."""
        if len(self) < 2:
            return np.inf
        values = self.scores()
        base = self.usual()
        if likelihood <= self.q:
            return float(np.quantile(values, likelihood))
        rest = (1.0 - self.q) / (1.0 - likelihood)
        pareto, parameter = tail(values, base)
        return base * rest**parameter if pareto else base + parameter * np.log(rest)

    def likelihood(self, score):
        """L of a row scoring ``score``, against the scores before it."""
        score = float(score)
        if self.short > MAX_SHORT:  # stretches the compiled means cannot follow
            return likelihood_reference(self.scores(), self.short, self.q, score)
        parts = history_likelihood(
            self.ring, self.sorted, self.means, self.highs, self.meta, self.short, self.q,
            score, self.scratch,
        )  # fmt: skip
        return finish_likelihood(parts, self.scores, self.scratch[: parts[5]], self.q, score)

    def add(self, score):
        """Record a row's score."""
        history_add(self.ring, self.sorted, self.means, self.highs, self.meta, self.short,
                    float(score))  # fmt: skip

    def get_state(self):
        meta = {"window": self.window, "short": self.short, "q": self.q}
        return {"meta": meta, "arrays": {"scores": self.scores()}}

    @classmethod
    def from_state(cls, state):
        meta = state["meta"]
        return cls(meta["window"], meta["short"], meta["q"], state["arrays"]["scores"])
