from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

# Connections per process to PostgreSQL: requests run in a thread pool of about this size.
POOL_SIZE = 10
POOL_OVERFLOW = 10
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql://", "postgresql+psycopg://"))


def create_store_engine(url: str) -> Engine:
    """An engine for `url`, with the per-connection settings SQLite needs."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
