"""APIM policy expressions: `@(…)` and `@{ … return …; }` in APIM's C# subset.

An interpreter (never Python `eval`). `compile_expression` parses, resolves names and compiles
the tree into closures once, when the policy document is loaded (`_closures`);
`CompiledExpression.evaluate` runs them against a `context` the caller supplies (objects
exposing C#-named attributes: `Request`, `Response`, `Variables`, …, see `_members` for how
their methods are called) under a per-evaluation budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import _ast
from ._closures import MAX_LOOP_ITERATIONS, MAX_STEPS, Program, compile_tree
from ._errors import ExpressionBudgetExceeded, ExpressionError, ExpressionRuntimeError
from ._evaluate import Evaluator
from ._members import MAX_VALUE_SIZE
from ._parser import parse
from ._values import BasicAuthCredentials, JArray, JObject, JToken, JValue, Jwt, render

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "MAX_LOOP_ITERATIONS",
    "MAX_STEPS",
    "MAX_VALUE_SIZE",
    "BasicAuthCredentials",
    "CompiledExpression",
    "ExpressionBudgetExceeded",
    "ExpressionError",
    "ExpressionRuntimeError",
    "JArray",
    "JObject",
    "JToken",
    "JValue",
    "Jwt",
    "compile_expression",
    "is_expression",
    "render",
]

# Longer than any expression written by hand; bounds compile time of generated ones.
MAX_EXPRESSION_LENGTH = 256 * 1024


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CompiledExpression:
    """A parsed expression; evaluate it as many times as needed, from any thread."""

    source: str
    is_block: bool
    body: tuple[_ast.Node, ...]
    _program: Program | None = field(default=None, repr=False, compare=False)

    def evaluate(
        self,
        context: object,
        *,
        variables: Mapping[str, object] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> object:
        """The value of the expression. `variables`, when given, is `context.Variables`;
        `clock` gives `DateTime.UtcNow`. Raises `ExpressionRuntimeError` (and its subclass
        `ExpressionBudgetExceeded`)."""
        try:
            if self._program is None:
                return Evaluator(context, variables, clock).run(self.is_block, self.body)
            return self._program(context, variables, clock)
        except RecursionError:
            raise ExpressionBudgetExceeded("expression nested too deeply") from None


def is_expression(text: str) -> bool:
    """Whether a policy attribute or element value is an expression rather than literal text."""
    stripped = text.strip()
    return (stripped.startswith("@(") and stripped.endswith(")")) or (
        stripped.startswith("@{") and stripped.endswith("}")
    )


def compile_expression(text: str) -> CompiledExpression:
    """Parse `@(expr)` or `@{ … }`; raises `ExpressionError` with the line and column of the
    first construct outside the supported subset."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters", 1, 1)
    try:
        is_block, body = parse(text)
    except RecursionError:
        raise ExpressionError("expression is nested too deeply", 1, 1) from None
    try:
        program: Program | None = compile_tree(is_block, body)
    except RecursionError:
        # A tree too deep to compile is too deep to evaluate: the tree walk reports it.
        program = None
    return CompiledExpression(text, is_block, body, program)
