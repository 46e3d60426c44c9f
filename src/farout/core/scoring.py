"""The scoring core: encoded rows in, nearest cluster, distance and anomaly
score out. The estimator, the file jobs, the secondary check (and the
stream detector, the service and Dask) all score through
:func:`score_block` and :func:`score_rows`.

Input is validated at the door (the estimator's or the job's); nothing here
checks it again, except that a score that overflows float64 is refused with
the row named.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._kernels.distance import as_kernel_rows, nearest_centers, nearest_scores
from ..exceptions import InputError
from ..features.encoder import MAX_SCALED, is_plain_numeric
from .members import ensemble_score, member_distance

__all__ = [
    "SCORE_MODES",
    "Detection",
    "DistanceScore",
    "EnsembleScore",
    "NormalizedScore",
    "Scorer",
    "ensemble_scores",
    "make_score_mode",
    "member_distance",
    "score_block",
    "score_rows",
]

# Rows encoded and scored at a time: bounds the memory of scoring.
SCORE_BLOCK = 65_536


@dataclass(frozen=True)
class Detection:
    """What scoring finds for each row.

    Attributes
    ----------
    labels : ndarray of intp
        Nearest cluster.
    distances : ndarray
        Distance to it, in the metric's space.
    scores : ndarray
        Anomaly score (higher is more anomalous).
    encoded : ndarray or None
        The encoded rows, when asked for (explanations need them).
    unseen : dict
        Column name -> boolean mask of rows holding a category the model
        never saw.
    index : pandas.Index or None
        The input's index, for DataFrame input.
    """

    labels: np.ndarray
    distances: np.ndarray
    scores: np.ndarray
    encoded: np.ndarray = None
    unseen: dict = field(default_factory=dict)
    index: pd.Index = None

    def like(self, values, name):
        """Per-row ``values`` as a Series with the input's index when the
        input was a DataFrame, else as they are."""
        if self.index is None:
            return values
        return pd.Series(values, index=self.index, name=name)


class DistanceScore:
    """The raw distance D to the nearest centre."""

    name = "distance"

    def score(self, clusters, M, labels, distances):
        return distances


class NormalizedScore:
    """A(x) = D(x, C_i) / (sigma(C_i) + eps)."""

    name = "normalized"

    def score(self, clusters, M, labels, distances):
        return distances / (clusters.sigma[labels] + clusters.eps)


class EnsembleScore:
    """The combined score of a bag of trimmed k-means members (an object
    with ``members_``, a kernel ``metric`` and its rules, such as
    BaggedKMeans; see :mod:`farout.core.members`)."""

    name = "ensemble"

    def __init__(self, ensemble):
        self.ensemble = ensemble

    def score(self, clusters, M, labels, distances):
        return ensemble_score(self.ensemble, M)


SCORE_MODES = {"ensemble": EnsembleScore, "distance": DistanceScore, "normalized": NormalizedScore}


def make_score_mode(name, ensemble=None):
    """The score mode called ``name`` (``ensemble``: the fitted bag that
    ``"ensemble"`` scores with)."""
    if name == "ensemble":
        if ensemble is None:
            raise ValueError("score mode 'ensemble' needs a fitted ensemble.")
        return EnsembleScore(ensemble)
    return SCORE_MODES[name]()


@dataclass
class Scorer:
    """Everything scoring needs: the fitted encoder, the clusters (with
    their metric) and the score mode."""

    encoder: object
    clusters: object
    mode: object

    @property
    def metric(self):
        return self.clusters.metric

    def raw_geometry(self, clusters=True):
        """Centres and per-feature weights that measure the model's
        distances on raw numeric rows, the scaling folded into the kernel:
        scoring then needs no encoded copy. None unless every column is
        numeric and the metric is Euclidean. ``clusters=False`` leaves out
        the clustering (the ensemble's scores during fit)."""
        encoder = self.encoder
        if self.metric.name != "euclidean" or any(c["kind"] != "numeric" for c in encoder.columns_):
            return None
        center, scale = encoder.center_, encoder.scale_
        geometry = {}
        if clusters:
            geometry.update(centers=self.clusters.centers * scale + center, weights=1.0 / scale)
        if isinstance(self.mode, EnsembleScore):
            members = self.mode.ensemble.members_
            geometry["members"] = [m["centers"] * scale + center for m in members]
            geometry["member_weights"] = [m["weights"] / scale for m in members]
        return geometry


def score_block(scorer, M, with_scores=True):
    """Score rows ``M`` already encoded and mapped into the metric's space.
    ``with_scores=False`` assigns clusters only (scores are distances)."""
    labels, distances = scorer.clusters.assign(M)
    scores = scorer.mode.score(scorer.clusters, M, labels, distances) if with_scores else distances
    return Detection(labels, distances, scores)


def _score_raw(scorer, part, geometry, with_scores, out):
    """Score an all-numeric block into ``out`` (labels, distances, scores:
    views of the whole result, so nothing is copied). False when a value
    needs the encoder (NaN to impute, or a value to name in an error)."""
    raw = part.to_numpy(dtype=np.float64) if isinstance(part, pd.DataFrame) else part
    # The ensemble's kernel reads a DataFrame's column-major block as it is;
    # the nearest-centre kernel makes its own row-major copy.
    raw = as_kernel_rows(raw, by_column=True)
    centers, weights = geometry["centers"], geometry["weights"]
    labels, distances, scores = out
    if with_scores and isinstance(scorer.mode, NormalizedScore):
        # A(x) = D / (sigma + eps) in the same pass as the assignment
        spread = scorer.clusters.sigma + scorer.clusters.eps
        nearest_scores(raw, centers, spread, weights, out=out)
    else:
        nearest_centers(raw, centers, "euclidean", weights, out=(labels, distances))
    # NaN, inf and values too large to scale all show up in the distance
    if not (distances < MAX_SCALED).all():
        return False
    if with_scores and isinstance(scorer.mode, EnsembleScore):
        scores[:] = ensemble_score(
            scorer.mode.ensemble, raw, geometry["members"], geometry["member_weights"]
        )
    return True  # distance scores: ``scores`` is ``distances`` (see score_rows)


def _rows(X, start, stop):
    return X.iloc[start:stop] if isinstance(X, pd.DataFrame) else X[start:stop]


def score_rows(scorer, X, keep_encoded=False, with_scores=True):
    """Score validated rows ``X`` (a DataFrame or a float array) block by
    block, so memory stays near the input's own size.

    An all-numeric Euclidean model scores raw rows directly (see
    :meth:`Scorer.raw_geometry`); ``keep_encoded`` keeps the encoded rows
    for explanations, and ``keep_encoded="reuse"`` keeps them only where
    every block was encoded anyway (the scores are then those of the
    default path to the last bit).
    """
    n = X.shape[0]
    labels = np.empty(n, dtype=np.intp)
    distances = np.empty(n)
    # Distance scores are the distances: one array, not a copy of it.
    plain = not with_scores or isinstance(scorer.mode, DistanceScore)
    scores = distances if plain else np.empty(n)
    encoded, unseen_parts = [], {}
    reuse = keep_encoded == "reuse"
    keep_encoded = keep_encoded is True
    geometry = None if keep_encoded else scorer.raw_geometry()
    blocks = 0
    for start in range(0, n, SCORE_BLOCK):
        stop = min(n, start + SCORE_BLOCK)
        part = _rows(X, start, stop)
        blocks += 1
        if geometry is not None and is_plain_numeric(part):
            out = (labels[start:stop], distances[start:stop], scores[start:stop])
            if _score_raw(scorer, part, geometry, with_scores, out):
                continue
        Z, unseen = scorer.encoder.encode(part, offset=start)
        found = score_block(scorer, scorer.metric.to_space(Z), with_scores)
        labels[start:stop], distances[start:stop], scores[start:stop] = (
            found.labels,
            found.distances,
            found.scores,
        )
        if keep_encoded or reuse:
            encoded.append(Z)
        for name, mask in unseen.items():
            unseen_parts.setdefault(name, []).append(mask)
    keep_encoded = keep_encoded or (reuse and 0 < len(encoded) == blocks)
    Z = (np.vstack(encoded) if len(encoded) > 1 else encoded[0]) if keep_encoded else None
    unseen = {name: np.concatenate(masks) for name, masks in unseen_parts.items()}
    if not np.isfinite(scores).all():
        row = int(np.flatnonzero(~np.isfinite(scores))[0])
        label = repr(X.index[row]) if isinstance(X, pd.DataFrame) else str(row)
        raise InputError(
            f"row {label} is too far from every cluster to score in "
            "float64 (its distance overflows); check it for corrupt values."
        )
    index = X.index if isinstance(X, pd.DataFrame) else None
    return Detection(labels, distances, scores, Z, unseen, index)


def ensemble_scores(scorer, X, M):
    """The ensemble's scores of validated rows ``X`` (``M``: the same rows
    in the metric's space), block by block exactly as :func:`score_rows`
    computes them, so a threshold fitted on them matches what scoring
    returns."""
    geometry = scorer.raw_geometry(clusters=False)
    ensemble = scorer.mode.ensemble
    scores = np.empty(M.shape[0])
    for start in range(0, M.shape[0], SCORE_BLOCK):
        stop = min(M.shape[0], start + SCORE_BLOCK)
        part = _rows(X, start, stop)
        if geometry is not None and is_plain_numeric(part):
            raw = part.to_numpy(dtype=np.float64) if isinstance(part, pd.DataFrame) else part
            block = ensemble_score(ensemble, raw, geometry["members"], geometry["member_weights"])
            if np.isfinite(block).all():
                scores[start:stop] = block
                continue
        scores[start:stop] = ensemble_score(ensemble, M[start:stop])
    return scores
