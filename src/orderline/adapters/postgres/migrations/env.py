"""Alembic environment: migrations always run on a connection handed in by `migrate.upgrade`."""

from alembic import context

from orderline.adapters.postgres.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `orderline db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
