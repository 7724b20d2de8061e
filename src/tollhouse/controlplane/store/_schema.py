"""The control plane's tables (SQLAlchemy Core); Alembic migrations in `migrations/`."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

# One row: the service revision. Every write increments it, under the row lock.
service = Table(
    "cp_service",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
    # Events at or below this revision have been compacted away.
    Column("compacted_through", Integer, nullable=False),
)

resources = Table(
    "cp_resources",
    metadata,
    # The relative path lower-cased (ARM names compare case-insensitively).
    Column("key", String(1024), primary_key=True),
    Column("path", String(1024), nullable=False),
    Column("kind", String(128), nullable=False, index=True),
    Column("parent_key", String(1024), nullable=False, index=True),
    Column("properties", Text, nullable=False),
    Column("secrets", Text, nullable=False),
    Column("revision", Integer, nullable=False),
)

events = Table(
    "cp_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("revision", Integer, nullable=False, index=True),
    Column("kind", String(128), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("action", String(16), nullable=False),
    Column("at", Float, nullable=False),
)

instances = Table(
    "cp_instances",
    metadata,
    Column("gateway_key", String(256), primary_key=True),
    Column("instance_id", String(128), primary_key=True),
    Column("document", Text, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

metrics = Table(
    "cp_metrics",
    metadata,
    Column("gateway_key", String(256), primary_key=True),
    Column("api", String(256), primary_key=True),
    Column("operation", String(256), primary_key=True),
    Column("status_class", String(8), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("duration_ms_sum", Float, nullable=False),
    Column("duration_ms_max", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
