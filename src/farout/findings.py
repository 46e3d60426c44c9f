"""Findings: what :meth:`~farout.KMeansAnomalyDetector.detect` reports for
each row, as arrays. The file jobs write them without building a
DataFrame; :meth:`Findings.to_frame` is the ``detect`` table.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["REASONS", "RESULT_COLUMNS", "Findings"]

# Which rows get a plain-language reason.
REASONS = ("flagged", "all", "none")
# The columns scoring adds, in order.
RESULT_COLUMNS = ("anomaly_score", "is_anomaly", "severity", "cluster", "reason")


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
    """

    scores: np.ndarray
    flags: np.ndarray
    tiers: np.ndarray
    tier_names: list
    labels: np.ndarray
    reason_rows: np.ndarray
    reason_texts: np.ndarray
    index: pd.Index

    def to_frame(self):
        """The ``detect`` table: ``anomaly_score``, ``is_anomaly``,
        ``severity``, ``cluster`` and ``reason``, indexed like the input."""
        reason = np.full(len(self.scores), "", dtype=object)
        reason[self.reason_rows] = self.reason_texts
        names = np.array([*self.tier_names, None], dtype=object)  # -1 picks None
        values = (self.scores, self.flags, names[self.tiers], self.labels, reason)
        return pd.DataFrame(dict(zip(RESULT_COLUMNS, values, strict=True)), index=self.index)
