"""The directory's migrations: Alembic scripts beside this file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tollhouse import storage

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> None:
    storage.migrate(engine, MIGRATIONS)
