"""The arguments of the service's commands: ``serve``, ``keys``,
``feedback`` and the offline ``recalibrate``. Light, as
:mod:`.arguments` is: argparse only."""

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
}


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
