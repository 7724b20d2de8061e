"""Compilation: unsupported policies and expressions are errors for the operations they cover."""

from __future__ import annotations

from dataclasses import replace

from tollhouse.contracts import GatewayConfiguration, NamedValueConfig
from tollhouse.gateway.policies import (
    CompiledPolicies,
    PolicyCompileError,
    PolicySet,
    default_registry,
)
from tollhouse.gateway.policies._bridge import expression_compiler

from .support import Backend, configuration, context, doc, error


def test_an_unsupported_policy_names_the_policy_section_and_position() -> None:
    problem = error(api_policy="<policies>\n<inbound>\n  <xsl-transform /></inbound></policies>")
    assert problem.policy == "xsl-transform"
    assert problem.section == "inbound"
    assert problem.scope == "api"
    assert (problem.line, problem.column) == (3, 3)
    assert "'xsl-transform' is not supported" in str(problem)
    assert problem.status == 500


def test_an_unsupported_policy_nested_in_choose_is_found() -> None:
    problem = error(
        operation_policy=doc('<choose><when condition="true"><validate-jwt /></when></choose>')
    )
    assert problem.policy == "validate-jwt"


def test_a_policy_outside_its_sections_is_refused() -> None:
    problem = error(
        api_policy=doc(outbound='<ip-filter action="allow"><address>::1</address></ip-filter>')
    )
    assert "not allowed in section outbound (only in inbound)" in str(problem)
    problem = error(api_policy=doc("<forward-request />"))
    assert "only in backend" in str(problem)
    nested = doc(
        outbound='<choose><when condition="true"><rewrite-uri template="/" /></when></choose>'
    )
    assert "not allowed in section outbound" in str(error(api_policy=nested))


def test_an_unknown_attribute_is_refused_not_ignored() -> None:
    problem = error(operation_policy=doc('<set-header name="a" exists-actoin="skip" />'))
    assert "exists-actoin" in str(problem)


def test_expressions_are_refused_until_the_interpreter_is_wired_in() -> None:
    problem = error(
        operation_policy=doc(
            '<set-header name="a"><value>@(context.RequestId)</value></set-header>'
        )
    )
    assert "policy expressions are not supported yet" in str(problem)
    assert problem.section == "inbound"


def test_an_expression_compiler_can_be_supplied() -> None:
    from tollhouse.gateway.policies import Literal, compile_operation_policies

    config = configuration(
        operation_policy=doc('<set-header name="a"><value>@("x")</value></set-header>')
    )
    api = config.apis[0]
    seen: list[str] = []

    def compiler(text: str, line: int, column: int) -> Literal:
        seen.append(text)
        return Literal("compiled")

    result = compile_operation_policies(config, api, api.operations[0], expressions=compiler)
    assert isinstance(result, CompiledPolicies)
    assert seen == ['@("x")']


def test_an_error_covers_only_its_operations() -> None:
    base = configuration(operation_policy=doc("<quota />"))
    other_op = base.apis[0].operations[0].__class__("ok", "Ok", "GET", "/ok")
    api = base.apis[0].__class__(
        **{**base.apis[0].__dict__, "operations": (*base.apis[0].operations, other_op)}
    )
    config = base.__class__(**{**base.__dict__, "apis": (api,)})
    policy_set = PolicySet(config)
    assert set(policy_set.errors) == {("api", "op", None), ("api", "op", "starter")}
    assert isinstance(policy_set.for_operation("api", "ok", None), CompiledPolicies)
    assert isinstance(policy_set.for_operation("api", "op", None), PolicyCompileError)


def test_a_product_policy_error_covers_only_requests_through_the_product() -> None:
    policy_set = PolicySet(configuration(product_policy=doc("<rate-limit />")))
    assert set(policy_set.errors) == {("api", "op", "starter")}
    assert policy_set.errors[("api", "op", "starter")].scope == "product"
    assert isinstance(policy_set.for_operation("api", "op", None), CompiledPolicies)


def test_a_broken_global_policy_covers_every_operation() -> None:
    policy_set = PolicySet(configuration(global_policy="<policies><inbound>"))
    problem = policy_set.errors[("api", "op", None)]
    assert problem.scope == "global"
    assert "malformed XML" in str(problem)


def test_an_unknown_named_value_is_a_compile_error_of_the_operation() -> None:
    problem = error(
        operation_policy=doc('<set-header name="{{Nope}}"><value>v</value></set-header>'),
        named_values=(NamedValueConfig("a", "A", "1", secret=False),),
    )
    assert "unknown named value 'Nope'" in str(problem)
    assert problem.scope == "operation"


def test_the_default_registry_lists_the_implemented_policies() -> None:
    assert default_registry().names == {
        "set-header",
        "set-query-parameter",
        "set-method",
        "set-status",
        "set-variable",
        "set-body",
        "rewrite-uri",
        "set-backend-service",
        "return-response",
        "mock-response",
        "forward-request",
        "check-header",
        "ip-filter",
        "cors",
        "validate-jwt",
        "validate-azure-ad-token",
        "authentication-basic",
        "choose",
        "include-fragment",
        "retry",
        "send-one-way-request",
        "send-request",
        "wait",
        "rate-limit",
        "rate-limit-by-key",
        "quota",
        "quota-by-key",
        "limit-concurrency",
        "json-to-xml",
        "xml-to-json",
        "find-and-replace",
        "trace",
        "emit-metric",
    }


def _two_apis(api_policy: str) -> GatewayConfiguration:
    config = configuration(api_policy=api_policy)
    first = config.apis[0]
    second = replace(first, name="other", path="other", display_name="Other")
    return replace(config, apis=(first, second))


def test_operations_whose_documents_are_the_same_share_one_compilation() -> None:
    header = '<set-header name="x-a"><value>@(context.Api.Name)</value></set-header>'
    policy = doc(header)
    policies = PolicySet(_two_apis(policy), expressions=expression_compiler())
    first = policies.for_operation("api", "op", None)
    assert isinstance(first, CompiledPolicies)
    assert policies.for_operation("other", "op", None) is first


async def test_shared_rate_limits_still_count_per_api() -> None:
    # A limit at API scope belongs to its API's document: two APIs with the same policy text
    # keep separate counters even though they share the compiled steps.
    policies = PolicySet(
        _two_apis(
            doc('<rate-limit calls="1" renewal-period="60" />', backend="<forward-request />")
        )
    )
    statuses = []
    for api in ("api", "other", "api"):
        compiled = policies.for_operation(api, "op", None)
        assert isinstance(compiled, CompiledPolicies)
        ctx = context()
        ctx.api, ctx.operation = api, "op"
        statuses.append((await compiled.execute(ctx, Backend())).status)
    assert statuses == [200, 200, 429]
