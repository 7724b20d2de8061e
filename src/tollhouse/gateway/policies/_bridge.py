"""Policy attribute values written as expressions, compiled by the expression interpreter.

A compile error of an expression is a compile error of the policy (with the position in the
document); an expression that fails while running raises `PolicyRuntimeError`, so the
request goes through `on-error` as in APIM (`ExpressionValueEvaluationFailure`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tollhouse.gateway.policies._context import ExpressionContext, new_request_id
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
class RequestFacts:
    """What expressions may read that the policy context does not carry."""

    gateway_id: str
    service_name: str = ""
    host: str = ""
    scheme: str = "https"
    request_id: str = ""
    started: float = 0.0
    # The query string as the client sent it (less the subscription key), forwarded byte for
    # byte unless a policy changes it.
    query: str = ""
    # The caller's subscription (rate-limit and quota count per subscription).
    subscription_id: str | None = None


@dataclass(frozen=True)
class _Expression:
    compiled: CompiledExpression
    facts: Callable[[PolicyContext], RequestFacts]

    def _run(self, ctx: PolicyContext) -> object:
        facts = self.facts(ctx)
        view = ExpressionContext(
            ctx,
            gateway_id=facts.gateway_id,
            service_name=facts.service_name,
            host=facts.host,
            scheme=facts.scheme,
            request_id=facts.request_id or new_request_id(),
            started=facts.started or time.perf_counter(),
            subscription=None,
        )
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

    def test(self, ctx: PolicyContext) -> bool:
        value = self._run(ctx)
        if not isinstance(value, bool):
            raise PolicyRuntimeError(
                "expression", "ExpressionValueEvaluationFailure", "a condition must be a bool"
            )
        return value


def _facts(ctx: PolicyContext) -> RequestFacts:
    return ctx.facts if isinstance(ctx.facts, RequestFacts) else RequestFacts(gateway_id="")


def expression_compiler() -> ExpressionCompiler:
    """An `ExpressionCompiler` for `PolicySet(..., expressions=...)`."""

    def compile_one(text: str, line: int, column: int) -> ValueSource:
        try:
            compiled = compile_expression(text)
        except ExpressionError as exc:
            raise PolicyCompileError(
                f"expression: {exc}", line=line, column=column, reason="Expression"
            ) from exc
        return _Expression(compiled, _facts)

    return compile_one
