"""64-bit sequence numbers on PostgreSQL. ``predictions.seq`` (and
``feedback.id``, and the alert cursor that holds a ``seq``) were ``integer``
columns fed by ``integer`` sequences, which end at 2**31 - 1 rows: a busy
service would stop logging after a few years. SQLite's INTEGER PRIMARY KEY
is 64-bit already, so it has nothing to change.

On a large log the type change rewrites the table once, at the upgrade.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SERIAL = (("predictions", "seq"), ("feedback", "id"))


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _SERIAL:
        op.alter_column(table, column, type_=sa.BigInteger, existing_type=sa.Integer)
        op.execute(f"ALTER SEQUENCE {table}_{column}_seq AS bigint")
    op.alter_column("alert_cursor", "seq", type_=sa.BigInteger, existing_type=sa.Integer)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("alert_cursor", "seq", type_=sa.Integer, existing_type=sa.BigInteger)
    for table, column in _SERIAL:
        op.execute(f"ALTER SEQUENCE {table}_{column}_seq AS integer")
        op.alter_column(table, column, type_=sa.Integer, existing_type=sa.BigInteger)
