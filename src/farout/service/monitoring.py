"""``GET /v1/monitoring``: the served model's live scores, inputs and alert
rate against its own training reference. This module reads the log and the
model; what the numbers mean is the library's :mod:`farout.monitoring`.
"""

import time
from typing import Literal

import numpy as np
import orjson
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..monitoring import MAX_WINDOWS, PERSIST, monitor, reference_of
from ..storms import StormRule
from .errors import Invalid
from .feedback import parse_window
from .predictions import iso, parse_time
from .tables import alert_storms, log, logged

__all__ = ["MAX_ROWS", "Monitoring", "monitoring"]

#: Logged rows one answer reads at most: the latest ones of the range.
MAX_ROWS = 200_000
# The range when since is not given.
_DEFAULT_SPAN = 86400.0

Status = Literal["drift", "stable", "not_enough_rows", "no_reference"]


class Shift(BaseModel):
    """Live values against the training reference (:mod:`farout.shift`)."""

    status: Status = Field(
        description="drift: the test rejects and the PSI reaches 0.1; not_enough_rows: fewer "
        "than 50 live rows; no_reference: the model file keeps none."
    )
    rows: int = Field(description="Live rows compared.")
    reference_rows: int | None = Field(None, description="Training rows in the reference.")
    ks_statistic: float | None = Field(None, ge=0, le=1, description="Numeric: KS distance.")
    p_value: float | None = Field(None, ge=0, le=1, description="KS, or chi-square for categories.")
    psi: float | None = Field(None, ge=0, description="Population stability index.")
    mean_shift_sd: float | None = Field(
        None, description="Numeric: live mean minus training mean, in training sd."
    )
    reference_median: float | None = None
    live_median: float | None = None
    total_variation: float | None = Field(
        None, ge=0, le=1, description="Categorical: half the sum of the shares' differences."
    )
    reference_shares: dict[str, float] | None = None
    live_shares: dict[str, float] | None = None
    message: str | None = Field(None, description="Why there is no verdict, and what to do.")


class FeatureShift(Shift):
    name: str
    kind: Literal["numeric", "categorical"]


class Histogram(BaseModel):
    edges: list[float] = Field(description="Bin edges; the last bin holds every higher score.")
    training_counts: list[int]
    live_counts: list[int]


class ScoreShift(Shift):
    histogram: Histogram | None = None


class Tier(BaseModel):
    name: str
    cut: float


class Threshold(BaseModel):
    cut: float = Field(description="The score above which a row is flagged.")
    tiers: list[Tier] = Field(description="Severity tiers, least severe first.")


class AlertWindow(BaseModel):
    start: str
    end: str
    rows: int
    flagged: int
    alert_rate: float | None = Field(None, ge=0, le=1)
    ratio_to_training: float | None = Field(
        None, ge=0, description="The window's alert rate over the training alert rate."
    )
    by_severity: dict[str, int] = Field(description="Flagged rows by severity tier.")


class AlertRate(BaseModel):
    training: float = Field(ge=0, le=1, description="The share the threshold flags in training.")
    live: float | None = Field(None, ge=0, le=1)
    flagged: int
    window_seconds: float
    windows: list[AlertWindow]


class WindowShift(BaseModel):
    name: str | None = None
    status: Status
    rows: int
    ks_statistic: float | None = None
    p_value: float | None = None
    psi: float | None = None
    mean_shift_sd: float | None = None
    total_variation: float | None = None


class DriftWindow(BaseModel):
    start: str
    end: str
    rows: int
    scores: WindowShift
    features: list[WindowShift]
    drifted: list[str] = Field(description="The features that drifted in this window.")


class RetrainSignal(BaseModel):
    signal: str = Field(description='"scores" or a feature name.')
    windows: int = Field(description="Consecutive drifted windows, up to the latest.")
    since: str
    latest: str = Field(description="The effect sizes in the latest window.")


class Retrain(BaseModel):
    recommended: bool
    reason: str
    persist: int = Field(description="Consecutive drifted windows that recommend a retrain.")
    signals: list[RetrainSignal]


class Reference(BaseModel):
    training_rows: int
    training_scores: int | None = Field(description="Training scores kept in the model file.")
    features: Literal["present", "missing"]


class Model(BaseModel):
    name: str
    version: int
    alias: str | None


class Monitoring(BaseModel):
    """The answer of ``GET /v1/monitoring``."""

    model: Model
    since: str
    until: str
    rows: int = Field(description="Live (non-shadow) rows of this version read.")
    rows_read_at_most: int
    truncated: bool = Field(description="True when the range held more rows than were read.")
    reference: Reference
    scores: ScoreShift
    threshold: Threshold
    features: list[FeatureShift]
    drifted_features: list[str]
    alert_rate: AlertRate
    drift_windows: list[DriftWindow]
    retrain: Retrain
    alert_storm: dict | None = Field(
        None,
        description="Whether the flag rate is in a storm now (the alert worker's rule over "
        "the alert-rate windows: more than `multiple` times the baseline), since when, "
        "and the storms the alert worker recorded.",
    )


def _read(db, name, version, since, until, limit):
    """The latest ``limit`` + 1 live rows of the version in the range,
    oldest first."""
    c = logged
    query = (
        select(c.scored_at, c.anomaly_score, c.is_anomaly, c.severity, c.input)
        .select_from(log)
        .where(
            c.model_name == name,
            c.model_version == version,
            c.shadow.is_(False),
            c.scored_at >= since,
            c.scored_at < until,
        )
        .order_by(c.seq.desc())
        .limit(limit + 1)
    )
    with db.reading() as connection:
        result = connection.execute(query)
        # the driver's plain tuples: SQLAlchemy's rows cost more than the read
        rows = result.cursor.fetchall() if result.cursor is not None else result.all()
    return rows[::-1]


def _inputs(rows, columns):
    """The model's columns of the logged inputs (JSON objects), as a
    DataFrame; a column an input lacks is missing there."""
    parsed = orjson.loads(b"[" + b",".join(r[4].encode() for r in rows) + b"]")
    out = {}
    for column in columns:
        values = [row.get(column["name"]) for row in parsed]
        if column["kind"] == "numeric":
            try:  # None becomes NaN; the scoring door let only numbers through
                values = np.array(values, dtype=np.float64)
            except (TypeError, ValueError):
                values = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        else:
            values = np.array(values, dtype=object)
        out[column["name"]] = values
    return pd.DataFrame(out)


def alert_storm(db, name, since, until):
    """The storms the alert worker recorded for the model over the range
    (``alert_storms``; none when no alerts are configured), newest first."""
    with db.reading() as connection:
        rows = connection.execute(
            select(alert_storms)
            .where(
                alert_storms.c.model_name == name,
                alert_storms.c.started_at < until,
                (alert_storms.c.ended_at.is_(None)) | (alert_storms.c.ended_at >= since),
            )
            .order_by(alert_storms.c.started_at.desc())
            .limit(20)
        ).mappings()
        return [
            {
                "started_at": iso(r["started_at"]),
                "ended_at": None if r["ended_at"] is None else iso(r["ended_at"]),
                "baseline": r["baseline"],
                "rows": r["rows"],
                "flagged": r["flagged"],
            }
            for r in rows
        ]


def monitoring(
    db, registry, model=None, since=None, until=None, window="1h", persist=PERSIST, alerts=None
):
    """The answer of ``GET /v1/monitoring`` (a dict in the shape of
    :class:`Monitoring`)."""
    seconds = parse_window(window)
    if not 1 <= persist <= MAX_WINDOWS:
        raise Invalid(f"persist must be from 1 to {MAX_WINDOWS}, got {persist}.", field="persist")
    end = time.time() if until is None else parse_time(until, "until")
    start = end - _DEFAULT_SPAN if since is None else parse_time(since, "since")
    if not start < end:
        raise Invalid(f"since ({iso(start)}) must come before until ({iso(end)}).", field="since")
    name, version, alias = registry.resolve(model)
    reference = reference_of(registry.load(name, version))
    rows = _read(db, name, version, start, end, MAX_ROWS)
    truncated = len(rows) > MAX_ROWS
    rows = rows[-MAX_ROWS:] if truncated else rows
    log = pd.DataFrame(
        [r[:4] for r in rows], columns=["scored_at", "anomaly_score", "is_anomaly", "severity"]
    )
    log["is_anomaly"] = log["is_anomaly"].astype(bool)  # SQLite's driver gives 0 / 1
    inputs = _inputs(rows, reference.columns) if rows else None
    try:
        out = monitor(
            reference,
            log,
            inputs,
            start,
            end,
            seconds,
            persist,
            storm=alert_storm(db, name, start, end),
            # the alert worker's own rule and baseline, when alerts are on
            rule=None
            if alerts is None
            else StormRule(alerts.storm.multiple, alerts.storm.min_rows),
            baseline=None if alerts is None else alerts.storm.baseline,
        )
    except ValueError as error:  # too many windows
        raise Invalid(str(error), field="window") from None
    return {
        "model": {"name": name, "version": version, "alias": alias},
        "since": iso(start),
        "until": iso(end),
        "rows_read_at_most": MAX_ROWS,
        "truncated": truncated,
        **out,
    }
