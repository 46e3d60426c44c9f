"""Evaluation against known labels.

>>> evaluate([0, 0, 1, 1], [0.1, 0.2, 0.9, 0.3], flags=[False, False, True, False])["recall"]
0.5
"""

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from .exceptions import InputError
from .features.labels import as_anomaly_labels
from .thresholds import cut_table

__all__ = ["as_anomaly_labels", "evaluate", "evaluate_by", "threshold_sweep"]


def evaluate(y_true, scores, *, threshold=None, flags=None, n=None):
    """Metrics of anomaly scores (higher = more anomalous) against labels.

    Parameters
    ----------
    y_true : array-like
        0/1, booleans, or +1/-1 with -1 for anomalies.
    scores : array-like
        Anomaly scores.
    threshold : float or fitted Threshold, optional
        Flag rows whose score is above it.
    flags : array-like of bool, optional
        The flagged rows, when they are known directly (e.g. per-cluster
        cuts); use instead of ``threshold``.
    n : int, optional
        For ``precision_at_n``: the precision of the ``n`` highest scores.
        Defaults to the number of labelled anomalies.

    Returns
    -------
    dict with ``roc_auc``, ``pr_auc`` (average precision),
    ``precision_at_n``, ``n``, ``n_anomalies`` and, when ``threshold`` or
    ``flags`` is given, ``precision``, ``recall``, ``f1``, ``alert_rate``,
    the confusion counts ``tp``, ``fp``, ``fn``, ``tn`` and
    ``confusion_matrix`` ([[tn, fp], [fn, tp]], rows = truth).
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
    top_n = int(truth.sum()) if n is None else int(n)
    top = np.argsort(-scores, kind="stable")[:top_n]
    result = {
        "n": int(truth.shape[0]),
        "n_anomalies": int(truth.sum()),
        "roc_auc": float(roc_auc_score(truth, scores)),
        "pr_auc": float(average_precision_score(truth, scores)),
        "precision_at_n": float(truth[top].mean()) if top_n else 0.0,
    }
    if threshold is not None:
        if flags is not None:
            raise InputError("give threshold or flags, not both.")
        flags = threshold.flag(scores) if hasattr(threshold, "flag") else scores > float(threshold)
    if flags is not None:
        flagged = np.asarray(flags, dtype=bool).ravel()
        matrix = confusion_matrix(truth, flagged, labels=[False, True])
        (tn, fp), (fn, tp) = matrix.tolist()
        precision, recall, f1, _ = precision_recall_fscore_support(
            truth, flagged, average="binary", zero_division=0
        )
        result.update(
            precision=float(precision),
            recall=float(recall),
            f1=float(f1),
            alert_rate=float(flagged.mean()),
            tp=tp,
            fp=fp,
            fn=fn,
            tn=tn,
            confusion_matrix=matrix.tolist(),
        )
    return result


def threshold_sweep(y_true, scores, *, fp_cost=None, fn_cost=None):
    """Precision, recall, F1, alert rate (and expected cost, given costs) at
    every distinct cut, flagging ``score > cut``.

    Returns a DataFrame, highest cut (no alerts) first.

    >>> sweep = threshold_sweep([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3], fp_cost=1, fn_cost=10)
    >>> sweep[["cut", "flagged", "recall", "expected_cost"]].to_dict("list")["expected_cost"]
    [20.0, 10.0, 11.0, 1.0, 2.0]
    """
    truth = as_anomaly_labels(y_true)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    table = pd.DataFrame(cut_table(truth, scores))
    flagged = table["tp"] + table["fp"]
    positives = max(int(truth.sum()), 1)
    table["flagged"] = flagged
    table["precision"] = np.where(flagged > 0, table["tp"] / flagged.clip(lower=1), np.nan)
    table["recall"] = table["tp"] / positives
    p, r = table["precision"].fillna(0.0), table["recall"]
    table["f1"] = np.where(p + r > 0, 2 * p * r / (p + r).where(p + r > 0, 1.0), 0.0)
    table["alert_rate"] = flagged / truth.shape[0]
    if fp_cost is not None or fn_cost is not None:
        table["expected_cost"] = (
            float(fp_cost or 0.0) * table["fp"] + float(fn_cost or 0.0) * table["fn"]
        )
    return table


def evaluate_by(y_true, scores, groups, *, flags=None, bins=10, max_groups=20):
    """The same metrics per subgroup (region, account type, machine line), to
    show where a detector is weak.

    A numeric ``groups`` column with more than ``max_groups`` distinct
    values (an amount, a temperature) is cut into ``bins`` ranges of about
    equal counts, named by their interval, rather than one group per value.

    Returns a DataFrame indexed by group with ``n``, ``n_anomalies``,
    ``roc_auc`` and ``pr_auc`` (NaN where a group holds one class only) and,
    given ``flags``, ``alert_rate``, ``precision`` and ``recall``. Sorted by
    ROC-AUC, weakest first.
    """
    truth = as_anomaly_labels(y_true)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    groups = pd.Series(np.asarray(groups).ravel(), name=getattr(groups, "name", None))
    if not len(truth) == len(scores) == len(groups):
        raise InputError(f"{len(truth)} labels, {len(scores)} scores and {len(groups)} groups.")
    if pd.api.types.is_numeric_dtype(groups) and groups.nunique() > max_groups:
        groups = pd.qcut(groups, bins, duplicates="drop").astype(str)
    flagged = None if flags is None else np.asarray(flags, dtype=bool).ravel()
    rows = {}
    for name, index in groups.groupby(groups, sort=True, dropna=False).indices.items():
        t, s = truth[index], scores[index]
        both = t.any() and not t.all()
        row = {
            "n": len(index),
            "n_anomalies": int(t.sum()),
            "roc_auc": float(roc_auc_score(t, s)) if both else np.nan,
            "pr_auc": float(average_precision_score(t, s)) if both else np.nan,
        }
        if flagged is not None:
            f = flagged[index]
            row["alert_rate"] = float(f.mean())
            row["precision"] = float(t[f].mean()) if f.any() else np.nan
            row["recall"] = float(f[t].mean()) if t.any() else np.nan
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis(groups.name or "group")
    return table.sort_values("roc_auc", na_position="last")
