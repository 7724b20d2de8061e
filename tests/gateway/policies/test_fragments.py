# ruff: noqa: E501  (policy documents are kept as users write them)
"""include-fragment: a fragment's policies compile where it is included, as if written there."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tollhouse.contracts import FragmentConfig, GatewayConfiguration, NamedValueConfig
from tollhouse.gateway.policies import (
    MAX_FRAGMENT_NESTING,
    CompiledPolicies,
    PolicyCompileError,
    PolicySet,
    Scope,
    ScopedElement,
    compile_operation_policies,
    default_registry,
    parse_fragments,
    parse_policy_document,
)
from tollhouse.gateway.policies._fragments import MAX_INCLUDED_ELEMENTS

from .support import body, configuration, context, doc, run


def header(name: str, value: str) -> str:
    return f'<set-header name="{name}" exists-action="override"><value>{value}</value></set-header>'


def include(name: str) -> str:
    return f'<include-fragment fragment-id="{name}" />'


def with_fragments(fragments: dict[str, str], **documents: Any) -> GatewayConfiguration:
    config = configuration(**documents)
    return replace(
        config, fragments=tuple(FragmentConfig(n, text) for n, text in fragments.items())
    )


def compile_with(
    fragments: dict[str, str], **documents: Any
) -> CompiledPolicies | PolicyCompileError:
    config = with_fragments(fragments, **documents)
    api = config.apis[0]
    return compile_operation_policies(config, api, api.operations[0])


def compiled(fragments: dict[str, str], **documents: Any) -> CompiledPolicies:
    result = compile_with(fragments, **documents)
    assert isinstance(result, CompiledPolicies), str(result)
    return result


def refused(fragments: dict[str, str], **documents: Any) -> PolicyCompileError:
    result = compile_with(fragments, **documents)
    assert isinstance(result, PolicyCompileError), "expected a compile error"
    return result


async def test_an_inbound_fragment_acts_on_the_request_in_place() -> None:
    fragments = {"tag": f"<fragment>{header('x-tag', 'from-fragment')}</fragment>"}
    policies = compiled(
        fragments,
        api_policy=doc(header("x-tag", "before") + include("tag") + header("x-after", "1")),
    )
    _, _, backend = await run(policies)
    (_, _, sent, _) = backend.calls[0]
    assert sent == [("x-tag", "from-fragment"), ("x-after", "1")]


async def test_an_outbound_fragment_acts_on_the_response() -> None:
    fragments = {"stamp": f"<fragment>{header('x-stamp', 'out')}</fragment>"}
    response, _, _ = await run(compiled(fragments, operation_policy=doc(outbound=include("stamp"))))
    assert ("x-stamp", "out") in response.headers


async def test_a_fragment_in_on_error_runs_after_a_failure_and_can_end_with_a_response() -> None:
    answer = (
        '<fragment><return-response><set-status code="503" reason="Down" />'
        "<set-body>fragment says no</set-body></return-response></fragment>"
    )
    failing = '<check-header name="x-required" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="true" />'
    policies = compiled({"sorry": answer}, api_policy=doc(failing, on_error=include("sorry")))
    response, ctx, backend = await run(policies)
    assert (response.status, await body(response)) == (503, b"fragment says no")
    assert ctx.last_error is not None and ctx.last_error.source == "check-header"
    assert backend.calls == []


async def test_a_return_response_in_a_fragment_ends_the_pipeline() -> None:
    fragments = {
        "stop": '<fragment><return-response><set-status code="204" /></return-response></fragment>'
    }
    response, _, backend = await run(
        compiled(fragments, api_policy=doc(include("stop") + header("x-no", "1")))
    )
    assert response.status == 204 and backend.calls == []


async def test_fragments_include_fragments_in_order() -> None:
    fragments = {
        "outer": f"<fragment>{header('x-1', 'outer')}{include('inner')}{header('x-3', 'outer')}</fragment>",
        "inner": f"<fragment>{header('x-2', 'inner')}</fragment>",
    }
    _, _, backend = await run(compiled(fragments, api_policy=doc(include("outer"))))
    assert backend.calls[0][2] == [("x-1", "outer"), ("x-2", "inner"), ("x-3", "outer")]


async def test_fragment_ids_match_case_insensitively_as_resource_names_do() -> None:
    fragments = {"Shared-Headers": f"<fragment>{header('x-a', '1')}</fragment>"}
    _, _, backend = await run(compiled(fragments, api_policy=doc(include("shared-headers"))))
    assert backend.calls[0][2] == [("x-a", "1")]


async def test_named_values_in_a_fragment_are_substituted() -> None:
    fragments = {"keyed": f"<fragment>{header('x-key', '{{Backend-Key}}')}</fragment>"}
    named = (NamedValueConfig("backend-key", "Backend-Key", "s3cret", True),)
    _, _, backend = await run(
        compiled(fragments, api_policy=doc(include("keyed")), named_values=named)
    )
    assert backend.calls[0][2] == [("x-key", "s3cret")]


def test_an_unknown_named_value_in_a_fragment_is_an_error_that_names_it_not_a_value() -> None:
    fragments = {"keyed": f"<fragment>\n  {header('x-key', '{{missing}}')}</fragment>"}
    named = (NamedValueConfig("other", "other", "s3cret", True),)
    problem = refused(fragments, api_policy=doc(include("keyed")), named_values=named)
    assert "unknown named value 'missing'" in str(problem)
    assert "in policy fragment 'keyed' at line 2" in str(problem)
    assert "s3cret" not in str(problem)


def test_an_unknown_fragment_is_an_error_with_its_position() -> None:
    problem = refused(
        {}, api_policy="<policies>\n<inbound>\n  " + include("nope") + "</inbound></policies>"
    )
    assert "no policy fragment 'nope'" in str(problem)
    assert (problem.policy, problem.scope, problem.section) == (
        "include-fragment",
        "api",
        "inbound",
    )
    assert (problem.line, problem.column) == (3, 3)


def test_base_in_a_fragment_is_refused() -> None:
    fragments = {"based": f"<fragment>\n{header('x', '1')}\n<base /></fragment>"}
    problem = refused(fragments, api_policy=doc(include("based")))
    assert (
        "in policy fragment 'based' at line 3, column 1: a policy fragment cannot contain <base />"
        in str(problem)
    )
    nested = {
        "based": '<fragment><choose><when condition="true"><base /></when></choose></fragment>'
    }
    assert "cannot contain <base />" in str(refused(nested, api_policy=doc(include("based"))))


def test_a_section_in_a_fragment_is_refused() -> None:
    fragments = {"sectioned": f"<fragment><inbound>{header('x', '1')}</inbound></fragment>"}
    problem = refused(fragments, api_policy=doc(include("sectioned")))
    assert "cannot contain the section <inbound>" in str(problem)
    wrong_root = {"doc": doc(header("x", "1"))}
    assert "must be <fragment>, not <policies>" in str(
        refused(wrong_root, api_policy=doc(include("doc")))
    )


def test_a_cycle_of_fragments_is_an_error_naming_it() -> None:
    fragments = {
        "a": f"<fragment>{include('b')}</fragment>",
        "b": f"<fragment>{header('x', '1')}{include('a')}</fragment>",
    }
    problem = refused(fragments, operation_policy=doc(outbound=include("a")))
    assert "policy fragments include each other (a → b → a)" in str(problem)
    assert (problem.scope, problem.section) == ("operation", "outbound")
    itself = {"self": f"<fragment>{include('self')}</fragment>"}
    assert "(self → self)" in str(refused(itself, api_policy=doc(include("self"))))


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = MAX_FRAGMENT_NESTING
    chain = {f"f{i}": f"<fragment>{include(f'f{i + 1}')}</fragment>" for i in range(depth)}
    chain[f"f{depth}"] = f"<fragment>{header('x', '1')}</fragment>"
    problem = refused(chain, api_policy=doc(include("f0")))
    assert f"nest deeper than {MAX_FRAGMENT_NESTING} levels" in str(problem)
    del chain["f0"]
    assert isinstance(compile_with(chain, api_policy=doc(include("f1"))), CompiledPolicies)


def test_a_policy_a_fragment_includes_is_checked_for_the_including_section() -> None:
    fragments = {
        "filter": '<fragment><ip-filter action="allow"><address>::1</address></ip-filter></fragment>'
    }
    problem = refused(fragments, api_policy=doc(outbound=include("filter")))
    assert "'ip-filter' is not allowed in section outbound" in str(problem)
    assert problem.policy == "ip-filter"


def test_include_fragment_takes_only_fragment_id() -> None:
    problem = refused({}, api_policy=doc('<include-fragment fragment="x" />'))
    assert "unknown attribute 'fragment'" in str(problem)
    assert "'fragment-id' is required" in str(refused({}, api_policy=doc("<include-fragment />")))


def test_a_broken_fragment_fails_only_the_operations_that_include_it() -> None:
    config = with_fragments(
        {"broken": "<fragment><unheard-of /></fragment>"},
        product_policy=doc(include("broken")),
    )
    policy_set = PolicySet(config)
    assert isinstance(policy_set.for_operation("api", "op", None), CompiledPolicies)
    assert "unheard-of" in str(policy_set.errors[("api", "op", "starter")])


async def test_fragments_can_be_supplied_instead_of_the_configurations() -> None:
    config = with_fragments(
        {"f": f"<fragment>{header('x', 'config')}</fragment>"}, api_policy=doc(include("f"))
    )
    api = config.apis[0]
    from_files = [FragmentConfig("f", f"<fragment>{header('x', 'file')}</fragment>")]
    result = compile_operation_policies(config, api, api.operations[0], fragments=from_files)
    assert isinstance(result, CompiledPolicies)
    _, _, backend = await run(result)
    assert backend.calls[0][2] == [("x", "file")]

    registry = default_registry()
    elements = parse_policy_document(doc(include("F"))).section("inbound") or ()
    scoped = [ScopedElement(Scope.API, e) for e in elements]
    steps = registry.compile_section("inbound", scoped, fragments=parse_fragments(from_files))
    ctx = context()
    for step in steps:
        await step(ctx)
    assert ctx.request.headers == [("x", "file")]


def test_fragments_that_multiply_by_including_each_other_many_times_are_bounded() -> None:
    # Each level includes the next 10 times: 10^7 set-headers if compiled without a bound.
    fragments = {
        f"m{i}": "<fragment>" + include(f"m{i + 1}") * 10 + "</fragment>" for i in range(7)
    }
    fragments["m7"] = f"<fragment>{header('x', '1')}</fragment>"
    problem = refused(fragments, api_policy=doc(include("m0")))
    assert f"insert more than {MAX_INCLUDED_ELEMENTS} elements" in str(problem)
    small = {"m6": fragments["m6"], "m7": fragments["m7"]}
    assert isinstance(compile_with(small, api_policy=doc(include("m6"))), CompiledPolicies)
