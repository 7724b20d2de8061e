"""The exception tree of policy expressions.

- `ExpressionError`: the text is outside the supported C# subset or malformed (compile time),
  or evaluating it failed (`ExpressionRuntimeError`). Carries the 1-based line and column.
  - `ExpressionRuntimeError`: a C# exception at run time (null reference, key not found,
    format error). APIM turns it into a 500 through `on-error` (`context.LastError`).
    - `ExpressionBudgetExceeded`: the per-evaluation CPU or allocation budget ran out.

Anything else escaping the interpreter is a bug.
"""

from __future__ import annotations


class ExpressionError(Exception):
    """A policy expression could not be compiled or evaluated."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line else ""
        super().__init__(f"{message}{where}")


class ExpressionRuntimeError(ExpressionError):
    """Evaluating the expression raised what would be a .NET exception in APIM."""


class ExpressionBudgetExceeded(ExpressionRuntimeError):
    """The evaluation used more steps, loop iterations or memory than allowed."""
