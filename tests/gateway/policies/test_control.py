"""choose/when/otherwise."""

from __future__ import annotations

from tollhouse.gateway.policies import (
    CompiledPolicies,
    Literal,
    PolicyContext,
    PolicyResponse,
    compile_operation_policies,
)

from .support import configuration, context, doc, error, policies, run


def header(value: str) -> str:
    return f'<set-header name="x-branch"><value>{value}</value></set-header>'


async def branch(xml: str) -> list[str]:
    _, ctx, _ = await run(policies(operation_policy=doc(xml)))
    return [v for k, v in ctx.request.headers if k == "x-branch"]


async def test_the_first_true_when_runs() -> None:
    xml = (
        f'<choose><when condition="false">{header("a")}</when>'
        f'<when condition="true">{header("b")}</when>'
        f'<when condition="true">{header("c")}</when>'
        f"<otherwise>{header('d')}</otherwise></choose>"
    )
    assert await branch(xml) == ["b"]


async def test_otherwise_runs_when_no_condition_holds() -> None:
    xml = (
        f'<choose><when condition="false">{header("a")}</when>'
        f"<otherwise>{header('o')}</otherwise></choose>"
    )
    assert await branch(xml) == ["o"]


async def test_a_short_circuit_inside_a_branch_ends_the_pipeline() -> None:
    xml = '<choose><when condition="true"><mock-response status-code="418" /></when></choose>'
    response, _, backend = await run(policies(operation_policy=doc(xml)))
    assert (response.status, backend.calls) == (418, [])


async def test_conditions_are_evaluated_through_the_expression_compiler() -> None:
    xml = f'<choose><when condition="@(true)">{header("expr")}</when></choose>'
    config = configuration(operation_policy=doc(xml))
    api = config.apis[0]
    result = compile_operation_policies(
        config, api, api.operations[0], expressions=lambda text, line, col: Literal("True")
    )
    assert isinstance(result, CompiledPolicies)
    _, ctx, _ = await run(result, context())
    assert ctx.request.headers == [("x-branch", "expr")]


def test_choose_structure_errors() -> None:
    assert "at least one <when>" in str(error(operation_policy=doc("<choose />")))
    problem = error(
        operation_policy=doc(
            f'<choose><otherwise>{header("o")}</otherwise><when condition="true" /></choose>'
        )
    )
    assert "after <otherwise>" in str(problem)
    assert "neither an expression" in str(
        error(operation_policy=doc('<choose><when condition="maybe" /></choose>'))
    )
    assert "not supported yet" in str(
        error(operation_policy=doc('<choose><when condition="@(1 == 1)" /></choose>'))
    )


class Flaky:
    """A backend failing with 503 `failures` times, then answering 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse:
        self.calls += 1
        return PolicyResponse(503 if self.calls <= self.failures else 200)


def retry_policies(attributes: str, condition: str = "@(retry)") -> CompiledPolicies:
    """A retry around forward-request whose condition is "the last response was 503"."""
    config = configuration(
        api_policy=doc(
            backend=f'<retry condition="{condition}" {attributes}><forward-request /></retry>'
        )
    )
    api = config.apis[0]

    class LastWas503:
        def evaluate(self, ctx: PolicyContext) -> str:
            return str(ctx.response.status == 503)

    result = compile_operation_policies(
        config, api, api.operations[0], expressions=lambda text, line, col: LastWas503()
    )
    assert isinstance(result, CompiledPolicies)
    return result


async def test_retry_repeats_its_children_while_the_condition_holds() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    ctx = context()
    ctx.sleep = sleep
    backend = Flaky(failures=2)
    response = await retry_policies('count="5" interval="3"').execute(ctx, backend)
    assert (response.status, backend.calls, slept) == (200, 3, [3.0, 3.0])


async def test_retry_stops_after_count_retries() -> None:
    ctx = context()
    ctx.sleep = _no_sleep
    backend = Flaky(failures=10)
    response = await retry_policies('count="2" interval="1"').execute(ctx, backend)
    assert (response.status, backend.calls) == (503, 3)


async def test_retry_intervals_fast_linear_and_capped_exponential() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    ctx = context()
    ctx.sleep = sleep
    attributes = 'count="3" interval="1" delta="2" first-fast-retry="true"'
    await retry_policies(attributes).execute(ctx, Flaky(failures=10))
    assert slept == [0.0, 3.0, 5.0]
    slept.clear()
    ctx = context()
    ctx.sleep = sleep
    await retry_policies('count="4" interval="1" delta="10" max-interval="20"').execute(
        ctx, Flaky(failures=10)
    )
    assert slept[-1] == 20.0
    assert all(s <= 20.0 for s in slept)


def test_retry_refuses_bad_attributes() -> None:
    assert "count" in str(
        error(operation_policy=doc('<retry condition="true" count="51" interval="1" />'))
    )
    assert "is required" in str(error(operation_policy=doc('<retry condition="true" count="1" />')))


async def _no_sleep(seconds: float) -> None:
    return None


async def test_wait_runs_its_children_and_keeps_a_short_circuit() -> None:
    xml = (
        '<wait for="all"><choose><when condition="true">'
        '<mock-response status-code="202" /></when></choose></wait>'
    )
    response, _, backend = await run(policies(operation_policy=doc(xml)))
    assert (response.status, backend.calls) == (202, [])


def test_wait_accepts_only_its_documented_children() -> None:
    problem = error(operation_policy=doc("<wait><set-method>GET</set-method></wait>"))
    assert "cannot contain <set-method>" in str(problem)
    # Accepted by wait: the error is send-request's own.
    assert "'response-variable-name' is required" in str(
        error(operation_policy=doc("<wait><send-request /></wait>"))
    )
