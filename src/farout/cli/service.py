"""``farout serve``, ``farout keys``, ``farout feedback`` and ``farout
retrain``: the scoring service's commands.
FastAPI, SQLAlchemy and uvicorn load only here."""

import json
import sys
import tempfile
from pathlib import Path

from ..exceptions import FaroutError, InputError

__all__ = ["cmd_feedback", "cmd_keys", "cmd_retrain", "cmd_serve"]

DEMO_MODEL = "transactions"


class _Missing(FaroutError):
    exit_code = 2


def _service():
    try:
        from .. import service
        from ..service.database import Database, SchemaError
        from ..service.errors import ServiceError
    except ImportError as error:
        raise _Missing(
            f'the service needs {error.name}: pip install "farout[service]" (or make serve).'
        ) from None
    return service, Database, SchemaError, ServiceError


def _settings(args):
    service, *_ = _service()
    alerts = None
    if getattr(args, "alerts", None):
        from ..service.alerts.config import load_alerts

        alerts = load_alerts(args.alerts).with_base_url(f"http://{args.host}:{args.port}")
    return service.Settings(
        registry=Path(args.registry),
        db=args.db,
        busy_timeout=getattr(args, "busy_timeout", 5.0),
        max_body=getattr(args, "max_body", 64 << 20),
        max_upload=getattr(args, "max_upload", 1 << 30),
        alerts=alerts,
    )


def _open(args):
    """The service database of ``args``, upgraded, as ``(db, Keys)``."""
    _, Database, SchemaError, _ = _service()
    from ..service.keys import Keys

    settings = _settings(args)
    db = Database(settings.db_url)
    try:
        db.upgrade()
    except SchemaError as error:
        raise InputError(str(error)) from None
    return db, Keys(db)


def cmd_keys(args):
    *_, ServiceError = _service()
    db, keys = _open(args)
    try:
        if args.action == "create":
            key_id, key = keys.create(args.scope, args.name)
            print(f"created key {key_id} with scope {args.scope!r}; it is shown only once:")
            print(key)
        elif args.action == "revoke":
            keys.revoke(args.key_id)
            print(f"revoked key {args.key_id}")
        else:
            for k in keys.list():
                state = "revoked" if k["revoked_at"] else "live"
                print(f"{k['key_id']}  {k['scope']:<6} {state:<8} {k['name']}")
    except ServiceError as error:
        raise InputError(error.message) from None
    finally:
        db.close()


def cmd_feedback(args):
    *_, ServiceError = _service()
    from ..service.feedback import export

    db, _ = _open(args)
    try:
        written = export(
            db,
            args.output,
            since=args.since,
            until=args.until,
            model=args.model,
            shadow=args.shadow,
            flagged=True if args.flagged else None,
            history=args.history,
        )
    except ServiceError as error:
        raise InputError(error.message) from None
    finally:
        db.close()
    print(f"{written:,} rows (predictions with their verdicts) written to {args.output}")


def _demo(args, app):
    """Fit the demo model and register it if the registry has none; make an
    admin key; print a working curl line."""
    from ..datasets import make_transactions
    from ..demo import LABEL_COLUMNS, demo_detector

    registry, keys = app.state.registry, app.state.keys
    data = make_transactions(20_000, random_state=0).drop(columns=LABEL_COLUMNS)
    if not registry.models():
        print("fitting the demo model on 20,000 generated card transactions ...", file=sys.stderr)
        model = demo_detector(random_state=0).fit(data)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{DEMO_MODEL}.farout"
            model.save(path)
            registry.add(path, DEMO_MODEL, actor="farout serve --demo")
    _, key = keys.create("admin", "demo")
    row = data.iloc[0].to_dict()
    row["amount"] = 2450.0
    body = json.dumps(
        {"rows": [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}]}
    )
    url = f"http://{args.host}:{args.port}"
    print(f"\nfarout serves on {url}  (OpenAPI pages: {url}/docs)")
    print("an admin key for this demo, shown once:")
    print(f"  {key}")
    print("score a row:")
    print(
        f"  curl -s {url}/v1/score -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{body}'\n",
        flush=True,
    )


def cmd_serve(args):
    _, _, SchemaError, _ = _service()
    import uvicorn

    from ..service import create_app

    try:
        app = create_app(_settings(args))
    except SchemaError as error:
        raise InputError(str(error)) from None
    if args.demo:
        _demo(args, app)
    else:
        print(
            f"farout serves on http://{args.host}:{args.port} (registry {args.registry})",
            flush=True,
        )
    if app.state.settings.alerts is not None:
        names = ", ".join(d.name for d in app.state.settings.alerts.destinations)
        print(f"alerts go to {names} ({args.alerts})", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning" if args.quiet else "info",
        access_log=not args.quiet,
    )


def _gates(args):
    from ..gates import GATE_FIELDS, make_gates, read_gates

    base = read_gates(args.gates) if args.gates else None
    flags = {k: getattr(args, k) for k in GATE_FIELDS if getattr(args, k, None) is not None}
    return make_gates(flags, base, source="the gate flags")


def _audit_failed(args, error):
    if args.json:
        print(json.dumps({"outcome": "audit_failed", **error.fields}, indent=2, allow_nan=False))
        return
    print("the training window fails its audit; nothing was fitted or registered.")
    print("row numbers are 0-based rows of the window, oldest first.\n")
    ids = error.fields.get("prediction_ids") or {}
    for p in error.fields["problems"]:
        shown = [f"{r} ({ids[str(r)]})" if str(r) in ids else str(r) for r in p["rows"]]
        print(
            f"- {p['check']}: {p['message']}"
            + (f"; prediction ids: {', '.join(shown)}" if ids and shown else "")
        )
    print("\n" + error.report)


def cmd_retrain(args):
    *_, ServiceError = _service()
    from ..service.registry import Registry
    from ..service.retraining import (
        AuditRefused,
        Rejected,
        collect,
        file_window,
        retrain_version,
    )

    gates = _gates(args)
    db, _ = _open(args)
    try:
        registry = Registry(Path(args.registry), db)

        def window_of(detector):
            if args.data is not None:
                return file_window(args.data, detector, args.time_column, args.format, args.sep)
            return collect(db, detector, name, args.from_log, args.until)

        name = args.name or registry.resolve(None)[0]
        done = retrain_version(
            registry, db, name, window_of, gates, args.holdout, actor="farout retrain"
        )
    except AuditRefused as error:
        _audit_failed(args, error)
        raise InputError(error.message) from None
    except ServiceError as error:
        raise InputError(error.message) from None
    finally:
        db.close()
    if args.json:
        print(json.dumps(done.to_dict(), indent=2, allow_nan=False))
    else:
        print(done.to_text())
    if done.outcome == "rejected":
        v = done.version
        failed = done.result.failed
        raise Rejected(
            f"{v['name']}/{v['version']} was rejected by gate{'s' if len(failed) > 1 else ''} "
            f"{', '.join(failed)}."
        )
