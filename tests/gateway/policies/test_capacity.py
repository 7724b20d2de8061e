# ruff: noqa: E501  (policy documents are kept as users write them)
"""The policy engine's operator limits: `PolicyLimits` defaults to the named constants, refuses
what cannot work, and the limits a gateway is configured with (not the defaults) are the ones
its policies enforce."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from tollhouse.contracts import FragmentConfig
from tollhouse.gateway._pipeline import Pipeline
from tollhouse.gateway.http import Body, Response, UpstreamRequest
from tollhouse.gateway.policies import (
    CompiledPolicies,
    PolicyCompileError,
    PolicyLimits,
    PolicySet,
    default_registry,
)
from tollhouse.gateway.policies import _capacity as capacity
from tollhouse.gateway.policies._bridge import expression_compiler
from tollhouse.gateway.policies._external import OneWayCalls
from tollhouse.gateway.telemetry._metrics import RequestMetrics

from .support import Backend, configuration, context, doc

READS_BODY = '<set-header name="x-len" exists-action="override"><value>@(context.Request.Body.As&lt;string&gt;(true).Length.ToString())</value></set-header>'
ONE_WAY = '<send-one-way-request mode="new" timeout="5"><set-url>https://hooks.example/notify</set-url></send-one-way-request>'


def operation_policies(limits: PolicyLimits, **documents: str) -> CompiledPolicies:
    config = configuration(**documents)
    policy_set = PolicySet(
        config,
        registry=default_registry(limits=limits),
        expressions=expression_compiler(),
    )
    result = policy_set.for_operation("api", "op", None)
    assert isinstance(result, CompiledPolicies), str(result)
    return result


def compile_error(limits: PolicyLimits, **documents: str) -> PolicyCompileError:
    config = configuration(**documents)
    result = PolicySet(config, registry=default_registry(limits=limits)).for_operation(
        "api", "op", None
    )
    assert isinstance(result, PolicyCompileError), "expected a compile error"
    return result


async def _pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# --- the dataclass ---------------------------------------------------------------------------


def test_the_defaults_are_the_named_constants() -> None:
    limits = PolicyLimits()
    assert limits.max_expression_body == capacity.MAX_EXPRESSION_BODY_BYTES == 10 * 1024 * 1024
    assert limits.max_buffered_body == capacity.MAX_BUFFERED_BODY_BYTES
    assert limits.max_converted_body == capacity.MAX_CONVERTED_BODY_BYTES == 4 * 1024 * 1024
    assert limits.max_send_response_body == capacity.MAX_RESPONSE_BODY_BYTES
    assert limits.max_copied_body == capacity.MAX_COPIED_BODY_BYTES
    assert limits.max_one_way_in_flight == capacity.MAX_ONE_WAY_IN_FLIGHT == 10
    assert limits.max_document_size == capacity.MAX_DOCUMENT_BYTES == 256 * 1024
    assert (limits.max_document_depth, limits.max_document_elements) == (32, 10_000)
    assert limits.max_fragment_nesting == capacity.MAX_FRAGMENT_NESTING == 8
    assert limits.max_counter_keys == 100_000
    assert limits.max_custom_series == capacity.MAX_CUSTOM_SERIES == 2_000


def test_the_constants_are_still_found_where_the_code_that_enforces_them_is() -> None:
    from tollhouse.gateway.limits import MAX_KEYS
    from tollhouse.gateway.policies import (
        _body_reads,
        _conversion,
        _document,
        _external,
        _fragments,
    )
    from tollhouse.gateway.telemetry import _metrics

    assert _body_reads.MAX_EXPRESSION_BODY_BYTES == capacity.MAX_EXPRESSION_BODY_BYTES
    assert _conversion.MAX_CONVERTED_BODY_BYTES == capacity.MAX_CONVERTED_BODY_BYTES
    assert _external.MAX_ONE_WAY_IN_FLIGHT == capacity.MAX_ONE_WAY_IN_FLIGHT
    assert _document.MAX_DOCUMENT_BYTES == capacity.MAX_DOCUMENT_BYTES
    assert _fragments.MAX_FRAGMENT_NESTING == capacity.MAX_FRAGMENT_NESTING
    assert _metrics.MAX_CUSTOM_SERIES == capacity.MAX_CUSTOM_SERIES
    assert PolicyLimits().max_counter_keys == MAX_KEYS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_expression_body", 0),
        ("max_one_way_in_flight", -1),
        ("max_document_size", 0),
        ("max_custom_series", True),
        ("max_document_depth", capacity.MOST_NESTED_LEVELS // 9 + 1),
        ("max_fragment_nesting", 9),
    ],
)
def test_a_limit_that_cannot_work_is_refused_naming_its_field(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=rf"PolicyLimits\.{field}\b"):
        PolicyLimits(**{field: value})


# --- the configured limit is the one enforced ------------------------------------------------


async def test_an_expression_reading_a_body_over_the_configured_limit_answers_413() -> None:
    document = doc(inbound=READS_BODY, backend="<forward-request />")
    small = operation_policies(PolicyLimits(max_expression_body=8), api_policy=document)
    ctx = context(method="POST")
    ctx.request.body = Body(stream=_pieces(b"twelve", b" bytes"))
    backend = Backend()
    response = await small.execute(ctx, backend)
    assert response.status == 413 and backend.calls == []

    # The same body within the default limit is read.
    default = operation_policies(PolicyLimits(), api_policy=document)
    ctx = context(method="POST")
    ctx.request.body = Body(stream=_pieces(b"twelve", b" bytes"))
    response = await default.execute(ctx, Backend())
    assert response.status == 200 and ("x-len", "12") in ctx.request.headers


def test_a_document_over_the_configured_size_is_a_compile_error() -> None:
    document = doc(
        inbound='<set-header name="x-a" exists-action="override"><value>a</value></set-header>'
    )
    assert len(document) > 100
    error = compile_error(PolicyLimits(max_document_size=100), api_policy=document)
    assert f"the policy document is {len(document)} bytes, more than the limit of 100" in str(error)
    assert isinstance(
        PolicySet(configuration(api_policy=document)).for_operation("api", "op", None),
        CompiledPolicies,
    )


def test_documents_and_fragments_are_held_to_the_configured_depth() -> None:
    nested = '<choose><when condition="true"><choose><when condition="true"><set-status code="204" /></when></choose></when></choose>'
    error = compile_error(PolicyLimits(max_document_depth=5), api_policy=doc(inbound=nested))
    assert "nesting deeper than 5 elements" in str(error)


def test_fragments_nest_only_as_deep_as_configured() -> None:
    config = dataclasses.replace(
        configuration(api_policy=doc(inbound='<include-fragment fragment-id="a" />')),
        fragments=(
            FragmentConfig("a", '<fragment><include-fragment fragment-id="b" /></fragment>'),
            FragmentConfig("b", '<fragment><set-status code="204" /></fragment>'),
        ),
    )
    shallow = PolicySet(
        config, registry=default_registry(limits=PolicyLimits(max_fragment_nesting=1))
    )
    error = shallow.for_operation("api", "op", None)
    assert isinstance(error, PolicyCompileError)
    assert "nest deeper than 1 levels" in str(error)
    assert isinstance(PolicySet(config).for_operation("api", "op", None), CompiledPolicies)


async def test_a_converted_body_over_the_configured_limit_answers_413() -> None:
    converting = operation_policies(
        PolicyLimits(max_converted_body=4),
        api_policy=doc(inbound='<json-to-xml apply="always" consider-accept-header="false" />'),
    )
    ctx = context(method="POST", headers=[("content-type", "application/json")])
    ctx.request.body = Body(stream=_pieces(b'{"a": 1}'))
    response = await converting.execute(ctx, Backend())
    assert response.status == 413


class HeldUpstream:
    """An upstream pool whose answers wait until released."""

    def __init__(self) -> None:
        self.requests: list[UpstreamRequest] = []
        self.release = asyncio.Event()

    async def request(self, request: UpstreamRequest) -> Response:
        self.requests.append(request)
        await self.release.wait()
        return Response(204)

    async def close(self) -> None:
        return None


async def test_one_way_calls_over_the_configured_cap_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream = HeldUpstream()
    limits = PolicyLimits(max_one_way_in_flight=1)
    pipeline = Pipeline(upstream, RequestMetrics(), registry=default_registry(limits=limits))  # type: ignore[arg-type]
    assert pipeline.policy_limits is limits
    policies = operation_policies(limits, api_policy=doc(inbound=ONE_WAY))
    ctx = context()
    ctx.call_one_way = pipeline.one_way.submit
    for _ in range(2):
        assert (await policies.execute(ctx, Backend())).status == 200
    await asyncio.sleep(0.01)
    assert (len(upstream.requests), pipeline.one_way.in_flight) == (1, 1)
    assert "dropped: 1 calls already in flight" in caplog.text
    await pipeline.one_way.close()


def test_the_pipeline_takes_its_limits_from_an_explicit_setting_or_the_registry() -> None:
    upstream = HeldUpstream()
    explicit = PolicyLimits(max_one_way_in_flight=3, max_send_response_body=64)
    pipeline = Pipeline(upstream, RequestMetrics(), policy_limits=explicit)  # type: ignore[arg-type]
    assert isinstance(pipeline.one_way, OneWayCalls)
    assert (pipeline.one_way.limit, pipeline.one_way.max_response_body) == (3, 64)
    assert Pipeline(upstream, RequestMetrics()).policy_limits == PolicyLimits()  # type: ignore[arg-type]


async def test_counters_keep_only_the_configured_number_of_keys() -> None:
    limits = PolicyLimits(max_counter_keys=2)
    policies = operation_policies(
        limits,
        api_policy=doc(
            inbound='<rate-limit-by-key calls="1" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-k&quot;, &quot;&quot;))" />'
        ),
    )

    async def status(key: str) -> int:
        return (await policies.execute(context(headers=[("x-k", key)]), Backend())).status

    assert [await status(k) for k in ("a", "a")] == [200, 429]
    # Two more keys push "a" out of a store of two: its window starts afresh.
    assert [await status(k) for k in ("b", "c", "a")] == [200, 200, 200]


def test_depth_and_fragment_nesting_may_be_traded_but_not_both_raised() -> None:
    assert PolicyLimits(max_document_depth=64, max_fragment_nesting=3).max_document_depth == 64
    assert PolicyLimits(max_document_depth=16, max_fragment_nesting=17).max_fragment_nesting == 17
    with pytest.raises(ValueError, match="at most 288, not 576"):
        PolicyLimits(max_document_depth=64, max_fragment_nesting=8)
