"""The stream detector: online k-means with forgetting, a dynamic cut, and
an anomaly likelihood.

Rows are processed in arrival order. Each is scored by the model as it
stood before that row, then learned from, so a row's outputs use only that
row and the rows before it, and a batch gives exactly what its rows give
one at a time (the batch is a loop over the same step).

One step, for a row x of p numeric features:

1. Scale by the stream's own decayed standard deviations (:class:`OnlineScaler`),
   find the nearest centre, and score A(x) = D / sigma, D the scaled
   distance and sigma that cluster's root-mean-square distance from its
   centre, read from its decayed feature sums and sums of squares in the
   current scale (distances recorded under an earlier scale would not
   follow the scale as it moves).
2. The likelihood (:class:`ScoreHistory`) places the score in the tail
   beyond the ``q`` quantile of the last ``window`` scores, and the mean of
   the last ``short`` scores among the window's. A row is flagged when its
   likelihood reaches ``likelihood_cut``, after the first ``warmup`` rows:
   for a single row, when its score passes the dynamic cut
   ``history_.cut(likelihood_cut)``, which follows the windowed quantile of
   the recent scores. Severity tiers are cuts on the likelihood.
3. Every row ages the model by ``0.5 ** (1 / half_life)``
   (``ClusterStats.decay``, Spark's StreamingKMeans ``halfLife`` in rows).
   A row then joins its nearest cluster (``ClusterStats.merge``; a centre
   is the decayed mean of its members), unless it is flagged (river's
   ``protect_anomaly_detector``) or far from every centre (its score above
   the ``q`` quantile of the recent scores). ``open_after`` far rows in a
   row open a new cluster of their own, so a stream that changes regime is
   followed. A cluster whose weight decays below
   ``retire_below`` of the stream's total retires; with ``max_clusters`` open, the two nearest
   clusters merge if they overlap, else the lightest retires.
"""

import copy

import numpy as np
import pandas as pd

from .._kernels.likelihood import MAX_SHORT
from .._kernels.stream import DONE, DRIFTED, TAILS, stream_rows
from ..core.stats import ClusterStats
from ..exceptions import InputError, shown
from ..features.stack import FeatureStack
from ..persistence import read_state, write_state
from .checkpoint import Checkpoint
from .clusters import open_cluster, retire, spread
from .drift import DriftMonitor
from .history import ScoreHistory
from .outputs import NO_DRIFT, Outputs
from .params import check_params, time_span
from .refit import Refit
from .rows import checked_rows, row_entities, row_times
from .scaler import OnlineScaler

__all__ = ["StreamDetector"]

_MAX_SCORE = 1e100

# The first rows, with a scale of fewer rows than this to measure in, score
# 0 and are not kept in the history the likelihood reads.
_MIN_ROWS = 10

# A cluster's spread is at least this (in standard deviations of the
# features): with one or two members it would otherwise be near 0 and
# every next row would score in the millions.
_SIGMA_FLOOR = 0.01


class StreamDetector(Checkpoint):
    """Online anomaly detection on a stream of numeric rows.

    Parameters
    ----------
    half_life : float or time span, default=2000
        Rows after which a row's weight in the model (clusters and scaling)
        has halved; or a time span (``"1h"``, a ``pd.Timedelta``), each row
        then aging the model by the time since the row before (the rows'
        times come with :meth:`process`).
    max_clusters : int, default=8
        Clusters open at most at once.
    open_after : int, default=15
        Consecutive rows far from every centre (scoring above the ``q``
        quantile of the recent scores) that open a new cluster of their own.
    retire_below : float, default=0.01
        A cluster whose decayed weight falls below this share of a long
        stream's total weight (or below ``open_after / 2``, if less)
        retires: with the defaults, 8.6 half-lives after its last member for
        a cluster that held the whole stream.
    warmup : int, default=100
        First rows learned from without being flagged. The first 10 score
        0, with likelihood 0.5: there is no scale yet to measure them in.
    window : int, default=2000
        Recent scores the cut and the likelihood are read from.
    short : int, default=10
        Scores averaged for the likelihood, this row's included.
    q : float, default=0.99
        The cut is this quantile of the last ``window`` scores.
    likelihood_cut : float, default=0.9999
        A row is flagged only when its likelihood reaches this too.
    tiers : dict of str to float, default=None
        Severity tiers as likelihood cuts, least severe first, applied to
        flagged rows; ``None`` means ``{"warning": likelihood_cut,
        "critical": 0.999999}``.
    drift : bool or DriftMonitor, default=True
        Test the input's columns and the score for drift (CUSUMs with false
        alarms set by an expected run length, :class:`DriftMonitor`); the
        ``drift`` column is true on the row where drift is declared, and its
        reason says what moved. False: no tests.
    features : transformer, list of them, or None, default=None
        Features computed online from each row and the rows before it, the
        model seeing them instead of the raw columns (a list: side by side,
        see :class:`farout.features.FeatureStack`): ``WindowFeatures``
        (lags, rolling statistics, subsequence windows), ``EntityFeatures``
        (per-entity aggregates; :meth:`process` then takes ``entities``),
        ``CalendarFeatures`` (hour of day, day of week; they need the rows'
        times). Saved in checkpoints. Drift is tested on the input's own
        columns, never on these derived features.

    Attributes
    ----------
    n_seen_ : int
        Rows processed.
    scaler_ : OnlineScaler
    stats_ : farout.core.ClusterStats
        The open clusters' decayed statistics (in the data's units).
    cluster_ids_ : ndarray of int
        The public id of each open cluster (ids are never reused).
    history_ : ScoreHistory
    feature_names_in_ : list of str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from farout.streaming import StreamDetector
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(10, 1, 3000)
    >>> x[2500] = 30                                  # a spike
    >>> out = StreamDetector().process(pd.DataFrame({"value": x}))
    >>> bool(out["is_anomaly"].iloc[2500]), out["anomaly_likelihood"].between(0, 1).all()
    (True, np.True_)
    """

    def __init__(
        self,
        half_life=2000,
        *,
        max_clusters=8,
        open_after=15,
        retire_below=0.01,
        warmup=100,
        window=2000,
        short=10,
        q=0.99,
        likelihood_cut=0.9999,
        tiers=None,
        features=None,
        drift=True,
    ):
        self.half_life = half_life
        self.max_clusters = max_clusters
        self.open_after = open_after
        self.retire_below = retire_below
        self.warmup = warmup
        self.window = window
        self.short = short
        self.q = q
        self.likelihood_cut = likelihood_cut
        self.tiers = tiers
        # the features' buffer is stream state: this stream's own copy
        self.features = copy.deepcopy(features)
        self.drift = drift
        check_params(self)
        self._stack = FeatureStack.of(self.features)
        if drift is True:
            self.drift_ = DriftMonitor()
        elif isinstance(drift, DriftMonitor):
            self.drift_ = drift
        elif drift is False or drift is None:
            self.drift_ = None
        else:
            raise InputError(f"drift must be True, False or a DriftMonitor, got {shown(drift)}.")
        self.n_seen_ = 0
        self.stats_ = None
        self.scaler_ = None
        self.cluster_ids_ = np.zeros(0, dtype=np.int64)
        self._next_id = 0
        self._run = []
        self._run_cut = None
        self._first_time = self._last_time = None  # seconds, for a time half-life
        self.history_ = ScoreHistory(window, short, q)
        self.feature_names_in_ = None
        self.refit_ = None  # a model in training after drift (policy "refit")

    def tier_cuts(self):
        """The severity tiers, name to likelihood cut, least severe first."""
        if self.tiers is None:
            cut = float(self.likelihood_cut)
            return {"warning": cut, "critical": max(cut, 0.999999)}
        if not isinstance(self.tiers, dict):
            raise InputError(f"tiers must be a dict of name to cut, got {shown(self.tiers)}.")
        return {str(k): float(v) for k, v in self.tiers.items()}

    # ----------------------------------------------------------- start
    @classmethod
    def from_detector(cls, detector, **params):
        """A stream detector that starts from a fitted
        :class:`~farout.KMeansAnomalyDetector`: its clusters (centres and
        spreads) and the scale of its training data, weighed as the
        ``half_life`` would weigh a stream that has run for long. The
        detector must be all-numeric, Euclidean and standard-scaled, so
        its spreads are in the units the stream measures."""
        if params.get("features") is not None:
            raise InputError("from_detector does not take windowed features (not built yet).")
        schema = detector.feature_schema()
        if (
            any(c["kind"] != "numeric" for c in schema)
            or detector.metric != "euclidean"
            or detector.scaling != "standard"
        ):
            raise InputError(
                "from_detector needs a detector fitted on numeric columns with "
                "metric='euclidean' and scaling='standard'."
            )
        stream = cls(**params)
        encoder, stats = detector.encoder_, detector.clusters_.stats
        offset, scale = encoder.center_, encoder.scale_
        # the encoded sums in the data's units about the training offset
        # (x - offset = z * scale)
        size = stats.size
        sums, sumsq = stats.sums * scale, stats.sumsq * scale**2
        raw = ClusterStats(size, sums, sumsq, stats.dist_count, stats.dist_mean, stats.dist_m2)
        stream._origin = np.asarray(offset, dtype=np.float64)
        total = float(size.sum())
        weight = min(1.0, stream._equilibrium() / total)
        stream.stats_ = raw.decay(weight)
        mean = sums.sum(axis=0) / total
        var = np.maximum(sumsq.sum(axis=0) / total - mean**2, 0.0)
        mean = mean + offset
        stream.scaler_ = OnlineScaler(total * weight, mean, var * total * weight)
        stream.cluster_ids_ = np.arange(len(size), dtype=np.int64)
        stream._next_id = len(size)
        names = getattr(detector, "feature_names_in_", None)
        stream.feature_names_in_ = None if names is None else [str(n) for n in names]
        stream._n_features = detector.n_features_in_
        return stream

    @property
    def last_time_(self):
        """The time of the last row processed with a time, or None."""
        if self._last_time is None:
            return None
        return pd.Timestamp(self._last_time, unit="s", tz="UTC")

    def _span(self):
        """The half-life as seconds when it is a time span, else None."""
        if isinstance(self.half_life, (str, pd.Timedelta, np.timedelta64)):
            return time_span(self.half_life).total_seconds()
        return None

    def _equilibrium(self):
        """The total weight of a long stream: 1 / (1 - factor), the factor
        of a typical row (for a time half-life, of the mean gap so far)."""
        return 1.0 / (1.0 - self._factor())

    def _factor(self, gap=None):
        """How much one row ages the model: per row, or over ``gap`` seconds
        for a time half-life (the mean gap so far when not given)."""
        span = self._span()
        if span is None:
            return 0.5 ** (1.0 / float(self.half_life))
        if gap is None:  # the mean gap up to this row (its own time included)
            seen = self.n_seen_
            gap = (self._last_time - self._first_time) / seen if seen > 0 else span
            gap = max(gap, span * 1e-9)
        return 0.5 ** (gap / span)

    # ------------------------------------------------------------ door
    def _rows(self, X):
        return checked_rows(
            X, self.feature_names_in_, getattr(self, "_n_features", None), self.n_seen_
        )

    def process(self, X, times=None, entities=None):
        """Score rows ``X`` in order, learning from each after it is scored.

        Parameters
        ----------
        X : DataFrame, array of shape (n_rows, n_features), one row, or dict
        times : array-like of datetimes, optional
            When each row happened, in order; needed when ``half_life`` is a
            time span, or the features need times (a DataFrame's
            DatetimeIndex is used when not given).
        entities : array-like, optional
            Each row's entity (customer, device, host), for ``EntityFeatures``.

        Returns
        -------
        DataFrame indexed like ``X`` with ``anomaly_score``,
        ``anomaly_likelihood`` (in [0, 1]), ``is_anomaly``, ``severity``
        (the highest likelihood tier of a flagged row, else None),
        ``cluster`` (the nearest cluster's id), ``reason`` and ``drift``.
        """
        values, index, names = self._rows(X)
        n, stack = len(values), self._stack
        timing = self._gaps(times, index, n)
        keys = row_entities(entities, index, n, stack is not None and stack.needs_entities)
        if self.feature_names_in_ is None:
            self.feature_names_in_ = names
            self._n_features = values.shape[1]
        # the features depend on the rows alone, not on the model: all first
        rows = values
        if stack is not None:
            seconds = None if timing is None else timing[0]
            numbers = np.arange(self.n_seen_, self.n_seen_ + n, dtype=np.float64)
            rows = stack.online(values, seconds=seconds, rows=numbers, entities=keys)
        out = Outputs(n)
        factors, cuts = self._agings(timing, n)
        i = 0
        while i < n:  # in stretches that end where a refit is due
            refit = self.refit_
            first, end = i, n if refit is None else min(n, i + refit.remaining)
            i = self._until(rows, values, factors, cuts, timing, i, end, out)
            if refit is not None:
                at = None if timing is None else pd.to_datetime(timing[0][first:i], unit="s")
                refit.feed(rows[first:i], out.score[first:i], at)
                if refit.remaining == 0:
                    self._refitted(out, i - 1)
        if timing is not None and n:
            if self._first_time is None:
                self._first_time = float(timing[0][0])
            self._last_time = float(timing[0][-1])
        return out.frame(index)

    def _until(self, rows, values, factors, cuts, timing, i, end, out):
        """Rows ``i:end``, or up to a drift event that starts a refit."""
        span, waiting = self._span(), self.refit_ is None
        rows, values, factors, cuts = rows[:end], values[:end], factors[:end], cuts[:end]
        while i < end:
            if self.stats_ is not None and self.short <= MAX_SHORT:
                i, status = self._compiled(rows, values, factors, cuts, i, out)
                if status == DONE:
                    break
                if status == DRIFTED:  # the compiled loop did the row
                    row = out.row(i)
                    out.put(i, self._after_drift(row, self.drift_.declare(self.feature_names_in_)))
                    i += 1
                    if waiting and self.refit_ is not None:
                        break
                    continue
            if timing is not None:
                if self._first_time is None:
                    self._first_time = float(timing[0][i])
                self._last_time = float(timing[0][i])
            row = self._step(rows[i], float(timing[1][i]) if span is not None else None)
            # drift is tested on the input's own columns and the score, and
            # acted on before the next row
            out.put(i, self._drifted(row, values[i]) if self.drift_ is not None else (*row, False))
            i += 1
            if waiting and self.refit_ is not None:
                break
        return i

    def _refitted(self, out, i):
        """The refit's check after row ``i``; the candidate swapped in if
        it passes."""
        refit, self.refit_ = self.refit_, None
        swap, text = refit.verdict()
        if swap:
            new = refit.candidate
            self.stats_, self.scaler_, self._origin = new.stats_, new.scaler_, new._origin
            self.cluster_ids_ = new.cluster_ids_ + self._next_id  # ids are never reused
            self._next_id += new._next_id
            self.history_, self._run, self._run_cut = new.history_, new._run, new._run_cut
        out.reason[i] = f"{out.reason[i]}; {text}" if out.reason[i] else text

    def _agings(self, timing, n):
        """Each row's forgetting factor, and the weight below which a
        cluster retires after it (both move with the time between rows for
        a time half-life)."""
        span = self._span()
        if span is None:
            factor = self._factor()
            cut = min(self.retire_below * self._equilibrium(), self.open_after / 2)
            return np.full(n, factor), np.full(n, cut)
        seconds, gaps = timing
        factors = np.array([self._factor(float(g)) for g in gaps])
        first = self._first_time if self._first_time is not None else float(seconds[0]) if n else 0
        cuts = np.empty(n)
        for i in range(n):
            seen = self.n_seen_ + i
            gap = (float(seconds[i]) - first) / seen if seen > 0 else span
            factor = 0.5 ** (max(gap, span * 1e-9) / span)
            cuts[i] = min(self.retire_below * (1.0 / (1.0 - factor)), self.open_after / 2)
        return factors, cuts

    def _compiled(self, rows, values, factors, cuts, start, out):
        """Rows from ``start`` by the compiled step (:mod:`farout._kernels.stream`),
        until one needs Python: ``(that row, why)``."""
        stats, scaler, history = self.stats_, self.scaler_, self.history_
        arrays = [np.array(a, dtype=np.float64) for a in (stats.size, stats.sums, stats.sumsq)]
        arrays += [np.array(a, dtype=np.float64) for a in stats.moments]
        weight = np.array([scaler.weight])
        mean, m2 = np.array(scaler.mean, dtype=np.float64), np.array(scaler.m2, dtype=np.float64)
        run = np.zeros((self.open_after, rows.shape[1]))
        if self._run:
            run[: len(self._run)] = self._run
        counters = np.array([self.n_seen_, len(self._run), self.warmup, self.open_after])
        run_cut = np.array([np.nan if self._run_cut is None else self._run_cut])
        drift = self.drift_
        watch = drift.compiled_state(values.shape[1] + 1) if drift is not None else NO_DRIFT
        nearest = np.zeros(len(rows), dtype=np.int64)
        given, first = np.nan, start
        while True:
            stop, status = stream_rows(
                rows, values, factors, cuts, start, given, *arrays, self._origin,
                weight, mean, m2,
                history.ring, history.sorted, history.means, history.highs, history.meta,
                history.short, history.q, history.scratch,
                run, counters, run_cut, self.likelihood_cut, drift is not None, *watch,
                out.score, out.likelihood, nearest,
            )  # fmt: skip
            if status != TAILS:
                break
            start, given = stop, history.likelihood(out.score[stop])
        self.stats_ = ClusterStats(*arrays)
        scaler.weight, scaler.mean, scaler.m2 = float(weight[0]), mean, m2
        self.n_seen_ = int(counters[0])
        self._run = [r.copy() for r in run[: counters[1]]]
        if run_cut[0] == run_cut[0]:
            self._run_cut = float(run_cut[0])
        if drift is not None:
            drift.after_compiled(watch[1])
        done = stop + 1 if status == DRIFTED else stop
        out.cluster[first:done] = self.cluster_ids_[nearest[first:done]]
        return stop, status

    process_one = process

    def _gaps(self, times, index, n):
        timed = self._stack is not None and self._stack.needs_times
        if times is None and self._span() is None and not timed:
            return None
        why = "a half_life in time" if self._span() is not None else "these features"
        return row_times(times, index, n, self._last_time, why)

    # ------------------------------------------------------------ step
    def _step(self, x, gap=None):
        factor = self._factor(gap) if gap is not None else self._factor()
        if self.stats_ is None:  # the first row opens the first cluster
            # the clusters' sums are kept about the first row: sums of
            # squares of values far from 0 (1e9) would cancel to nothing
            self._origin = np.array(x, dtype=np.float64)
            self.scaler_ = OnlineScaler.empty(len(x))
            self.scaler_.add(x)
            self._open(np.zeros((1, len(x))), np.ones(len(x)))
            self.n_seen_ += 1
            return 0.0, 0.5, False, None, int(self.cluster_ids_[0]), ""
        sd = self.scaler_.scale()
        xc = x - self._origin
        centres = self.stats_.sums / self.stats_.size[:, None]
        gaps = (xc - centres) / sd
        distances = np.sqrt((gaps * gaps).sum(axis=1))
        j = int(np.argmin(distances))
        score = float(distances[j] / max(spread(self.stats_, j, sd), _SIGMA_FLOOR))
        if self.n_seen_ < _MIN_ROWS:  # no scale yet to measure a distance in
            score = 0.0
        # beyond this a score means "off every scale"; its square stays finite
        score = min(score, _MAX_SCORE) if np.isfinite(score) else _MAX_SCORE
        likelihood = self.history_.likelihood(score)
        warm = self.n_seen_ < self.warmup
        flagged = (not warm) and likelihood >= self.likelihood_cut
        # far from every centre: above the q quantile of the recent scores,
        # as it stood before the run began (the run's own scores would lift it)
        far = False
        if not warm and len(self.history_) >= 2:
            cut = self._run_cut if self._run else self.history_.usual()
            far = score > cut
            if far and not self._run:
                self._run_cut = cut
        if self.n_seen_ >= _MIN_ROWS:  # before, the scale itself is a guess
            self.history_.add(score)
        cluster = int(self.cluster_ids_[j])

        self.stats_ = self.stats_.decay(factor)
        self.scaler_.age(factor)
        if far:  # kept out of training; a run of them opens a cluster
            self._run.append(x)
            if len(self._run) >= self.open_after:  # the stream has moved: follow it
                run = np.array(self._run)
                self._run = []
                for row in run:
                    self.scaler_.add(row)
                self._open(run - self._origin, self.scaler_.scale())
        else:
            self._run = []
        if not (far or flagged):
            self.scaler_.add(x)
            block = ClusterStats.from_block(
                xc[None, :], np.array([j]), np.array([distances[j]]), len(self.cluster_ids_)
            )
            self.stats_ = self.stats_.merge(block)
        # never below half the weight a cluster opens with, so a new
        # cluster has a half-life to gather members
        cut = min(self.retire_below * self._equilibrium(), self.open_after / 2)
        self.stats_, self.cluster_ids_ = retire(self.stats_, self.cluster_ids_, cut)
        self.n_seen_ += 1
        severity = None
        if flagged:
            passed = [name for name, cut in self.tier_cuts().items() if likelihood >= cut]
            severity = passed[-1] if passed else None
        reason = self._reason(x, centres[j] + self._origin, sd, gaps[j]) if flagged else ""
        return score, likelihood, flagged, severity, cluster, reason

    def _open(self, rows, sd):
        """A new cluster of ``rows`` (a run the model did not expect)."""
        self.stats_, self.cluster_ids_ = open_cluster(
            self.stats_, self.cluster_ids_, self._next_id, rows, sd, self.max_clusters
        )
        self._next_id += 1

    def _drifted(self, row, x):
        """``row`` (a step's outputs) with the drift verdict on its input ``x``."""
        drifted, text = self.drift_.step(x, row[0], self.feature_names_in_)
        if not drifted:
            return (*row, False)
        return self._after_drift(row, text)

    def _after_drift(self, row, text):
        """``row`` on which drift ``text`` was declared, the policy applied."""
        if self.drift_.policy == "refresh":  # the recent scores belong to the old normal
            self.history_ = ScoreHistory(self.window, self.short, self.q)
        if self.drift_.policy == "refit" and self.refit_ is None:
            candidate = type(self)(**self.params(), drift=False)
            self.refit_ = Refit(candidate, self.drift_.reference, self.n_seen_)
            text += f"; refitting on the next {self.drift_.reference} rows"
        reason = f"{row[5]}; {text}" if row[5] else text
        return (*row[:5], reason, True)

    def _reason(self, x, centre, sd, gaps):
        top = np.argsort(-np.abs(gaps), kind="stable")[:3]
        names = self.feature_names_in_
        if self._stack is not None:
            names = self._stack.names(names)
        return "; ".join(
            f"{names[j]} {x[j]:.4g} vs this cluster's typical {centre[j]:.4g} ({gaps[j]:+.1f} sd)"
            for j in top
        )

    def save(self, path):
        """Write a checkpoint of the whole state to ``path`` (a model file;
        never pickled). Resuming from it gives the scores running on would."""
        write_state(path, type(self).__name__, self.get_state())
        return path

    @classmethod
    def load(cls, path):
        """Resume from a checkpoint written by :meth:`save`."""
        return cls.from_state(read_state(path, cls.__name__))
