"""Typed reads from decoded JSON, each failure a ContractError naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollhouse.contracts._errors import ContractError


def obj(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ContractError(field, "must be an object")
    return value


def items(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise ContractError(field, "must be an array")
    return value


def text(doc: Mapping[str, Any], key: str, field: str, *, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise ContractError(f"{field}.{key}", "must be a string")
    return value


def optional_text(doc: Mapping[str, Any], key: str, field: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContractError(f"{field}.{key}", "must be a string or null")
    return value


def flag(doc: Mapping[str, Any], key: str, field: str, *, default: bool | None = None) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise ContractError(f"{field}.{key}", "must be true or false")
    return value


def integer(
    doc: Mapping[str, Any], key: str, field: str, *, default: int | None = None, minimum: int = 0
) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ContractError(f"{field}.{key}", f"must be a whole number >= {minimum}")
    return value


def number(doc: Mapping[str, Any], key: str, field: str, *, default: float | None = None) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContractError(f"{field}.{key}", "must be a number")
    return float(value)


def strings(doc: Mapping[str, Any], key: str, field: str) -> tuple[str, ...]:
    values = items(doc.get(key, []), f"{field}.{key}")
    if not all(isinstance(v, str) for v in values):
        raise ContractError(f"{field}.{key}", "must be an array of strings")
    return tuple(values)
