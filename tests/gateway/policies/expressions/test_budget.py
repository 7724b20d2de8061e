"""Every evaluation runs under a budget of steps, loop iterations and value size."""

from __future__ import annotations

import pytest

from tollhouse.gateway.policies.expressions import (
    MAX_LOOP_ITERATIONS,
    MAX_VALUE_SIZE,
    ExpressionBudgetExceeded,
)

from .helpers import ev


def test_nested_loops_exhaust_the_iteration_budget() -> None:
    text = """{
        var xs = "".PadLeft(1000).ToCharArray();
        var n = 0;
        foreach (var a in xs) { foreach (var b in xs) { n++; } }
        return n;
    }"""
    with pytest.raises(ExpressionBudgetExceeded, match="loop iterations"):
        ev(text)


def test_a_loop_within_the_budget_completes() -> None:
    text = '{ var n = 0; foreach (var c in "".PadLeft(100).ToCharArray()) { n++; } return n; }'
    assert ev(text) == 100


def test_lambda_invocations_count_as_iterations() -> None:
    count = MAX_LOOP_ITERATIONS + 1
    text = f"\"\".PadLeft({count}).ToCharArray().Count(c => c == ' ')"
    with pytest.raises(ExpressionBudgetExceeded):
        ev(text)


def test_doubling_a_string_exceeds_the_size_budget() -> None:
    text = (
        '{ var s = "x"; foreach (var i in "".PadLeft(22).ToCharArray()) { s = s + s; }'
        " return s.Length; }"
    )
    with pytest.raises(ExpressionBudgetExceeded, match="exceed"):
        ev(text)


def test_members_refuse_to_build_huge_values() -> None:
    with pytest.raises(ExpressionBudgetExceeded):
        ev(f'"".PadLeft({MAX_VALUE_SIZE + 1})')
    with pytest.raises(ExpressionBudgetExceeded):
        ev('"".PadLeft(1000).Replace(" ", "".PadLeft(2000))')
    with pytest.raises(ExpressionBudgetExceeded):
        ev(f'string.Format("{{0,{MAX_VALUE_SIZE * 2}}}", 1)')
    with pytest.raises(ExpressionBudgetExceeded):
        ev(f'$"{{"".PadLeft({MAX_VALUE_SIZE})}}{{"".PadLeft(10)}}"')


def test_step_budget_stops_long_evaluations() -> None:
    # 9,000 iterations of a body with many nodes: within the loop budget, beyond the steps.
    body = " + ".join(["n"] * 20)
    text = (
        '{ var n = 0; foreach (var c in "".PadLeft(9000).ToCharArray()) '
        f"{{ n = {body}; }} return n; }}"
    )
    with pytest.raises(ExpressionBudgetExceeded, match="steps"):
        ev(text)


def test_deeply_nested_input_is_a_compile_error_not_a_crash() -> None:
    from tollhouse.gateway.policies.expressions import ExpressionError, compile_expression

    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("@(" + "(" * 5000 + "1" + ")" * 5000 + ")")
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("@(" + "!" * 5000 + "true)")
