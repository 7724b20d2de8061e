"""Typed reads of ARM JSON objects, each failure naming the property by its path.

ARM treats a property set to `null` as absent; so does every read here. JSON types are taken
strictly: `"true"` is not a boolean and `true` is not an integer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollhouse.controlplane.model._errors import echo, invalid


class Fields:
    """One JSON object and its path (`properties`, `properties.locationData`, …; `""` for a
    request body read at its top level)."""

    def __init__(self, values: Mapping[str, Any], path: str) -> None:
        self.values = values
        self.path = path

    @classmethod
    def of(cls, value: object, path: str) -> Fields:
        if not isinstance(value, Mapping):
            raise invalid(path, "must be a JSON object")
        return cls(value, path)

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.values.get(key) is not None

    def text(self, key: str, *, max_length: int, allow_empty: bool = False) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        return text_value(value, self.at(key), max_length=max_length, allow_empty=allow_empty)

    def required_text(self, key: str, *, max_length: int, allow_empty: bool = False) -> str:
        value = self.text(key, max_length=max_length, allow_empty=allow_empty)
        if value is None:
            raise invalid(self.at(key), "is required")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.values.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise invalid(self.at(key), "must be true or false")
        return value

    def integer(self, key: str, *, minimum: int, maximum: int) -> int | None:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(self.at(key), "must be an integer")
        if not minimum <= value <= maximum:
            raise invalid(self.at(key), f"must be between {minimum} and {maximum}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        """One of `choices`, matched case-insensitively and returned in their spelling."""
        value = self.values.get(key)
        if value is None:
            return default
        return choice_value(value, self.at(key), choices)

    def object(self, key: str) -> Fields | None:
        value = self.values.get(key)
        if value is None:
            return None
        return Fields.of(value, self.at(key))

    def array(self, key: str, *, max_items: int) -> list[Any] | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise invalid(self.at(key), "must be a JSON array")
        if len(value) > max_items:
            raise invalid(self.at(key), f"must have at most {max_items} items")
        return value


def text_value(value: object, path: str, *, max_length: int, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid(path, "must be a string")
    if not value and not allow_empty:
        raise invalid(path, "must not be empty")
    if len(value) > max_length:
        raise invalid(path, f"must be at most {max_length} characters long")
    return value


def choice_value(value: object, path: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, str):
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
    allowed = ", ".join(f"'{c}'" for c in choices)
    raise invalid(path, f"must be one of {allowed}, not {echo(value)}")
