"""The prediction log: a row in ``requests`` for each request and model
that scored, and one in ``predictions`` per scored row, written in the
same transaction as the rest of its request before the answer is sent, and
read back for audits (paged), one by one, and to compare champion with
challenger.
"""

import functools
import time
from datetime import datetime, timezone
from itertools import chain, repeat

import numpy as np
import orjson
from sqlalchemy import and_, exists, select

from .errors import Invalid, NotFound
from .tables import LOG_COLUMNS, feedback, log, logged
from .tables import predictions as _predictions_table
from .tables import requests as _requests_table

__all__ = [
    "PAGE",
    "REQUEST_COLUMNS",
    "ROW_COLUMNS",
    "compare",
    "get",
    "iso",
    "page",
    "parse_time",
    "record",
]

#: Rows a page of ``GET /v1/predictions`` holds by default, and at most.
PAGE, MAX_PAGE = 100, 1000

_SUMMARY = [getattr(logged, c) for c in LOG_COLUMNS if c not in ("input", "seq")]

#: A request's values :func:`record` takes, in order (``id`` is the
#: database's), and its rows' (``seq`` is the database's, ``request`` the
#: request's): the tables' own columns, so the two cannot drift apart.
REQUEST_COLUMNS = tuple(c.name for c in _requests_table.columns if c.name != "id")
ROW_COLUMNS = tuple(c.name for c in _predictions_table.columns if c.name not in ("seq", "request"))


def _insert(connection, table, names, rows):
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    quoted = ", ".join(f'"{c}"' for c in names)
    connection.exec_driver_sql(
        f"INSERT INTO {table} ({quoted}) VALUES ({', '.join([mark] * len(names))})", rows
    )


def _request_ids(connection, requests):
    """Insert the ``requests`` rows; their ids, in order."""
    if connection.dialect.name == "postgresql":
        # one statement (one round trip) for any number of requests, each
        # column an array; RETURNING promises no order, so the ids come back
        # with the (request_id, shadow) that tells the requests apart
        found = connection.exec_driver_sql(
            f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) SELECT * FROM unnest("
            "%s::varchar[], %s::float8[], %s::varchar[], %s::integer[], %s::varchar[], "
            "%s::boolean[], %s::float8[]) RETURNING request_id, shadow, id",
            tuple(list(c) for c in zip(*requests, strict=True)),
        ).all()
        ids = {(r, s): i for r, s, i in found}
        if len(ids) != len(requests):
            raise ValueError("two requests logged together have the same request_id and shadow")
        return [ids[r[0], r[5]] for r in requests]
    # SQLite numbers a row one past the largest id, and this transaction
    # holds the write lock from its first insert on: the rows it inserts
    # together are numbered one after the other, up to the last one's
    _insert(connection, "requests", REQUEST_COLUMNS, requests)
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar()
    return range(last - len(requests) + 1, last + 1)


#: On PostgreSQL, batches of at most this many rows are logged in one
#: statement of values (one round trip, as before the requests table);
#: larger ones as the requests' arrays, then the rows' ``executemany``,
#: cheaper per row (benchmarks/log_write.py: 0.16 against 0.40 ms of CPU for
#: one row, 35 against 13 ms for 1,000).
PG_ONE_STATEMENT_ROWS = 16

_PG_TYPES = {
    **dict.fromkeys(("request_id", "model_name", "alias", "prediction_id", "severity"), "varchar"),
    **dict.fromkeys(("scored_at", "latency_ms", "anomaly_score", "threshold"), "float8"),
    **dict.fromkeys(("model_version", "row_index", "cluster"), "integer"),
    **dict.fromkeys(("shadow", "is_anomaly"), "boolean"),
    **dict.fromkeys(("input", "reason"), "text"),
}


@functools.lru_cache(maxsize=128)
def _one_statement(requests, rows):
    """The statement logging ``requests`` requests with ``rows`` rows in
    all. The rows find their request's id by its (request_id, shadow),
    since RETURNING promises no order; ORDER BY keeps their seq in order."""
    request = ", ".join(f"%s::{_PG_TYPES[c]}" for c in REQUEST_COLUMNS)
    row = ", ".join(f"%s::{_PG_TYPES[c]}" for c in (*ROW_COLUMNS, "request_id", "shadow"))
    names = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
    picked = ", ".join(f'p."{c}"' for c in ROW_COLUMNS)
    return (
        f"WITH r AS (INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) VALUES "
        + ", ".join([f"({request})"] * requests)
        + " RETURNING request_id, shadow, id) "
        f"INSERT INTO predictions ({names}, request) "
        f"SELECT {picked}, r.id FROM (VALUES "
        + ", ".join(f"({row}, {n})" for n in range(rows))
        + f") AS p({names}, request_id, shadow, n) "
        "JOIN r ON r.request_id = p.request_id AND r.shadow = p.shadow ORDER BY p.n"
    )


def _record_in_one(connection, entries, rows):
    params = list(chain.from_iterable(request for request, _ in entries))
    for request, columns in entries:
        key = (request[0], request[5])  # request_id, shadow
        for row in zip(*columns, strict=True):
            params += row
            params += key
    connection.exec_driver_sql(_one_statement(len(entries), rows), tuple(params))


def record(connection, entries):
    """Log requests with their rows: ``(request, columns)`` pairs,
    ``request`` a tuple in :data:`REQUEST_COLUMNS` order and ``columns``
    its rows' values column by column, in :data:`ROW_COLUMNS` order.

    The driver's own ``executemany``, two statements whatever the number of
    requests (one on PostgreSQL for a small batch): building SQLAlchemy
    parameters row by row cost more than the insert itself for a 1,000-row
    request.
    """
    if not entries:
        return
    if connection.dialect.name == "postgresql":
        rows = sum(len(columns[0]) for _, columns in entries)
        if rows <= PG_ONE_STATEMENT_ROWS:
            _record_in_one(connection, entries, rows)
            return
    ids = _request_ids(connection, [request for request, _ in entries])
    rows = list(
        chain.from_iterable(
            zip(*columns, repeat(i, len(columns[0])), strict=True)
            for i, (_, columns) in zip(ids, entries, strict=True)
        )
    )
    if rows:
        _insert(connection, "predictions", (*ROW_COLUMNS, "request"), rows)


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
        where.append(logged.seq > int(cursor))
    if since is not None:
        where.append(logged.scored_at >= parse_time(since, "since"))
    if until is not None:
        where.append(logged.scored_at < parse_time(until, "until"))
    if flagged is not None:
        where.append(logged.is_anomaly == flagged)
    if severity is not None:
        where.append(logged.severity == severity)
    if shadow is not None:
        where.append(logged.shadow == shadow)
    if reviewed is not None:
        judged = exists().where(feedback.c.prediction_id == logged.prediction_id)
        where.append(judged if reviewed else ~judged)
    if model is not None:
        name, _, version = model.partition("/")
        where.append(logged.model_name == name)
        if version:
            if not (version.isascii() and version.isdigit()) or int(version) > 2**31 - 1:
                raise Invalid(f"model must be NAME or NAME/VERSION, got {model!r}.", field="model")
            where.append(logged.model_version == int(version))
    query = (
        select(logged.seq, *_SUMMARY)
        .select_from(log)
        .where(and_(True, *where))
        .order_by(logged.seq)
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
            select(*(getattr(logged, c) for c in LOG_COLUMNS))
            .select_from(log)
            .where(logged.prediction_id == prediction_id)
        ).first()
    if row is None:
        raise NotFound(f"no prediction has the id {prediction_id!r}.")
    return _shown(row, with_input=True)


def compare(db, name, champion, challenger, since=None):
    """Champion against challenger on the rows both scored: alert rates,
    Spearman correlation of the scores, and agreement of the flags."""
    from scipy.stats import spearmanr

    since = parse_time(since, "since") if since is not None else time.time() - 30 * 86400
    cols = (logged.request_id, logged.row_index)
    pick = (logged.anomaly_score, logged.is_anomaly)

    def side(version, shadow):
        return (
            select(*cols, *pick)
            .select_from(log)
            .where(
                logged.model_name == name,
                logged.model_version == version,
                logged.shadow == shadow,
                logged.scored_at >= since,
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
