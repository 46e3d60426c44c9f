"""The HTTP API: an app factory over the registry, the prediction log and
the keys. Routes parse, check the key and call down; every error leaves as
the same JSON shape (:mod:`farout.service.errors`).

OpenAPI is at ``/openapi.json`` and its pages at ``/docs``.
"""

import contextlib
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException

from .. import __version__
from . import feedback, predictions
from .alerts.routes import alert_routes
from .batcher import Batcher
from .dashboard import dashboard_routes
from .database import DB_ERRORS, Database
from .errors import Invalid, NotFound, ServiceError, Unavailable
from .keys import Keys
from .metrics import Metrics
from .monitoring import Monitoring, monitoring
from .recalibration import RecalibrateRequest, recalibrate_champion
from .registry import Registry
from .retraining import RetrainRequest, retrain_from_log
from .scoring import Scorer
from .settings import Settings

__all__ = ["create_app"]


class ScoreRequest(BaseModel):
    rows: list[dict[str, Any]] = Field(description="The rows to score, as column: value objects.")
    model: str | None = Field(
        None, description="NAME@ALIAS or NAME/VERSION; default: the only model's champion."
    )


# versions and page sizes fit the database's 32-bit integers
Version = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="A version number.")]


class AliasRequest(BaseModel):
    version: int = Field(ge=1, le=2**31 - 1, description="The version the alias points at.")


def _score_body(raw):
    """``(rows, model)`` of a ``POST /v1/score`` body, as ``ScoreRequest``
    describes it."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Invalid(f"the body is not valid JSON: {error}", field="body") from None
    if not isinstance(body, dict) or "rows" not in body:
        raise Invalid('the body must be an object with "rows": [{...}, ...].', field="rows")
    rows, model = body["rows"], body.get("model")
    if not isinstance(rows, list):
        raise Invalid(f'"rows" must be a list of objects, got {type(rows).__name__}.', field="rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise Invalid(f"rows[{i}] must be an object of column: value.", row=i, field="rows")
    if model is not None and not isinstance(model, str):
        raise Invalid('"model" must be a string such as "NAME@champion".', field="model")
    extra = set(body) - {"rows", "model"}
    if extra:
        raise Invalid(
            f"unknown fields {sorted(extra)}; the body takes rows and model.", field="body"
        )
    return rows, model


def _error(status, code, message, headers=None, **fields):
    body = {"error": {"code": code, "message": message, **fields}}
    return JSONResponse(body, status_code=status, headers=headers)


def _handlers(app):
    @app.exception_handler(ServiceError)
    def service_error(_request, error):
        headers = (
            {"Retry-After": str(error.retry_after)} if isinstance(error, Unavailable) else None
        )
        if error.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_request, error):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, "invalid", f"{where or 'request'}: {first.get('msg')}", field=where)

    @app.exception_handler(HTTPException)
    def http_error(_request, error):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            error.status_code, "error"
        )
        return _error(error.status_code, code, str(error.detail), headers=error.headers)

    @app.exception_handler(Exception)
    def unexpected(_request, _exc):
        # the traceback goes to the server's log; the client gets JSON
        return _error(
            500, "internal", "the service failed unexpectedly; the server's log has the details."
        )

    for kind in DB_ERRORS:

        @app.exception_handler(kind)
        def database_error(_request, _error_):
            return _error(
                503,
                "unavailable",
                "the database cannot take the request now; retry later.",
                headers={"Retry-After": "1"},
            )


class _Observe:
    """Counts each request and its latency by route template (a pure ASGI
    middleware: no per-request task, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app, metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status[0])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


class _Limit:
    """Refuses a body larger than its route takes, with a 413: at once when
    ``Content-Length`` says so, else when the bytes read pass the limit.
    Model uploads may be larger than other bodies; they are read only after
    their key is checked (the upload route parses its own form).

    Not Starlette's ``RequestBodyLimitMiddleware``: its 413 is plain text,
    and it turns a 401 on an oversized body into that 413."""

    def __init__(self, app, max_body, max_upload):
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/models"
        limit = self.max_upload if upload else self.max_body
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            response = _error(413, "too_large", _too_large(limit), field="body")
            return await response(scope, receive, send)
        seen = [0]

        async def receiving():
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > limit:
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, receiving, send)


def _too_large(limit):
    return (
        f"the body is larger than the {limit:,} bytes this service takes here; split the "
        "rows over several requests, or score the file with `farout score`."
    )


def create_app(settings):
    """The service's FastAPI app on ``settings`` (:class:`Settings`); the
    database schema is upgraded first."""
    if not isinstance(settings, Settings):
        settings = Settings(registry=Path(settings))
    db = Database(settings.db_url, busy_timeout=settings.busy_timeout)
    db.upgrade()
    registry = Registry(settings.registry, db)
    keys, metrics = Keys(db), Metrics()
    batcher = Batcher(Scorer(registry, db, metrics))
    alerting = None
    if settings.alerts is not None:  # webhooks read the log off the request path
        from .alerts.worker import AlertWorker

        alerting = AlertWorker(db, registry, settings.alerts, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        if alerting is not None:
            alerting.start()
        # the libraries' objects, imported once, out of the collector's
        # sight: a full collection over them stalled every request in
        # flight (p99 109 -> 15 ms for 1-row requests)
        gc.freeze()
        yield
        batcher.stop()  # requests already queued are still logged and answered
        if alerting is not None:
            alerting.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="farout",
        version=__version__,
        description="Score rows with farout models; every prediction is logged before it is answered.",
    )
    app.state.db, app.state.registry, app.state.keys = db, registry, keys
    app.add_middleware(_Limit, max_body=settings.max_body, max_upload=settings.max_upload)
    app.state.settings = settings
    app.add_middleware(_Observe, metrics=metrics)
    _handlers(app)
    bearer = HTTPBearer(auto_error=False)

    def need(scope):
        # async: a dictionary lookup, not worth a trip to the thread pool,
        # except when the cache must be read again from the database
        async def check(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ):
            header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
            if keys.stale(header):
                return await run_in_threadpool(keys.check, header, scope)
            return keys.check(header, scope, reload=False)

        return check

    reader, admin = Depends(need("score")), Depends(need("admin"))

    @app.get("/healthz", tags=["operations"])
    def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["operations"])
    def readyz():
        if not db.ping():
            return _error(503, "unavailable", "the database does not answer.", {"Retry-After": "1"})
        return {"status": "ready", "schema": db.revision()}

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def prometheus():
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/score",
        tags=["scoring"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ScoreRequest.model_json_schema()}},
            }
        },
    )
    async def score(request: Request, key=reader):
        # parsed and answered with orjson: FastAPI's own validation and
        # encoder cost more than the scoring for a 1,000-row request
        rows, model = _score_body(await request.body())
        answer = await batcher.score(rows, model)
        return Response(orjson.dumps(answer), media_type="application/json")

    @app.get("/v1/models", tags=["registry"])
    def models(key=reader):
        return {"models": registry.models()}

    @app.post("/v1/models", tags=["registry"], status_code=201, openapi_extra=_UPLOAD_BODY)
    async def upload(request: Request, key=admin):
        """Register a model file (multipart ``file``, optional ``name``) as
        the next version. The form is read after the key is checked, so an
        upload without a valid admin key is refused before it is received."""
        try:
            form = await request.form(max_files=1, max_fields=2)
        except HTTPException as error:
            if error.status_code == 413:
                raise
            raise Invalid(
                f"the body must be a multipart form with a 'file' field: {error.detail}",
                field="file",
            ) from None
        try:
            file, name = form.get("file"), form.get("name")
            if not isinstance(file, StarletteUpload):
                raise Invalid(
                    "the form needs a 'file' field holding the model file "
                    "(curl -F file=@model.farout).",
                    field="file",
                )
            if name is not None and not isinstance(name, str):
                raise Invalid("the 'name' field must be text.", field="name")
            name = name or Path(file.filename or "model").stem
            return await run_in_threadpool(_register_upload, settings, registry, file, name, key)
        finally:
            await form.close()

    @app.get("/v1/models/{name}/versions/{version}", tags=["registry"])
    def version(name: str, version: Version, key=reader):
        return registry.version(name, version)

    @app.put("/v1/models/{name}/aliases/{alias}", tags=["registry"])
    def set_alias(name: str, alias: str, body: AliasRequest, key=admin):
        return registry.set_alias(name, alias, body.version, actor=f"key {key[0]} ({key[1]})")

    @app.delete("/v1/models/{name}/aliases/{alias}", tags=["registry"])
    def clear_alias(name: str, alias: str, key=admin):
        return registry.clear_alias(name, alias, actor=f"key {key[0]} ({key[1]})")

    @app.get("/v1/models/{name}/audit", tags=["registry"])
    def audit(name: str, key=reader):
        return {"name": name, "changes": registry.audit(name)}

    @app.get("/v1/models/{name}/compare", tags=["registry"])
    def compare(name: str, since: str | None = None, key=reader):
        aliases = registry.aliases(name)
        if not aliases and not registry.exists(name):
            raise NotFound(f"no model is named {name!r}; GET /v1/models lists them.", field="name")
        if "challenger" not in aliases or "champion" not in aliases:
            raise Invalid(
                f"model {name!r} needs both a champion and a challenger to compare; "
                f"it has {sorted(aliases) or 'no aliases'}.",
                field="name",
            )
        return predictions.compare(db, name, aliases["champion"], aliases["challenger"], since)

    @app.get("/v1/predictions", tags=["predictions"])
    def listing(
        since: str | None = None,
        until: str | None = None,
        flagged: bool | None = None,
        severity: str | None = None,
        model: str | None = None,
        shadow: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=predictions.MAX_PAGE)] = predictions.PAGE,
        cursor: str | None = None,
        reviewed: bool | None = None,
        key=reader,
    ):
        """Log rows, oldest first; ``reviewed=false`` keeps those no analyst
        has judged yet (the review queue)."""
        rows, following = predictions.page(
            db, since, until, flagged, severity, model, shadow, limit, cursor, reviewed
        )
        return {"predictions": rows, "next_cursor": following}

    @app.get("/v1/predictions/{prediction_id}", tags=["predictions"])
    def one(prediction_id: str, key=reader):
        """The whole log row, with its input and every verdict on it."""
        return {
            **predictions.get(db, prediction_id),
            "feedback": feedback.history(db, prediction_id),
        }

    @app.get("/v1/monitoring", tags=["monitoring"], response_model=Monitoring)
    def monitor(
        model: str | None = None,
        since: str | None = None,
        until: str | None = None,
        window: str = "1h",
        persist: int = 3,
        key=reader,
    ):
        """The served model's live scores and features against its training
        reference, its alert rate by window, and whether to retrain."""
        return monitoring(db, registry, model, since, until, window, persist, settings.alerts)

    _feedback_routes(app, db, registry, settings, reader, admin)
    dashboard_routes(app)
    alert_routes(app, db, reader)
    return app


_FEEDBACK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        feedback.FeedbackItem.model_json_schema(),
                        {
                            "type": "array",
                            "items": feedback.FeedbackItem.model_json_schema(),
                            "minItems": 1,
                            "maxItems": feedback.MAX_ITEMS,
                        },
                    ]
                }
            }
        },
    }
}


def _feedback_routes(app, db, registry, settings, reader, admin):
    """Analysts' verdicts, their summary and export, and recalibration."""

    @app.post("/v1/feedback", tags=["feedback"], status_code=201, openapi_extra=_FEEDBACK_BODY)
    async def give_feedback(request: Request, key=reader):
        """One verdict, or a list of them; each is kept, and each analyst's
        latest on a prediction counts."""
        items = feedback.parse(await request.body())
        return {"feedback": await run_in_threadpool(feedback.record, db, items, key[0])}

    @app.get("/v1/feedback/summary", tags=["feedback"])
    def feedback_summary(
        since: str | None = None,
        until: str | None = None,
        by: str | None = None,
        window: str = "1d",
        model: str | None = None,
        shadow: bool = False,
        key=reader,
    ):
        """Precision of the alerts by tier, model version, ``by`` and time
        window; the review backlog; the analysts' agreement."""
        return feedback.summary(db, since, until, by, window, model, shadow)

    @app.get("/v1/feedback/export", tags=["feedback"])
    def feedback_export(
        format: Literal["csv", "parquet"] = "csv",
        since: str | None = None,
        until: str | None = None,
        model: str | None = None,
        shadow: bool = False,
        flagged: bool | None = None,
        history: bool = False,
        key=reader,
    ):
        """The predictions with their verdicts (each analyst's latest, or
        with ``history`` every one), as CSV or Parquet."""
        folder = tempfile.mkdtemp(prefix="export-", dir=_incoming(settings))
        path = os.path.join(folder, f"feedback.{format}")
        try:
            feedback.export(db, path, since, until, model, shadow, flagged, history)
        except BaseException:
            _remove(folder)
            raise
        return FileResponse(
            path,
            media_type=feedback.EXPORT_TYPES[format],
            filename=f"feedback.{format}",
            background=BackgroundTask(_remove, folder),
        )

    @app.post("/v1/models/{name}/recalibrate", tags=["registry"], status_code=201)
    def recalibrate(name: str, body: RecalibrateRequest, key=admin):
        """A new version with a threshold fitted to the feedback, set as
        challenger (never champion)."""
        return recalibrate_champion(registry, db, name, body, actor=f"key {key[0]} ({key[1]})")

    @app.post("/v1/models/{name}/retrain", tags=["registry"], status_code=201)
    def retrain(name: str, body: RetrainRequest, key=admin):
        """A new version fitted with the champion's parameters on a window of
        the log (rows analysts marked as anomalies left out), audited first
        (422 with the audit when it fails) and judged against the champion on
        held-out rows: set as challenger if it passes its gates, stored as
        rejected if not ("outcome" says which). Never champion."""
        return retrain_from_log(registry, db, name, body, actor=f"key {key[0]} ({key[1]})")


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                    },
                }
            }
        },
    }
}


def _register_upload(settings, registry, file, name, key):
    """The uploaded file copied under a temporary name, then registered."""
    fd, temporary = tempfile.mkstemp(dir=_incoming(settings), suffix=".farout")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in iter(lambda: file.file.read(1 << 20), b""):
                out.write(block)
        return registry.add(temporary, name, actor=f"key {key[0]} ({key[1]})")
    except OSError as error:
        raise Unavailable(
            f"could not receive the file ({error.strerror}); nothing was registered."
        ) from error
    finally:
        Path(temporary).unlink(missing_ok=True)


def _incoming(settings):
    folder = Path(settings.registry) / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _remove(folder):
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
