"""The prediction log: one row per scored input row, written in the same
transaction as the rest of its request before the answer is sent, and read
back for audits (paged), one by one, and to compare champion with
challenger.
"""

import time
from datetime import datetime, timezone

import numpy as np
import orjson
from sqlalchemy import and_, exists, select

from .errors import Invalid, NotFound
from .tables import feedback, predictions

__all__ = ["COLUMNS", "PAGE", "compare", "get", "iso", "page", "parse_time", "record"]

#: Rows a page of ``GET /v1/predictions`` holds by default, and at most.
PAGE, MAX_PAGE = 100, 1000

_SUMMARY = [c for c in predictions.c if c.name not in ("input", "seq")]


#: The columns :func:`record` takes, in order (``seq`` is the database's).
COLUMNS = tuple(c.name for c in predictions.c if c.name != "seq")


def record(connection, rows):
    """Insert log rows (tuples in :data:`COLUMNS` order) in one statement.

    The driver's own ``executemany``: building SQLAlchemy parameters row by
    row cost more than the insert itself for a 1,000-row request.
    """
    if rows:
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO predictions ({names}) VALUES ({', '.join([mark] * len(COLUMNS))})", rows
        )


def iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


def _shown(row, with_input=False):
    out = {c.name: getattr(row, c.name) for c in _SUMMARY}
    out["scored_at"] = iso(row.scored_at)
    if with_input:
        out["input"] = orjson.loads(row.input)
    return out


def parse_time(value, field):
    """An ISO 8601 time (``2026-12-03T14:00:00Z``; UTC when no offset is
    given) or Unix seconds, as Unix seconds."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    try:
        if seconds is not None:
            datetime.fromtimestamp(seconds, timezone.utc)  # finite and a real date
            return seconds
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        datetime.fromtimestamp(moment.timestamp(), timezone.utc)  # shown back in UTC later
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise Invalid(
            f"{field} must be an ISO 8601 time such as 2026-12-03T14:00:00Z, or Unix seconds; "
            f"got {value!r}.",
            field=field,
        ) from None


def page(
    db,
    since=None,
    until=None,
    flagged=None,
    severity=None,
    model=None,
    shadow=None,
    limit=PAGE,
    cursor=None,
    reviewed=None,
):
    """A page of log rows, oldest first, and the cursor of the next page
    (None on the last). ``reviewed``: only rows with (True) or without
    (False) a verdict."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}, got {limit}.", field="limit")
    where = []
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
            raise Invalid(f"cursor {cursor!r} is not one this service gave.", field="cursor")
        where.append(predictions.c.seq > int(cursor))
    if since is not None:
        where.append(predictions.c.scored_at >= parse_time(since, "since"))
    if until is not None:
        where.append(predictions.c.scored_at < parse_time(until, "until"))
    if flagged is not None:
        where.append(predictions.c.is_anomaly == flagged)
    if severity is not None:
        where.append(predictions.c.severity == severity)
    if shadow is not None:
        where.append(predictions.c.shadow == shadow)
    if reviewed is not None:
        judged = exists().where(feedback.c.prediction_id == predictions.c.prediction_id)
        where.append(judged if reviewed else ~judged)
    if model is not None:
        name, _, version = model.partition("/")
        where.append(predictions.c.model_name == name)
        if version:
            if not (version.isascii() and version.isdigit()) or int(version) > 2**31 - 1:
                raise Invalid(f"model must be NAME or NAME/VERSION, got {model!r}.", field="model")
            where.append(predictions.c.model_version == int(version))
    query = (
        select(predictions.c.seq, *_SUMMARY)
        .where(and_(True, *where))
        .order_by(predictions.c.seq)
        .limit(limit + 1)
    )
    with db.reading() as connection:
        rows = connection.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [_shown(r) for r in rows], (str(rows[-1].seq) if more else None)


def get(db, prediction_id):
    """The whole log row, with its input as an object."""
    with db.reading() as connection:
        row = connection.execute(
            select(predictions).where(predictions.c.prediction_id == prediction_id)
        ).first()
    if row is None:
        raise NotFound(f"no prediction has the id {prediction_id!r}.")
    return _shown(row, with_input=True)


def compare(db, name, champion, challenger, since=None):
    """Champion against challenger on the rows both scored: alert rates,
    Spearman correlation of the scores, and agreement of the flags."""
    from scipy.stats import spearmanr

    since = parse_time(since, "since") if since is not None else time.time() - 30 * 86400
    cols = (predictions.c.request_id, predictions.c.row_index)
    pick = (predictions.c.anomaly_score, predictions.c.is_anomaly)

    def side(version, shadow):
        return (
            select(*cols, *pick)
            .where(
                predictions.c.model_name == name,
                predictions.c.model_version == version,
                predictions.c.shadow == shadow,
                predictions.c.scored_at >= since,
            )
            .subquery()
        )

    a, b = side(champion, False), side(challenger, True)
    query = select(a.c.anomaly_score, a.c.is_anomaly, b.c.anomaly_score, b.c.is_anomaly).join(
        b, and_(a.c.request_id == b.c.request_id, a.c.row_index == b.c.row_index)
    )
    with db.reading() as connection:
        rows = np.array(connection.execute(query).all(), dtype=float).reshape(-1, 4)
    n = len(rows)
    out = {
        "name": name,
        "champion": {"version": champion},
        "challenger": {"version": challenger},
        "since": iso(since),
        "rows": n,
    }
    if n == 0:
        return {**out, "flag_agreement": None, "score_rank_correlation": None}
    for key, col in (("champion", 1), ("challenger", 3)):
        out[key]["alert_rate"] = float(rows[:, col].mean())
    rho = spearmanr(rows[:, 0], rows[:, 2]).statistic if n > 2 else float("nan")
    out["flag_agreement"] = float((rows[:, 1] == rows[:, 3]).mean())
    out["score_rank_correlation"] = None if not np.isfinite(rho) else float(rho)
    return out
