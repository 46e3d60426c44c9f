"""A Python client of the scoring service (``farout serve``), on the
standard library alone.

>>> from farout.client import Client
>>> client = Client("http://127.0.0.1:8000", api_key="fo_...")  # doctest: +SKIP
>>> client.score([{"amount": 2450.0, "hour": 3}])["predictions"][0]["is_anomaly"]  # doctest: +SKIP
True
"""

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import orjson

from .exceptions import FaroutError

__all__ = ["APIError", "Client"]


class APIError(FaroutError):
    """The service answered with an error: ``status``, ``code``, and the
    other fields of its JSON error (``row`` and ``column`` for a bad row)."""

    def __init__(self, status, code, message, fields=None, retry_after=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.fields = fields or {}
        self.retry_after = retry_after


def _default(value):
    item = getattr(value, "item", None)  # NumPy and pandas scalars
    if item is not None:
        return item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


class Client:
    """Score rows, manage the registry and read the prediction log.

    Parameters
    ----------
    url : str
        The service's address, e.g. ``http://127.0.0.1:8000``.
    api_key : str, optional
        A key from ``farout keys create``; ``score`` scope to score, read
        and give feedback, ``admin`` also to upload, move aliases and
        recalibrate and retrain.
    timeout : float, default=30
        Seconds to wait for an answer.
    """

    def __init__(self, url, api_key=None, timeout=30.0):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def __repr__(self):  # never shows the key
        return f"Client({self.url!r})"

    # ----------------------------------------------------------- HTTP
    def _request(
        self, method, path, body=None, query=None, content_type="application/json", raw=False
    ):
        binary, url = raw, self.url + path
        if query:
            query = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query.items()}
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if body is not None and content_type == "application/json":
            body = orjson.dumps(body, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
        if body is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                detail = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                detail = {"code": "error", "message": raw.decode(errors="replace")[:500]}
            code, message = detail.pop("code", "error"), detail.pop("message", "")
            retry = error.headers.get("Retry-After")
            raise APIError(error.code, code, message, detail, retry) from None
        if binary:
            return raw
        return json.loads(raw) if kind.startswith("application/json") else raw.decode()

    # -------------------------------------------------------- scoring
    def score(self, rows, model=None):
        """Score rows (a list of dicts, or a DataFrame); returns the
        service's answer: ``request_id``, ``model`` and ``predictions``."""
        if hasattr(rows, "to_dict"):
            rows = rows.to_dict(orient="records")
        body = {"rows": list(rows)}
        if model is not None:
            body["model"] = model
        return self._request("POST", "/v1/score", body)

    def detect(self, frame, model=None):
        """Score a DataFrame; the predictions as a DataFrame indexed like it."""
        import pandas as pd

        answer = self.score(frame, model)
        return pd.DataFrame(answer["predictions"], index=frame.index)

    # ------------------------------------------------------- registry
    def models(self):
        """Every model with its versions and aliases."""
        return self._request("GET", "/v1/models")["models"]

    def version(self, name, version):
        return self._request("GET", f"/v1/models/{name}/versions/{int(version)}")

    def upload(self, path, name=None):
        """Register a model file (from ``farout fit`` or ``save``) as the
        next version of ``name`` (default: the file's stem)."""
        path = Path(path)
        boundary = uuid.uuid4().hex
        parts = []
        if name is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'.encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        body = b"".join(parts) + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        return self._request(
            "POST", "/v1/models", body, content_type=f"multipart/form-data; boundary={boundary}"
        )

    def set_alias(self, name, alias, version):
        """Point ``champion`` or ``challenger`` at a version; rollback is
        pointing ``champion`` back."""
        return self._request("PUT", f"/v1/models/{name}/aliases/{alias}", {"version": int(version)})

    def clear_alias(self, name, alias):
        return self._request("DELETE", f"/v1/models/{name}/aliases/{alias}")

    def audit(self, name):
        """The registry changes of ``name``: who, when, from and to."""
        return self._request("GET", f"/v1/models/{name}/audit")["changes"]

    def compare(self, name, since=None):
        """Champion against challenger on the logged rows."""
        return self._request("GET", f"/v1/models/{name}/compare", query={"since": since})

    # ---------------------------------------------------- predictions
    def predictions(self, **filters):
        """One page of the log: ``since``, ``until``, ``flagged``,
        ``severity``, ``model``, ``shadow``, ``limit``, ``cursor``,
        ``reviewed`` (False: the review queue)."""
        return self._request("GET", "/v1/predictions", query=filters)

    def iter_predictions(self, **filters):
        """Every logged prediction that matches, page after page."""
        while True:
            page = self.predictions(**filters)
            yield from page["predictions"]
            if page["next_cursor"] is None:
                return
            filters["cursor"] = page["next_cursor"]

    def prediction(self, prediction_id):
        """The whole log row of one prediction, with its input."""
        return self._request("GET", f"/v1/predictions/{prediction_id}")

    # ----------------------------------------------------- monitoring
    def monitoring(self, model=None, since=None, until=None, window=None, persist=None):
        """Score and feature drift against the model's training reference,
        the alert rate by ``window``, and the retrain recommendation."""
        query = {"model": model, "since": since, "until": until, "window": window}
        return self._request("GET", "/v1/monitoring", query={**query, "persist": persist})

    def alerts(self, **filters):
        """A page of the webhook deliveries, newest first, and the recent
        storms: ``status``, ``destination``, ``kind``, ``limit``,
        ``cursor``."""
        return self._request("GET", "/v1/alerts", query=filters)

    # ------------------------------------------------------- feedback
    def feedback(self, prediction_id=None, verdict=None, analyst=None, note=None, items=None):
        """Record an analyst's verdict (``"anomaly"``, ``"normal"`` or
        ``"unsure"``) on a prediction, or ``items``, a list of dicts with
        those keys, in one request. Returns the stored verdicts."""
        if items is None:
            items = {"prediction_id": prediction_id, "verdict": verdict, "analyst": analyst}
            if note is not None:
                items["note"] = note
        return self._request("POST", "/v1/feedback", items)["feedback"]

    def feedback_summary(
        self, since=None, until=None, by=None, window=None, model=None, shadow=None
    ):
        """Precision of the alerts by tier, version, ``by`` and window, the
        review backlog and the analysts' agreement."""
        query = {"since": since, "until": until, "by": by, "window": window, "model": model}
        return self._request("GET", "/v1/feedback/summary", query={**query, "shadow": shadow})

    def export(
        self, path, since=None, until=None, model=None, shadow=None, flagged=None, history=None
    ):
        """Write the predictions with their verdicts to ``path``, CSV or
        Parquet by its extension (under a temporary name, then renamed).
        Returns the path."""
        from .outputs import write_bytes

        fmt = "parquet" if str(path).lower().endswith((".parquet", ".pq")) else "csv"
        query = {"format": fmt, "since": since, "until": until, "model": model}
        query.update(shadow=shadow, flagged=flagged, history=history)
        data = self._request("GET", "/v1/feedback/export", query=query, raw=True)
        return write_bytes(path, data)

    def recalibrate(
        self, name, target, value=None, fp_cost=None, fn_cost=None, since=None, until=None
    ):
        """Fit a new threshold to the feedback on ``name``'s champion
        (``target`` ``"precision"`` or ``"alert_rate"`` with ``value``, or
        ``"cost"`` with ``fp_cost`` and ``fn_cost``); the new version is set
        as challenger. Returns ``{"version", "recalibration"}``."""
        body = {"target": target, "value": value, "fp_cost": fp_cost, "fn_cost": fn_cost}
        body.update(since=since, until=until)
        body = {k: v for k, v in body.items() if v is not None}
        return self._request("POST", f"/v1/models/{name}/recalibrate", body)

    def retrain(self, name, since, until=None, gates=None, holdout=None):
        """Retrain ``name`` on its logged inputs since ``since`` (ISO 8601,
        Unix seconds or a span such as ``"30d"``) behind ``gates`` (a dict
        of :mod:`farout.gates` fields). Returns ``{"outcome", "version",
        "champion", "retraining"}``: ``outcome`` ``"challenger"`` or
        ``"rejected"``; an audit that fails is an :class:`APIError` 422
        with code ``audit_failed`` and the problems in its ``fields``."""
        body = {"since": since, "until": until, "gates": gates, "holdout": holdout}
        body = {k: v for k, v in body.items() if v is not None}
        return self._request("POST", f"/v1/models/{name}/retrain", body)

    def health(self):
        return self._request("GET", "/healthz")
