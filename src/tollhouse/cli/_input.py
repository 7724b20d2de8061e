"""Values given on the command line as az takes them: inline, or `@file` to read a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tollhouse.cli._errors import CliError

# Role definitions, app roles and certificates are a few KiB; a larger file is a mistake.
MAX_ARGUMENT_FILE_BYTES = 1024 * 1024


def read_bytes(option: str, value: str) -> bytes:
    """`@path`: the file's bytes; anything else: the value itself, UTF-8."""
    if not value.startswith("@"):
        return value.encode("utf-8")
    return _read_file(option, Path(value[1:]))


def read_json(option: str, value: str) -> Any:
    """Inline JSON, `@path`, or (as `az role definition create` allows) a plain file path."""
    if value.startswith("@"):
        data = _read_file(option, Path(value[1:]))
    elif not value.lstrip().startswith(("{", "[")) and _is_file(value):
        data = _read_file(option, Path(value))
    else:
        data = value.encode("utf-8")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"{option}: not valid JSON ({exc}).") from None


def read_json_object(option: str, value: str) -> dict[str, Any]:
    document = read_json(option, value)
    if not isinstance(document, dict):
        raise CliError(f"{option}: expected a JSON object.")
    return document


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except (OSError, ValueError):  # a name too long, or holding a NUL: not a file
        return False


def _read_file(option: str, path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_ARGUMENT_FILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"{option}: cannot read '{path}': {exc.strerror}.") from None
    if len(data) > MAX_ARGUMENT_FILE_BYTES:
        raise CliError(f"{option}: '{path}' is larger than {MAX_ARGUMENT_FILE_BYTES} bytes.")
    return data
