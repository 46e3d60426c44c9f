"""Scoring requests: the rows through the door, the champion's answer and
the challenger's shadow, all logged in one transaction before any answer
is returned. The scoring itself is the library's own
(:meth:`~farout.KMeansAnomalyDetector.findings`), so the service, the
library and the command line give the same numbers.

Requests that arrive together are scored together (:mod:`.batcher`): one
``findings`` call per model and one commit for all of them, since the
library's fixed cost per call, not its cost per row, is what a one-row
request pays.
"""

import secrets
import time

import numpy as np
import orjson
import pandas as pd

from ..exceptions import InputError
from .errors import Invalid, ServiceError
from .predictions import ROW_COLUMNS, record
from .rows import columns_of

__all__ = ["Scorer"]

_ANSWER = ("anomaly_score", "is_anomaly", "severity", "reason", "cluster")
# the results logged, after a row's id, number and input
_LOGGED = ROW_COLUMNS[3:]


def _results(model, columns):
    """The library's findings on checked columns, as lists."""
    found = model.findings(pd.DataFrame(columns))
    reason = np.full(len(found.scores), "", dtype=object)
    reason[found.reason_rows] = found.reason_texts
    tier_of = np.array([*found.tier_names, None], dtype=object)
    return {
        "anomaly_score": found.scores.tolist(),
        "is_anomaly": found.flags.tolist(),
        "severity": tier_of[found.tiers].tolist(),
        "reason": reason.tolist(),
        "cluster": found.labels.tolist(),
        "threshold": model.threshold_.cuts(found.labels).tolist(),
    }


def _alone(model, columns):
    try:
        return _results(model, columns)
    except InputError as error:  # rows are numbered within their request
        fields = {k: getattr(error, k) for k in ("row", "column")}
        return Invalid(str(error), **{k: v for k, v in fields.items() if v is not None})


def _together(model, members):
    """Each member's results (or its error), from one call when all score."""
    if len(members) == 1:
        return [_alone(model, members[0])]
    joined = {c: np.concatenate([m[c] for m in members]) for c in members[0]}
    try:
        results = _results(model, joined)
    except InputError:  # find whose row it is, and score the others
        return [_alone(model, m) for m in members]
    out, start = [], 0
    for m in members:
        stop = start + len(next(iter(m.values())))
        out.append({k: v[start:stop] for k, v in results.items()})
        start = stop
    return out


def _predictions(ids, answer):
    # a dict display per row: a third of the time of dict(zip(...))
    return [
        {
            "prediction_id": p,
            "anomaly_score": s,
            "is_anomaly": f,
            "severity": v,
            "reason": r,
            "cluster": c,
        }
        for p, s, f, v, r, c in zip(ids, *(answer[k] for k in _ANSWER), strict=True)
    ]


def _ids(request_id, n):
    # the request's random id and the row's number: unique, and far cheaper
    # than a uuid4 per row
    prefix = request_id[:24]
    return [f"{prefix}{i:08x}" for i in range(n)]


def _logged(request, ids, inputs, result):
    """A request's entry for :func:`~.predictions.record`: ``request``, its
    values in the order of :data:`~.predictions.REQUEST_COLUMNS`, and its
    rows' values column by column, in that of
    :data:`~.predictions.ROW_COLUMNS`."""
    return request, (ids, range(len(ids)), inputs, *(result[k] for k in _LOGGED))


class Scorer:
    """Scores requests against the registry and logs them in ``db``."""

    def __init__(self, registry, db, metrics):
        self.registry, self.db, self.metrics = registry, db, metrics
        # (name, version) -> feature_schema(), which builds a copy per call;
        # versions are immutable, so it never goes stale
        self._schemas = {}

    def _schema(self, name, version, model):
        schema = self._schemas.get((name, version))
        if schema is None:
            schema = self._schemas[(name, version)] = model.feature_schema()
        return schema

    def score(self, rows, spec=None):
        """The answer to one request, after its log rows committed."""
        (answer,) = self.score_many([(rows, spec, time.perf_counter())])
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def score_many(self, requests):
        """Answers to ``(rows, spec, started)`` requests, in order: each a
        response body, or the error to answer with. All the log rows go in
        one transaction; if it fails, every request gets its error."""
        return self.commit(self.prepare(requests))

    def prepare(self, requests):
        """Everything of :meth:`score_many` but the write: the answers (or
        errors) of ``requests``, the log rows to commit before any is sent,
        and what the metrics count once they are committed."""
        self.metrics.batch.observe(len(requests))
        out = [None] * len(requests)
        groups = {}
        for i, (rows, spec, _) in enumerate(requests):
            try:
                name, version, alias = self.registry.resolve(spec)
                model = self.registry.load(name, version)
                columns = columns_of(rows, self._schema(name, version, model))
                groups.setdefault((name, version, alias), []).append((i, columns))
            except Exception as error:  # one bad request never fails the others
                out[i] = error
        log, counted = [], []
        for (name, version, alias), members in groups.items():
            columns = [c for _, c in members]
            answers = _together(self.registry.load(name, version), columns)
            challenger = self.registry.aliases(name).get("challenger")
            shadows = [None] * len(members)
            if alias == "champion" and challenger not in (None, version):
                shadows = self._shadow(name, challenger, [requests[i][0] for i, _ in members])
            now = time.time()
            for (i, _), answer, shadow in zip(members, answers, shadows, strict=True):
                if isinstance(answer, BaseException):
                    out[i] = answer
                    continue
                rows, _, started = requests[i]
                request_id = secrets.token_hex(16)
                ids = _ids(request_id, len(rows))
                inputs = [orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS).decode() for r in rows]
                latency = (time.perf_counter() - started) * 1000.0
                served = (request_id, now, name, version, alias, False, latency)
                log.append(_logged(served, ids, inputs, answer))
                if isinstance(shadow, dict):  # a row the challenger refuses is not shadowed
                    shadowed = (request_id, now, name, challenger, "challenger", True, latency)
                    log.append(
                        _logged(shadowed, _ids(secrets.token_hex(16), len(rows)), inputs, shadow)
                    )
                out[i] = {
                    "request_id": request_id,
                    "model": {"name": name, "version": version, "alias": alias},
                    "predictions": _predictions(ids, answer),
                }
                counted.append((name, version, alias, answer, isinstance(shadow, dict), len(rows)))
        return out, log, counted

    def commit(self, prepared):
        """The answers of a :meth:`prepare`, once its log rows are
        committed; if the commit fails, every answer becomes its error."""
        out, log, counted = prepared
        if log:
            try:
                with self.db.writing() as connection:
                    record(connection, log)
            except ServiceError as error:
                return [error if isinstance(a, dict) else a for a in out]
        for entry in counted:
            self._count(*entry)
        return out

    def _shadow(self, name, challenger, requests_rows):
        """The challenger's results for each request's rows, checked against
        its own columns; None where it cannot score them. A challenger never
        blocks an answer."""
        try:
            model = self.registry.load(name, challenger)
            schema = self._schema(name, challenger, model)
        except Exception:
            return [None] * len(requests_rows)
        fit, where = [], []
        for k, rows in enumerate(requests_rows):
            try:
                fit.append(columns_of(rows, schema))
                where.append(k)
            except Exception:
                continue
        out = [None] * len(requests_rows)
        if fit:
            try:
                results = _together(model, fit)
            except Exception:
                return out
            for k, result in zip(where, results, strict=True):
                out[k] = result if isinstance(result, dict) else None
        return out

    def _count(self, name, version, alias, answer, shadowed, n):
        m = self.metrics
        m.rows.labels(name, "false").inc(n)
        if shadowed:
            m.rows.labels(name, "true").inc(n)
        for severity, flagged in zip(answer["severity"], answer["is_anomaly"], strict=True):
            if flagged:
                m.alerts.labels(name, severity or "none").inc()
        m.served.labels(name, alias or "pinned").set(version)
