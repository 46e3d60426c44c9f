"""The arguments of the service's commands: ``serve``, ``keys``,
``feedback``, ``retrain`` and the offline ``recalibrate``. Light, as
:mod:`.arguments` is: argparse only."""

import argparse

from ..formats import FORMATS

__all__ = ["SERVICE_DETAILS", "add_service_commands", "service_args"]

# What each command does beyond its one-line help, and examples to copy.
SERVICE_DETAILS = {
    "serve": (
        "Every prediction is logged in the database before it is answered. Models are "
        "uploaded to the registry (POST /v1/models) and served by their champion alias; a "
        "challenger is scored in shadow. Requests need an API key (farout keys create).",
        [
            "farout serve --demo            # demo model, a key and a curl line",
            "farout serve --registry models --port 8000",
            "farout serve --db postgresql+psycopg://farout@localhost/farout",
            "farout serve --alerts alerts.toml  # webhooks (Slack's JSON), grouped, rate-limited",
        ],
    ),
    "keys": (
        "Keys are stored only as hashes; a new key is printed once, alone on the last line.",
        [
            "farout keys create --scope admin --name alice",
            "farout keys list",
            "farout keys revoke 3f9a0c1b2d4e",
        ],
    ),
    "feedback": (
        "Writes the service's logged predictions with their analysts' verdicts (each "
        "analyst's latest, or with --history every one) to OUT, CSV or Parquet by its "
        "extension; OUT appears only when complete. Reads the database directly, as "
        "farout keys does: the service need not run.",
        [
            "farout feedback export --registry models -o feedback.parquet",
            "farout feedback export --db postgresql+psycopg://farout@db/farout -o fb.csv "
            "--since 2026-12-01T00:00:00Z --flagged",
        ],
    ),
    "recalibrate": (
        "Fits a new threshold for MODEL from an export of the service's log and its "
        "verdicts (farout feedback export): the inputs are scored again by MODEL, and "
        "--target precision picks the lowest cut whose precision on the reviewed rows "
        "reaches --value, --target cost the cut cheapest on them, --target alert_rate "
        "the cut that flags --value of every exported row. Needs 30 flagged rows with a "
        "verdict of anomaly or normal. The new model file records its provenance "
        "(farout info shows it).",
        [
            "farout recalibrate fraud.farout feedback.parquet -o fraud-p80.farout "
            "--target precision --value 0.8",
            "farout recalibrate fraud.farout fb.csv -o fraud-cost.farout --target cost "
            "--fp-cost 50 --fn-cost 5000",
        ],
    ),
    "retrain": (
        "Fits a new version of the registered model with its champion's parameters on a "
        "window: the inputs it logged (not in shadow) since SINCE, minus the rows an "
        "analyst's latest verdict calls an anomaly, or a file. The window is audited first "
        "(a column missing in every row or stuck at one value, missing values the model "
        "refuses, sentinels such as -999, text among numbers: the job stops, exit 2, with "
        "each problem's rows). The latest --holdout share is held out; champion and new "
        "version score it, and the new one must pass the gates (a TOML or JSON file, "
        "--gates, and the flags over it): a pass registers it as challenger (exit 0), a "
        "failure stores it with status rejected and the gate it failed (exit 3). Champion "
        "never moves. Reads the database directly: the service need not run.",
        [
            "farout retrain --registry models --from-log 30d --gates gates.toml",
            "farout retrain --registry models --name fraud --from-log 2026-11-01T00:00:00Z "
            "--until 2026-12-01T00:00:00Z --min-precision 0.8 --json",
            "farout retrain --registry models --data november.parquet --time-column at "
            "--max-score-drift 0.15",
        ],
    ),
}


def _limit(text):
    """A gate's limit: a number, or off."""
    if text.strip().lower() in ("off", "none", "null"):
        return False
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or off, got {text!r}") from None


def _retrain_args(p):
    service_args(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-log",
        metavar="SINCE",
        help="learn from the model's logged inputs scored since then: ISO 8601, Unix "
        "seconds, or a span back from now such as 30d",
    )
    source.add_argument(
        "--data", metavar="FILE", help="learn from a CSV, Parquet or JSON Lines file"
    )
    p.add_argument("--until", help="with --from-log: inputs scored before then")
    p.add_argument("--name", metavar="MODEL", help="the model (default: the only one registered)")
    p.add_argument("--gates", metavar="GATES", help="a .toml or .json file of gates")
    p.add_argument("--min-rows", type=int, help="rows to fit on, at least (default 200)")
    p.add_argument(
        "--min-precision",
        type=_limit,
        help="precision on the labelled held-out alerts, at least (default off)",
    )
    p.add_argument(
        "--max-alert-rate-change",
        type=_limit,
        help="change of the held-out alert rate against the champion, as a fraction, at "
        "most (default 0.03)",
    )
    p.add_argument(
        "--max-score-drift",
        type=_limit,
        help="Kolmogorov-Smirnov statistic between the two models' held-out scores, at "
        "most (default 0.2)",
    )
    p.add_argument(
        "--min-labelled",
        type=int,
        help="labelled held-out alerts --min-precision needs to be judged (default 30)",
    )
    p.add_argument(
        "--holdout", type=float, default=0.25, help="share of the window held out (default 0.25)"
    )
    p.add_argument("--time-column", help="with --data: the column that orders the rows")
    p.add_argument(
        "--format", choices=FORMATS, help="with --data: the format (default: from the extension)"
    )
    p.add_argument("--sep", default=",", help="with --data: the CSV delimiter (default ',')")
    p.add_argument("--json", action="store_true", help="JSON alone on stdout")


def service_args(p):
    p.add_argument(
        "--registry",
        default="farout-registry",
        metavar="DIR",
        help="folder of the model versions and the default database (default farout-registry)",
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL, e.g. postgresql+psycopg://user@host/db "
        "(default: SQLite farout.db in the registry)",
    )


def add_service_commands(sub, command):
    """Add the service's commands to ``sub``; ``command(sub, name, help)``
    makes each subcommand."""
    p = command(sub, "serve", "run the scoring service: HTTP API, registry, prediction log")
    service_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="fit and register the demo model if the registry is empty, make an admin key "
        "and print a curl line",
    )
    p.add_argument(
        "--busy-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long a write waits on a locked database before answering 503 (default 5)",
    )
    p.add_argument(
        "--max-body",
        type=int,
        default=64 << 20,
        metavar="BYTES",
        help="largest request body, uploads aside; a larger one gets 413 (default 64 MiB)",
    )
    p.add_argument(
        "--max-upload",
        type=int,
        default=1 << 30,
        metavar="BYTES",
        help="largest model file POST /v1/models takes (default 1 GiB)",
    )
    p.add_argument(
        "--alerts",
        metavar="FILE",
        help="send alerts to the webhooks FILE lists (.toml or .json; the README's "
        "Alerts section shows the format); checked at start",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no access log")

    p = command(sub, "keys", "make, list or revoke the service's API keys")
    p.add_argument(
        "action", choices=("create", "list", "revoke"), help="make a key, list them, or revoke one"
    )
    p.add_argument("key_id", nargs="?", help="the key to revoke (its id, from keys list)")
    service_args(p)
    p.add_argument(
        "--scope",
        choices=("score", "admin"),
        default="score",
        help="score: score and read; admin: also upload models and move aliases (default score)",
    )
    p.add_argument("--name", default="key", help="a name for the key, shown in the audit")

    p = command(sub, "feedback", "export the service's predictions with their verdicts")
    p.add_argument("action", choices=("export",), help="export: write them to -o")
    service_args(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT", help=".csv or .parquet to write")
    p.add_argument("--since", help="predictions scored from then (ISO 8601 or Unix seconds)")
    p.add_argument("--until", help="predictions scored before then")
    p.add_argument("--model", help="NAME or NAME/VERSION")
    p.add_argument(
        "--shadow", action="store_true", help="the challenger's shadow predictions instead"
    )
    p.add_argument("--flagged", action="store_true", help="flagged predictions only")
    p.add_argument(
        "--history", action="store_true", help="every verdict, not only each analyst's latest"
    )

    p = command(sub, "recalibrate", "fit a model's threshold to analysts' verdicts")
    p.add_argument("model", metavar="MODEL", help="model file (the one that scored, or any)")
    p.add_argument("feedback", metavar="FEEDBACK_EXPORT", help="from farout feedback export")
    p.add_argument("-o", "--output", required=True, metavar="NEW_MODEL", help="model file to write")
    p.add_argument(
        "--target",
        choices=("precision", "cost", "alert_rate"),
        default="precision",
        help="what the cut must achieve (default precision)",
    )
    p.add_argument("--value", type=float, help="the precision, or the alert rate, in (0, 1)")
    p.add_argument("--fp-cost", type=float, help="cost of a false alarm (--target cost)")
    p.add_argument("--fn-cost", type=float, help="cost of a missed anomaly (--target cost)")

    p = command(sub, "retrain", "retrain a registered model on recent data, behind gates")
    _retrain_args(p)
