"""The executor: section order, short-circuits, on-error with LastError."""

from __future__ import annotations

from tollhouse.gateway.policies import PolicyContext, PolicyResponse, PolicyRuntimeError

from .support import body, context, doc, policies, run, with_expressions

FAIL = (
    '<check-header name="x-key" failed-check-httpcode="401" '
    'failed-check-error-message="Missing key" ignore-case="true" id="guard" />'
)


async def test_outbound_runs_on_the_backend_response() -> None:
    compiled = policies(
        operation_policy=doc(outbound='<set-header name="x-out"><value>1</value></set-header>')
    )
    response, _, backend = await run(compiled)
    assert len(backend.calls) == 1
    assert ("x-backend", "1") in response.headers
    assert ("x-out", "1") in response.headers


async def test_a_short_circuit_skips_backend_and_outbound() -> None:
    compiled = policies(
        operation_policy=doc(
            '<mock-response status-code="204" />',
            outbound='<set-header name="x-out"><value>1</value></set-header>',
        )
    )
    response, _, backend = await run(compiled)
    assert response.status == 204
    assert backend.calls == []
    assert ("x-out", "1") not in response.headers


async def test_a_failure_runs_on_error_with_last_error_set() -> None:
    compiled = policies(
        api_policy=doc(
            FAIL,
            on_error='<set-header name="x-handled"><value>yes</value></set-header>',
        ),
        operation_policy=doc(
            '<set-header name="x-first"><value>1</value></set-header><base />', on_error="<base />"
        ),
    )
    response, ctx, backend = await run(compiled)
    assert backend.calls == []
    assert response.status == 401
    assert ("x-handled", "yes") in response.headers
    assert ctx.last_error is not None
    assert ctx.last_error.source == "check-header"
    assert ctx.last_error.reason == "HeaderNotFound"
    assert ctx.last_error.message == "Missing key"
    assert ctx.last_error.scope == "api"
    assert ctx.last_error.section == "inbound"
    assert ctx.last_error.path == "inbound/check-header[1]"
    assert ctx.last_error.policy_id == "guard"


async def test_steps_after_the_failure_do_not_run() -> None:
    compiled = policies(
        operation_policy=doc(FAIL + '<set-header name="x-after"><value>1</value></set-header>')
    )
    _, ctx, _ = await run(compiled)
    assert ctx.request.headers == []


async def test_on_error_can_replace_the_response() -> None:
    compiled = policies(
        operation_policy=doc(
            FAIL,
            on_error='<return-response><set-status code="418" /></return-response>',
        )
    )
    response, _, _ = await run(compiled)
    assert response.status == 418


async def test_an_error_in_outbound_is_reported_in_section_outbound() -> None:
    compiled = with_expressions(
        "not a status", operation_policy=doc(outbound='<set-status code="@(x)" />')
    )
    response, ctx, _ = await run(compiled)
    assert response.status == 500
    assert ctx.last_error is not None
    assert ctx.last_error.section == "outbound"
    assert ctx.last_error.source == "set-status"
    assert b"Internal server error" in await body(response)


async def test_a_backend_failure_reaches_on_error() -> None:
    compiled = policies(
        operation_policy=doc(on_error='<set-header name="x-e"><value>1</value></set-header>')
    )

    async def failing(ctx: PolicyContext) -> PolicyResponse:
        raise PolicyRuntimeError(
            "forward-request",
            "BackendConnectionFailure",
            "connection refused",
            response=PolicyResponse(502),
        )

    ctx = context()
    response = await compiled.execute(ctx, failing)
    assert response.status == 502
    assert ("x-e", "1") in response.headers
    assert ctx.last_error is not None
    assert ctx.last_error.reason == "BackendConnectionFailure"
    assert ctx.last_error.source == "forward-request"
    assert ctx.last_error.section == "backend"
    assert ctx.last_error.scope == "global"  # the default global policy's forward-request


async def test_an_error_inside_on_error_ends_with_500() -> None:
    compiled = policies(operation_policy=doc(FAIL, on_error="<set-method>bad method</set-method>"))
    response, _, _ = await run(compiled)
    assert response.status == 500
