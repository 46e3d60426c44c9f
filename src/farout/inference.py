"""Inference: what a fitted detector says about rows. Scores, flags,
severity, nearest clusters, the ``detect`` findings, the feature schema and
explanations, all from one pass of the scoring core
(:func:`farout.core.score_rows`) over rows checked at the door.
"""

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .confidence import flag_probability
from .core.scoring import score_rows
from .exceptions import InputError
from .explain import explain_rows, scorer_contributions
from .findings import REASONS, Findings
from .thresholds import assign_severity, severity_codes
from .validation import check_rows, is_int

__all__ = ["BORDERLINE", "Inference"]

#: The severity of rows whose flag is not sure (the ``borderline`` parameter).
BORDERLINE = "borderline"
# Tables up to this many rows keep their encoded rows for the reasons.
_KEEP_ENCODED_ROWS = 4096


def _scored(est, X, keep_encoded=False, with_scores=True):
    """(validated X, its :class:`~farout.core.Detection`)."""
    check_is_fitted(est)
    X = check_rows(est, X, reset=False)
    return X, score_rows(est.scorer_, X, keep_encoded, with_scores)


class Inference:
    """The fitted detector's answers (mixed into
    :class:`~farout.KMeansAnomalyDetector`); reads ``scorer_``,
    ``threshold_`` and ``tiers_``."""

    # -------------------------------------------------- fitted parts
    def _fitted(self, name):
        scorer = self.__dict__.get("scorer_")
        if scorer is None:
            raise AttributeError(f"{name} is set by fit; this {type(self).__name__} is not fitted.")
        return scorer

    @property
    def _modes(self):
        """The fitted :class:`~farout.explain.ValueModes`; None for a model
        saved before they were counted."""
        return self.__dict__.get("value_modes_")

    @property
    def encoder_(self):
        """The fitted :class:`~farout.features.FeatureEncoder`."""
        return self._fitted("encoder_").encoder

    @property
    def clusters_(self):
        """The fitted :class:`~farout.core.Clusters` (centres and statistics)."""
        return self._fitted("clusters_").clusters

    @property
    def n_clusters_(self):
        return self._fitted("n_clusters_").clusters.n_clusters

    @property
    def cluster_centers_(self):
        return self._fitted("cluster_centers_").clusters.data_centers

    @property
    def cluster_sizes_(self):
        return self._fitted("cluster_sizes_").clusters.stats.size

    @property
    def cluster_sigma_(self):
        return self._fitted("cluster_sigma_").clusters.sigma

    @property
    def eps_(self):
        return self._fitted("eps_").clusters.eps

    # -------------------------------------------------------- inference
    def detection(self, X, keep_encoded=False, with_scores=True):
        """What the scoring core finds for rows ``X``: a
        :class:`~farout.core.Detection` of nearest clusters, distances and
        scores (and, with ``keep_encoded``, the encoded rows).
        ``with_scores=False`` assigns clusters only."""
        return _scored(self, X, keep_encoded, with_scores)[1]

    def anomaly_score(self, X):
        """The anomaly score of each row (see ``score_mode``): higher is more
        anomalous.

        Returns a Series with the input's index for DataFrame input,
        otherwise an ndarray of shape (n_samples,).
        """
        found = self.detection(X)
        return found.like(found.scores, "anomaly_score")

    def score_samples(self, X):
        """Minus the anomaly score (scikit-learn: lower is more abnormal)."""
        found = self.detection(X)
        return found.like(-found.scores, "score_samples")

    def decision_function(self, X):
        """Negative for anomalies: ``score_samples(X) - offset_``."""
        found = self.detection(X)
        margin = self.threshold_.cuts(found.labels) - found.scores
        return found.like(margin, "decision_function")

    def predict(self, X):
        """+1 for normal rows, -1 for anomalies."""
        found = self.detection(X)
        flags = self.threshold_.flag(found.scores, found.labels)
        return found.like(np.where(flags, -1, 1), "prediction")

    def predict_cluster(self, X):
        """Index of the nearest cluster for each row."""
        found = self.detection(X, with_scores=False)
        return found.like(found.labels, "cluster")

    def severity(self, X):
        """Name of the most severe tier each row exceeds, or None (or
        ``"borderline"``, see the ``borderline`` parameter)."""
        found = self.detection(X)
        severity = assign_severity(self.tiers_, found.scores, found.labels)
        if self.borderline is not None:
            severity[self._confidence(found)[1] < self.borderline] = BORDERLINE
        return found.like(severity, "severity")

    # ---------------------------------------------- how sure the flag is
    def predict_proba(self, X):
        """The probability that each row is flagged, given the training
        score distribution: ExCeeD (Perini et al., ECML PKDD 2020; see
        :mod:`farout.confidence`). 0.5 at the cut, and over the training
        rows it averages the share the cut flags there.

        Returns
        -------
        ndarray of shape (n_samples, 2): P(normal) and P(anomaly), in the
        order of :meth:`predict`'s classes ``[1, -1]``.
        """
        probability, _ = self._confidence(self.detection(X))
        return np.column_stack([1.0 - probability, probability])

    def predict_confidence(self, X):
        """How sure each row's flag is, in [0.5, 1]: P(flagged) for a
        flagged row, 1 - P(flagged) for the others (ExCeeD). Low values
        mark rows whose flag would flip had the training rows been drawn
        again. A Series for DataFrame input, else an ndarray."""
        found = self.detection(X)
        return found.like(self._confidence(found)[1], "confidence")

    def _confidence(self, found, flags=None):
        """(P(flagged), confidence of the flag) of a Detection (``flags``:
        its flags, when already known)."""
        reference = self.__dict__.get("score_reference_")
        if reference is None:
            raise InputError(
                "this model has no record of its training scores (it was saved by "
                "farout 0.2, or 0.3 before 2026-12): refit it, or refit its threshold "
                "(fit_threshold, or farout threshold) on data like its training data."
            )
        probability = flag_probability(found.scores, found.labels, *reference, self.threshold_)
        if flags is None:
            flags = self.threshold_.flag(found.scores, found.labels)
        return probability, np.where(flags, probability, 1.0 - probability)

    def detect(self, X, reasons="flagged", top=3, confidence=False):
        """Score, flag and explain rows in one pass.

        Parameters
        ----------
        X : array-like or DataFrame
        reasons : {"flagged", "all", "none"}, default="flagged"
            Which rows get a plain-language ``reason``.
        top : int, default=3
            Features named in each reason.
        confidence : bool, default=False
            Also give ``anomaly_probability`` (:meth:`predict_proba`) and
            ``confidence`` (:meth:`predict_confidence`).

        Returns
        -------
        DataFrame with columns ``anomaly_score``, ``is_anomaly``,
        ``severity``, ``cluster`` and ``reason`` (and the two above), indexed
        like ``X``.
        """
        return self.findings(X, reasons, top, confidence).to_frame()

    def findings(self, X, reasons="flagged", top=3, confidence=False):
        """What :meth:`detect` returns, as arrays (:class:`~farout.findings.Findings`):
        the file jobs write them without building a DataFrame."""
        if reasons not in REASONS:
            raise InputError(f"reasons must be 'flagged', 'all' or 'none', got {reasons!r}.")
        if not is_int(top) or top < 1:
            raise InputError(f"top must be an int >= 1, got {top!r}.")
        # a small table reuses the encoded rows its scoring made, rather
        # than encoding the flagged ones again
        small = getattr(X, "shape", (len(X),))[0] <= _KEEP_ENCODED_ROWS
        keep = True if reasons == "all" else "reuse" if reasons == "flagged" and small else False
        X, found = _scored(self, X, keep_encoded=keep)
        labels, scores = found.labels, found.scores
        flags = self.threshold_.flag(scores, labels)
        rows = {"all": np.arange(len(scores)), "flagged": np.flatnonzero(flags)}.get(
            reasons, np.empty(0, dtype=np.intp)
        )
        texts = np.empty(0, dtype=object)
        if rows.size:
            sub = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
            if found.encoded is None:  # only the flagged rows need encoding
                Z_sub, unseen = self.encoder_.encode(sub)
            else:
                Z_sub, unseen = found.encoded[rows], {k: m[rows] for k, m in found.unseen.items()}
            texts = explain_rows(
                self.scorer_, sub, Z_sub, labels[rows], scores[rows], unseen, top, True, self._modes
            )
        tiers, tier_names = severity_codes(self.tiers_, scores, labels), [n for n, _ in self.tiers_]
        probability = sure = None
        if confidence or self.borderline is not None:
            probability, sure = self._confidence(found, flags)
        if self.borderline is not None:
            tiers[sure < self.borderline] = len(tier_names)
            tier_names = [*tier_names, BORDERLINE]
        return Findings(
            scores=scores,
            flags=flags,
            tiers=tiers,
            tier_names=tier_names,
            labels=labels,
            reason_rows=rows,
            reason_texts=texts,
            index=X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(scores)),
            probability=probability if confidence else None,
            confidence=sure if confidence else None,
        )

    # ------------------------------------------------------ the schema
    def feature_schema(self):
        """The input columns the model was fitted on, in order: a list of
        dicts with ``name``, ``kind`` ("numeric" or "categorical"),
        ``dtype`` and, for categorical columns, ``categories``."""
        check_is_fitted(self)
        return [
            {k: (list(v) if isinstance(v, list) else v) for k, v in column.items()}
            for column in self.encoder_.columns_
        ]

    def encode(self, X):
        """The encoded rows the clustering sees (numeric columns scaled,
        categorical columns one-hot), an array of shape
        (n_samples, n_encoded_features) with columns ``encoded_names_``."""
        check_is_fitted(self)
        return self.encoder_.encode(check_rows(self, X, reset=False))[0]

    @property
    def encoded_names_(self):
        """Names of the encoded columns, e.g. ``amount`` or ``kind=a``."""
        return list(self.encoder_.encoded_names_)

    # ---------------------------------------------------- explanations
    def feature_contributions(self, X):
        """Each feature's share of each row's distance to its centroid.

        The columns add up to the metric's additive form (the squared
        distance for euclidean and mahalanobis, the distance for manhattan
        and cosine); see :mod:`farout.explain`.

        Returns a DataFrame, one column per input feature, indexed like X.
        """
        _, found = _scored(self, X, keep_encoded=True)
        contrib = scorer_contributions(self.scorer_, found.encoded, found.labels)
        names = [c["name"] for c in self.encoder_.columns_]
        return pd.DataFrame(contrib, index=found.index, columns=names)

    def explain(self, X, top=3):
        """Why each row scores as it does.

        For each row: its cluster and score, one plain-language ``reason``
        (e.g. ``amount 2450.00 is 25.2x the cluster's typical 97.10
        (+8.1 sd)``), and for the ``top`` contributing features
        ``feature_i``, ``value_i``, ``typical_i``, ``sd_i`` (cluster
        standard deviations away) and ``share_i`` (share of the distance).
        Unseen categories are always named in the reason.

        Returns a DataFrame indexed like X.
        """
        if not is_int(top) or top < 1:
            raise InputError(f"top must be an int >= 1, got {top!r}.")
        X, f = _scored(self, X, keep_encoded=True)
        return explain_rows(
            self.scorer_, X, f.encoded, f.labels, f.scores, f.unseen, top, modes=self._modes
        )
