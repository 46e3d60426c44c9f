"""Findings: what :meth:`~farout.KMeansAnomalyDetector.detect` reports for
each row, as arrays. The file jobs write them without building a
DataFrame; :meth:`Findings.to_frame` is the ``detect`` table.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import names

__all__ = ["CONFIDENCE_COLUMNS", "REASONS", "RESULT_COLUMNS", "Findings"]

# Which rows get a plain-language reason.
REASONS = names.REASONS
# The columns scoring adds, in order.
RESULT_COLUMNS = ("anomaly_score", "is_anomaly", "severity", "cluster", "reason")
# The columns ``confidence=True`` adds after them.
CONFIDENCE_COLUMNS = ("anomaly_probability", "confidence")


@dataclass(frozen=True)
class Findings:
    """Scores, flags, severity, clusters and reasons of scored rows.

    Attributes
    ----------
    scores : ndarray
    flags : ndarray of bool
    tiers : ndarray of int64
        Index into ``tier_names`` of the most severe tier exceeded, -1 for
        none.
    tier_names : list of str
    labels : ndarray of intp
        Nearest cluster.
    reason_rows : ndarray of intp
        Positions of the rows that have a reason, with their
        ``reason_texts``.
    reason_texts : ndarray of object
    index : pandas.Index
        The rows' index (a RangeIndex for array input).
    probability, confidence : ndarray or None
        P(flagged) and the confidence of the flag (:mod:`farout.confidence`),
        when asked for.
    """

    scores: np.ndarray
    flags: np.ndarray
    tiers: np.ndarray
    tier_names: list
    labels: np.ndarray
    reason_rows: np.ndarray
    reason_texts: np.ndarray
    index: pd.Index
    probability: np.ndarray = None
    confidence: np.ndarray = None

    @property
    def columns(self):
        """The names of the :meth:`to_frame` columns, in order."""
        return RESULT_COLUMNS + (CONFIDENCE_COLUMNS if self.confidence is not None else ())

    def to_frame(self):
        """The ``detect`` table: ``anomaly_score``, ``is_anomaly``,
        ``severity``, ``cluster`` and ``reason`` (then ``anomaly_probability``
        and ``confidence`` when computed), indexed like the input."""
        reason = np.full(len(self.scores), "", dtype=object)
        reason[self.reason_rows] = self.reason_texts
        tier_of = np.array([*self.tier_names, None], dtype=object)  # -1 picks None
        values = (self.scores, self.flags, tier_of[self.tiers], self.labels, reason)
        if self.confidence is not None:
            values += (self.probability, self.confidence)
        return pd.DataFrame(dict(zip(self.columns, values, strict=True)), index=self.index)
