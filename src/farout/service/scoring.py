"""Scoring a request: the rows through the door, the champion's answer and
the challenger's shadow, all logged in one transaction before the answer is
returned. The scoring itself is the library's own
(:meth:`~farout.KMeansAnomalyDetector.findings`), so the service, the
library and the command line give the same numbers.
"""

import time
import uuid

import numpy as np
import orjson

from ..exceptions import InputError
from .errors import Invalid
from .predictions import record
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
        request_id = uuid.uuid4().hex
        ids = [uuid.uuid4().hex for _ in rows]
        inputs = [orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS).decode() for r in rows]
        now = time.time()
        latency = (time.perf_counter() - start) * 1000.0
        log = self._log_rows(
            request_id, now, name, version, alias, False, ids, inputs, answer, latency
        )
        if shadow is not None:
            shadow_ids = [uuid.uuid4().hex for _ in rows]
            log += self._log_rows(
                request_id,
                now,
                name,
                challenger,
                "challenger",
                True,
                shadow_ids,
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

    @staticmethod
    def _log_rows(request_id, now, name, version, alias, shadow, ids, inputs, result, latency):
        return [
            {
                "prediction_id": pid,
                "request_id": request_id,
                "scored_at": now,
                "model_name": name,
                "model_version": version,
                "alias": alias,
                "shadow": shadow,
                "row_index": i,
                "input": inputs[i],
                "anomaly_score": result["anomaly_score"][i],
                "threshold": result["threshold"][i],
                "is_anomaly": result["is_anomaly"][i],
                "severity": result["severity"][i],
                "reason": result["reason"][i],
                "cluster": result["cluster"][i],
                "latency_ms": latency,
            }
            for i, pid in enumerate(ids)
        ]

    def _count(self, name, version, alias, answer, shadowed, n):
        m = self.metrics
        m.rows.labels(name, "false").inc(n)
        if shadowed:
            m.rows.labels(name, "true").inc(n)
        for severity, flagged in zip(answer["severity"], answer["is_anomaly"], strict=True):
            if flagged:
                m.alerts.labels(name, severity or "none").inc()
        m.served.labels(name, alias or "pinned").set(version)
