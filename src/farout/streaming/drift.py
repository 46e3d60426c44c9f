"""Drift: has the stream's normal moved? CUSUM tests on every input feature
and on the anomaly score, with false alarms set by an expected run length.

After a reference window of ``reference`` rows, each feature j is
standardised by the window's mean and standard deviation, z, and watched by
three one-sided CUSUMs (Page, 1954): its mean rising and falling
(reference value ``shift / 2``, tuned to a shift of ``shift`` standard
deviations) and its spread growing (|z| against 1.2, between its mean for
the reference spread, 0.80, and for a doubled one, 1.60). The anomaly score is
watched for a rising mean. An alarm of any of them is a drift event.

**False alarms.** With no drift, the mean number of rows between false
alarms of the whole monitor is at least ``ert``. Each of the m detectors is
given a run length of ``ert * m`` (the alarm rates add up to at most
1 / ``ert``), times a safety margin of 10, and its threshold is calibrated on the reference itself: the
CUSUM runs over a bootstrap resample of the window's rows (seeded, 400,000
rows), its alarm counts at a grid of thresholds give the run length of
each, and log run length, linear in the threshold for a CUSUM, is
extrapolated to the target. The bootstrap draws rows independently, so a
stream whose rows are correlated in time raises more alarms than ``ert``
promises.

**An event** names what moved and by how much: for a mean, the mean of z
since that CUSUM last stood at 0 (an effect size in reference standard
deviations, with the row it started); for a spread, the ratio of standard
deviations (the mean |z| over its mean for a normal stream). Then every CUSUM restarts and a new reference window begins.
"""

import numpy as np

from .._kernels.cusum import cusum_alarms
from ..exceptions import InputError, shown
from ..names import DRIFT_POLICIES

__all__ = ["DriftMonitor", "POLICIES"]

#: What a drift event does: ``"alert"`` only marks it; ``"refresh"`` also
#: forgets the recent scores, so the likelihood and the cut follow the new
#: normal; ``"refit"`` also learns a model afresh on the next ``reference``
#: rows and swaps it in once its scores pass a check (:mod:`.refit`).
POLICIES = DRIFT_POLICIES

# The spread test watches |z|, whose mean is sqrt(2/pi) = 0.80 for a normal
# stream and 1.60 once its standard deviation doubles: the reference value
# lies between. (z squared, the likelihood ratio's statistic for a normal
# stream, made one heavy-tailed row an alarm: 7 to 10 false alarms where 12
# ert-lengths allowed at most 12 for Student's t with 8 degrees of freedom,
# against 0 to 1 with |z|.)
_SPREAD_K = 1.2
_ABS_MEAN = np.sqrt(2.0 / np.pi)
_SIM_ROWS = 400_000
_GRID = np.geomspace(0.5, 200.0, 40)
_MIN_ALARMS = 20
# The run length calibrated to, over the one asked for: it covers the error
# of a reference window's mean and spread and of extrapolating the run
# lengths (without it, 1.5 false alarms per ert rows, on average, in
# 4-feature Gaussian streams). It costs about 5 rows of delay: a CUSUM's
# delay grows with log run length.
_MARGIN = 10.0


class DriftMonitor:
    """CUSUM drift tests with a calibrated expected run length.

    Parameters
    ----------
    ert : float, default=100_000
        Expected rows between false alarms of the whole monitor.
    reference : int, default=2000
        Rows of the reference window (at least 100), after warm-up and
        after every event.
    shift : float, default=1.0
        The mean shift, in standard deviations, the mean tests are tuned to.
    policy : {"alert", "refresh", "refit"}, default="alert"
        What a drift event does (see :data:`POLICIES`).
    seed : int, default=0
        Seed of the calibration's bootstrap.
    """

    def __init__(self, ert=100_000, *, reference=2000, shift=1.0, policy="alert", seed=0):
        self.ert, self.reference, self.shift = ert, reference, shift
        self.policy, self.seed = policy, seed
        if not isinstance(ert, (int, float)) or isinstance(ert, bool) or ert < 100:
            raise InputError(f"ert must be a number of rows >= 100, got {shown(ert)}.")
        if not isinstance(reference, int) or isinstance(reference, bool) or reference < 100:
            raise InputError(f"reference must be a whole number >= 100, got {shown(reference)}.")
        if not isinstance(shift, (int, float)) or not shift > 0:
            raise InputError(f"shift must be a positive number, got {shown(shift)}.")
        if policy not in POLICIES:
            raise InputError(f"policy must be one of {', '.join(POLICIES)}, got {shown(policy)}.")
        self._reference = None  # the reference window being collected, and
        self._held = 0  # how many of its rows are in
        self.mean_ = self.sd_ = self.thresholds_ = None
        self._sums = self._counts = self._stat = None
        self._started = 0
        self.n_seen_ = 0

    # the m detectors, in order: per feature (up, down, spread), then score up
    def _values(self, row):
        z = (row - self.mean_) / self.sd_
        p = len(z) - 1
        out = np.empty(3 * p + 1)
        out[0 : 3 * p : 3], out[1 : 3 * p : 3] = z[:p], -z[:p]
        out[2 : 3 * p : 3] = np.abs(z[:p])
        out[3 * p] = z[p]
        return out

    @staticmethod
    def _column(z, i):
        """Detector ``i``'s input series from standardised rows ``z``."""
        p = z.shape[1] - 1
        if i == 3 * p:
            return z[:, p]
        j, kind = divmod(i, 3)
        return (z[:, j], -z[:, j], np.abs(z[:, j]))[kind]

    def _references(self, p):
        k = np.empty(3 * p + 1)
        k[0 : 3 * p : 3] = k[1 : 3 * p : 3] = self.shift / 2
        k[2 : 3 * p : 3] = _SPREAD_K
        k[3 * p] = self.shift / 2
        return k

    def _calibrate(self):
        rows = self._reference[: self._held].copy()
        self.mean_ = rows.mean(axis=0)
        sd = rows.std(axis=0)
        self.sd_ = np.where(sd > 1e-12 * np.maximum(1.0, np.abs(self.mean_)), sd, np.inf)
        k = self._references(rows.shape[1] - 1)
        m = len(k)
        target = float(self.ert) * m * _MARGIN
        rng = np.random.default_rng(self.seed)
        draw = rng.integers(0, len(rows), _SIM_ROWS)
        # a smoothed bootstrap: each drawn row jittered by a normal kernel of
        # Silverman's bandwidth, so the tails reach past the window's own
        # extremes (a plain resample never does, and its thresholds came out
        # too low: 1 to 3 false alarms in 100,000 rows at ert=100,000)
        width = 1.06 * len(rows) ** -0.2
        jitter = rng.standard_normal((_SIM_ROWS, rows.shape[1])) * width
        z = (rows - self.mean_) / self.sd_
        zs = z[draw] + jitter * (np.isfinite(self.sd_) & (self.sd_ > 0))
        thresholds = np.empty(m)
        for i in range(m):
            alarms = cusum_alarms(self._column(zs, i), k[i], _GRID)
            enough = alarms >= _MIN_ALARMS
            if not enough.any():  # alarms even rarer than the grid shows
                thresholds[i] = _GRID[0]
                continue
            h, runs = _GRID[enough], np.log(_SIM_ROWS / alarms[enough])
            slope, intercept = np.polyfit(h, runs, 1) if len(h) > 1 else (1.0, runs[0] - h[0])
            thresholds[i] = max((np.log(target) - intercept) / max(slope, 1e-9), h[-1])
        self.thresholds_ = thresholds
        self._stat, self._sums, self._counts = np.zeros(m), np.zeros(m), np.zeros(m)
        self._k = k
        self._started = self.n_seen_
        self._held = 0

    def step(self, x, score, names):
        """(drift declared on this row, its description)."""
        self.n_seen_ += 1
        row = np.append(np.asarray(x, dtype=np.float64), score)
        if self.thresholds_ is None:
            self._hold(row)
            if self._held >= self.reference:
                self._calibrate()
            return False, ""
        values = self._values(row)
        stat = np.maximum(0.0, self._stat + values - self._k)
        fresh = self._stat <= 0.0  # a stretch starts where the CUSUM left 0
        self._sums = np.where(fresh, values, self._sums + values)
        self._counts = np.where(fresh, 1.0, self._counts + 1.0)
        self._stat = stat
        if not (stat > self.thresholds_).any():
            return False, ""
        return True, self.declare(names)

    def declare(self, names):
        """The description of the drift the statistics show (some above
        their thresholds), and a new reference window from the next row."""
        text = self._describe(np.flatnonzero(self._stat > self.thresholds_), names)
        self.thresholds_ = None
        return text

    def _hold(self, row):
        if self._reference is None or self._reference.shape[1] != len(row):
            self._reference = np.empty((self.reference, len(row)))
        self._reference[self._held] = row
        self._held += 1

    # ------------------------------------------- the compiled step's view
    def compiled_state(self, width):
        """The arrays the compiled step (:func:`farout._kernels.stream.stream_rows`)
        reads and updates in place, for rows of ``width`` values (the
        features and the score): the reference window, a counter array
        (calibrated, rows held, reference size, rows seen), then the
        standardisation, thresholds, statistics and reference values."""
        if self._reference is None or self._reference.shape[1] != width:
            held = self._reference[: self._held] if self._reference is not None else None
            self._reference = np.empty((self.reference, width))
            if held is not None and len(held):
                self._reference[: len(held)] = held
        meta = np.array(
            [self.thresholds_ is not None, self._held, self.reference, self.n_seen_],
            dtype=np.int64,
        )
        if self.thresholds_ is None:
            empty = np.zeros(0)
            return (self._reference, meta, *(empty,) * 7)
        for name in ("_stat", "_sums", "_counts"):
            setattr(self, name, np.array(getattr(self, name), dtype=np.float64))
        arrays = (self.mean_, self.sd_, self.thresholds_, self._stat, self._sums, self._counts)
        return (self._reference, meta, *arrays, self._k)

    def after_compiled(self, meta):
        """Take back the counters of :meth:`compiled_state` after a run."""
        self._held, self.n_seen_ = int(meta[1]), int(meta[3])

    def _describe(self, alarmed, names):
        p = len(names)
        parts = []
        for i in alarmed:
            j, kind = divmod(int(i), 3)
            n = int(self._counts[i])
            since = self.n_seen_ - n
            effect = self._sums[i] / n
            if i == 3 * p:
                parts.append(f"anomaly_score mean {effect:+.2f} sd since row {since}")
            elif kind == 2:
                parts.append(f"{names[j]} sd x{effect / _ABS_MEAN:.2f} since row {since}")
            else:
                sign = 1 if kind == 0 else -1
                parts.append(f"{names[j]} mean {sign * effect:+.2f} sd since row {since}")
        return "drift: " + "; ".join(parts)

    # ------------------------------------------------------------ state
    def get_state(self):
        meta = {
            "ert": self.ert,
            "reference": self.reference,
            "shift": self.shift,
            "policy": self.policy,
            "seed": self.seed,
            "n_seen": self.n_seen_,
            "started": self._started,
            "calibrated": self.thresholds_ is not None,
        }
        rows = self._reference[: self._held].copy() if self._held else np.empty((0, 0))
        arrays = {"rows": rows}
        if self.thresholds_ is not None:
            arrays.update(
                mean=self.mean_,
                sd=self.sd_,
                thresholds=self.thresholds_,
                stat=self._stat,
                sums=self._sums,
                counts=self._counts,
                k=self._k,
            )
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state):
        meta, arrays = state["meta"], state["arrays"]
        monitor = cls(
            meta["ert"],
            reference=meta["reference"],
            shift=meta["shift"],
            policy=meta["policy"],
            seed=meta["seed"],
        )
        monitor.n_seen_, monitor._started = int(meta["n_seen"]), int(meta["started"])
        for row in np.asarray(arrays["rows"], dtype=np.float64):
            monitor._hold(row)
        if meta["calibrated"]:
            monitor.mean_, monitor.sd_ = arrays["mean"], arrays["sd"]
            monitor.thresholds_, monitor._stat = arrays["thresholds"], arrays["stat"]
            monitor._sums, monitor._counts, monitor._k = (
                arrays["sums"],
                arrays["counts"],
                arrays["k"],
            )
        return monitor
