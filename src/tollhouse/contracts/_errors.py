from __future__ import annotations

from typing import Any


class ContractError(ValueError):
    """A document that does not match its contract; `field` is a JSON path such as
    `apis[3].operations[0].method`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error shape of every Tollhouse API (DESIGN §2)."""
    return {"error": {"code": code, "message": message}}
