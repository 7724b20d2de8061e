"""Printing a command's result as az does: `json` (indented, keys sorted) or `table`.

A table shows the columns a command declares (the most useful few, as az's table
transformers do), else every scalar field of the first row. Control characters in values
are replaced, so that a display name cannot move the terminal's cursor.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OUTPUT_FORMATS = ("json", "table")
# az separates table columns by two spaces.
_GAP = "  "
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Mapping[str, Any]], Any]


def field(header: str, key: str | None = None) -> Column:
    """A column showing `key` (dotted for nested objects; default: the header camel-cased)."""
    path = (key or header[:1].lower() + header[1:]).split(".")

    def get(row: Mapping[str, Any]) -> Any:
        value: Any = row
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    return Column(header, get)


def render(result: Any, output: str, columns: Sequence[Column] | None = None) -> str | None:
    """The text to print, or None when the command has nothing to show (a delete)."""
    if result is None:
        return None
    if output == "table":
        rows = result if isinstance(result, list) else [result]
        return table([r for r in rows if isinstance(r, Mapping)], columns)
    return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column] | None) -> str:
    if columns is None:
        columns = _scalar_columns(rows[0]) if rows else []
    if not columns:
        return ""
    cells = [[column.header for column in columns]]
    cells += [[_cell(column.value(row)) for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]

    def line(texts: Sequence[str]) -> str:
        return _GAP.join(text.ljust(width) for text, width in zip(texts, widths, strict=True))

    lines = [line(cells[0]), line(["-" * width for width in widths])]
    lines += [line(texts) for texts in cells[1:]]
    return "\n".join(text.rstrip() for text in lines)


def _scalar_columns(row: Mapping[str, Any]) -> list[Column]:
    return [
        field(key[:1].upper() + key[1:], key)
        for key, value in row.items()
        if not isinstance(value, Mapping | list)
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = ", ".join(_cell(item) for item in value)
    elif isinstance(value, Mapping):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return printable(text)


def printable(text: str) -> str:
    """`text` with control characters (a server's or a file's) replaced."""
    return _CONTROL.sub("?", text)


def warn(message: str) -> None:
    """az's warnings: on stderr, never mixed into the result a script may parse."""
    print(f"WARNING: {printable(message)}", file=sys.stderr)
