from __future__ import annotations

from datetime import UTC, datetime

from tollhouse.gateway.policies.expressions import compile_expression

from .doubles import Context

NOW = datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=UTC)


def ev(text: str, context: object | None = None, **variables: object) -> object:
    """Evaluate `@(text)` (or a block when text starts with '{') against a test context."""
    source = f"@{text}" if text.startswith("{") else f"@({text})"
    compiled = compile_expression(source)
    return compiled.evaluate(
        context if context is not None else Context(),
        variables=variables or None,
        clock=lambda: NOW,
    )
