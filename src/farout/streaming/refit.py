"""The refit policy: after a drift event, a model learned afresh on the
rows that follow it, swapped in once its scores on them have been checked.

The candidate is a cold stream detector with the same parameters (no drift
tests, no features: it learns from the model's own feature rows), fed the
``size`` rows after the event as they arrive, each scored by it before it
learns, as the stream scores. It is swapped in after the last of them if,
over the second half of the window (the first is its warm-up), its scores
are finite, their median is at most 10% above the current model's on the
same rows (it describes the new normal about as well, without the old
normal's clusters and scale), and it flags at most 1% of them (a model
that finds everything unusual has learned nothing).
Either way the reason of that row says what was decided and why.
"""

import numpy as np

__all__ = ["MAX_FLAGGED", "MAX_MEDIAN", "Refit"]

#: The largest share of the check's rows the candidate may flag.
MAX_FLAGGED = 0.01
#: The candidate's median score over the current model's, at most.
MAX_MEDIAN = 1.1


class Refit:
    """A candidate model in training on the rows after a drift event.

    Parameters
    ----------
    candidate : StreamDetector
        Cold, with the stream's parameters.
    size : int
        Rows it learns from before the check.
    start : int
        The stream's number of the first of them.
    """

    def __init__(self, candidate, size, start):
        self.candidate, self.size, self.start = candidate, int(size), int(start)
        self.seen = 0
        self.own, self.old = np.zeros(self.size), np.zeros(self.size)
        self.flags = np.zeros(self.size, dtype=bool)

    @property
    def remaining(self):
        """Rows still to learn from before the check."""
        return self.size - self.seen

    def feed(self, rows, old_scores, times=None):
        """The next rows (the model's features), with the current model's
        scores of them."""
        if not len(rows):
            return
        out = self.candidate.process(rows, times=times)
        at = slice(self.seen, self.seen + len(rows))
        self.own[at] = out["anomaly_score"].to_numpy()
        self.flags[at] = out["is_anomaly"].to_numpy()
        self.old[at] = old_scores
        self.seen += len(rows)

    def verdict(self):
        """(swap the candidate in, the reason's text)."""
        half = self.size // 2
        own, old, flags = self.own[half:], self.old[half:], self.flags[half:]
        new, now, share = float(np.median(own)), float(np.median(old)), float(flags.mean())
        checked = f"median score {now:.3g} -> {new:.3g}, {share:.1%} flagged"
        if not np.isfinite(own).all():
            return False, f"refit rejected: the candidate's scores are not finite ({checked})"
        if not new <= MAX_MEDIAN * now:
            return False, f"refit rejected: the candidate scores the recent rows higher ({checked})"
        if share > MAX_FLAGGED:
            return False, f"refit rejected: the candidate flags too many rows ({checked})"
        return (
            True,
            f"refit on rows {self.start}-{self.start + self.size - 1} swapped in ({checked})",
        )

    def get_state(self):
        meta = {"size": self.size, "start": self.start, "seen": self.seen}
        arrays = {"own": self.own, "old": self.old, "flags": self.flags.astype(np.int8)}
        return {"meta": meta, "arrays": arrays, "parts": {"candidate": self.candidate.get_state()}}

    @classmethod
    def from_state(cls, state, rebuild):
        """The refit ``state`` describes, its candidate rebuilt by ``rebuild``."""
        meta, arrays = state["meta"], state["arrays"]
        refit = cls(rebuild(state["parts"]["candidate"]), meta["size"], meta["start"])
        refit.seen = int(meta["seen"])
        refit.own = np.asarray(arrays["own"], dtype=np.float64).copy()
        refit.old = np.asarray(arrays["old"], dtype=np.float64).copy()
        refit.flags = np.asarray(arrays["flags"]).astype(bool)
        return refit
