"""Evaluation against known labels.

>>> evaluate([0, 0, 1, 1], [0.1, 0.2, 0.9, 0.3], flags=[False, False, True, False])["recall"]
0.5
"""

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from .exceptions import InputError

__all__ = ["as_anomaly_labels", "evaluate"]


def as_anomaly_labels(y_true):
    """Boolean array, True for anomalies, from labels given as 0/1, booleans,
    or scikit-learn's outlier convention (+1 normal, -1 anomaly)."""
    y = pd.Series(np.asarray(y_true).ravel())
    if y.isna().any():
        row = int(np.flatnonzero(y.isna().to_numpy())[0])
        raise InputError(f"labels have missing values (first at row {row}); fill or drop them.")
    if y.dtype == bool:
        return y.to_numpy()
    try:
        values = set(pd.unique(y.astype(np.float64)))
    except (TypeError, ValueError):
        raise InputError(
            "labels must be 0/1, True/False or +1/-1 (-1 = anomaly); got values such as "
            f"{list(pd.unique(y))[:5]!r}."
        ) from None
    numeric = y.astype(np.float64).to_numpy()
    if values <= {0.0, 1.0}:
        return numeric == 1.0
    if values <= {-1.0, 1.0}:
        return numeric == -1.0
    raise InputError(
        "labels must be 0/1, True/False or +1/-1 (-1 = anomaly); got the values "
        f"{sorted(values)[:5]}."
    )


def evaluate(y_true, scores, *, flags=None):
    """Metrics of anomaly scores (higher = more anomalous) against labels.

    Parameters
    ----------
    y_true : array-like
        0/1, booleans, or +1/-1 with -1 for anomalies.
    scores : array-like
        Anomaly scores.
    flags : array-like of bool, optional
        The rows the detector flags; needed for precision, recall, F1 and
        the confusion counts.

    Returns
    -------
    dict with ``roc_auc``, ``pr_auc`` (average precision), ``n``,
    ``n_anomalies`` and, when ``flags`` is given, ``precision``, ``recall``,
    ``f1``, ``alert_rate``, ``tp``, ``fp``, ``fn``, ``tn``.
    """
    truth = as_anomaly_labels(y_true)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.shape[0] != truth.shape[0]:
        raise InputError(f"{truth.shape[0]} labels but {scores.shape[0]} scores.")
    if truth.all() or not truth.any():
        raise InputError(
            "the labels hold only one class; ROC-AUC and PR-AUC need both normal rows "
            "and anomalies."
        )
    result = {
        "n": int(truth.shape[0]),
        "n_anomalies": int(truth.sum()),
        "roc_auc": float(roc_auc_score(truth, scores)),
        "pr_auc": float(average_precision_score(truth, scores)),
    }
    if flags is not None:
        flagged = np.asarray(flags, dtype=bool).ravel()
        tp = int((flagged & truth).sum())
        fp = int((flagged & ~truth).sum())
        fn = int((~flagged & truth).sum())
        tn = int((~flagged & ~truth).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result.update(
            precision=precision,
            recall=recall,
            f1=f1,
            alert_rate=float(flagged.mean()),
            tp=tp,
            fp=fp,
            fn=fn,
            tn=tn,
        )
    return result
