"""The stream's scaling: a decayed mean and variance of each feature.

Rows weigh ``factor ** age``, so the scale follows the stream with the same
half-life as the clusters. The update is Welford's, weighted: exact for any
order of single rows, and the state is three arrays.
"""

import numpy as np

__all__ = ["OnlineScaler"]

# A feature's scale is at least this share of its typical magnitude (at
# least of 1), so a constant feature scales to 0 deviations, not to inf.
_SD_FLOOR = 1e-12


class OnlineScaler:
    """Decayed per-feature mean and variance.

    Parameters
    ----------
    weight : float
        The decayed number of rows seen.
    mean, m2 : ndarray (p,)
        Their mean, and the sum of squared deviations from it.
    """

    def __init__(self, weight, mean, m2):
        self.weight = float(weight)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.m2 = np.asarray(m2, dtype=np.float64)

    @classmethod
    def empty(cls, n_features):
        return cls(0.0, np.zeros(n_features), np.zeros(n_features))

    def age(self, factor):
        """Every row seen weighs ``factor`` times what it did."""
        self.weight *= factor
        self.m2 = self.m2 * factor

    def add(self, x):
        """Add row ``x`` with weight 1."""
        old = self.weight
        self.weight = old + 1.0
        delta = x - self.mean
        self.mean = self.mean + delta / self.weight
        self.m2 = self.m2 + delta * delta * (old / self.weight)

    def scale(self):
        """Each feature's standard deviation, floored (see ``_SD_FLOOR``)."""
        var = self.m2 / self.weight if self.weight > 0 else np.zeros_like(self.m2)
        floor = _SD_FLOOR * np.maximum(1.0, np.abs(self.mean))
        return np.maximum(np.sqrt(np.maximum(var, 0.0)), floor)

    def get_state(self):
        return {"meta": {"weight": self.weight}, "arrays": {"mean": self.mean, "m2": self.m2}}

    @classmethod
    def from_state(cls, state):
        arrays = state["arrays"]
        return cls(state["meta"]["weight"], arrays["mean"], arrays["m2"])
