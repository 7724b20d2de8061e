"""Scope composition: `<base />` placement at each scope, inheritance, products."""

from __future__ import annotations

from typing import Any

from tollhouse.gateway.policies import PolicySet

from .support import Backend, configuration, context, doc, error, policies, run


def header(value: str) -> str:
    return f'<set-header name="x-trail" exists-action="append"><value>{value}</value></set-header>'


async def trail(**documents: str | None) -> list[str]:
    _, ctx, _ = await run(policies(**documents))
    return [v for k, v in ctx.request.headers if k == "x-trail"]


async def test_base_before_runs_the_parent_first() -> None:
    assert await trail(
        global_policy=doc(header("global")),
        api_policy=doc("<base />" + header("api")),
        operation_policy=doc("<base />" + header("operation")),
    ) == ["global", "api", "operation"]


async def test_base_after_runs_the_parent_last() -> None:
    assert await trail(
        global_policy=doc(header("global")),
        api_policy=doc(header("api") + "<base />"),
        operation_policy=doc(header("operation") + "<base />"),
    ) == ["operation", "api", "global"]


async def test_base_in_the_middle_is_inlined_there() -> None:
    assert await trail(
        api_policy=doc(header("api")),
        operation_policy=doc(header("before") + "<base />" + header("after")),
    ) == ["before", "api", "after"]


async def test_omitting_base_drops_the_parents_section() -> None:
    assert await trail(
        global_policy=doc(header("global")),
        api_policy=doc("<base />" + header("api")),
        operation_policy=doc(header("operation")),
    ) == ["operation"]


async def test_a_scope_without_a_document_inherits_everything() -> None:
    assert await trail(
        global_policy=doc(header("global")), operation_policy=doc("<base />" + header("op"))
    ) == ["global", "op"]


async def test_a_section_left_out_of_a_document_inherits_the_parents() -> None:
    assert await trail(
        global_policy=doc(header("global")),
        operation_policy="<policies><outbound><base /></outbound></policies>",
    ) == ["global"]


def test_base_twice_in_a_section_is_an_error() -> None:
    problem = error(operation_policy=doc("<base />" + header("x") + "<base />"))
    assert "more than once" in str(problem)
    assert problem.scope == "operation"
    assert problem.section == "inbound"


def test_base_nested_inside_a_policy_is_an_error() -> None:
    problem = error(operation_policy=doc('<choose><when condition="true"><base /></when></choose>'))
    assert "directly inside a section" in str(problem)


async def test_product_policies_apply_only_through_the_product() -> None:
    documents: dict[str, Any] = {
        "global_policy": doc(header("global")),
        "product_policy": doc("<base />" + header("product")),
        "api_policy": doc("<base />" + header("api")),
    }
    config = configuration(**documents)
    policy_set = PolicySet(config)
    for product, expected in ((None, ["global", "api"]), ("starter", ["global", "product", "api"])):
        compiled = policy_set.for_operation("api", "op", product)
        assert not isinstance(compiled, Exception)
        ctx = context()
        await compiled.execute(ctx, Backend())
        assert [v for k, v in ctx.request.headers if k == "x-trail"] == expected
    assert policy_set.for_operation("api", "op", "starter") is policy_set.for_operation(
        "api", "op", "starter"
    )


async def test_without_any_document_the_request_is_forwarded() -> None:
    response, _, backend = await run(policies())
    assert response.status == 200
    assert len(backend.calls) == 1


async def test_a_backend_section_without_forward_request_does_not_forward() -> None:
    _, _, backend = await run(policies(api_policy=doc(backend="")))
    assert backend.calls == []


async def test_backend_base_keeps_the_default_forward_request() -> None:
    _, _, backend = await run(policies(api_policy=doc(backend="<base />")))
    assert len(backend.calls) == 1
