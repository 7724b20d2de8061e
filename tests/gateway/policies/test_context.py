# ruff: noqa: E501  (policy documents are kept as users write them)
"""`context` as the gateway builds it for one request: each part APIM documents, live over
what earlier policies changed, and bodies read into memory only where expressions read them."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest

from tollhouse.contracts import SubscriptionConfig
from tollhouse.gateway.http import Body
from tollhouse.gateway.policies import (
    CompiledPolicies,
    PolicyContext,
    PolicyResponse,
    compile_operation_policies,
)
from tollhouse.gateway.policies._body_reads import MAX_EXPRESSION_BODY_BYTES, body_reads
from tollhouse.gateway.policies._bridge import expression_compiler
from tollhouse.gateway.policies._context import RequestFacts
from tollhouse.gateway.policies._document import parse_policy_document

from .support import configuration, context, doc

SUBSCRIPTION = SubscriptionConfig(
    name="sub-7",
    display_name="Gold plan",
    scope_type="product",
    scope_name="starter",
    state="active",
    primary_key_hash="h1",
    secondary_key_hash="h2",
)


def compile_with_expressions(**documents: str) -> CompiledPolicies:
    config = configuration(**documents)
    api = config.apis[0]
    result = compile_operation_policies(
        config, api, api.operations[0], "starter", expressions=expression_compiler()
    )
    assert isinstance(result, CompiledPolicies), str(result)
    return result


def with_facts(ctx: PolicyContext, **overrides: object) -> PolicyContext:
    config = configuration()
    api = config.apis[0]
    values: dict[str, object] = {
        "service_name": "contoso",
        "host": "api.contoso.example",
        "scheme": "https",
        "api": api,
        "operation": api.operations[0],
        "product": config.products[0],
        "subscription": SUBSCRIPTION,
        "subscription_key": "the-key",
        "received": datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp(),
    }
    values.update(overrides)
    ctx.facts = RequestFacts("gw-west", **values)  # type: ignore[arg-type]
    ctx.api, ctx.operation, ctx.product = "api", "op", "starter"
    return ctx


def headers_setting(**expressions: str) -> str:
    return "".join(
        f'<set-header name="x-{name}" exists-action="override"><value>@({escape(text)})</value></set-header>'
        for name, text in expressions.items()
    )


class Recorder:
    def __init__(self, body: bytes = b"") -> None:
        self.seen: list[tuple[list[tuple[str, str]], bytes]] = []
        self.body = body

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse:
        self.seen.append((list(ctx.request.headers), await ctx.request.body.read()))
        return PolicyResponse(
            201, headers=[("x-backend", "b")], body=Body(stream=_stream([self.body]))
        )


async def _stream(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def header(headers: list[tuple[str, str]], name: str) -> str:
    return next(v for k, v in headers if k == name)


async def test_every_part_of_context_is_readable() -> None:
    inbound = headers_setting(
        method="context.Request.Method",
        path="context.Request.Url.Path",
        host="context.Request.Url.Host",
        query='context.Request.Url.Query.GetValueOrDefault("page", "")',
        hdr='context.Request.Headers.GetValueOrDefault("X-Caller", "")',
        ip="context.Request.IpAddress",
        param='context.Request.MatchedParameters["id"]',
        sub='context.Subscription.Id + "/" + context.Subscription.Name + "/" + context.Subscription.Key',
        product='context.Product.Id + "/" + context.Product.Name',
        api='context.Api.Id + "/" + context.Api.Name + "/" + context.Api.Path',
        operation='context.Operation.Id + "/" + context.Operation.Method + " " + context.Operation.UrlTemplate',
        user='context.User?.Email ?? "anonymous"',
        variable='(string)context.Variables["v"]',
        gateway='context.Deployment.GatewayId + "/" + context.Deployment.ServiceName',
        requestid="context.RequestId.ToString()",
        timestamp='context.Timestamp.ToString("yyyy-MM-ddTHH:mm")',
        elapsed="context.Elapsed.TotalSeconds >= 0",
    )
    policies = compile_with_expressions(
        api_policy=doc(
            inbound='<set-variable name="v" value="set-before" />' + inbound,
            backend="<forward-request />",
            outbound=headers_setting(
                status="context.Response.StatusCode",
                fromback='context.Response.Headers.GetValueOrDefault("x-backend", "")',
            ),
        )
    )
    ctx = with_facts(
        context(
            query=[("page", "3")],
            headers=[("X-Caller", "c1"), ("x-caller", "c2")],
            client_ip="203.0.113.9",
            params={"id": "42"},
        )
    )
    backend = Recorder()
    response = await policies.execute(ctx, backend)
    sent = backend.seen[0][0]
    assert header(sent, "x-method") == "GET"
    assert header(sent, "x-path") == "/items/7"
    assert header(sent, "x-host") == "api.contoso.example"
    assert header(sent, "x-query") == "3"
    assert header(sent, "x-hdr") == "c1,c2"
    assert header(sent, "x-ip") == "203.0.113.9"
    assert header(sent, "x-param") == "42"
    assert header(sent, "x-sub") == "sub-7/Gold plan/the-key"
    assert header(sent, "x-product") == "starter/Starter"
    assert header(sent, "x-api") == "api/API/shop"
    assert header(sent, "x-operation") == "op/GET /items/{id}"
    assert header(sent, "x-user") == "anonymous"
    assert header(sent, "x-variable") == "set-before"
    assert header(sent, "x-gateway") == "gw-west/contoso"
    assert len(header(sent, "x-requestid")) == 36
    assert header(sent, "x-timestamp") == "2026-11-23T08:00"
    assert header(sent, "x-elapsed") == "True"
    assert header(response.headers, "x-status") == "201"
    assert header(response.headers, "x-fromback") == "b"


async def test_the_request_id_is_one_per_request() -> None:
    policies = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(a="context.RequestId", b="context.RequestId"),
            backend="<forward-request />",
        )
    )
    first, second = Recorder(), Recorder()
    await policies.execute(with_facts(context()), first)
    await policies.execute(with_facts(context()), second)
    one = first.seen[0][0]
    assert header(one, "x-a") == header(one, "x-b")
    assert header(one, "x-a") != header(second.seen[0][0], "x-a")


async def test_context_sees_what_earlier_policies_changed() -> None:
    policies = compile_with_expressions(
        api_policy=doc(
            inbound='<set-header name="x-late" exists-action="override"><value>now</value></set-header>'
            '<set-method>POST</set-method><rewrite-uri template="/other" />'
            + headers_setting(
                seen='context.Request.Headers.GetValueOrDefault("x-late", "") + context.Request.Method + context.Request.Url.Path'
            ),
            backend="<forward-request />",
        )
    )
    backend = Recorder()
    await policies.execute(with_facts(context()), backend)
    assert header(backend.seen[0][0], "x-seen") == "nowPOST/other"


async def test_subscription_keys_other_than_the_presented_one_cannot_be_read() -> None:
    policies = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(k="context.Subscription.PrimaryKey"),
            on_error='<return-response><set-status code="500" /><set-header name="x-why" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></return-response>',
        )
    )
    response = await policies.execute(with_facts(context()), Recorder())
    assert response.status == 500
    why = header(response.headers, "x-why")
    assert why.startswith("ExpressionValueEvaluationFailure")
    assert "no keys" in why
    assert "the-key" not in why


async def test_without_a_subscription_context_subscription_is_null() -> None:
    policies = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(
                s='context.Subscription == null ? "none" : "some"',
                p='context.Product?.Name ?? "no product"',
            ),
            backend="<forward-request />",
        )
    )
    backend = Recorder()
    ctx = with_facts(context(), subscription=None, subscription_key=None, product=None)
    ctx.product = None
    await policies.execute(ctx, backend)
    assert header(backend.seen[0][0], "x-s") == "none"
    assert header(backend.seen[0][0], "x-p") == "no product"


@pytest.mark.parametrize(
    "chunks", [[b'{"tier": "gold", "n": 2}'], [bytes([b]) for b in b'{"tier": "gold", "n": 2}']]
)
async def test_a_streamed_request_body_is_read_for_the_expression_and_still_forwarded(
    chunks: list[bytes],
) -> None:
    policies = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(
                tier='context.Request.Body.As<JObject>(preserveContent: true)["tier"].ToString()'
            ),
            backend="<forward-request />",
        )
    )
    ctx = with_facts(context(method="POST"))
    ctx.request.body = Body(stream=_stream(chunks))
    backend = Recorder()
    await policies.execute(ctx, backend)
    headers, forwarded = backend.seen[0]
    assert header(headers, "x-tier") == "gold"
    assert forwarded == b'{"tier": "gold", "n": 2}'


async def test_reading_the_body_without_preserve_content_consumes_it() -> None:
    # APIM: without preserveContent: true the body is not available afterwards.
    policies = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(text="context.Request.Body.As<string>()"),
            backend="<forward-request />",
        )
    )
    ctx = with_facts(context(method="POST"))
    ctx.request.body = Body(stream=_stream([b"hello"]))
    backend = Recorder()
    await policies.execute(ctx, backend)
    headers, forwarded = backend.seen[0]
    assert header(headers, "x-text") == "hello"
    assert forwarded == b""


async def test_the_response_body_is_read_in_outbound() -> None:
    policies = compile_with_expressions(
        api_policy=doc(
            backend="<forward-request />",
            outbound=headers_setting(
                len="context.Response.Body.As<string>(preserveContent: true).Length"
            ),
        )
    )
    response = await policies.execute(with_facts(context()), Recorder(body=b"twelve bytes"))
    assert header(response.headers, "x-len") == "12"
    assert await response.body.read() == b"twelve bytes"


async def test_a_request_body_over_the_limit_answers_413() -> None:
    policies = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(text="context.Request.Body.As<string>(true)"),
            backend="<forward-request />",
        )
    )
    ctx = with_facts(context(method="POST"))
    big = b"x" * (MAX_EXPRESSION_BODY_BYTES // 4)
    ctx.request.body = Body(stream=_stream([big] * 5))
    backend = Recorder()
    response = await policies.execute(ctx, backend)
    assert response.status == 413
    assert backend.seen == []


def test_only_policies_whose_expressions_read_a_body_read_it() -> None:
    def reads(text: str) -> frozenset[str]:
        document = parse_policy_document(f"<policies><inbound>{text}</inbound></policies>", ())
        inbound = document.sections["inbound"]
        assert inbound is not None
        return body_reads(inbound[0])

    assert (
        reads('<set-header name="a"><value>@(context.Request.Headers.Count)</value></set-header>')
        == frozenset()
    )
    assert reads(
        '<set-variable name="b" value="@(context.Request.Body.As&lt;string&gt;(true))" />'
    ) == {"Request"}
    assert reads(
        '<choose><when condition="@(context.Response.Body.As&lt;string&gt;(true).Length &gt; 2)"><set-status code="200" /></when></choose>'
    ) == {"Response"}


def test_request_facts_never_show_the_subscription_key() -> None:
    facts = RequestFacts("gw", subscription_key="secret-key")
    assert "secret-key" not in repr(facts)
    assert facts.subscription_id is None


async def test_expressions_read_the_subscriptions_dates() -> None:
    dated = SubscriptionConfig(
        name="sub-7",
        display_name="Gold plan",
        scope_type="product",
        scope_name="starter",
        state="active",
        primary_key_hash="h1",
        secondary_key_hash="h2",
        created_date="2025-03-01T12:30:05Z",
        start_date="2026-04-01T00:00:00Z",
        expiration_date="2027-05-01T00:00:00Z",
    )
    inbound = headers_setting(
        start="context.Subscription.StartDate.Year",
        created='context.Subscription.CreatedDate.ToString("yyyy-MM-ddTHH:mm:ss")',
        end="context.Subscription.EndDate.Month",
        unset="context.Subscription.StartDate == null",
    )
    policies = compile_with_expressions(
        api_policy=doc(inbound=inbound, backend="<forward-request />")
    )
    backend = Recorder()
    await policies.execute(with_facts(context(), subscription=dated), backend)
    sent = backend.seen[0][0]
    assert header(sent, "x-start") == "2026"
    assert header(sent, "x-created") == "2025-03-01T12:30:05"
    assert header(sent, "x-end") == "5"
    assert header(sent, "x-unset") == "False"
    undated = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(unset="context.Subscription.StartDate == null"),
            backend="<forward-request />",
        )
    )
    await undated.execute(with_facts(context()), backend)
    assert header(backend.seen[1][0], "x-unset") == "True"


async def test_a_request_through_expressions_leaves_no_reference_cycles() -> None:
    # The gateway collects garbage seldom (runtime.gc.youngThreshold): a request must be freed
    # by reference counting alone, or collections pile up and stall the event loop.
    policies = compile_with_expressions(
        api_policy=doc(
            inbound=headers_setting(a="context.Request.Headers.Count", b="context.RequestId"),
            backend="<forward-request />",
        )
    )
    await policies.execute(with_facts(context()), Recorder())  # warm: caches filled
    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            await policies.execute(with_facts(context()), Recorder())
        assert gc.collect() == 0
    finally:
        gc.enable()
