from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def alembic_config(migrations: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return config


def migrate(engine: Engine, migrations: Path) -> None:
    """Apply every migration not yet applied; safe to run at each start."""
    config = alembic_config(migrations)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
