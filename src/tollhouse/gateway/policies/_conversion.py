"""Policies: json-to-xml, xml-to-json, find-and-replace."""

from __future__ import annotations

from ._registry import Registry


def register(registry: Registry) -> None:
    pass
