"""The service's tables, as SQLAlchemy Core metadata.

The migrations in ``migrations/versions`` create exactly these; a test
checks that the upgraded schema and this metadata agree. Times are Unix
seconds (floats): portable between SQLite and PostgreSQL, cheap to index and
compare.
"""

from types import SimpleNamespace

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "LOG_COLUMNS",
    "alert_cursor",
    "alert_storms",
    "alerts",
    "api_keys",
    "feedback",
    "log",
    "logged",
    "metadata",
    "model_aliases",
    "model_versions",
    "predictions",
    "registry_audit",
    "requests",
]


# 64-bit on PostgreSQL (int4 would end the log at 2**31 - 1 rows); on SQLite
# an INTEGER PRIMARY KEY is the 64-bit rowid already, and BIGINT would not be.
# A column referring to one has its type.
_SERIAL64 = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData()


model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("file", String(200), nullable=False),
    Column("estimator", String(64), nullable=False),
    Column("features", Text, nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("uploaded_at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("provenance", Text),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("alias", String(16), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"]),
)

registry_audit = Table(
    "registry_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("alias", String(16)),
    Column("from_version", Integer),
    Column("to_version", Integer),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

#: One row per request and model that logged predictions: the columns every
#: row of a request shares, held once. A request scored by the champion and
#: shadowed by the challenger has two, with the same ``request_id``:
#: ``(request_id, shadow)`` is unique (and its index is what the comparison
#: of champion and challenger pairs their rows by).
requests = Table(
    "requests",
    metadata,
    Column("id", _SERIAL64, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False),
    Column("scored_at", Float, nullable=False),
    Column("model_name", String(64), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("alias", String(16)),
    Column("shadow", Boolean, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Index("ix_requests_scored_at", "scored_at"),
    Index("ix_requests_request", "request_id", "shadow", unique=True),
    Index("ix_requests_model", "model_name", "model_version"),
)

#: The prediction log: one row per scored row, with what differs from row to
#: row (``threshold`` too: a per-cluster threshold gives each row its own
#: cut); ``request`` is its row in :data:`requests`. Columns in the order
#: migration 0005 leaves them on both databases.
predictions = Table(
    "predictions",
    metadata,
    Column("seq", _SERIAL64, primary_key=True, autoincrement=True),
    Column("prediction_id", String(32), nullable=False, unique=True),
    Column("row_index", Integer, nullable=False),
    Column("input", Text, nullable=False),
    Column("anomaly_score", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("is_anomaly", Boolean, nullable=False),
    Column("severity", String(32)),
    Column("reason", Text, nullable=False),
    Column("cluster", Integer, nullable=False),
    Column("request", _SERIAL64, ForeignKey("requests.id"), nullable=False),
    Index("ix_predictions_request", "request"),
)

#: The log as its readers see it: each prediction joined to its request.
#: Select from it with the columns of :data:`logged`.
log = predictions.join(requests, predictions.c.request == requests.c.id)

#: A log row's columns, in the order the log's one table had them before
#: migration 0005.
LOG_COLUMNS = (
    "seq",
    "prediction_id",
    "request_id",
    "scored_at",
    "model_name",
    "model_version",
    "alias",
    "shadow",
    "row_index",
    "input",
    "anomaly_score",
    "threshold",
    "is_anomaly",
    "severity",
    "reason",
    "cluster",
    "latency_ms",
)

#: Each of :data:`LOG_COLUMNS` by name, from the table that holds it
#: (``logged.scored_at`` is ``requests.scored_at``, ``logged.seq`` is
#: ``predictions.seq``).
logged = SimpleNamespace(
    **{n: predictions.c[n] if n in predictions.c else requests.c[n] for n in LOG_COLUMNS}
)

#: Analysts' verdicts on logged predictions. Every verdict is a row, never
#: updated: each analyst's latest (highest ``id``) on a prediction counts,
#: and the earlier ones stay as its history.
feedback = Table(
    "feedback",
    metadata,
    Column("id", _SERIAL64, primary_key=True, autoincrement=True),
    Column("prediction_id", String(32), ForeignKey("predictions.prediction_id"), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("analyst", String(64), nullable=False),
    Column("note", Text),
    Column("created_at", Float, nullable=False),
    Column("key_id", String(16), nullable=False),
    Index("ix_feedback_prediction", "prediction_id", "analyst", "id"),
    Index("ix_feedback_created_at", "created_at"),
)

#: Webhook deliveries: one row per alert and destination, written in the
#: same transaction that moves the alert cursor past the predictions it
#: covers, so a restart neither loses nor repeats one. ``status`` is
#: ``pending``, ``retrying``, ``delivered``, ``failed`` or ``suppressed``
#: (over the destination's rate limit).
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_key", String(64), nullable=False, unique=True),
    Column("destination", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model_name", String(64), nullable=False),
    Column("model_version", Integer),
    Column("entity", Text),
    Column("window_start", Float, nullable=False),
    Column("window_end", Float, nullable=False),
    Column("prediction_id", String(32)),
    Column("severity", String(32)),
    Column("reason", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("max_score", Float),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float),
    Column("delivered_at", Float),
    Index("ix_alerts_due", "destination", "status", "next_attempt_at"),
    Index("ix_alerts_destination", "destination", "created_at"),
)

#: How far the alert worker has read the prediction log (``seq``).
alert_cursor = Table(
    "alert_cursor",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("seq", _SERIAL64, nullable=False),
    Column("updated_at", Float, nullable=False),
)

#: Alert storms, one row each; ``ended_at`` is empty while one lasts.
alert_storms = Table(
    "alert_storms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(64), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("baseline", Float, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("flagged", Integer, nullable=False),
    Index("ix_alert_storms_model", "model_name", "ended_at"),
)
