"""Retraining a registered model with gates: the window collected from the
prediction log (or a file), the new version judged by
:func:`farout.retraining.retrain_detector`, and the registry told the
outcome. One implementation behind three doors: ``farout retrain``,
``POST /v1/models/{name}/retrain`` and :func:`retrain` (``farout.retrain``).

What the log gives: the inputs of the model's non-shadow predictions
scored in ``[since, until)``, oldest first, with each analyst's latest
verdict (:mod:`farout.feedback`). A row any analyst's latest verdict calls
``"anomaly"`` is kept out of the fit (a doubt is enough to keep it out of
what "normal" learns from); the labels for precision are the majority of
the verdicts, as everywhere in farout.

What the registry gets: a version that passes is registered and set as
``challenger``; one that fails is stored with status ``rejected``; both
record in their provenance the window, the limits, the measured values and
the gates failed. Champion is never moved here.
"""

import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field

from ..exceptions import FaroutError, InputError
from ..feedback import predictions_of
from ..gates import GateError, Gates, make_gates, read_gates
from ..persistence import write_state
from ..retraining import AuditFailed, TooFewRows, Window, gate_table, retrain_detector
from .errors import Conflict, Invalid, NotFound
from .feedback import parse_window, read_rows
from .predictions import iso, parse_time

__all__ = [
    "AuditRefused",
    "Rejected",
    "RetrainOutcome",
    "RetrainRequest",
    "collect",
    "file_window",
    "gates_of",
    "retrain",
    "retrain_from_log",
    "retrain_version",
    "since_time",
]


class RetrainRequest(BaseModel):
    """The window of the log to learn from, and the gates."""

    model_config = ConfigDict(extra="forbid")
    since: str | float = Field(
        description="Predictions scored from then: ISO 8601, Unix seconds, or a span back from "
        "now such as 30d."
    )
    until: str | float | None = Field(None, description="Predictions scored before then.")
    gates: dict | None = Field(
        None,
        description="min_rows, min_precision, max_alert_rate_change, max_score_drift, "
        "min_labelled; null turns a gate off. Unnamed ones keep their defaults.",
    )
    holdout: float = Field(0.25, description="Share of the window held out, latest first.")


class Rejected(FaroutError):
    """The new version failed a gate (the command line's exit code 3)."""

    exit_code = 3


class AuditRefused(Invalid):
    """The window failed its audit: a 422 whose body holds the problems
    (with their rows, and for the log their prediction ids) and the audit."""

    code = "audit_failed"
    report = None


def since_time(value, field="since", now=None):
    """``since`` as Unix seconds: an ISO 8601 time, Unix seconds, or a span
    back from now (``30d``, ``4w``, ``12h``)."""
    try:
        return parse_time(value, field)
    except Invalid:
        if isinstance(value, str) and value.strip()[-1:].lower() in "smhdw":
            try:
                return (time.time() if now is None else now) - parse_window(value)
            except Invalid:
                pass
        raise Invalid(
            f"{field} must be an ISO 8601 time such as 2026-12-03T14:00:00Z, Unix seconds, or "
            f"a span back from now such as 30d; got {value!r}.",
            field=field,
        ) from None


def collect(db, detector, name, since, until=None):
    """The :class:`~farout.retraining.Window` of ``name``'s logged inputs
    (non-shadow) scored in ``[since, until)``: the model's columns (a
    field no row has is a column missing in every row), the times, the
    labels and the rows marked as anomalies."""
    start = since_time(since)
    end = None if until is None else since_time(until, "until")
    frame = read_rows(db, start, end, name, shadow=False, reviewed=False, with_input=True)
    if frame.empty:
        raise Invalid(
            f"model {name!r} logged no predictions from {iso(start)}"
            + (f" to {iso(end)}" if end is not None else "")
            + "; choose a wider window (--from-log SINCE).",
            field="since",
        )
    preds = predictions_of(frame)
    import pandas as pd

    names = [c["name"] for c in detector.feature_schema()]
    rows = pd.DataFrame.from_records([orjson.loads(t) for t in preds["input"]])
    rows = rows.reindex(columns=names)
    scored = preds["scored_at"].to_numpy(dtype=np.float64)
    ids = [str(i) for i in preds.index]
    return Window(
        frame=rows,
        times=scored,
        labels=preds["label"].to_numpy(dtype=np.float64),
        marked=preds["n_anomaly"].to_numpy() > 0,
        ids=ids,
        source={
            "source": "log",
            "model": name,
            "since": iso(start),
            "until": None if end is None else iso(end),
            "predictions": len(ids),
            "first_scored_at": iso(float(scored.min())),
            "last_scored_at": iso(float(scored.max())),
            "labelled": int(np.isfinite(preds["label"].to_numpy(dtype=np.float64)).sum()),
        },
    )


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_window(path, detector, time_column=None, fmt=None, sep=","):
    """The :class:`~farout.retraining.Window` of a CSV, Parquet or JSON
    Lines file (read as ``farout score`` reads it): in its order, or by
    ``time_column`` (numbers, or text parsed as dates) for the held-out
    split."""
    import pandas as pd

    from ..features.schema import read_dtypes, require_column
    from ..io import read_table

    frame = read_table(path, fmt=fmt, dtypes=read_dtypes(detector), sep=sep)
    names = [c["name"] for c in detector.feature_schema()]
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise InputError(
            f"{path} has no column {', '.join(map(repr, absent))}, which the champion scores."
        )
    times = None
    if time_column is not None:
        column = require_column(frame, time_column, "time")
        parsed = column if pd.api.types.is_numeric_dtype(column) else None
        if parsed is None:
            parsed = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
            parsed = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        times = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
        names = [*names, time_column] if time_column not in names else names
    return Window(
        frame=frame[names].reset_index(drop=True),
        times=times,
        source={
            "source": "file",
            "path": str(path) if str(path) == "-" else str(Path(path).resolve()),
            "sha256": _sha256(path) if str(path) != "-" else None,
            "rows": int(len(frame)),
            "time_column": time_column,
        },
        time_column=time_column,
    )


def _champion(registry, name):
    if name is None:
        name = registry.resolve(None)[0]
    aliases = registry.aliases(name)
    if "champion" not in aliases:
        if not any(m["name"] == name for m in registry.models()):
            raise NotFound(f"no model is named {name!r}; GET /v1/models lists them.", field="name")
        raise Conflict(f"model {name!r} has no champion to retrain; set one first.", field="name")
    version = aliases["champion"]
    return name, version, registry.load(name, version)


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


@dataclass
class RetrainOutcome:
    """What a retraining did: ``outcome`` (``"challenger"`` or
    ``"rejected"``), the registered ``version`` (its description), and
    ``result``, the :class:`~farout.retraining.Retraining`."""

    outcome: str
    version: dict
    champion: dict
    result: object

    def to_dict(self):
        return {
            "outcome": self.outcome,
            "version": self.version,
            "champion": self.champion,
            "retraining": self.result.to_dict(),
        }

    def to_text(self):
        name, number = self.version["name"], self.version["version"]
        if self.outcome == "challenger":
            head = f"{name}/{number} passed its gates and is now challenger (champion unchanged: "
        else:
            head = (
                f"{name}/{number} failed {', '.join(self.result.failed)} and is stored as "
                "rejected (champion unchanged: "
            )
        rows = self.result.rows
        lines = [
            head + f"{name}/{self.champion['version']})",
            f"fitted on {rows['fitted']:,} rows of a window of {rows['window']:,} "
            f"({rows['marked']:,} marked as anomalies kept out); judged on {rows['held_out']:,} "
            "held-out rows",
            "",
            gate_table(self.result.gates),
        ]
        if self.result.warnings:
            lines += ["", "audit warnings:", *(f"- {w}" for w in self.result.warnings)]
        return "\n".join(lines)


def retrain_version(registry, db, name, window_of, gates=None, holdout=0.25, actor="farout"):
    """Retrain ``name``'s champion on the window ``window_of(detector)``
    gives, register the new version (``challenger``, or ``rejected``), and
    return a :class:`RetrainOutcome`. Errors are the service's:
    :class:`~farout.retraining.AuditFailed` becomes a 422 carrying the
    audit, too few rows a 422 naming ``min_rows``."""
    name, version, champion = _champion(registry, name)
    window = window_of(champion)
    gates = Gates() if gates is None else gates
    try:
        result = retrain_detector(champion, window, gates, holdout)
    except AuditFailed as error:
        refused = AuditRefused(str(error), field="window", **error.to_dict())
        refused.report = error.audit.to_text()  # for the command line, not the JSON
        raise refused from None
    except TooFewRows as error:
        raise Invalid(
            str(error), field="gates.min_rows", rows=error.rows, needed=error.needed
        ) from None
    except InputError as error:
        raise Invalid(
            str(error), field="holdout" if "holdout" in str(error) else "window"
        ) from None
    params = {k: _jsonable(v) for k, v in champion.get_params().items()}
    provenance = {
        "kind": "retraining",
        "from": {"name": name, "version": version},
        "window": {**window.source, **result.rows},
        "params": params,
        "holdout": holdout,
        "limits": gates.to_dict(),
        "measured": result.measured,
        "gates": [g.to_dict() for g in result.gates],
        "outcome": result.outcome,
        "failed": result.failed,
        "by": actor,
        "at": time.time(),
    }
    status = "rejected" if result.failed else "ready"
    incoming = registry.root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    new = result.detector
    with tempfile.TemporaryDirectory(dir=incoming) as folder:
        path = Path(folder) / f"{name}.farout"
        write_state(path, type(new).__name__, new.get_state(), extra={"provenance": provenance})
        added = registry.add(path, name, actor=actor, provenance=provenance, status=status)
    if status == "ready":
        registry.set_alias(name, "challenger", added["version"], actor=actor)
    return RetrainOutcome(
        outcome=result.outcome,
        version=registry.version(name, added["version"]),
        champion={"name": name, "version": version},
        result=result,
    )


def gates_of(gates, source="gates"):
    """:class:`~farout.gates.Gates` from a Gates, a mapping, a file path or
    None (the defaults); a mistake is a 422 naming the field."""
    try:
        if gates is None or isinstance(gates, Gates):
            return gates or Gates()
        if isinstance(gates, dict):
            return make_gates(gates, source=source)
        return read_gates(gates)
    except GateError as error:
        field = source if error.field is None else f"{source}.{error.field}"
        raise Invalid(str(error), field=field) from None


def retrain_from_log(registry, db, name, body, actor):
    """``POST /v1/models/{name}/retrain``: :func:`retrain_version` on the
    log window ``body`` (:class:`RetrainRequest`) names."""
    limits = gates_of(body.gates)
    if isinstance(body.holdout, bool) or not 0 < body.holdout <= 0.9:
        raise Invalid(
            f"holdout must be a share in (0, 0.9], got {body.holdout!r}.", field="holdout"
        )

    def window_of(detector):
        return collect(db, detector, name, body.since, body.until)

    return retrain_version(registry, db, name, window_of, limits, body.holdout, actor).to_dict()


def retrain(
    registry,
    *,
    db=None,
    name=None,
    since=None,
    until=None,
    data=None,
    time_column=None,
    gates=None,
    holdout=0.25,
    actor="farout.retrain",
):
    """Retrain a registered model on a window and register the outcome
    (``farout.retrain``).

    Parameters
    ----------
    registry : path
        The service's registry folder (``farout serve --registry``).
    db : str, optional
        Its database URL; default the SQLite file in ``registry``.
    name : str, optional
        The model; default the only one registered.
    since, until : str or float, optional
        The log window: ISO 8601, Unix seconds, or (``since``) a span back
        from now such as ``"30d"``.
    data : path, optional
        A CSV, Parquet or JSON Lines file instead of the log.
    time_column : str, optional
        With ``data``: the column that orders its rows for the held-out split.
    gates : Gates, dict or path, optional
        The limits (:mod:`farout.gates`); default :class:`~farout.gates.Gates()`.
    holdout : float, default=0.25

    Returns
    -------
    RetrainOutcome

    Raises
    ------
    farout.service.errors.ServiceError
        Its ``status`` and ``fields`` say what was wrong: 422 for a failed
        audit (``fields["problems"]``, ``fields["audit"]``), too few rows,
        bad gates or window; 404 for an unknown model.
    """
    from .database import Database
    from .registry import Registry
    from .settings import Settings

    if (since is None) == (data is None):
        raise Invalid("give since (a window of the log) or data (a file), not both.", field="since")
    limits = gates_of(gates)
    settings = Settings(registry=Path(registry), db=db)
    database = Database(settings.db_url)
    try:
        database.upgrade()
        found = Registry(settings.registry, database)
        chosen = found.resolve(None)[0] if name is None else name

        def window_of(detector):
            if data is not None:
                return file_window(data, detector, time_column)
            return collect(database, detector, chosen, since, until)

        return retrain_version(found, database, chosen, window_of, limits, holdout, actor)
    finally:
        database.close()
