"""Attribute and element values: literal text or a policy expression.

A value that starts with `@(` or `@{` is an expression (apim-self-hosted-gateway.md §8,
"Policy expressions"); anything else is literal. Policies never look at the text themselves:
they hold a `ValueSource` and call `evaluate(ctx)` per request. Expressions are compiled by
an `ExpressionCompiler` given to the registry; until the interpreter is wired in, the default
compiler refuses every expression at compile time, so no expression is ever silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ._errors import PolicyCompileError

if TYPE_CHECKING:
    from ._execute import PolicyContext


class ValueSource(Protocol):
    """A value computed per request: as text (`evaluate`), or as the expression's own value
    (`typed`: an int stays an int, for set-variable)."""

    def evaluate(self, ctx: PolicyContext) -> str: ...

    def typed(self, ctx: PolicyContext) -> object: ...


class ConditionSource(Protocol):
    """A boolean computed per request (`choose/when condition`)."""

    def test(self, ctx: PolicyContext) -> bool: ...


@dataclass(frozen=True)
class Literal:
    text: str

    def evaluate(self, ctx: PolicyContext) -> str:
        return self.text

    def typed(self, ctx: PolicyContext) -> object:
        return self.text


@dataclass(frozen=True)
class LiteralCondition:
    """A condition written as literal `true`/`false` (rare, but APIM accepts it)."""

    value: bool

    def test(self, ctx: PolicyContext) -> bool:
        return self.value


# (expression text, line, column) → a compiled value; raises PolicyCompileError when the
# expression is outside the supported subset.
ExpressionCompiler = Callable[[str, int, int], ValueSource]


def refuse_expressions(text: str, line: int, column: int) -> ValueSource:
    """The default compiler until the expression interpreter is wired in."""
    raise PolicyCompileError(
        "policy expressions are not supported yet", line=line, column=column, reason="Expression"
    )


def is_expression(text: str) -> bool:
    return text.startswith(("@(", "@{"))


@dataclass(frozen=True)
class _ExpressionCondition:
    source: ValueSource

    def test(self, ctx: PolicyContext) -> bool:
        # An expression's bool renders as "True"/"False" (C# ToString); accept either case.
        return self.source.evaluate(ctx).strip().lower() == "true"


def compile_value(
    text: str, compiler: ExpressionCompiler, line: int = 0, column: int = 0
) -> ValueSource:
    if is_expression(text):
        return compiler(text, line, column)
    return Literal(text)


def compile_condition(
    text: str, compiler: ExpressionCompiler, line: int = 0, column: int = 0
) -> ConditionSource:
    if is_expression(text):
        source = compiler(text, line, column)
        test = getattr(source, "test", None)
        if callable(test):
            return source  # type: ignore[return-value]  # a compiler may return conditions
        return _ExpressionCondition(source)
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return LiteralCondition(lowered == "true")
    raise PolicyCompileError(
        f"condition '{text}' is neither an expression nor true/false", line=line, column=column
    )
