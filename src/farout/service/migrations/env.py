"""Alembic's environment: the service passes its own connection in
``config.attributes["connection"]``; SQLite migrates in batch mode, since
it cannot alter most of a table in place."""

from alembic import context

from farout.service.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
