"""The columns a request's rows share, in a table of their own. Each row of
``predictions`` repeated its request's id, time, model, alias, shadow flag
and latency, with three indexes over them: a 1,000-row request bound 16
values a row and kept five indexes up to date. Now ``requests`` holds
them once per request and model (a request the challenger shadows has two
rows, with the same ``request_id``) with the indexes on time, on
``(request_id, shadow)``, unique, and on model, and a prediction row holds
what differs from row to row (``threshold`` too: a per-cluster threshold
gives each row its own cut) and ``request``, its row in ``requests``.

The log's rows are moved: one ``requests`` row for each distinct set of
the shared values, numbered in the order of the log. Every farout logged
one time, model, alias and latency per request and shadow flag, so the
unique index holds; a log written otherwise, with two sets of values under
one ``(request_id, shadow)``, fails the upgrade, which then changes
nothing.

SQLite cannot drop an indexed column or add a foreign key in place, so
there the table is rebuilt, as SQLite's documentation describes
(lang_altertable.html, "making other kinds of table schema changes"): a new
table filled from the old one joined to its requests, the old one dropped,
the new one renamed. ``Database.upgrade`` turns foreign keys off for it, as
that procedure requires (``feedback`` refers to ``predictions``), and checks
them before it commits. PostgreSQL alters the table in place, so ``seq``,
its 64-bit sequence (0004) and the foreign key of ``feedback`` stay as they
are; the space of the dropped columns comes back when the table is next
rewritten (``VACUUM FULL predictions``, which locks it while it runs).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SERIAL64 = sa.BigInteger().with_variant(sa.Integer, "sqlite")

#: The columns every row of a request shares, moved to ``requests``.
SHARED = ("request_id", "scored_at", "model_name", "model_version", "alias", "shadow", "latency_ms")
#: The columns that stay in ``predictions``, beside ``seq``.
OWN = (
    "prediction_id",
    "row_index",
    "input",
    "anomaly_score",
    "threshold",
    "is_anomaly",
    "severity",
    "reason",
    "cluster",
)
_OLD_INDEXES = (
    ("ix_predictions_scored_at", ["scored_at"]),
    ("ix_predictions_request", ["request_id"]),
    ("ix_predictions_model", ["model_name", "model_version"]),
)


def _shared_columns(nullable=False):
    return [
        sa.Column("request_id", sa.String(32), nullable=nullable),
        sa.Column("scored_at", sa.Float, nullable=nullable),
        sa.Column("model_name", sa.String(64), nullable=nullable),
        sa.Column("model_version", sa.Integer, nullable=nullable),
        sa.Column("alias", sa.String(16)),
        sa.Column("shadow", sa.Boolean, nullable=nullable),
        sa.Column("latency_ms", sa.Float, nullable=nullable),
    ]


def _own_columns():
    return [
        sa.Column("prediction_id", sa.String(32), nullable=False, unique=True),
        sa.Column("row_index", sa.Integer, nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("anomaly_score", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("is_anomaly", sa.Boolean, nullable=False),
        sa.Column("severity", sa.String(32)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("cluster", sa.Integer, nullable=False),
    ]


def _table(name, *columns):
    """A lightweight table for moving rows (the schema at this revision,
    not today's metadata)."""
    return sa.table(name, *(sa.column(c) for c in columns))


def _requests():
    return _table("requests", "id", *SHARED)


def _same_request(p, r):
    """``p``'s row belongs to request ``r``: every shared value equal (a
    pinned version's ``alias`` is NULL, and NULL equals NULL here)."""
    return sa.and_(
        *(r.c[c].is_not_distinct_from(p.c[c]) if c == "alias" else r.c[c] == p.c[c] for c in SHARED)
    )


def _rebuild_sqlite(columns, fill, indexes):
    """SQLite's table rebuild: a new ``predictions`` with ``columns``,
    filled by ``fill(new)`` (an INSERT ... SELECT from the old table), the
    old one dropped, the new one renamed, then its ``indexes``."""
    op.create_table("_predictions_new", *columns)
    op.execute(fill(_table("_predictions_new", *(c.name for c in columns))))
    op.drop_table("predictions")
    op.rename_table("_predictions_new", "predictions")
    for name, on in indexes:
        op.create_index(name, "predictions", on)


def upgrade():
    op.create_table(
        "requests",
        sa.Column("id", _SERIAL64, primary_key=True, autoincrement=True),
        *_shared_columns(),
    )
    old, r = _table("predictions", "seq", "request", *SHARED, *OWN), _requests()
    shared = [old.c[c] for c in SHARED]
    grouped = sa.select(*shared).group_by(*shared).order_by(sa.func.min(old.c.seq))
    op.execute(sa.insert(r).from_select(SHARED, grouped))
    op.create_index("ix_requests_scored_at", "requests", ["scored_at"])
    op.create_index("ix_requests_request", "requests", ["request_id", "shadow"], unique=True)
    op.create_index("ix_requests_model", "requests", ["model_name", "model_version"])

    if op.get_bind().dialect.name == "sqlite":
        columns = [
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            *_own_columns(),
            sa.Column("request", sa.Integer, sa.ForeignKey("requests.id"), nullable=False),
        ]
        rows = sa.select(old.c.seq, *(old.c[c] for c in OWN), r.c.id)
        rows = rows.select_from(old.join(r, _same_request(old, r))).order_by(old.c.seq)

        def fill(new):
            return sa.insert(new).from_select(["seq", *OWN, "request"], rows)

        _rebuild_sqlite(columns, fill, [("ix_predictions_request", ["request"])])
        return
    op.add_column("predictions", sa.Column("request", sa.BigInteger))
    op.execute(sa.update(old).values(request=r.c.id).where(_same_request(old, r)))
    op.alter_column("predictions", "request", nullable=False, existing_type=sa.BigInteger)
    op.create_foreign_key(
        "predictions_request_fkey", "predictions", "requests", ["request"], ["id"]
    )
    for name, _ in _OLD_INDEXES:
        op.drop_index(name, "predictions")
    op.create_index("ix_predictions_request", "predictions", ["request"])
    for column in SHARED:
        op.drop_column("predictions", column)


def downgrade():
    p, r = _table("predictions", "seq", "request", *OWN), _requests()
    if op.get_bind().dialect.name == "sqlite":
        columns = [
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            *_own_columns(),
            *_shared_columns(),
        ]
        rows = sa.select(p.c.seq, *(p.c[c] for c in OWN), *(r.c[c] for c in SHARED))
        rows = rows.select_from(p.join(r, p.c.request == r.c.id)).order_by(p.c.seq)

        def fill(new):
            return sa.insert(new).from_select(["seq", *OWN, *SHARED], rows)

        _rebuild_sqlite(columns, fill, _OLD_INDEXES)
    else:
        for column in _shared_columns(nullable=True):
            op.add_column("predictions", column)
        back = _table("predictions", "request", *SHARED)
        op.execute(
            sa.update(back).values({c: r.c[c] for c in SHARED}).where(back.c.request == r.c.id)
        )
        for column in _shared_columns():
            if not column.nullable:
                op.alter_column(
                    "predictions", column.name, nullable=False, existing_type=column.type
                )
        op.drop_index("ix_predictions_request", "predictions")
        op.drop_column("predictions", "request")
        for name, on in _OLD_INDEXES:
            op.create_index(name, "predictions", on)
    op.drop_table("requests")
