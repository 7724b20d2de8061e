"""Alembic environment: migrations run on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from tollhouse.controlplane.store._schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table="alembic_version_controlplane",
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
