"""Policy attribute values written as expressions, compiled by the expression interpreter.

A compile error of an expression is a compile error of the policy (with the position in the
document); an expression that fails while running raises `PolicyRuntimeError`, so the
request goes through `on-error` as in APIM (`ExpressionValueEvaluationFailure`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.gateway.policies._context import expression_context
from tollhouse.gateway.policies._errors import PolicyCompileError, PolicyRuntimeError
from tollhouse.gateway.policies._execute import PolicyContext
from tollhouse.gateway.policies._values import ExpressionCompiler, ValueSource
from tollhouse.gateway.policies.expressions import (
    CompiledExpression,
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
    render,
)


@dataclass(frozen=True)
class _Expression:
    compiled: CompiledExpression

    def _run(self, ctx: PolicyContext) -> object:
        view = expression_context(ctx)
        try:
            return self.compiled.evaluate(view, variables=ctx.variables)
        except ExpressionRuntimeError as exc:
            raise PolicyRuntimeError(
                "expression", "ExpressionValueEvaluationFailure", str(exc)
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise PolicyRuntimeError(
                "expression", "ExpressionValueEvaluationFailure", str(exc)
            ) from exc

    def evaluate(self, ctx: PolicyContext) -> str:
        return render(self._run(ctx))

    def typed(self, ctx: PolicyContext) -> object:
        return self._run(ctx)

    def test(self, ctx: PolicyContext) -> bool:
        value = self._run(ctx)
        if not isinstance(value, bool):
            raise PolicyRuntimeError(
                "expression", "ExpressionValueEvaluationFailure", "a condition must be a bool"
            )
        return value


def expression_compiler() -> ExpressionCompiler:
    """An `ExpressionCompiler` for `PolicySet(..., expressions=...)`."""

    # The same expression text compiles once per compiler (one per configuration); compiled
    # expressions hold no state between evaluations.
    compiled_by_text: dict[str, _Expression] = {}

    def compile_one(text: str, line: int, column: int) -> ValueSource:
        known = compiled_by_text.get(text)
        if known is not None:
            return known
        try:
            compiled = compile_expression(text)
        except ExpressionError as exc:
            raise PolicyCompileError(
                f"expression: {exc}", line=line, column=column, reason="Expression"
            ) from exc
        compiled_by_text[text] = _Expression(compiled)
        return compiled_by_text[text]

    return compile_one
