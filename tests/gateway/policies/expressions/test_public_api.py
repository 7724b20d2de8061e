from __future__ import annotations

import tollhouse.gateway.policies.expressions as expressions


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert sorted(expressions.__all__) == sorted(
        [
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
    )
    for name in expressions.__all__:
        assert hasattr(expressions, name)


def test_exception_tree() -> None:
    assert issubclass(expressions.ExpressionBudgetExceeded, expressions.ExpressionRuntimeError)
    assert issubclass(expressions.ExpressionRuntimeError, expressions.ExpressionError)


def test_a_compiled_expression_is_reusable() -> None:
    compiled = expressions.compile_expression('@((string)context.Variables["v"] + "!")')
    assert compiled.evaluate(object(), variables={"v": "a"}) == "a!"
    assert compiled.evaluate(object(), variables={"v": "b"}) == "b!"
