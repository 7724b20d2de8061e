"""The `tollhouse` command."""

from tollhouse.cli._main import main

__all__ = ["main"]
