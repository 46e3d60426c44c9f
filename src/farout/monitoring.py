"""Monitoring a served model: its live scores and inputs against the
training data it keeps in its own file, its alert rate over time, and
whether drift has lasted long enough to retrain.

The reference is the model's: ``score_reference_`` (the sorted training
scores) and ``feature_reference_`` (each column's training distribution,
:mod:`farout.features.reference`), so monitoring answers from the first
live request. The comparisons are :mod:`farout.shift`'s (KS and PSI, the
chi-square test for categories), run over the whole range and over each
time window. The tests of one window (the scores and every column) share
``alpha`` (Bonferroni), so a model with many columns is not called drifted
by chance.

A retrain is recommended when the scores or a column have drifted in each
of the last ``persist`` windows that had enough rows to judge (windows with
too few rows neither break nor extend a run): one odd hour is noise, a
shift that lasts is a changed world.

Pure: a model and tables in, a JSON-ready dict out. The service reads the
log (:mod:`farout.service.monitoring`).
"""

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .shift import MIN_ROWS, categorical_shift, numeric_shift
from .storms import StormRule, storm_windows
from .summary import flag_rate

__all__ = ["MAX_WINDOWS", "PERSIST", "Reference", "monitor", "reference_of"]

#: Windows one answer may hold.
MAX_WINDOWS = 1000
#: Consecutive drifted windows that make a retrain recommendation.
PERSIST = 3
# Bins of the score histogram the dashboard draws.
_HISTOGRAM_BINS = 40


@dataclass
class Reference:
    """What monitoring compares the log with, read from a fitted model."""

    scores: object  # sorted training scores, or None in files without them
    features: object  # a FeatureReference, or None in files without it
    columns: list  # the model's input columns (name, kind)
    threshold: float
    tiers: list  # (name, cut), least severe first
    training_alert_rate: float
    training_rows: int


def reference_of(model):
    """The :class:`Reference` of a fitted detector (or of the detector a
    secondary check confirms)."""
    det = model.__dict__.get("detector_", model)
    found = det.__dict__.get("score_reference_")
    scores = None
    if found is not None:
        scores, labels = found
        rate = float(det.threshold_.flag(scores, labels).mean()) if scores.size else 0.0
    else:
        rate = float(flag_rate(det.training_summary_)[0])
    return Reference(
        scores=scores,
        features=det.__dict__.get("feature_reference_"),
        columns=[{"name": c["name"], "kind": c["kind"]} for c in det.feature_schema()],
        threshold=float(det.threshold_.cut_),
        tiers=[(name, float(t.cut_)) for name, t in det.tiers_],
        training_alert_rate=rate,
        training_rows=int(det.training_summary_.get("n_rows", 0)),
    )


def _iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _live_values(inputs, column):
    if inputs is None or column["name"] not in inputs.columns:
        return None
    raw = inputs[column["name"]]
    if column["kind"] == "numeric":
        return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = raw.isna().to_numpy()
    values = raw.astype(str).to_numpy(dtype=object)  # categories are compared as text
    values[missing] = None
    return values


def _feature_shift(reference, column, values, alpha):
    """One column's shift, or why it cannot be judged."""
    out = {"name": column["name"], "kind": column["kind"]}
    if reference.features is None:
        return {
            **out,
            "status": "no_reference",
            "rows": 0 if values is None else int(len(values)),
            "message": "the model file keeps no feature reference (it was saved before farout "
            "0.3 kept one); refit and save the model to monitor its features.",
        }
    if values is None:
        values = np.empty(0, dtype=np.float64 if column["kind"] == "numeric" else object)
    entry = reference.features.column(column["name"])
    if column["kind"] == "numeric":
        return {**out, **numeric_shift(entry["values"], values, alpha)}
    return {
        **out,
        **categorical_shift(entry["categories"], entry["counts"], entry["missing"], values, alpha),
    }


def _score_shift(reference, scores, alpha):
    if reference.scores is None:
        return {
            "status": "no_reference",
            "rows": int(len(scores)),
            "message": "the model file keeps no training scores (it was saved by farout 0.2); "
            "refit and save the model to monitor its scores.",
        }
    return numeric_shift(reference.scores, scores, alpha)


def _histogram(reference, scores):
    """Shares of training and live scores in equal bins; the last bin
    holds every score above it."""
    parts = [s for s in (reference.scores, scores) if s is not None and len(s)]
    if not parts:
        return None
    low = min(float(np.min(p)) for p in parts)
    high = max(float(np.quantile(p, 0.995)) for p in parts)
    high = max(high, reference.threshold, *(c for _, c in reference.tiers))
    if not high > low:
        high = low + 1.0
    edges = np.linspace(low, high, _HISTOGRAM_BINS + 1)

    def counts(values):
        if values is None or not len(values):
            return [0] * _HISTOGRAM_BINS
        where = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, _HISTOGRAM_BINS - 1)
        return np.bincount(where, minlength=_HISTOGRAM_BINS).astype(int).tolist()

    return {
        "edges": edges.tolist(),
        "training_counts": counts(reference.scores),
        "live_counts": counts(scores),
    }


def _windows(start, stop, window):
    first = math.floor(start / window) * window
    n = max(1, math.ceil((stop - first) / window))
    if n > MAX_WINDOWS:
        raise ValueError(
            f"the range holds {n:,} windows of {window:g} s, more than the {MAX_WINDOWS:,} one "
            "answer may hold; take a longer window or a shorter range."
        )
    return first + window * np.arange(n)


def _alert_windows(log, starts, window, reference):
    rate = reference.training_alert_rate
    codes = np.floor((log["scored_at"].to_numpy() - starts[0]) / window).astype(np.int64)
    flagged = log["is_anomaly"].to_numpy(dtype=bool)
    severity = log["severity"].astype(object).where(log["severity"].notna(), "untiered")
    out = []
    for i, start in enumerate(starts):
        own = codes == i
        rows, hits = int(own.sum()), int(flagged[own].sum())
        by = severity[own & flagged].value_counts()
        out.append(
            {
                "start": _iso(start),
                "end": _iso(start + window),
                "rows": rows,
                "flagged": hits,
                "alert_rate": hits / rows if rows else None,
                "ratio_to_training": (hits / rows / rate) if rows and rate > 0 else None,
                "by_severity": {str(k): int(v) for k, v in by.items()},
            }
        )
    return out


def _signal_effect(found):
    if found.get("ks_statistic") is not None:
        text = f"KS {found['ks_statistic']:.2f}, PSI {found['psi']:.2f}"
        if found.get("mean_shift_sd") is not None:
            text += f", mean {found['mean_shift_sd']:+.1f} training sd"
        return text
    return f"PSI {found['psi']:.2f}, total variation {found['total_variation']:.2f}"


def _retrain(drift_windows, window, persist):
    judged = [w for w in drift_windows if w["scores"]["status"] != "not_enough_rows"]
    signals = ["scores", *(f["name"] for f in (judged[-1]["features"] if judged else []))]
    runs = []
    for signal in signals:
        length = 0
        for w in reversed(judged):
            found = w["scores"] if signal == "scores" else _named(w["features"], signal)
            if found is None or found["status"] != "drift":
                break
            length += 1
        if length >= persist:
            latest = judged[-1]
            found = latest["scores"] if signal == "scores" else _named(latest["features"], signal)
            runs.append(
                {
                    "signal": signal,
                    "windows": length,
                    "since": judged[-length]["start"],
                    "latest": _signal_effect(found),
                }
            )
    span = f"{window:g} s" if window < 60 else _span(window)
    if runs:
        named = ", ".join("the scores" if r["signal"] == "scores" else r["signal"] for r in runs)
        longest = max(r["windows"] for r in runs)
        since = min(r["since"] for r in runs)
        details = "; ".join(f"{r['signal']}: {r['latest']}" for r in runs)
        reason = (
            f"Retrain: {named} drifted from the training data in each of the last {longest} "
            f"windows of {span} with enough rows to judge, since {since} ({details}, in the "
            "latest window)."
        )
    elif not judged:
        reason = (
            f"No recommendation: no window of {span} has the {MIN_ROWS} live rows a verdict "
            "needs yet."
        )
    else:
        reason = (
            f"No retrain: neither the scores nor any feature drifted in {persist} consecutive "
            f"windows of {span} ({len(judged)} judged)."
        )
    return {"recommended": bool(runs), "reason": reason, "persist": persist, "signals": runs}


def _span(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g} s"


def _named(features, name):
    for f in features:
        if f["name"] == name:
            return f
    return None


def _compact(found):
    keep = ("status", "rows", "ks_statistic", "p_value", "psi", "mean_shift_sd")
    return {k: found[k] for k in (*keep, "total_variation", "name") if k in found}


def _storm(windows, baseline, rule, recorded):
    """The storm rule (:mod:`farout.storms`, the alert worker's own) over
    the alert-rate windows: whether the latest judged window is a storm,
    since when, and the storms the alert worker recorded (None without
    alerts)."""
    if baseline is None:  # a model file that keeps no training scores
        return {
            "active": None,
            "since": None,
            "storm_windows": None,
            "rule": None,
            "recorded": recorded,
        }
    marked = storm_windows(
        [(i, w["rows"], w["flagged"]) for i, w in enumerate(windows)], baseline, rule
    )
    stormy = [m.start for m in marked if m.storm]
    active = bool(marked) and marked[-1].storm
    began = None
    if active:
        began = max(m.start for m in marked if m.event == "start")
    return {
        "active": active,
        "since": windows[began]["start"] if began is not None else None,
        "storm_windows": len(stormy),
        "rule": {
            "multiple": rule.multiple,
            "min_rows": rule.min_rows,
            "baseline": baseline,
            "storm_rate": rule.threshold(baseline),
        },
        "recorded": recorded,
    }


def monitor(
    reference,
    log,
    inputs,
    since,
    until,
    window,
    persist=PERSIST,
    alpha=0.01,
    storm=None,
    rule=None,
    baseline=None,
):
    """The monitoring answer over the logged rows scored in ``[since, until)``.

    Parameters
    ----------
    reference : Reference
        From :func:`reference_of`.
    log : DataFrame
        The logged rows: ``scored_at`` (Unix seconds), ``anomaly_score``,
        ``is_anomaly``, ``severity``.
    inputs : DataFrame or None
        The same rows' input columns (None: the inputs were not read).
    since, until : float
        Unix seconds.
    window : float
        Seconds a window spans; windows start at multiples of it.
    persist : int
        Consecutive drifted windows that recommend a retrain.
    alpha : float
        The false-alarm rate of one window's tests, shared among them.
    storm : dict or None
        The alert-storm state, passed through as ``alert_storm``.

    Returns
    -------
    dict
        JSON-ready: ``rows``, ``reference``, ``scores`` (the drift and a
        ``histogram``), ``threshold``, ``features``, ``alert_rate`` (with
        ``windows``), ``drift_windows``, ``retrain`` and ``alert_storm``.
    """
    starts = _windows(since, until, window)
    scores = log["anomaly_score"].to_numpy(dtype=np.float64)
    times = log["scored_at"].to_numpy(dtype=np.float64)
    columns = reference.columns
    shared = alpha / (1 + len(columns))
    values = {c["name"]: _live_values(inputs, c) for c in columns}
    features = [_feature_shift(reference, c, values[c["name"]], shared) for c in columns]
    score_drift = _score_shift(reference, scores, shared)
    drift_windows = []
    codes = np.floor((times - starts[0]) / window).astype(np.int64)
    for i, start in enumerate(starts):
        own = codes == i
        rows = int(own.sum())
        entry = {"start": _iso(start), "end": _iso(start + window), "rows": rows}
        if rows < MIN_ROWS:
            entry["scores"] = {"status": "not_enough_rows", "rows": rows}
            entry["features"], entry["drifted"] = [], []
        else:
            entry["scores"] = _compact(_score_shift(reference, scores[own], shared))
            entry["features"] = [
                _compact(
                    _feature_shift(
                        reference,
                        c,
                        None if values[c["name"]] is None else values[c["name"]][own],
                        shared,
                    )
                )
                for c in columns
            ]
            entry["drifted"] = [f["name"] for f in entry["features"] if f["status"] == "drift"]
        drift_windows.append(entry)
    flagged = int(log["is_anomaly"].to_numpy(dtype=bool).sum())
    n = int(len(log))
    alert_windows = _alert_windows(log, starts, window, reference)
    return {
        "rows": n,
        "reference": {
            "training_rows": reference.training_rows,
            "training_scores": None if reference.scores is None else int(len(reference.scores)),
            "features": "missing" if reference.features is None else "present",
        },
        "scores": {**score_drift, "histogram": _histogram(reference, scores)},
        "threshold": {
            "cut": reference.threshold,
            "tiers": [{"name": name, "cut": cut} for name, cut in reference.tiers],
        },
        "features": features,
        "drifted_features": [f["name"] for f in features if f["status"] == "drift"],
        "alert_rate": {
            "training": reference.training_alert_rate,
            "live": flagged / n if n else None,
            "flagged": flagged,
            "window_seconds": float(window),
            "windows": alert_windows,
        },
        "drift_windows": drift_windows,
        "retrain": _retrain(drift_windows, window, persist),
        "alert_storm": _storm(
            alert_windows,
            reference.training_alert_rate if baseline is None else baseline,
            StormRule() if rule is None else rule,
            storm,
        ),
    }
