"""Fitting on a Dask DataFrame or Array: what ``fit`` learns in memory,
learned over partitions.

Three steps, each a pass over the partitions where only small results
travel to the client:

1. every partition's row count and column moments (count, mean, M2, min,
   max), merged in row order: the encoder's scaling, as ``fit`` learns it
   from every row;
2. the rows ``max_fit_rows`` samples in memory (:func:`farout.training.fit_sample_rows`,
   the same global positions for the same seed), taken from their
   partitions; the detector learns from them on the client exactly as
   ``fit`` does after its own draw;
3. optionally, ``passes`` Lloyd steps of the clusters over every row: each
   partition assigns its rows to the current centres and builds their
   :class:`~farout.core.ClusterStats` (with the rows' sums in the metric's
   space and their objective), a tree reduction merges them, and only
   centres and statistics travel; a last pass gives the statistics at the
   final centres. The threshold is then refitted on the sample, as
   ``farout fit --passes`` does for a file.
"""

from dataclasses import replace

import dask
import numpy as np
import pandas as pd

from .._kernels.distance import nearest_centers
from .._kernels.kmeans import as_generator, centers_from_sums, cluster_sums, objective
from .._kernels.moments import merge_moments
from .._kernels.stats import column_moments
from ..core.clusters import Clusters
from ..core.scoring import score_rows
from ..core.stats import ClusterStats
from ..detector import KMeansAnomalyDetector
from ..exceptions import InputError
from ..features.encoder import MAX_SCALED, FeatureEncoder
from ..params import check_params
from ..training import fit_sample_rows
from ..validation import is_int
from .partitions import SPLIT_EVERY, blocks, broadcast, serial_kernels, tree_reduce

__all__ = ["fit_dask"]


def fit_dask(detector, X, *, passes=0, split_every=SPLIT_EVERY):
    """Fit ``detector`` on a Dask DataFrame or 2-D Array ``X``.

    With ``passes=0`` (the default) the fitted model is the one
    ``detector.fit(X.compute())`` gives: the scaling from the moments of
    every row (merged partition by partition, so equal to within rounding,
    about 1e-15 relative), and the ensemble, trimming, k, clustering and
    thresholds from the rows ``max_fit_rows`` samples in memory, at the same
    global positions for the same ``random_state``. ``passes`` > 0 then
    moves the clusters over every row (Lloyd steps as a map-reduce of the
    clusters' statistics) and refits the threshold on the sample.

    The data must be all-numeric, scaled ``"standard"``, ``"minmax"`` or
    not at all, with ``missing="error"``: the scaling is what column
    moments give exactly. ``labels_`` is not set (one number per row would
    come to the client); score the data for the clusters of its rows.

    Parameters
    ----------
    detector : KMeansAnomalyDetector
        Its parameters set; fitted in place.
    X : dask.dataframe.DataFrame or dask.array.Array
    passes : int, default=0
        Refinement passes over every row (not for ``metric="manhattan"``,
        whose medians are no sums).
    split_every : int, default=8
        Fan-in of the tree reduction.

    Returns
    -------
    detector
    """
    if not isinstance(detector, KMeansAnomalyDetector):
        raise InputError(f"fit_dask fits a KMeansAnomalyDetector, got {type(detector).__name__}.")
    if not is_int(passes) or passes < 0:
        raise InputError(f"passes must be an int >= 0, got {passes!r}.")
    if not is_int(split_every) or split_every < 2:
        raise InputError(f"split_every must be an int >= 2, got {split_every!r}.")
    if passes and detector.metric == "manhattan":
        raise InputError(
            f"passes={passes} refines the clusters by sums over the partitions, but "
            "metric='manhattan' moves centres to medians; use passes=0 with it."
        )
    check_params(detector)
    parts, lengths = blocks(X)
    frame = hasattr(X, "columns")
    names = [str(c) for c in X.columns] if frame else [f"x{j}" for j in range(X.shape[1])]
    encoder = FeatureEncoder(detector.scaling, detector.missing, detector.max_categories)
    encoder.check_moments_fit(X.dtypes if frame else None)
    offsets = None if lengths is None else np.concatenate([[0], np.cumsum(lengths)[:-1]])
    summaries = [
        dask.delayed(_summary, pure=True)(
            part, encoder, names, None if offsets is None else int(offsets[i])
        )
        for i, part in enumerate(parts)
    ]
    summaries = dask.compute(*summaries)
    lengths = [count for count, _ in summaries]
    n = int(sum(lengths))
    if n < 2:
        raise InputError(f"need at least 2 samples to fit, got {n} (the Dask data's rows).")
    moments = _merged([m for _, m in summaries if m is not None])
    rng = as_generator(detector.random_state)  # as fit's training draws it
    rows = fit_sample_rows(n, detector.max_fit_rows, rng)
    sample = _gather(parts, lengths, rows, frame)
    encoder.fit_moments(sample, moments, names)
    detector.fit_sample(sample, encoder, n, rows, rng)
    if passes:
        _refine(detector, parts, passes, split_every)
        detector.fit_threshold(sample, tiers=detector.tiers)
    return detector


def _summary(block, encoder, names, offset):
    """(rows, column moments) of one partition; an error naming the column
    and row, as the fit in memory names it, when a value is missing,
    infinite or too large to scale."""
    if len(block) == 0:
        return 0, None
    with serial_kernels():
        values = block.to_numpy(dtype=np.float64) if hasattr(block, "columns") else block
        moments = column_moments(values, limit=MAX_SCALED)
        if moments is None:
            table = block
            if not hasattr(block, "columns"):
                index = None if offset is None else pd.RangeIndex(offset, offset + len(block))
                table = pd.DataFrame(np.asarray(block), columns=names, index=index)
            FeatureEncoder(encoder.scaling, "error", encoder.max_categories).fit(
                table, feature_names=names
            )
            raise InputError(
                "a partition holds a value too large to scale (beyond 1e150); "
                "rescale the column or drop the rows."
            )
    return len(block), moments


def _merged(parts):
    """Column moments of all the rows, from those of partitions in order."""
    count, mean, m2, low, high = parts[0]
    for other in parts[1:]:
        count, mean, m2 = merge_moments((count, mean, m2), other[:3])
        low, high = np.minimum(low, other[3]), np.maximum(high, other[4])
    return count, mean, m2, low, high


def _gather(parts, lengths, rows, frame):
    """The rows at global positions ``rows`` (None: all), from their
    partitions, in row order, as one pandas frame or NumPy array."""
    starts = np.concatenate([[0], np.cumsum(lengths)])
    taken = []
    for i, part in enumerate(parts):
        if rows is None:
            local = None
        else:
            lo, hi = np.searchsorted(rows, [starts[i], starts[i + 1]])
            if lo == hi:
                continue
            local = rows[lo:hi] - starts[i]
        taken.append(dask.delayed(_take, pure=True)(part, local))
    taken = dask.compute(*taken)
    if frame:
        return pd.concat(taken) if len(taken) > 1 else taken[0]
    return np.concatenate(taken) if len(taken) > 1 else taken[0]


def _take(block, local):
    if local is None:
        return block
    return block.iloc[local] if hasattr(block, "columns") else np.asarray(block)[local]


def _refine(detector, parts, passes, split_every):
    """``passes`` Lloyd steps of the detector's clusters over every row,
    then the statistics at the final centres; the detector keeps them."""
    model = broadcast(detector)
    clusters = detector.clusters_
    metric = clusters.metric
    centers = clusters.centers
    for made in range(passes + 1):
        stats = [dask.delayed(_block_statistics, pure=True)(model, centers, part) for part in parts]
        merged = tree_reduce(stats, _merge_statistics, split_every).compute()
        if merged is None:
            return  # every row was trimmed: the clusters stay
        stats, metric_sums, inertia = merged
        if made == passes:
            break
        centers = centers_from_sums(metric_sums, stats.size, centers, metric.kernel)
    clusters = Clusters(centers, stats, metric)
    detector.scorer_ = replace(detector.scorer_, clusters=clusters)
    detector.inertia_ = inertia


def _block_statistics(model, centers, block):
    """One partition's part of a Lloyd step from ``centers``: the
    :class:`ClusterStats` of its rows (those ``refine_clusters`` would not
    skip as trimmed), their per-cluster sums in the metric's space, and
    their objective. None for a partition without such rows."""
    if len(block) == 0:
        return None
    with serial_kernels():
        X = block  # the fitted table's partition: its columns are the model's
        if model.trim_cut_ is not None:
            keep = score_rows(model.scorer_, X).scores <= model.trim_cut_
            X = X.iloc[keep] if hasattr(X, "columns") else X[keep]
        if len(X) == 0:
            return None
        Z, _ = model.encoder_.encode(X)
        metric = model.scorer_.metric
        M = metric.to_space(Z)
        k = centers.shape[0]
        labels, distances = nearest_centers(M, centers, metric.kernel)
        stats = ClusterStats.from_block(Z, labels, distances, k)
        metric_sums = stats.sums if M is Z else cluster_sums(M, labels, k)[1]
        return stats, metric_sums, objective(distances, metric.kernel)


def _merge_statistics(a, b):
    return a[0].merge(b[0]), a[1] + b[1], a[2] + b[2]
