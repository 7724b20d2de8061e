# ruff: noqa: E501  (policy documents are kept as users write them)
"""send-request and send-one-way-request: what they send, what send-request stores for
expressions, timeouts and ignore-error, refused children, and one-way calls that nobody waits
for, capped per gateway."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from xml.sax.saxutils import escape

import pytest

from tollhouse.gateway.http import Body, UpstreamConnectError
from tollhouse.gateway.policies import (
    CompiledPolicies,
    PolicyContext,
    PolicyResponse,
    compile_operation_policies,
)
from tollhouse.gateway.policies._bridge import expression_compiler
from tollhouse.gateway.policies._execute import OutgoingCall
from tollhouse.gateway.policies._external import (
    MAX_RESPONSE_BODY_BYTES,
    MAX_TIMEOUT_SECONDS,
    OneWayCalls,
)

from .support import Backend, body, configuration, context, doc, error


def compiled(
    inbound: str = "", outbound: str = "", on_error: str = "", backend: str | None = None
) -> CompiledPolicies:
    config = configuration(operation_policy=doc(inbound, outbound, on_error, backend))
    api = config.apis[0]
    result = compile_operation_policies(
        config, api, api.operations[0], expressions=expression_compiler()
    )
    assert isinstance(result, CompiledPolicies), str(result)
    return result


class Target:
    """A scripted service: records each call, answers `status` with `body` after `delay`."""

    def __init__(
        self,
        status: int = 200,
        body: bytes = b'{"active": true, "name": "svc"}',
        *,
        delay: float = 0.0,
        fail: Exception | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.delay = delay
        self.fail = fail
        self.stream: AsyncIterator[bytes] | None = None
        self.calls: list[OutgoingCall] = []
        self.finished = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, outgoing: OutgoingCall) -> PolicyResponse:
        self.calls.append(outgoing)
        await self.release.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.finished += 1
        if self.fail is not None:
            raise self.fail
        return PolicyResponse(
            self.status,
            headers=[("content-type", "application/json"), ("x-id", "7")],
            body=Body(self.stream) if self.stream is not None else Body(data=self.body),
        )


async def execute(
    policies: CompiledPolicies, target: Target, ctx: PolicyContext | None = None
) -> tuple[PolicyResponse, PolicyContext, Backend]:
    ctx = ctx or context()
    ctx.call = target
    backend = Backend()
    response = await policies.execute(ctx, backend)
    return response, ctx, backend


def header(name: str, value: str) -> str:
    return (
        f'<set-header name="{name}" exists-action="override">'
        f"<value>{escape(value)}</value></set-header>"
    )


SEND = """<send-request mode="new" response-variable-name="r" timeout="5">
  <set-url>https://auth.example/introspect?a=1</set-url>
  <set-method>POST</set-method>
  <set-header name="Content-Type" exists-action="override"><value>application/json</value></set-header>
  <set-header name="X-Multi" exists-action="append"><value>a</value><value>b</value></set-header>
  <set-body>@("{\\"id\\": \\"" + context.Request.MatchedParameters["id"] + "\\"}")</set-body>
</send-request>"""

ERROR_HEADER = header("x-error", '@(context.LastError.Source + "/" + context.LastError.Reason)')


# --- what is sent ----------------------------------------------------------------------------


async def test_mode_new_sends_the_url_method_headers_and_body_it_was_given() -> None:
    target = Target()
    await execute(compiled(SEND), target, context(headers=[("x-client", "c")]))
    (sent,) = target.calls
    assert (sent.method, sent.url) == ("POST", "https://auth.example/introspect?a=1")
    assert sent.headers == (
        ("Content-Type", "application/json"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
    )
    assert sent.body == b'{"id": "7"}'
    assert sent.timeout == 5.0


async def test_mode_new_without_set_method_is_a_get_with_the_default_timeout() -> None:
    xml = '<send-request response-variable-name="r"><set-url>http://svc.example/</set-url></send-request>'
    target = Target()
    await execute(compiled(xml), target)
    (sent,) = target.calls
    assert (sent.method, sent.headers, sent.body, sent.timeout) == ("GET", (), b"", 60.0)


async def test_mode_copy_sends_the_current_request_where_forward_request_would() -> None:
    xml = (
        '<send-request mode="copy" response-variable-name="r">'
        '<set-header name="x-client" exists-action="delete" />'
        "</send-request>"
    )
    ctx = context(method="POST", headers=[("x-client", "c"), ("x-keep", "k")], query=[("q", "1")])
    ctx.request.body = Body(data=b"payload")
    target = Target()
    _, _, backend = await execute(compiled(xml, backend="<forward-request />"), target, ctx)
    (sent,) = target.calls
    assert sent.method == "POST"
    assert sent.url == "https://backend.example/items/7?q=1"
    assert sent.headers == (("x-keep", "k"),)
    assert sent.body == b"payload"
    # The client's body is still there for the backend.
    assert backend.calls and ctx.request.body.buffered == b"payload"


async def test_mode_copy_in_outbound_does_not_copy_the_body() -> None:
    xml = '<send-request mode="copy" response-variable-name="r" />'
    ctx = context(method="PUT")
    ctx.request.body = Body(data=b"payload")
    target = Target()
    await execute(compiled(outbound=xml), target, ctx)
    (sent,) = target.calls
    assert (sent.method, sent.body) == ("PUT", b"")


async def test_a_url_computed_outside_http_fails_without_echoing_it() -> None:
    xml = (
        '<send-request response-variable-name="r">'
        '<set-url>@("file:///etc/" + "secret-token")</set-url></send-request>'
    )
    target = Target()
    response, ctx, _ = await execute(compiled(xml, on_error=ERROR_HEADER), target)
    assert target.calls == []
    assert ("x-error", "send-request/InvalidUrl") in response.headers
    assert ctx.last_error is not None and "secret-token" not in ctx.last_error.message


# --- what is stored --------------------------------------------------------------------------


async def test_the_response_is_readable_by_expressions_as_an_iresponse() -> None:
    reads = (
        header("x-status", '@(((IResponse)context.Variables["r"]).StatusCode.ToString())')
        + header("x-reason", '@(((IResponse)context.Variables["r"]).StatusReason)')
        + header(
            "x-id",
            '@(((IResponse)context.Variables["r"]).Headers.GetValueOrDefault("X-Id", ""))',
        )
        + header(
            "x-name",
            '@((string)((IResponse)context.Variables["r"]).Body.As<JObject>(preserveContent: true)["name"])',
        )
        + header(
            "x-text",
            '@(context.Variables.GetValueOrDefault<IResponse>("r").Body.As<string>())',
        )
    )
    target = Target(status=201)
    _, ctx, _ = await execute(compiled(SEND + reads), target)
    seen = dict(ctx.request.headers)
    assert seen["x-status"] == "201"
    assert seen["x-reason"] == "Created"
    assert seen["x-id"] == "7"
    assert seen["x-name"] == "svc"
    assert seen["x-text"] == '{"active": true, "name": "svc"}'


async def test_reading_the_body_without_preserve_content_consumes_it() -> None:
    reads = header("x-first", '@(((IResponse)context.Variables["r"]).Body.As<string>())') + header(
        "x-second", '@(((IResponse)context.Variables["r"]).Body.As<string>())'
    )
    _, ctx, _ = await execute(compiled(SEND + reads), Target(body=b"once"))
    seen = dict(ctx.request.headers)
    assert (seen["x-first"], seen["x-second"]) == ("once", "")


async def test_an_error_status_is_a_response_not_a_failure() -> None:
    reads = header("x-status", '@(((IResponse)context.Variables["r"]).StatusCode.ToString())')
    _, ctx, backend = await execute(compiled(SEND + reads), Target(status=503))
    assert dict(ctx.request.headers)["x-status"] == "503"
    assert ctx.last_error is None and backend.calls


async def test_the_response_variable_name_may_be_an_expression() -> None:
    xml = SEND.replace('response-variable-name="r"', 'response-variable-name=\'@("r" + "2")\'')
    _, ctx, _ = await execute(compiled(xml), Target())
    assert type(ctx.variables["r2"]).__name__ == "ResponseObject"


async def _chunks(size: int) -> AsyncIterator[bytes]:
    for _ in range(size // 65536 + 1):
        yield b"x" * 65536


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_body_larger_than_the_limit_is_an_error(streamed: bool) -> None:
    target = Target(body=b"x" * (MAX_RESPONSE_BODY_BYTES + 1))
    if streamed:
        target.stream = _chunks(MAX_RESPONSE_BODY_BYTES)
    response, _, backend = await execute(compiled(SEND, on_error=ERROR_HEADER), target)
    assert ("x-error", "send-request/ResponseBodyTooLarge") in response.headers
    assert response.status == 500 and backend.calls == []


# --- failures --------------------------------------------------------------------------------


async def test_a_timeout_fails_the_request_through_on_error() -> None:
    xml = SEND.replace('timeout="5"', 'timeout="1"')
    started = time.monotonic()
    response, _, backend = await execute(compiled(xml, on_error=ERROR_HEADER), Target(delay=10))
    assert time.monotonic() - started < 5
    assert ("x-error", "send-request/Timeout") in response.headers
    assert response.status == 500 and backend.calls == []


async def test_a_connect_error_fails_the_request_through_on_error() -> None:
    failing = Target(fail=UpstreamConnectError("cannot connect to the backend"))
    response, ctx, backend = await execute(compiled(SEND, on_error=ERROR_HEADER), failing)
    assert ("x-error", "send-request/BackendConnectionFailure") in response.headers
    assert ctx.last_error is not None
    assert ctx.last_error.message == "cannot connect to the backend"
    assert backend.calls == []


@pytest.mark.parametrize(
    "target",
    [
        Target(fail=UpstreamConnectError("cannot connect to the backend")),
        Target(delay=10),
    ],
    ids=["connect-error", "timeout"],
)
async def test_ignore_error_leaves_null_and_the_request_goes_on(target: Target) -> None:
    xml = SEND.replace('timeout="5"', 'timeout="1" ignore-error="true"') + header(
        "x-null", '@((context.Variables["r"] == null).ToString())'
    )
    response, ctx, backend = await execute(compiled(xml), target)
    assert ctx.variables["r"] is None
    assert dict(ctx.request.headers)["x-null"] == "True"
    assert ctx.last_error is None and response.status == 200 and backend.calls


async def test_without_a_way_out_send_request_fails_clearly() -> None:
    ctx = context()
    response = await compiled(SEND, on_error=ERROR_HEADER).execute(ctx, Backend())
    assert ("x-error", "send-request/NotAvailable") in response.headers


# --- compile errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "child",
    [
        '<authentication-certificate thumbprint="ab12" />',
        '<authentication-managed-identity resource="api://x" />',
        '<proxy url="http://proxy.example:8080" />',
    ],
)
@pytest.mark.parametrize("policy", ["send-request", "send-one-way-request"])
def test_children_we_cannot_honour_securely_are_refused_by_name(policy: str, child: str) -> None:
    name = child.split()[0][1:]
    variable = ' response-variable-name="r"' if policy == "send-request" else ""
    xml = f"<{policy}{variable}><set-url>https://x.example/</set-url>{child}</{policy}>"
    failure = error(operation_policy=doc(xml))
    assert f"<{name}>" in str(failure) and "cannot be used" in str(failure)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (
            "<send-request><set-url>https://x.example/</set-url></send-request>",
            "response-variable-name",
        ),
        ('<send-request response-variable-name="r" />', "needs <set-url>"),
        (
            '<send-request response-variable-name="r" mode="clone"><set-url>https://x.example/</set-url></send-request>',
            "mode",
        ),
        (
            '<send-request response-variable-name="r" timeout="0"><set-url>https://x.example/</set-url></send-request>',
            "timeout",
        ),
        (
            f'<send-request response-variable-name="r" timeout="{MAX_TIMEOUT_SECONDS + 1}"><set-url>https://x.example/</set-url></send-request>',
            "timeout",
        ),
        (
            '<send-request response-variable-name="r" timeout="ten"><set-url>https://x.example/</set-url></send-request>',
            "timeout",
        ),
        (
            '<send-request response-variable-name="r" ignore-error="maybe"><set-url>https://x.example/</set-url></send-request>',
            "ignore-error",
        ),
        (
            '<send-request response-variable-name="r"><set-url>ftp://x.example/</set-url></send-request>',
            "http(s)",
        ),
        (
            '<send-request response-variable-name="r"><set-url>https://x.example/</set-url><set-url>https://y.example/</set-url></send-request>',
            "more than once",
        ),
        (
            '<send-request response-variable-name="r"><set-url>https://x.example/</set-url><rewrite-uri template="/" /></send-request>',
            "cannot contain <rewrite-uri>",
        ),
        (
            '<send-request response-variable-name="r" retries="3"><set-url>https://x.example/</set-url></send-request>',
            "unknown attribute 'retries'",
        ),
        (
            '<send-one-way-request response-variable-name="r"><set-url>https://x.example/</set-url></send-one-way-request>',
            "unknown attribute",
        ),
        ("<send-one-way-request />", "needs <set-url>"),
    ],
)
def test_malformed_calls_are_compile_errors(xml: str, message: str) -> None:
    assert message in str(error(operation_policy=doc(xml)))


# --- send-one-way-request --------------------------------------------------------------------

ONE_WAY = """<send-one-way-request mode="new" timeout="2">
  <set-url>https://hooks.example/notify?token=query-secret</set-url>
  <set-method>POST</set-method>
  <set-header name="Authorization" exists-action="override"><value>Bearer header-secret</value></set-header>
  <set-body>alert</set-body>
</send-one-way-request>"""


async def test_one_way_does_not_wait_for_the_call() -> None:
    target = Target()
    target.release.clear()  # the target does not answer until told to
    calls = OneWayCalls(target)
    ctx = context()
    ctx.call_one_way = calls.submit
    response = await asyncio.wait_for(compiled(ONE_WAY).execute(ctx, Backend()), 1)
    assert response.status == 200
    await asyncio.sleep(0)
    (sent,) = target.calls
    assert (sent.method, sent.body, sent.timeout) == ("POST", b"alert", 2.0)
    assert (target.finished, calls.in_flight) == (0, 1)
    target.release.set()
    for _ in range(100):
        if calls.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert (target.finished, calls.in_flight) == (1, 0)


@pytest.mark.parametrize(
    "target",
    [Target(fail=UpstreamConnectError("cannot connect to the backend")), Target(delay=10)],
    ids=["connect-error", "timeout"],
)
async def test_a_failed_one_way_call_is_logged_without_secrets_and_never_affects_the_request(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tollhouse.gateway.policies")
    calls = OneWayCalls(target)
    ctx = context()
    ctx.call_one_way = calls.submit
    xml = ONE_WAY.replace('timeout="2"', 'timeout="1"')
    response = await compiled(xml).execute(ctx, Backend())
    assert response.status == 200 and ctx.last_error is None
    for _ in range(300):
        if calls.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert calls.in_flight == 0
    logged = caplog.text
    assert "send-one-way-request POST https://hooks.example failed" in logged
    for secret in ("query-secret", "header-secret", "Authorization", "alert"):
        assert secret not in logged


async def test_one_way_calls_over_the_cap_are_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = Target()
    target.release.clear()
    calls = OneWayCalls(target, limit=2)
    ctx = context()
    ctx.call_one_way = calls.submit
    policies = compiled(ONE_WAY)
    for _ in range(3):
        assert (await policies.execute(ctx, Backend())).status == 200
    await asyncio.sleep(0)
    assert (len(target.calls), calls.in_flight) == (2, 2)
    assert "dropped: 2 calls already in flight" in caplog.text
    assert "query-secret" not in caplog.text
    await calls.close()


async def test_closing_cancels_one_way_calls_in_flight() -> None:
    target = Target()
    target.release.clear()
    calls = OneWayCalls(target)
    for _ in range(3):
        outgoing = OutgoingCall("GET", "https://x.example/", (), b"", 60.0)
        assert calls.submit(outgoing)
    await asyncio.sleep(0)
    await asyncio.wait_for(calls.close(), 1)
    assert (calls.in_flight, target.finished) == (0, 0)


async def test_a_one_way_call_reads_and_discards_the_answer() -> None:
    target = Target(body=b"ignored")
    calls = OneWayCalls(target)
    ctx = context()
    ctx.call_one_way = calls.submit
    response = await compiled(ONE_WAY).execute(ctx, Backend())
    assert await body(response) == b"backend"
    for _ in range(100):
        if calls.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert target.finished == 1 and "r" not in ctx.variables


async def test_send_requests_inside_wait_run_side_by_side() -> None:
    one = '<send-request response-variable-name="{name}" timeout="5"><set-url>https://x.example/{name}</set-url></send-request>'
    xml = f"<wait>{one.format(name='a')}{one.format(name='b')}</wait>"
    target = Target(delay=0.5)
    started = time.monotonic()
    _, ctx, _ = await execute(compiled(xml), target)
    assert time.monotonic() - started < 0.9
    assert {c.url for c in target.calls} == {"https://x.example/a", "https://x.example/b"}
    assert ctx.variables["a"] is not None and ctx.variables["b"] is not None
