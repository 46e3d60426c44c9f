"""Analysts' verdicts: taken one by one or in bulk (each a new row, the
history kept), read back joined to the prediction log, summarised and
exported. What the verdicts mean (each analyst's latest counts; precision
leaves ``"unsure"`` out) is the library's :mod:`farout.feedback`; this
module reads and writes the database.
"""

import re
import time
from typing import Literal

import orjson
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import and_, func, insert, or_, select

from ..exceptions import InputError
from ..feedback import EXPORT_COLUMNS, LOG_GROUPS, PREDICTION_COLUMNS, summarize
from .errors import Invalid, NotFound
from .predictions import iso, parse_time
from .tables import feedback, log, logged, predictions

__all__ = [
    "EXPORT_TYPES",
    "MAX_ITEMS",
    "FeedbackItem",
    "export",
    "history",
    "parse",
    "parse_window",
    "read_rows",
    "record",
    "summary",
]

#: Verdicts one request may carry.
MAX_ITEMS = 1000
#: The export formats and their media types.
EXPORT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


class FeedbackItem(BaseModel):
    """One analyst's verdict on one logged prediction."""

    model_config = ConfigDict(extra="forbid")
    prediction_id: str = Field(min_length=1, max_length=32, description="From POST /v1/score.")
    verdict: Literal["anomaly", "normal", "unsure"]
    analyst: str = Field(min_length=1, max_length=64, description="Who judged it.")
    note: str | None = Field(None, max_length=2000, description="Why, in the analyst's words.")

    @field_validator("prediction_id", "analyst", "note")
    @classmethod
    def _text(cls, value):
        # PostgreSQL stores no NUL character, and no database a lone surrogate
        return _check_text(value)


def _check_text(value, field=None):
    if value is None:
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        bad = True
    else:
        bad = "\x00" in value
    if bad:
        message = "must be text without NUL characters or lone surrogates"
        if field is None:
            raise ValueError(message)
        raise Invalid(f"{field} {message}.", field=field)
    return value


def parse(raw):
    """The verdicts of a ``POST /v1/feedback`` body: one object, or a list
    of up to :data:`MAX_ITEMS`. Errors name the item (``row``) and field."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"the body is not valid JSON: {error}", field="body") from None
    single = isinstance(body, dict)
    items = [body] if single else body
    if not isinstance(items, list) or not items:
        raise Invalid(
            'the body must be a verdict {"prediction_id", "verdict", "analyst", "note"} or a '
            "non-empty list of them.",
            field="body",
        )
    if len(items) > MAX_ITEMS:
        raise Invalid(
            f"the body holds {len(items):,} verdicts, more than the {MAX_ITEMS:,} one request "
            "may carry; split it.",
            field="body",
        )
    out = []
    for i, item in enumerate(items):
        where = "" if single else f"[{i}]"
        try:
            out.append(FeedbackItem.model_validate(item))
        except ValidationError as error:
            first = error.errors()[0]
            name = ".".join(str(p) for p in first["loc"]) or "body"
            fields = {"field": name} if single else {"field": name, "row": i}
            raise Invalid(
                f"{where}{'.' if where else ''}{name}: {first['msg']}.", **fields
            ) from None
    return out


def record(db, items, key_id):
    """Store the verdicts, all or none; a prediction id not in the log is a
    404 naming it. Returns the stored rows."""
    ids = sorted({item.prediction_id for item in items})
    now = time.time()
    with db.writing() as connection:
        known = set(
            connection.execute(
                select(predictions.c.prediction_id).where(predictions.c.prediction_id.in_(ids))
            ).scalars()
        )
        for i, item in enumerate(items):
            if item.prediction_id not in known:
                raise NotFound(
                    f"no prediction has the id {item.prediction_id!r}"
                    + (f" (verdict {i})" if len(items) > 1 else "")
                    + "; use a prediction_id that POST /v1/score answered.",
                    field="prediction_id",
                    **({"row": i} if len(items) > 1 else {}),
                )
        rows = [{**item.model_dump(), "created_at": now, "key_id": key_id} for item in items]
        stored = connection.execute(
            insert(feedback).returning(feedback.c.id, sort_by_parameter_order=True), rows
        ).scalars()
        ids = list(stored)
    return [_shown({**row, "id": i}) for row, i in zip(rows, ids, strict=True)]


def _shown(row):
    return {
        "id": row["id"],
        "prediction_id": row["prediction_id"],
        "verdict": row["verdict"],
        "analyst": row["analyst"],
        "note": row["note"],
        "created_at": iso(row["created_at"]),
        "key_id": row["key_id"],
    }


def history(db, prediction_id):
    """Every verdict on a prediction, oldest first."""
    with db.reading() as connection:
        rows = connection.execute(
            select(feedback)
            .where(feedback.c.prediction_id == prediction_id)
            .order_by(feedback.c.id)
        ).mappings()
        return [_shown(r) for r in rows]


_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_window(text):
    """A window such as ``1h``, ``6h``, ``1d``, ``7d`` or seconds, as
    seconds (a minute at least)."""
    found = _SPAN.fullmatch(str(text).strip().lower())
    seconds = float(found[1]) * _UNIT[found[2]] if found else None
    if seconds is None or not 60 <= seconds <= 366 * 86400:
        raise Invalid(
            f"window must be a span from 1m to 366d such as 1h, 6h, 1d or 7d (or seconds); "
            f"got {text!r}.",
            field="window",
        )
    return seconds


def _model_filter(model):
    if model is None:
        return []
    _check_text(model, "model")
    name, _, version = model.partition("/")
    where = [logged.model_name == name]
    if version:
        if not version.isdigit() or int(version) > 2**31 - 1:
            raise Invalid(f"model must be NAME or NAME/VERSION, got {model!r}.", field="model")
        where.append(logged.model_version == int(version))
    return where


def _verdicts(all_of_them):
    """The verdict rows to join: each analyst's latest on each prediction,
    or every one (the history)."""
    if all_of_them:
        return select(feedback).subquery("verdicts")
    latest = (
        select(func.max(feedback.c.id).label("id"))
        .group_by(feedback.c.prediction_id, feedback.c.analyst)
        .subquery("latest")
    )
    return select(feedback).join(latest, feedback.c.id == latest.c.id).subquery("verdicts")


def _query(since, until, model, shadow, flagged, reviewed, with_history, with_input):
    v = _verdicts(with_history)
    shown = [c for c in PREDICTION_COLUMNS if with_input or c != "input"]
    columns = [getattr(logged, c) for c in shown] + [
        v.c.id.label("feedback_id"),
        v.c.analyst,
        v.c.verdict,
        v.c.note,
        v.c.created_at.label("verdict_at"),
    ]
    where = _model_filter(model)
    if since is not None:
        where.append(logged.scored_at >= parse_time(since, "since"))
    if until is not None:
        where.append(logged.scored_at < parse_time(until, "until"))
    if shadow is not None:
        where.append(logged.shadow == shadow)
    if flagged is not None:
        where.append(logged.is_anomaly == flagged)
    if reviewed:  # flagged, or judged though not flagged
        where.append(or_(logged.is_anomaly.is_(True), v.c.id.is_not(None)))
    query = (
        select(*columns)
        .select_from(log.outerjoin(v, v.c.prediction_id == logged.prediction_id))
        .where(and_(True, *where))
        .order_by(logged.seq, v.c.id)
    )
    return query, [*shown, *EXPORT_COLUMNS[len(PREDICTION_COLUMNS) :]]


def _frame(rows, names):
    frame = pd.DataFrame.from_records(rows, columns=names)
    frame["feedback_id"] = frame["feedback_id"].astype("Int64")
    frame["verdict_at"] = frame["verdict_at"].astype("float64")
    for name in ("is_anomaly", "shadow"):
        frame[name] = frame[name].astype(bool)
    return frame


def read_rows(db, since=None, until=None, model=None, shadow=False, reviewed=True, with_input=True):
    """Flagged predictions (and any other with a verdict, with ``reviewed``)
    with each analyst's latest verdict, as one DataFrame in the export's
    columns."""
    query, names = _query(since, until, model, shadow, None, reviewed, False, with_input)
    with db.reading() as connection:
        return _frame(connection.execute(query).all(), names)


def summary(db, since=None, until=None, by=None, window="1d", model=None, shadow=False):
    """``GET /v1/feedback/summary``: :func:`farout.feedback.summarize` over
    the flagged predictions scored in ``[since, until)`` and the verdicts on
    them and on any other prediction."""
    seconds = parse_window(window)
    if by is not None and not (0 < len(by) <= 64):
        raise Invalid(
            "by must name a logged column or an input field (1-64 characters).", field="by"
        )
    frame = read_rows(
        db, since, until, model, shadow, with_input=by is not None and by not in LOG_GROUPS
    )
    try:
        out = summarize(frame, by=by, window=seconds, source="the log")
    except InputError as error:
        raise Invalid(str(error), field="by" if by else "window") from None
    window_of = {"since": since, "until": until, "model": model, "shadow": shadow}
    return {**window_of, **out}


def export(db, path, since=None, until=None, model=None, shadow=False, flagged=None, history=False):
    """Write the predictions and their verdicts to ``path`` (CSV or Parquet
    by its extension; under a temporary name, renamed when complete), read
    from the database in blocks. Returns the rows written."""
    from ..writer import TableWriter

    query, names = _query(since, until, model, shadow, flagged, False, history, True)
    written = 0
    with db.reading() as connection, TableWriter(path) as writer:
        result = connection.execution_options(stream_results=True, yield_per=20_000).execute(query)
        for rows in result.partitions():
            block = _frame(rows, names)
            writer.write(block)
            written += len(block)
        if written == 0:  # a file with the columns and no rows, never no file
            writer.write(_frame([], names))
    return written
