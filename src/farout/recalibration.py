"""A new threshold for a fitted detector from analysts' verdicts on its
logged scores: the same clusters, a new cut, fitted by farout's own
threshold objects.

What the labels mean: verdicts exist only for the rows analysts reviewed,
and they review mostly what was flagged. So

- ``precision`` (:class:`~farout.thresholds.TargetPrecision`) and ``cost``
  (:class:`~farout.thresholds.CostOptimal`) are fitted on the reviewed,
  labelled rows alone: the lowest cut whose precision *among reviewed rows*
  reaches the target, or the cut cheapest on them. Unreviewed rows are not
  taken as normal; so the cut cannot move below the lowest reviewed score
  (nothing there was judged).
- ``alert_rate`` (:class:`~farout.thresholds.Contamination`) is fitted on
  every logged score, reviewed or not: the cut that flags that share.

Each target needs at least :data:`MIN_VERDICTS` flagged rows with a label
(anomaly or normal), or it is refused: a cut moved by a handful of
verdicts is noise.
"""

import hashlib

import numpy as np
from sklearn.base import clone

from .exceptions import InputError
from .feedback import predictions_of
from .thresholds import Contamination, CostOptimal, TargetPrecision

__all__ = [
    "MIN_VERDICTS",
    "TARGETS",
    "NotEnoughFeedback",
    "describe_feedback",
    "feedback_digest",
    "recalibrate",
    "recalibrate_on_export",
    "target_threshold",
]

#: Flagged predictions with a label a recalibration needs at least.
MIN_VERDICTS = 30
TARGETS = ("precision", "cost", "alert_rate")


class NotEnoughFeedback(InputError):
    """Too few verdicts back the target; ``labelled`` and ``needed`` say how
    many there are and must be."""

    def __init__(self, message, labelled, needed):
        super().__init__(message)
        self.labelled, self.needed = labelled, needed


def _number(target, name, value, low, high, low_open=True):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise InputError(f"target {target!r} needs {name}, a number; got {value!r}.")
    ok = (low < value if low_open else low <= value) and value <= high
    if not ok or not np.isfinite(value):
        bound = "(" if low_open else "["
        raise InputError(f"{name} must be in {bound}{low}, {high}] for {target!r}, got {value!r}.")
    return float(value)


def target_threshold(target, value=None, fp_cost=None, fn_cost=None):
    """The threshold object a target names; errors name the parameter."""
    if target == "precision":
        return TargetPrecision(_number(target, "value", value, 0, 1))
    if target == "cost":
        return CostOptimal(
            fp_cost=_number(target, "fp_cost", fp_cost, 0, np.inf, low_open=False),
            fn_cost=_number(target, "fn_cost", fn_cost, 0, np.inf, low_open=False),
        )
    if target == "alert_rate":
        rate = _number(target, "value", value, 0, 0.5)
        if rate >= 0.5:
            raise InputError(f"value must be below 0.5 for 'alert_rate', got {value!r}.")
        return Contamination(rate)
    raise InputError(f"target must be one of {', '.join(TARGETS)}, got {target!r}.")


def _precision(labels, flags):
    judged = flags & ~np.isnan(labels)
    return None if not judged.any() else float(labels[judged].mean())


def recalibrate(detector, scores, clusters, flagged, labels, threshold):
    """A copy of ``detector`` with its threshold refitted; the detector
    itself is left as it is.

    Parameters
    ----------
    detector : KMeansAnomalyDetector
        The model whose scores these are.
    scores, clusters : array-like
        Its logged scores and nearest clusters.
    flagged : array-like of bool
        Whether each row was flagged when it was scored (what analysts saw).
    labels : array-like of float
        1.0 anomaly, 0.0 normal, NaN unlabelled (unreviewed, unsure, tied).
    threshold : Threshold
        From :func:`target_threshold`.

    Returns ``(new_detector, details)``; ``details`` is JSON-ready: the
    counts that backed the fit, the cut before and after, and the reviewed
    precision and the alert rate at each.

    Raises
    ------
    NotEnoughFeedback
        Fewer than :data:`MIN_VERDICTS` flagged rows have a label.
    """
    scores = np.asarray(scores, dtype=np.float64)
    clusters = np.asarray(clusters, dtype=np.intp)
    flagged = np.asarray(flagged, dtype=bool)
    labels = np.asarray(labels, dtype=np.float64)
    known = ~np.isnan(labels)
    backing = int((known & flagged).sum())
    if backing < MIN_VERDICTS:
        raise NotEnoughFeedback(
            f"only {backing} flagged predictions have a verdict of anomaly or normal; a "
            f"recalibration needs at least {MIN_VERDICTS}. Review more alerts (POST "
            "/v1/feedback; GET /v1/feedback/summary shows the backlog) and try again.",
            backing,
            MIN_VERDICTS,
        )
    fitted = clone(threshold)
    if isinstance(threshold, Contamination):
        if scores.shape[0] * threshold.contamination < MIN_VERDICTS:
            raise NotEnoughFeedback(
                f"an alert rate of {threshold.contamination} over {scores.shape[0]:,} logged "
                f"scores flags fewer than {MIN_VERDICTS} rows, too few to place a cut; score "
                "more rows or ask for a higher rate.",
                int(scores.shape[0] * threshold.contamination),
                MIN_VERDICTS,
            )
        fitted.fit(scores, clusters, detector.n_clusters_)
    else:
        fitted.fit(scores[known], clusters[known], detector.n_clusters_, y=labels[known] > 0.5)
    new = type(detector).from_state(detector.get_state())
    before = detector.threshold_.flag(scores, clusters)
    after = fitted.flag(scores, clusters)
    new.threshold_ = fitted
    new.offset_ = -fitted.cut_
    fitted_on = scores.shape[0] if isinstance(threshold, Contamination) else int(known.sum())
    new.training_summary_ = {
        **detector.training_summary_,
        "threshold_rows": fitted_on,
        "threshold_flagged_fraction": float(
            after.mean() if isinstance(threshold, Contamination) else after[known].mean()
        ),
    }
    details = {
        "threshold": repr(fitted),
        "cut": float(fitted.cut_),
        "previous_cut": float(np.median(detector.threshold_.cuts(clusters)))
        if scores.size
        else None,
        "rows": int(scores.shape[0]),
        "labelled": int(known.sum()),
        "flagged_labelled": backing,
        "anomaly": int((labels[known] > 0.5).sum()),
        "normal": int((labels[known] <= 0.5).sum()),
        "reviewed_precision_before": _precision(labels, before),
        "reviewed_precision_after": _precision(labels, after),
        "alert_rate_before": float(before.mean()),
        "alert_rate_after": float(after.mean()),
    }
    return new, details


def feedback_digest(votes):
    """SHA-256 over the verdicts used (``feedback_id``, prediction, analyst,
    verdict), in id order: names exactly which feedback a version came
    from."""
    digest = hashlib.sha256()
    for row in sorted(votes, key=lambda r: (r[0] is None, r[0], r[1], r[2])):
        digest.update(("\x1f".join(map(str, row)) + "\n").encode())
    return digest.hexdigest()


def recalibrate_on_export(detector, frame, threshold):
    """:func:`recalibrate` offline, on an export (:func:`~farout.feedback.read_feedback`):
    the logged inputs are scored again by ``detector`` (so its own scores
    are used, whichever version logged them), the flags and verdicts are
    the logged ones. Returns ``(new_detector, details)``; ``details`` adds
    ``feedback``: the counts, time range and digest of the verdicts used.
    """
    import orjson
    import pandas as pd

    from .feedback import latest_verdicts

    if "input" not in frame.columns:
        raise InputError("the export has no input column: the rows cannot be scored again.")
    preds = predictions_of(frame)
    rows = pd.DataFrame([orjson.loads(text) for text in preds["input"]], index=preds.index)
    names = [c["name"] for c in detector.feature_schema()]
    absent = [n for n in names if n not in rows.columns]
    if absent:
        raise InputError(
            f"the export's inputs have no column {', '.join(map(repr, absent))}, which the "
            "model needs: was it exported from another model's log?"
        )
    found = detector.detection(rows[names])
    new, details = recalibrate(
        detector, found.scores, found.labels, preds["is_anomaly"], preds["label"], threshold
    )
    votes = latest_verdicts(frame)
    details["feedback"] = describe_feedback(votes, preds)
    return new, details


def describe_feedback(votes, preds):
    """The provenance of a recalibration's feedback: counts, the time range
    of the verdicts and of the predictions, and a digest of the verdicts."""
    times = votes["verdict_at"].to_numpy(dtype=np.float64)
    scored = preds["scored_at"].to_numpy(dtype=np.float64)
    ids = votes["feedback_id"].to_numpy(dtype=np.float64)
    return {
        "verdicts": int(len(votes)),
        "analysts": int(votes["analyst"].nunique()),
        "predictions": int(len(preds)),
        "first_verdict_at": float(np.nanmin(times)) if times.size else None,
        "last_verdict_at": float(np.nanmax(times)) if times.size else None,
        "scored_from": float(scored.min()) if scored.size else None,
        "scored_until": float(scored.max()) if scored.size else None,
        "max_feedback_id": int(np.nanmax(ids)) if ids.size and not np.isnan(ids).all() else None,
        "sha256": feedback_digest(
            zip(
                [None if np.isnan(i) else int(i) for i in ids],
                votes["prediction_id"],
                votes["analyst"],
                votes["verdict"],
                strict=True,
            )
        ),
    }
