"""Scoring a request: the rows through the door, the champion's answer and
the challenger's shadow, all logged in one transaction before the answer is
returned. The scoring itself is the library's own
(:meth:`~farout.KMeansAnomalyDetector.findings`), so the service, the
library and the command line give the same numbers.
"""

import secrets
import time

import numpy as np
import orjson

from ..exceptions import InputError
from .errors import Invalid
from .predictions import COLUMNS, record
from .rows import frame_of

__all__ = ["Scorer"]


def _results(model, frame):
    found = model.findings(frame)
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


class Scorer:
    def __init__(self, registry, db, metrics):
        self.registry, self.db, self.metrics = registry, db, metrics

    def _score(self, name, version, rows):
        model = self.registry.load(name, version)
        try:
            return _results(model, frame_of(rows, model.feature_schema()))
        except InputError as error:
            raise Invalid(str(error)) from None

    def score(self, rows, spec=None):
        """The response body for ``rows``, after its log rows committed."""
        start = time.perf_counter()
        name, version, alias = self.registry.resolve(spec)
        answer = self._score(name, version, rows)
        shadow = None
        challenger = self.registry.aliases(name).get("challenger") if alias == "champion" else None
        if challenger is not None and challenger != version:
            shadow = self._score(name, challenger, rows)
        request_id = secrets.token_hex(16)
        # a random 96-bit prefix per request and the row's number: unique,
        # and a thousand times cheaper than a uuid4 per row
        ids = _ids(len(rows))
        inputs = [orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS).decode() for r in rows]
        now = time.time()
        latency = (time.perf_counter() - start) * 1000.0
        log = _log_rows(request_id, now, name, version, alias, False, ids, inputs, answer, latency)
        if shadow is not None:
            log += _log_rows(
                request_id,
                now,
                name,
                challenger,
                "challenger",
                True,
                _ids(len(rows)),
                inputs,
                shadow,
                latency,
            )
        with self.db.writing() as connection:
            record(connection, log)
        self._count(name, version, alias, answer, shadow is not None, len(rows))
        keys = ("anomaly_score", "is_anomaly", "severity", "reason", "cluster")
        columns = [answer[k] for k in keys]
        return {
            "request_id": request_id,
            "model": {"name": name, "version": version, "alias": alias},
            "predictions": [
                {"prediction_id": pid, **dict(zip(keys, values, strict=True))}
                for pid, *values in zip(ids, *columns, strict=True)
            ],
        }

    def _count(self, name, version, alias, answer, shadowed, n):
        m = self.metrics
        m.rows.labels(name, "false").inc(n)
        if shadowed:
            m.rows.labels(name, "true").inc(n)
        for severity, flagged in zip(answer["severity"], answer["is_anomaly"], strict=True):
            if flagged:
                m.alerts.labels(name, severity or "none").inc()
        m.served.labels(name, alias or "pinned").set(version)


def _ids(n):
    prefix = secrets.token_hex(12)
    return [f"{prefix}{i:08x}" for i in range(n)]


def _log_rows(request_id, now, name, version, alias, shadow, ids, inputs, result, latency):
    """Log rows as tuples in the order of :data:`~.predictions.COLUMNS`."""
    n = len(ids)
    columns = {
        "prediction_id": ids,
        "request_id": [request_id] * n,
        "scored_at": [now] * n,
        "model_name": [name] * n,
        "model_version": [version] * n,
        "alias": [alias] * n,
        "shadow": [shadow] * n,
        "row_index": range(n),
        "input": inputs,
        "latency_ms": [latency] * n,
        **{
            k: result[k]
            for k in ("anomaly_score", "threshold", "is_anomaly", "severity", "reason", "cluster")
        },
    }
    return list(zip(*(columns[c] for c in COLUMNS), strict=True))
