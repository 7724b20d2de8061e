from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path


class SettingsError(ValueError):
    """An invalid setting; the message names the key and never echoes a secret value."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"setting '{key}': {reason}")
        self.key = key


def upper_snake(key: str) -> str:
    return re.sub(r"[.\-]", "_", key).upper()


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines; `#` comments and blank lines skipped, one level of quotes removed."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise SettingsError(str(path), f"line {number} is not KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class SettingsSource:
    """Looks a dotted key up in the environment (as is, then upper-snake), then an env-file."""

    def __init__(self, environ: Mapping[str, str], env_file: Mapping[str, str] | None = None):
        self._layers = [dict(environ), dict(env_file or {})]

    def get(self, key: str) -> str | None:
        for layer in self._layers:
            for name in (key, upper_snake(key)):
                if name in layer:
                    return layer[name]
        return None

    def text(self, key: str, default: str) -> str:
        value = self.get(key)
        return default if value is None or value == "" else value

    def integer(
        self, key: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            number = int(value.strip())
        except ValueError as exc:
            raise SettingsError(key, "must be a whole number") from exc
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise SettingsError(key, f"must be {bound}")
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None or value == "":
            return default
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise SettingsError(key, "must be true or false")


_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?")


def parse_timespan(key: str, value: str) -> float:
    """A .NET TimeSpan (`[d.]hh:mm:ss[.fffffff]`), as APIM settings write durations."""
    match = _TIMESPAN.fullmatch(value.strip())
    if not match:
        raise SettingsError(key, "must be a TimeSpan such as 00:01:40")
    days, hours, minutes, seconds, fraction = match.groups()
    if int(minutes) > 59 or int(seconds) > 59 or int(hours) > 23:
        raise SettingsError(key, "has minutes, seconds or hours out of range")
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)
