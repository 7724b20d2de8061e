"""SQLAlchemy engines and Alembic migrations, shared by the directory and the control plane.

SQLite by default (WAL, foreign keys on), PostgreSQL for several replicas; each component
keeps its own tables and its own migration history (its own version table).
"""

from tollhouse.storage._engine import create_store_engine, is_postgresql
from tollhouse.storage._migrate import alembic_config, migrate

__all__ = ["alembic_config", "create_store_engine", "is_postgresql", "migrate"]
