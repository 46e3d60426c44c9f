"""Fitting the detector: sampling, the ensemble, trimming, the choice of k
and the clustering, in that order. :func:`train` reads the estimator's
(already checked) parameters and returns what was learned; the estimator
only stores it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._kernels.kmeans import as_generator, count_distinct_rows, kmeans, lloyd
from .core.clusters import Clusters
from .core.metric import make_metric
from .core.scoring import Scorer, ensemble_scores, make_score_mode, score_rows
from .ensemble import BaggedKMeans
from .exceptions import InputError
from .explain import ValueModes
from .features.encoder import FeatureEncoder
from .features.reference import FeatureReference
from .model_selection import select_k

__all__ = ["Training", "fit_sample_rows", "train", "train_on_sample", "trim_fraction"]

# Rows checked first when making sure there are at least k distinct rows.
_DISTINCT_SAMPLE = 20_000


@dataclass
class Training:
    """What :func:`train` learned. ``scores`` and ``labels`` are those of
    the rows the model learned from (``rows``: their positions in X, or
    None for all), for the thresholds; ``y`` is cut to the same rows;
    ``value_modes`` are counted on the rows the clustering learned from,
    ``feature_reference`` sampled from the rows the model learned from."""

    scorer: Scorer
    ensemble: object
    trim_cut: object
    k_selection: object
    inertia: float
    n_iter: int
    n_trim_rounds: int
    trimmed: np.ndarray
    rows: object
    scores: np.ndarray
    labels: np.ndarray
    y: object
    value_modes: ValueModes = None
    feature_reference: FeatureReference = None


def trim_fraction(est):
    """The ``trim`` parameter as a fraction ("auto": 0.05 for the ensemble,
    else 0)."""
    if est.trim == "auto":
        return 0.05 if est.score_mode == "ensemble" else 0.0
    return float(est.trim)


def train(est, X, y, feature_labels):
    """Fit the model of normal data described by estimator ``est`` on
    validated rows ``X``."""
    encoder = FeatureEncoder(est.scaling, est.missing, est.max_categories)
    encoder.fit(X, feature_names=feature_labels)
    rng = as_generator(est.random_state)
    rows = fit_sample_rows(X.shape[0], est.max_fit_rows, rng)
    X_fit = X
    if rows is not None:
        X_fit = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
        if y is not None:
            y = np.asarray(y)[rows]
    return train_on_sample(est, encoder, X_fit, rows, y, rng)


def fit_sample_rows(n, max_fit_rows, rng):
    """Sorted positions of the rows, out of ``n``, that the model learns
    from (at most ``max_fit_rows``; see the parameter), or None for all.
    The one draw of the sample: a fit in memory and a fit over Dask
    partitions (:mod:`farout.distributed`) take the same rows for the same
    seed."""
    if max_fit_rows is None or n <= max_fit_rows:
        return None
    return np.sort(rng.choice(n, max_fit_rows, replace=False))


def train_on_sample(est, encoder, X_fit, rows, y, rng):
    """What :func:`train` learns once the ``encoder`` is fitted (on every
    row) and the sample drawn: ``X_fit``, the validated rows at positions
    ``rows`` (None: all rows), with their labels ``y``; ``rng`` continues
    the generator that drew them."""
    Z, _ = encoder.encode(X_fit)
    metric = make_metric(est.metric).fit(Z)
    M = metric.to_space(Z)
    n_fit = M.shape[0]
    n_drop = int(round(trim_fraction(est) * n_fit))
    keep = np.ones(n_fit, dtype=bool)
    ensemble = trim_cut = scores = None
    if est.score_mode == "ensemble":
        ensemble = BaggedKMeans() if est.ensemble is None else clone(est.ensemble)
        seed = int(rng.integers(np.iinfo(np.int32).max))
        ensemble.set_params(metric=metric.kernel, random_state=seed)
        ensemble.fit(M)
        mode = make_score_mode("ensemble", ensemble)
        scores = ensemble_scores(Scorer(encoder, _NoClusters(metric), mode), X_fit, M)
        if n_drop:
            # The clustering (for explanations and cluster ids) learns from
            # the rows the robust ensemble finds most normal.
            ranked = np.argsort(scores, kind="stable")
            keep[ranked[n_fit - n_drop :]] = False
            trim_cut = float(scores[ranked[n_fit - n_drop - 1]])
    else:
        mode = make_score_mode(est.score_mode)
    k, start, k_selection = _choose_k(est, M[keep], rng, metric.kernel)
    iterative = est.score_mode != "ensemble" and n_drop > 0
    clusters, keep, fit_info = _fit_clustering(
        est, M, Z, keep, k, start, rng, metric, mode, n_drop if iterative else 0
    )
    inertia, n_iter, n_trim_rounds, fit_labels = fit_info
    value_modes = ValueModes.from_rows(encoder, Z[keep], fit_labels, k)
    if not iterative and n_drop:
        n_trim_rounds = 1
    trimmed = np.flatnonzero(~keep)
    scorer = Scorer(encoder, clusters, mode)
    # The threshold is fitted on scores from the very code that scores new
    # rows, so that predict(X) flags the intended share of X.
    found = score_rows(scorer, X_fit, with_scores=scores is None)
    return Training(
        scorer=scorer,
        ensemble=ensemble,
        trim_cut=trim_cut,
        k_selection=k_selection,
        inertia=inertia,
        n_iter=n_iter,
        n_trim_rounds=n_trim_rounds,
        trimmed=trimmed if rows is None else rows[trimmed],
        rows=rows,
        scores=found.scores if scores is None else scores,
        labels=found.labels,
        y=y,
        value_modes=value_modes,
        feature_reference=FeatureReference.from_rows(encoder, X_fit),  # for monitoring
    )


class _NoClusters:
    """The clusters' stand-in while only the ensemble is fitted."""

    def __init__(self, metric):
        self.metric = metric


def _choose_k(est, M, rng, kernel):
    """(k, starting centres or None, the k-selection table or None)."""
    table = start = None
    if est.n_clusters == "auto":
        selection = select_k(
            M,
            est.k_range,
            est.k_selection,
            kernel,
            n_init=est.n_init,
            max_iter=est.max_iter,
            tol=est.tol,
            random_state=rng,
            progress=est.verbose > 0,
        )
        table, k = selection.table, selection.best_k
        start = selection.centers.get(k)
    else:
        k = int(est.n_clusters)
    # Counting distinct rows sorts them; a sample with k distinct rows
    # settles it without sorting all of them.
    if count_distinct_rows(M[:_DISTINCT_SAMPLE]) < k and (n_distinct := count_distinct_rows(M)) < k:
        raise InputError(
            f"n_clusters={k} is larger than the number of distinct rows "
            f"({n_distinct}); use a smaller n_clusters."
        )
    return k, start, table


def _fit_clustering(est, M, Z, keep, k, start, rng, metric, mode, n_drop):
    """Fit the clustering on the rows in ``keep``; with ``n_drop``, drop the
    ``n_drop`` highest-scoring rows and refit until the dropped set is
    stable. Returns (clusters, final keep mask, (inertia, n_iter, rounds,
    the kept rows' clusters))."""
    n = M.shape[0]
    rounds = 0
    abs_tol = float(np.mean(np.var(M[keep], axis=0))) * est.tol
    for round_ in range(est.trim_max_rounds + 1):
        if start is None:
            centers, labels, distances, inertia, n_iter = kmeans(
                M[keep], k, metric.kernel, rng, est.n_init, est.max_iter, est.tol
            )
        else:
            # warm start: the k-selection's (or previous round's) centres
            centers, labels, distances, inertia, n_iter = lloyd(
                M[keep], start, metric.kernel, est.max_iter, abs_tol
            )
        start = centers
        clusters = Clusters.fitted(centers, labels, distances, Z[keep], metric)
        if not n_drop or round_ == est.trim_max_rounds:
            break
        all_labels, all_distances = clusters.assign(M)
        scores = mode.score(clusters, M, all_labels, all_distances)
        new_keep = np.ones(n, dtype=bool)
        new_keep[np.argsort(scores, kind="stable")[n - n_drop :]] = False
        rounds = round_ + 1
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return clusters, keep, (inertia, n_iter, rounds, labels)
