"""Analysts' verdicts on logged predictions, and what they say about the
model: the confirmed rate (precision) of its alerts by tier, version and
any column, over time, the review backlog, and the analysts' agreement.

The table these functions read is an export of the scoring service's log
(``farout feedback export`` or ``GET /v1/feedback/export``): one row per
prediction and analyst verdict (:data:`EXPORT_COLUMNS`); a prediction no
one judged has one row with no verdict.

The rules, in one place:

- Each analyst's latest verdict on a prediction counts (the latest
  ``verdict_at``, then the highest ``feedback_id``); earlier ones are
  history.
- Precision is the share of ``"anomaly"`` among the ``"anomaly"`` and
  ``"normal"`` verdicts on flagged predictions; ``"unsure"`` verdicts are
  counted but left out of it. Several analysts on one prediction give
  several verdicts.
- A flagged prediction is reviewed once any analyst gave any verdict on it,
  ``"unsure"`` included; the rest are the backlog.
- A prediction's label (for recalibration) is the majority of its
  analysts' ``"anomaly"`` / ``"normal"`` verdicts; a tie, or ``"unsure"``
  alone, leaves it unlabelled.
"""

import math
import time
from datetime import datetime, timezone

import numpy as np
import orjson
import pandas as pd

from .agreement import rater_agreement
from .exceptions import InputError

__all__ = [
    "EXPORT_COLUMNS",
    "LOG_GROUPS",
    "MAX_GROUPS",
    "PREDICTION_COLUMNS",
    "UNTIERED",
    "VERDICTS",
    "VERDICT_COLUMNS",
    "check_feedback",
    "latest_verdicts",
    "precision_groups",
    "predictions_of",
    "read_feedback",
    "summarize",
]

VERDICTS = ("anomaly", "normal", "unsure")
#: The tier of a flagged prediction that passed no named tier.
UNTIERED = "untiered"
#: Groups a ``by`` breakdown shows at most (the ones with most alerts).
MAX_GROUPS = 100
#: ``by`` values read from the log row itself; any other is a field of the
#: logged input (an account, a device).
LOG_GROUPS = ("cluster", "severity", "alias", "model_name", "model_version")

PREDICTION_COLUMNS = (
    "prediction_id",
    "request_id",
    "row_index",
    "scored_at",
    "model_name",
    "model_version",
    "alias",
    "shadow",
    "anomaly_score",
    "threshold",
    "is_anomaly",
    "severity",
    "cluster",
    "reason",
    "input",
)
VERDICT_COLUMNS = ("feedback_id", "analyst", "verdict", "note", "verdict_at")
EXPORT_COLUMNS = PREDICTION_COLUMNS + VERDICT_COLUMNS

# columns read as text whatever they look like (an id such as "123e4567"
# would otherwise become a float)
_TEXT = ("prediction_id", "request_id", "model_name", "alias", "severity", "reason", "input")
_TEXT += ("analyst", "verdict", "note")
_NEEDED = ("prediction_id", "scored_at", "anomaly_score", "is_anomaly", "severity", "cluster")
_NEEDED += ("analyst", "verdict", "verdict_at", "feedback_id")


def _iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _share(part, whole):
    return None if whole == 0 else float(part / whole)


def _as_bool(values, name, source):
    if values.dtype == bool:
        return values
    words = (
        values.astype(str).str.lower().map({"true": True, "false": False, "1": True, "0": False})
    )
    if words.isna().any():
        row = int(np.flatnonzero(words.isna().to_numpy())[0])
        raise InputError(f"{source}: row {row} column {name!r} must be true or false.")
    return words.astype(bool)


def check_feedback(frame, source="the feedback export"):
    """The export ``frame`` checked and with its columns' types; errors name
    the column and row."""
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise InputError(
            f"{source} has no column {', '.join(map(repr, missing))}; give a file written by "
            "`farout feedback export` or GET /v1/feedback/export."
        )
    frame = frame.reset_index(drop=True)
    for name in ("is_anomaly", "shadow"):
        if name in frame.columns:
            frame[name] = _as_bool(frame[name], name, source)
    verdict = frame["verdict"]
    bad = verdict.notna() & ~verdict.isin(VERDICTS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{source}: row {row} has the verdict {verdict[row]!r}; a verdict is one of "
            f"{', '.join(VERDICTS)}, or empty for an unreviewed prediction."
        )
    for name in ("scored_at", "anomaly_score", "verdict_at", "feedback_id"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    if frame["anomaly_score"].isna().any():
        row = int(np.flatnonzero(frame["anomaly_score"].isna().to_numpy())[0])
        raise InputError(f"{source}: row {row} has no anomaly_score.")
    return frame


def read_feedback(path):
    """An export file (CSV or Parquet) as a checked DataFrame."""
    from .io import read_table

    frame = read_table(path, dtypes={c: str for c in _TEXT})
    return check_feedback(frame, str(path))


def latest_verdicts(frame):
    """The verdict rows that count: each analyst's latest on each
    prediction (columns ``prediction_id``, ``analyst``, ``verdict``, ...)."""
    votes = frame[frame["verdict"].notna()]
    votes = votes.sort_values(["verdict_at", "feedback_id"], kind="stable")
    return votes.drop_duplicates(["prediction_id", "analyst"], keep="last")


def predictions_of(frame):
    """One row per prediction: its logged columns, the counts of its
    analysts' latest verdicts (``n_anomaly``, ``n_normal``, ``n_unsure``),
    ``reviewed``, and ``label``: 1.0 anomaly, 0.0 normal, NaN unlabelled
    (see the module's rules)."""
    keep = [c for c in PREDICTION_COLUMNS if c in frame.columns]
    preds = frame.drop_duplicates("prediction_id")[keep].set_index("prediction_id")
    votes = latest_verdicts(frame)
    counts = (
        pd.crosstab(votes["prediction_id"], votes["verdict"])
        .reindex(columns=list(VERDICTS), fill_value=0)
        .reindex(preds.index, fill_value=0)
    )
    for verdict in VERDICTS:
        preds[f"n_{verdict}"] = counts[verdict].to_numpy(dtype=np.int64)
    preds["reviewed"] = counts.sum(axis=1).to_numpy() > 0
    a, n = preds["n_anomaly"].to_numpy(), preds["n_normal"].to_numpy()
    preds["label"] = np.where(a > n, 1.0, np.where(n > a, 0.0, np.nan))
    return preds


def _entry(group):
    anomaly, normal = int(group["n_anomaly"].sum()), int(group["n_normal"].sum())
    flagged, reviewed = len(group), int(group["reviewed"].sum())
    return {
        "flagged": flagged,
        "reviewed": reviewed,
        "unreviewed_share": _share(flagged - reviewed, flagged),
        "anomaly": anomaly,
        "normal": normal,
        "unsure": int(group["n_unsure"].sum()),
        "precision": _share(anomaly, anomaly + normal),
    }


def precision_groups(flagged, keys, limit=MAX_GROUPS):
    """``{group: {flagged, reviewed, unreviewed_share, anomaly, normal,
    unsure, precision}}`` of flagged predictions (rows of
    :func:`predictions_of`) grouped by ``keys`` (aligned with them), the
    groups with most alerts first, at most ``limit``."""
    keys = pd.Series(np.asarray(keys, dtype=object), index=flagged.index)
    sizes = keys.value_counts(sort=True)
    return {str(k): _entry(flagged[keys == k]) for k in sizes.index[:limit]}


def _group_keys(flagged, by, source):
    if by in LOG_GROUPS:
        if by not in flagged.columns:
            raise InputError(f"{source} has no column {by!r} to group by.")
        values = flagged[by]
        if by == "severity":
            values = values.fillna(UNTIERED)
        return values.map(lambda v: "missing" if _missing(v) else _plain(v))
    if "input" not in flagged.columns:
        raise InputError(f"{source} has no input column to find {by!r} in.")
    found = [orjson.loads(text).get(by, _ABSENT) for text in flagged["input"]]
    if flagged.shape[0] and all(v is _ABSENT for v in found):
        raise InputError(
            f"no flagged prediction's input has a field {by!r} to group by; use a column "
            f"the rows were scored with, or one of {', '.join(LOG_GROUPS)}.",
        )
    return ["missing" if v is _ABSENT or v is None else _plain(v) for v in found]


_ABSENT = object()


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value):
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if hasattr(value, "item") else value)


def _agreement(votes):
    return rater_agreement(votes["prediction_id"], votes["analyst"], votes["verdict"], VERDICTS)


def _windows(flagged, votes, window):
    """Per window of ``window`` seconds (by scoring time): alerts, review
    and precision beside the analysts' agreement; and the busiest half of
    the windows against the quietest."""
    starts = np.floor(flagged["scored_at"].to_numpy() / window) * window
    vote_start = pd.Series(starts, index=flagged.index).reindex(votes["prediction_id"]).to_numpy()
    rows = []
    for start in np.unique(starts):
        group = flagged[starts == start]
        agreed = _agreement(votes[vote_start == start])
        rows.append(
            {
                "start": _iso(start),
                "end": _iso(start + window),
                **{k: v for k, v in _entry(group).items() if k != "flagged"},
                "alerts": len(group),
                "kappa": agreed["kappa"],
                "observed_agreement": agreed["observed_agreement"],
                "judged_by_several": agreed["predictions"],
            }
        )
    judged = [
        (r, s) for r, s in zip(rows, np.unique(starts), strict=True) if r["judged_by_several"]
    ]
    volume = {"median_alerts": None, "quiet": None, "busy": None}
    if len(judged) >= 2:
        alerts = np.array([r["alerts"] for r, _ in judged])
        median = float(np.median(alerts))
        volume["median_alerts"] = median
        for name, side in (("quiet", alerts <= median), ("busy", alerts > median)):
            chosen = {s for (_, s), keep in zip(judged, side, strict=True) if keep}
            agreed = _agreement(votes[np.isin(vote_start, list(chosen))])
            volume[name] = {
                "windows": len(chosen),
                "alerts_per_window": float(alerts[side].mean()) if side.any() else None,
                "kappa": agreed["kappa"],
                "observed_agreement": agreed["observed_agreement"],
            }
    return rows, volume


def summarize(frame, by=None, window=86400.0, now=None, source="the feedback"):
    """The feedback summary of ``frame`` (an export, or the rows the service
    reads: flagged predictions and any other that has a verdict).

    Returns a JSON-ready dict: counts as ints, fractions in [0, 1] (None
    where nothing backs them): ``flagged``, ``reviewed``,
    ``unreviewed_share``, ``backlog`` (the unreviewed alerts and their age
    in seconds), ``verdicts``, ``precision``, ``precision_by_tier``,
    ``precision_by_model_version``, with ``by`` ``precision_by``,
    ``agreement`` (:func:`~farout.agreement.rater_agreement` over every
    prediction judged more than once), ``windows`` and
    ``agreement_by_volume``.
    """
    if not (isinstance(window, (int, float)) and window > 0 and math.isfinite(window)):
        raise InputError(f"window must be a positive number of seconds, got {window!r}.")
    now = time.time() if now is None else now
    preds = predictions_of(frame)
    votes = latest_verdicts(frame)
    flagged = preds[preds["is_anomaly"].to_numpy(dtype=bool)]
    on_flagged = votes[votes["prediction_id"].isin(flagged.index)]
    waiting = flagged.loc[~flagged["reviewed"].to_numpy(dtype=bool), "scored_at"]
    ages = now - waiting.to_numpy(dtype=np.float64)
    overall = _entry(flagged)
    versions = (
        flagged["model_name"].astype(str) + "/" + flagged["model_version"].astype(int).astype(str)
        if "model_version" in flagged.columns
        else pd.Series("unknown", index=flagged.index)
    )
    windows, volume = _windows(flagged, on_flagged, float(window))
    out = {
        "flagged": overall["flagged"],
        "reviewed": overall["reviewed"],
        "unreviewed_share": overall["unreviewed_share"],
        "backlog": {
            "unreviewed": int(ages.shape[0]),
            "oldest_age_seconds": float(ages.max()) if ages.size else None,
            "median_age_seconds": float(np.median(ages)) if ages.size else None,
        },
        "verdicts": {v: int(overall[v]) for v in VERDICTS},
        "analysts": int(votes["analyst"].nunique()),
        "precision": overall["precision"],
        "precision_by_tier": precision_groups(flagged, flagged["severity"].fillna(UNTIERED)),
        "precision_by_model_version": precision_groups(flagged, versions),
    }
    if by:
        keys = _group_keys(flagged, by, source)
        out["precision_by"] = {"field": by, "groups": precision_groups(flagged, keys)}
        out["precision_by"]["groups_shown_at_most"] = MAX_GROUPS
    out["agreement"] = _agreement(votes)
    out["window_seconds"] = float(window)
    out["windows"] = windows
    out["agreement_by_volume"] = volume
    return out
