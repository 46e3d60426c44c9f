"""The stream's clusters: their decayed statistics (a
:class:`~farout.core.ClusterStats` in the data's units, a centre being the
decayed mean of its members) and their public ids, which are never reused.
Clusters open from a run of rows the model did not expect, merge when the
room runs out and two overlap, and retire when forgotten. Pure functions of
(stats, ids).
"""

import numpy as np

from ..core.stats import ClusterStats

__all__ = ["open_cluster", "retire", "spread"]

_FIELDS = ("size", "sums", "sumsq", "dist_count", "dist_mean", "dist_m2")


def spread(stats, j, sd):
    """Cluster ``j``'s root-mean-square distance from its centre, in the
    current scale ``sd``: from its feature sums, so it follows the scale as
    it moves (distances recorded under an earlier scale would not)."""
    size = stats.size[j]
    mean = stats.sums[j] / size
    var = np.maximum(stats.sumsq[j] / size - mean * mean, 0.0)
    return float(np.sqrt((var / (sd * sd)).sum()))


def open_cluster(stats, ids, new_id, rows, sd, max_clusters):
    """(stats, ids) with a new cluster ``new_id`` of ``rows``, room made
    first when ``max_clusters`` are open."""
    if stats is not None and len(ids) >= max_clusters:
        stats, ids = _make_room(stats, ids, sd)
    centre = rows.mean(axis=0)
    distances = np.sqrt((((rows - centre) / sd) ** 2).sum(axis=1))
    block = ClusterStats.from_block(rows, np.zeros(len(rows), dtype=np.intp), distances, 1)
    stats = block if stats is None else _concat(stats, block)
    return stats, np.append(ids, new_id)


def retire(stats, ids, cut):
    """(stats, ids) without the clusters whose weight fell below ``cut``
    (one cluster always stays)."""
    for j in np.flatnonzero(stats.size < cut)[::-1]:
        if len(ids) > 1:
            stats, ids = _drop(stats, ids, int(j))
    return stats, ids


def _make_room(stats, ids, sd):
    """Merge the two nearest clusters if they overlap, else retire the
    lightest."""
    centres = stats.sums / stats.size[:, None]
    sigma, _ = stats.spread()
    gaps = (centres[:, None, :] - centres[None, :, :]) / sd
    apart = np.sqrt((gaps * gaps).sum(axis=2))
    np.fill_diagonal(apart, np.inf)
    a, b = np.unravel_index(int(np.argmin(apart)), apart.shape)
    if apart[a, b] >= sigma[a] + sigma[b]:
        return _drop(stats, ids, int(np.argmin(stats.size)))
    merged = _take(stats, [a]).merge(_take(stats, [b]))
    keep = [i for i in range(len(ids)) if i != b]
    at = keep.index(a)
    rest = _take(stats, keep)
    stats = _concat(_take(rest, range(at)), merged, _take(rest, range(at + 1, len(keep))))
    return stats, ids[keep]


def _drop(stats, ids, j):
    keep = [i for i in range(len(ids)) if i != j]
    return _take(stats, keep), ids[keep]


def _take(stats, rows):
    rows = np.asarray(list(rows), dtype=np.intp)
    return ClusterStats(*(np.asarray(getattr(stats, f))[rows] for f in _FIELDS))


def _concat(*parts):
    return ClusterStats(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))
