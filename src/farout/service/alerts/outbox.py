"""The outbox: the prediction log itself, read after a stored cursor. Each
pass takes the served predictions of windows that have closed, raises or
ends alert storms (:mod:`farout.storms`), groups the flagged rows of quiet
windows per destination (:mod:`.grouping`), applies each destination's
rate limit, and writes the deliveries in the same transaction that moves
the cursor. Scoring never waits for it, a restart resumes where the last
commit left off, and the same rows never make two alerts.
"""

import time
from collections import Counter
from dataclasses import dataclass

import orjson
from sqlalchemy import Integer, and_, bindparam, case, cast, func, not_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ...storms import MIN_BASELINE, StormRule, storm_windows
from ..errors import Invalid
from ..predictions import iso
from ..tables import alert_cursor, alert_storms, alerts, log, logged, predictions
from .grouping import Flag, alert_key, at_least, group_flags
from .messages import alert_message, storm_message

__all__ = ["CURSOR", "STATUSES", "WINDOWS", "Outbox", "Pass", "page"]

CURSOR = "predictions"
STATUSES = ("pending", "retrying", "delivered", "failed", "suppressed")
#: Windows one pass covers at most, so a long backlog is read in steps.
WINDOWS = 60
_ENTITY_CHARS = 200


@dataclass
class Pass:
    """What one pass of :meth:`Outbox.collect` did."""

    rows: int = 0
    alerts: Counter = None
    suppressed: Counter = None
    storm_rows: int = 0
    storms_started: int = 0
    storms_ended: int = 0


class _Moved(Exception):
    """Another worker moved the cursor first; this pass is dropped."""


class Outbox:
    """The alerts of the log behind the cursor.

    Parameters
    ----------
    db : Database
    config : AlertConfig
    models : object
        ``tiers(name, version)``: the tier names, least severe first;
        ``baseline(name, version)``: the training alert rate.
    """

    def __init__(self, db, config, models):
        self.db, self.config, self.models = db, config, models
        self.rule = StormRule(config.storm.multiple, config.storm.min_rows)

    def ensure_cursor(self):
        """Start the cursor at the log's end the first time alerts run, so
        enabling them does not page anyone about last year's predictions."""
        with self.db.writing() as c:
            if c.execute(select(alert_cursor.c.seq).where(alert_cursor.c.name == CURSOR)).first():
                return
            last = c.execute(select(func.max(predictions.c.seq))).scalar() or 0
            c.execute(alert_cursor.insert().values(name=CURSOR, seq=last, updated_at=time.time()))

    # ---------------------------------------------------------- reading
    def _span(self, now):
        """``(cursor, upto)``: the log rows after the cursor up to ``upto``
        lie in windows that have closed (at most :data:`WINDOWS` of them,
        so a long backlog is read in steps); ``upto`` is None when there
        are none yet."""
        window, p = self.config.window, logged
        horizon = ((now - self.config.settle) // window) * window
        with self.db.reading() as c:
            cursor = c.execute(
                select(alert_cursor.c.seq).where(alert_cursor.c.name == CURSOR)
            ).scalar_one()
            first = c.execute(
                select(p.scored_at).select_from(log).where(p.seq > cursor).order_by(p.seq).limit(1)
            ).scalar()
            if first is None:
                return cursor, None
            end = min(horizon, (first // window + WINDOWS) * window)
            upto = c.execute(
                select(func.max(p.seq)).select_from(log).where(p.seq > cursor, p.scored_at < end)
            ).scalar()
        return cursor, upto

    def _window_of(self, c):
        # the window's number, in SQL: floor() in PostgreSQL; SQLite's cast
        # truncates, which is the floor of a positive time
        ratio = logged.scored_at / self.config.window
        return func.floor(ratio) if c.dialect.name == "postgresql" else cast(ratio, Integer)

    def _counts(self, cursor, upto):
        """``{(model, window start): [rows, flagged, version]}`` of the
        served rows in ``(cursor, upto]``, counted by the database."""
        p = logged
        with self.db.reading() as c:
            number = self._window_of(c).label("number")
            found = c.execute(
                select(
                    p.model_name,
                    number,
                    func.count(),
                    func.sum(case((p.is_anomaly, 1), else_=0)),
                    func.max(p.model_version),
                )
                .select_from(log)
                .where(p.seq > cursor, p.seq <= upto, p.shadow.is_(False))
                .group_by(p.model_name, number)
            ).all()
        return {
            (name, float(number) * self.config.window): [rows, int(flagged or 0), version]
            for name, number, rows, flagged, version in found
        }

    def _flags(self, cursor, upto, held):
        """The flagged served rows in ``(cursor, upto]`` outside the
        windows ``held`` by a storm."""
        p, window, entity = logged, self.config.window, self.config.entity
        cols = (p.seq, p.prediction_id, p.scored_at, p.model_name, p.model_version)
        cols += (p.severity, p.reason, p.anomaly_score, p.input)
        where = [p.seq > cursor, p.seq <= upto, p.shadow.is_(False), p.is_anomaly.is_(True)]
        where += [
            not_(and_(p.model_name == name, p.scored_at >= start, p.scored_at < start + window))
            for name, start in held
        ]
        out = []
        with self.db.reading() as c:
            for r in c.execute(select(*cols).select_from(log).where(*where).order_by(p.seq)):
                if (r.model_name, (r.scored_at // window) * window) in held:
                    continue  # a row on a window's edge, where SQL and Python round apart
                value = orjson.loads(r.input).get(entity) if entity else None
                out.append(
                    Flag(
                        r.seq,
                        r.prediction_id,
                        r.scored_at,
                        r.model_name,
                        r.model_version,
                        r.severity,
                        r.reason,
                        r.anomaly_score,
                        None if value is None else str(value)[:_ENTITY_CHARS],
                    )
                )
        return out

    # ----------------------------------------------------------- storms
    def active_storms(self):
        """How many storms are on now."""
        with self.db.reading() as c:
            return c.execute(
                select(func.count())
                .select_from(alert_storms)
                .where(alert_storms.c.ended_at.is_(None))
            ).scalar_one()

    def _storms(self, counts, now, entries, done):
        """Storm decisions per model over the windows ``counts`` gives: the
        windows held back, and the storm rows to write."""
        window = self.config.window
        with self.db.reading() as c:
            active = {
                s.model_name: s
                for s in c.execute(select(alert_storms).where(alert_storms.c.ended_at.is_(None)))
            }
        held, writes = set(), []
        for name in sorted({k[0] for k in counts}):
            starts = sorted(s for n, s in counts if n == name)
            version = counts[(name, starts[-1])][2]
            baseline = self.config.storm.baseline or self.models.baseline(name, version)
            baseline = max(baseline, MIN_BASELINE)
            decided = storm_windows(
                [(s, *counts[(name, s)][:2]) for s in starts], baseline, self.rule, name in active
            )
            storm = active.get(name)
            storm_id = storm.id if storm is not None else None
            for w in decided:
                if w.event == "end":
                    writes.append(("end", storm_id, w.start))
                    done.storms_ended += 1
                if not w.storm:
                    continue
                held.add((name, w.start))
                done.storm_rows += w.flagged
                if w.event == "start":
                    done.storms_started += 1
                    storm_id = ("new", name, w.start)
                    writes.append(("start", storm_id, (name, w.start, baseline, w)))
                    message = storm_message(
                        name,
                        w.start,
                        window,
                        w.rows,
                        w.flagged,
                        baseline,
                        self.rule.multiple,
                        self.config.base_url or "",
                    )
                    for d in self.config.destinations:  # whatever their severity or rate limit
                        entries.append(
                            self._entry(
                                d.name,
                                "storm",
                                now,
                                message,
                                alert_key(d.name, "storm", name, w.start),
                                model_name=name,
                                model_version=version,
                                window_start=w.start,
                                window_end=w.start + window,
                                severity="storm",
                                reason=message["text"],
                                count=w.flagged,
                            )
                        )
                else:
                    writes.append(("add", storm_id, w))
        return held, writes

    # ---------------------------------------------------------- alerts
    @staticmethod
    def _entry(destination, kind, now, message, key, **fields):
        return {
            "alert_key": key,
            "destination": destination,
            "kind": kind,
            "payload": orjson.dumps(message).decode(),
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "entity": None,
            "prediction_id": None,
            "max_score": None,
            "last_error": None,
            **fields,
        }

    def _grouped(self, flags, now, entries, done, connection):
        window, entity = self.config.window, self.config.entity or "entity"
        for d in self.config.destinations:
            groups = group_flags(
                at_least(flags, d.min_severity, self.models.tiers), window, self.models.tiers
            )
            room = None
            if d.rate_limit is not None:
                recent = connection.execute(
                    select(func.count())
                    .select_from(alerts)
                    .where(
                        alerts.c.destination == d.name,
                        alerts.c.kind == "alert",
                        alerts.c.status != "suppressed",
                        alerts.c.created_at > now - d.rate_limit.period,
                    )
                ).scalar_one()
                room = max(d.rate_limit.count - recent, 0)
            for g in groups:
                message = alert_message(g, self.config.base_url or "", entity)
                entry = self._entry(
                    d.name,
                    "alert",
                    now,
                    message,
                    alert_key(d.name, g.model_name, g.entity, g.window_start, g.first_seq),
                    model_name=g.model_name,
                    model_version=g.model_version,
                    entity=g.entity,
                    window_start=g.window_start,
                    window_end=g.window_end,
                    prediction_id=g.prediction_id,
                    severity=g.severity,
                    reason=g.reason,
                    count=g.count,
                    max_score=g.max_score,
                )
                if room is not None and room <= 0:
                    period = d.rate_limit.period
                    entry.update(
                        status="suppressed",
                        next_attempt_at=None,
                        last_error=f"over the rate limit of {d.rate_limit.count} per {period:g}s",
                    )
                    done.suppressed[d.name] += 1
                else:
                    done.alerts[d.name] += 1
                    if room is not None:
                        room -= 1
                entries.append(entry)

    def collect(self, now=None):
        """One pass over the log behind the cursor; a :class:`Pass`."""
        now = time.time() if now is None else now
        done = Pass(alerts=Counter(), suppressed=Counter())
        cursor, upto = self._span(now)
        if upto is None:
            return done
        counts = self._counts(cursor, upto)
        done.rows = sum(v[0] for v in counts.values())
        entries = []
        held, storm_writes = self._storms(counts, now, entries, done)
        flags = self._flags(cursor, upto, held)
        try:
            with self.db.writing() as c:
                moved = c.execute(
                    update(alert_cursor)
                    .where(alert_cursor.c.name == CURSOR, alert_cursor.c.seq == cursor)
                    .values(seq=upto, updated_at=now)
                )
                if moved.rowcount != 1:
                    raise _Moved
                self._grouped(flags, now, entries, done, c)
                self._write_storms(c, storm_writes)
                if entries:
                    dialect = postgresql if c.dialect.name == "postgresql" else sqlite
                    c.execute(
                        dialect.insert(alerts).on_conflict_do_nothing(index_elements=["alert_key"]),
                        entries,
                    )
        except _Moved:
            return Pass(alerts=Counter(), suppressed=Counter())
        return done

    @staticmethod
    def _write_storms(c, writes):
        made = {}
        for action, storm_id, detail in writes:
            storm_id = made.get(storm_id, storm_id)
            if action == "start":
                name, start, baseline, w = detail
                made[storm_id] = c.execute(
                    alert_storms.insert().values(
                        model_name=name,
                        started_at=start,
                        baseline=baseline,
                        rows=w.rows,
                        flagged=w.flagged,
                    )
                ).inserted_primary_key[0]
            elif action == "add":
                c.execute(
                    update(alert_storms)
                    .where(alert_storms.c.id == storm_id)
                    .values(
                        rows=alert_storms.c.rows + detail.rows,
                        flagged=alert_storms.c.flagged + detail.flagged,
                    )
                )
            else:
                c.execute(
                    update(alert_storms)
                    .where(alert_storms.c.id == storm_id)
                    .values(ended_at=detail)
                )

    # -------------------------------------------------------- delivery
    def due(self, now, destinations, limit=200):
        """Each destination's deliveries whose next attempt is due, oldest
        first: ``{destination: rows}``. One indexed lookup a destination, so
        neither the delivered history nor another destination's backlog is
        read."""
        a = alerts.c
        out = {}
        with self.db.reading() as c:
            for name in destinations:
                rows = c.execute(
                    select(a.id, a.alert_key, a.destination, a.payload, a.attempts)
                    .where(
                        a.destination == name,
                        a.status.in_(("pending", "retrying")),
                        a.next_attempt_at <= now,
                    )
                    # the one already retrying first: it probes the receiver, and
                    # the fresh ones keep their attempts until it answers
                    .order_by(a.attempts.desc(), a.next_attempt_at, a.id)
                    .limit(limit)
                ).all()
                if rows:
                    out[name] = rows
        return out

    def mark(self, alert_id, status, attempts, error, next_at=None):
        """Record a failed attempt: ``retrying`` until ``next_at``, or
        ``failed``."""
        values = {"status": status, "attempts": attempts, "next_attempt_at": next_at}
        values["last_error"] = error[:2000]
        with self.db.writing() as c:
            c.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))

    def delivered(self, done):
        """Record ``(id, attempts, at)`` deliveries in one transaction (a
        write each would take the SQLite writer from scoring as often)."""
        if not done:
            return
        statement = (
            update(alerts)
            .where(alerts.c.id == bindparam("alert_id"))
            .values(
                status="delivered",
                attempts=bindparam("n"),
                delivered_at=bindparam("at"),
                next_attempt_at=None,
            )
        )
        with self.db.writing() as c:
            c.execute(statement, [{"alert_id": i, "n": n, "at": at} for i, n, at in done])


# ------------------------------------------------------------ listing
_SHOWN = [c for c in alerts.c if c.name not in ("payload", "alert_key")]
_TIMES = ("window_start", "window_end", "created_at", "next_attempt_at", "delivered_at")


def _shown(row):
    out = {c.name: getattr(row, c.name) for c in _SHOWN}
    for name in _TIMES:
        if out[name] is not None:
            out[name] = iso(out[name])
    out["text"] = orjson.loads(row.payload)["text"]
    return out


def page(db, status=None, destination=None, kind=None, limit=100, cursor=None):
    """A page of deliveries, newest first, and the next page's cursor."""
    where = []
    if status is not None:
        if status not in STATUSES:
            raise Invalid(
                f"status must be one of {', '.join(STATUSES)}; got {status!r}.", field="status"
            )
        where.append(alerts.c.status == status)
    if destination is not None:
        where.append(alerts.c.destination == destination)
    if kind is not None:
        if kind not in ("alert", "storm"):
            raise Invalid(f"kind must be alert or storm; got {kind!r}.", field="kind")
        where.append(alerts.c.kind == kind)
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
            raise Invalid(f"cursor {cursor!r} is not one this service gave.", field="cursor")
        where.append(alerts.c.id < int(cursor))
    query = (
        select(*_SHOWN, alerts.c.payload)
        .where(and_(True, *where))
        .order_by(alerts.c.id.desc())
        .limit(limit + 1)
    )
    with db.reading() as c:
        rows = c.execute(query).all()
        storms = c.execute(select(alert_storms).order_by(alert_storms.c.id.desc()).limit(20)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "alerts": [_shown(r) for r in rows],
        "next_cursor": str(rows[-1].id) if more else None,
        "storms": [
            {
                "model_name": s.model_name,
                "started_at": iso(s.started_at),
                "ended_at": iso(s.ended_at) if s.ended_at is not None else None,
                "baseline": s.baseline,
                "rows": s.rows,
                "flagged": s.flagged,
            }
            for s in storms
        ],
    }
