"""Policies: include-fragment."""

from __future__ import annotations

from ._registry import Registry


def register(registry: Registry) -> None:
    pass
