"""return-response, mock-response, forward-request."""

from __future__ import annotations

from tollhouse.gateway.policies import CompiledPolicies, ForwardSettings, default_registry
from tollhouse.gateway.policies._compose import Scope, ScopedElement
from tollhouse.gateway.policies._document import parse_xml

from .support import body, doc, error, policies, run


async def test_return_response_builds_and_returns_a_response() -> None:
    compiled = policies(
        operation_policy=doc(
            "<return-response>"
            '<set-status code="403" reason="Nope" />'
            '<set-header name="x-why"><value>blocked</value></set-header>'
            "<set-body>denied</set-body>"
            "</return-response>"
        )
    )
    response, ctx, backend = await run(compiled)
    assert (response.status, response.reason) == (403, "Nope")
    assert response.headers == [("x-why", "blocked")]
    assert await body(response) == b"denied"
    assert backend.calls == []
    # The request itself was not touched by the children.
    assert ctx.request.headers == []


def test_return_response_refuses_other_children() -> None:
    problem = error(
        operation_policy=doc("<return-response><set-method>GET</set-method></return-response>")
    )
    assert "cannot contain <set-method>" in str(problem)


async def test_mock_response_without_a_sample_has_an_empty_body() -> None:
    response, _, backend = await run(
        policies(
            operation_policy=doc('<mock-response status-code="202" content-type="text/plain" />')
        )
    )
    assert response.status == 202
    assert await body(response) == b""
    assert backend.calls == []


async def test_mock_response_uses_the_operations_sample() -> None:
    element = parse_xml('<mock-response status-code="200" />')
    steps = default_registry().compile_section(
        "inbound",
        [ScopedElement(Scope.OPERATION, element)],
        samples={(200, "application/json"): b'{"id": 1}', (404, "application/json"): b"{}"},
    )
    response, _, _ = await run(CompiledPolicies(inbound=steps))
    assert response.headers == [("content-type", "application/json")]
    assert await body(response) == b'{"id": 1}'


async def test_mock_response_picks_the_example_of_its_status_and_content_type() -> None:
    samples = {(201, "text/plain"): b"made", (201, "application/xml"): b"<made/>"}

    async def answer(xml: str) -> tuple[int, list[tuple[str, str]], bytes]:
        steps = default_registry().compile_section(
            "inbound", [ScopedElement(Scope.OPERATION, parse_xml(xml))], samples=samples
        )
        response, _, _ = await run(CompiledPolicies(inbound=steps))
        return response.status, response.headers, await body(response)

    xml = '<mock-response status-code="201" content-type="application/xml" />'
    assert await answer(xml) == (201, [("content-type", "application/xml")], b"<made/>")
    # Without content-type: application/json, else the status's first example.
    assert await answer('<mock-response status-code="201" />') == (
        201,
        [("content-type", "text/plain")],
        b"made",
    )
    assert await answer('<mock-response status-code="500" />') == (500, [], b"")


async def test_forward_request_records_its_settings() -> None:
    compiled = policies(
        api_policy=doc(backend='<forward-request timeout="20" buffer-request-body="true" />')
    )
    response, ctx, backend = await run(compiled)
    assert ctx.forward == ForwardSettings(20.0, True)
    assert backend.calls[0][3] == ForwardSettings(20.0, True)
    assert response.status == 200


def test_forward_request_refuses_a_bad_timeout_and_unknown_attributes() -> None:
    assert "timeout" in str(error(api_policy=doc(backend='<forward-request timeout="0" />')))
    problem = error(api_policy=doc(backend='<forward-request follow-redirects="true" />'))
    assert "follow-redirects" in str(problem)
