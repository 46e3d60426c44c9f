"""The training summary a model keeps: quantiles of its training scores and
the share of rows its threshold flags, and, once the threshold is refitted,
the share it flags where it was refitted. Read by ``info`` and the report
straight from a model file, so this module needs NumPy only.
"""

import numpy as np

__all__ = ["flag_rate", "training_summary", "with_threshold_rate"]


def training_summary(scores, labels, threshold):
    """Quantiles of the training scores and the share the threshold flags."""
    quantiles = (0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)
    values = np.quantile(scores, quantiles)
    return {
        "n_rows": int(scores.shape[0]),
        "mean": float(scores.mean()),
        "std": float(scores.std()),
        **{f"q{q:g}": float(v) for q, v in zip(quantiles, values, strict=True)},
        "flagged_fraction": float(threshold.flag(scores, labels).mean()),
    }


def with_threshold_rate(summary, threshold, found):
    """The training summary with the share that a refitted ``threshold``
    flags among the rows ``found`` (a Detection) it was fitted on."""
    flagged = float(threshold.flag(found.scores, found.labels).mean())
    return {**summary, "threshold_rows": len(found.scores), "threshold_flagged_fraction": flagged}


def flag_rate(summary):
    """``(fraction, rows, where)``: the share of rows the model's current
    threshold flags, and on which rows that was measured: the training rows,
    or, once ``fit_threshold`` refitted the cut, the rows it was fitted on
    (the training figure then belongs to a cut that is gone)."""
    if "threshold_rows" in summary:
        rows = summary["threshold_rows"]
        return summary["threshold_flagged_fraction"], rows, "rows the threshold was fitted on"
    return (
        summary["flagged_fraction"],
        summary.get("n_rows_fitted", summary["n_rows"]),
        "training rows",
    )
