"""set-header, set-query-parameter, set-method, set-status, set-variable, set-body,
rewrite-uri, set-backend-service."""

from __future__ import annotations

from tollhouse.gateway.policies import PolicyContext, PolicyResponse

from .support import body, context, doc, error, policies, run


async def inbound(xml: str, ctx: PolicyContext | None = None) -> PolicyContext:
    _, ctx, _ = await run(policies(operation_policy=doc(xml)), ctx)
    return ctx


async def outbound(xml: str) -> PolicyResponse:
    response, _, _ = await run(policies(operation_policy=doc(outbound=xml)))
    return response


def set_header(action: str, *values: str, name: str = "X-A") -> str:
    inner = "".join(f"<value>{v}</value>" for v in values)
    return f'<set-header name="{name}" exists-action="{action}">{inner}</set-header>'


WITH_A = [("x-a", "old"), ("other", "o")]


async def test_set_header_override_replaces_every_value_case_insensitively() -> None:
    ctx = await inbound(set_header("override", "1", "2"), context(headers=WITH_A))
    assert ctx.request.headers == [("other", "o"), ("X-A", "1"), ("X-A", "2")]


async def test_set_header_defaults_to_override() -> None:
    ctx = await inbound(
        '<set-header name="x-a"><value>new</value></set-header>', context(headers=WITH_A)
    )
    assert ctx.request.headers == [("other", "o"), ("x-a", "new")]


async def test_set_header_skip_keeps_an_existing_header() -> None:
    ctx = await inbound(set_header("skip", "new"), context(headers=WITH_A))
    assert ctx.request.headers == WITH_A
    ctx = await inbound(set_header("skip", "new"))
    assert ctx.request.headers == [("X-A", "new")]


async def test_set_header_append_adds_values() -> None:
    ctx = await inbound(set_header("append", "new"), context(headers=WITH_A))
    assert ctx.request.headers == [*WITH_A, ("X-A", "new")]


async def test_set_header_delete_removes_it() -> None:
    ctx = await inbound(set_header("delete"), context(headers=WITH_A))
    assert ctx.request.headers == [("other", "o")]


async def test_set_header_in_outbound_acts_on_the_response() -> None:
    response = await outbound(set_header("override", "v", name="x-backend"))
    assert response.headers == [("x-backend", "v")]


def test_set_header_refuses_an_unknown_exists_action() -> None:
    assert "exists-action" in str(error(operation_policy=doc(set_header("replace", "v"))))


async def test_set_query_parameter_acts_on_the_query_case_sensitively() -> None:
    xml = (
        '<set-query-parameter name="a" exists-action="override">'
        "<value>2</value></set-query-parameter>"
    )
    ctx = await inbound(xml, context(query=[("a", "1"), ("A", "x")]))
    assert ctx.request.query == [("A", "x"), ("a", "2")]
    xml = '<set-query-parameter name="a" exists-action="delete" />'
    ctx = await inbound(xml, context(query=[("a", "1"), ("b", "2")]))
    assert ctx.request.query == [("b", "2")]


async def test_set_method_changes_the_method() -> None:
    ctx = await inbound("<set-method>post</set-method>")
    assert ctx.request.method == "POST"


async def test_set_status_sets_code_and_reason() -> None:
    response = await outbound('<set-status code="201" reason="Made" />')
    assert (response.status, response.reason) == (201, "Made")


def test_set_status_refuses_a_code_that_is_not_a_status() -> None:
    assert "not an HTTP status" in str(error(operation_policy=doc('<set-status code="99" />')))


async def test_set_variable_stores_a_variable() -> None:
    ctx = await inbound('<set-variable name="tier" value="gold" />')
    assert ctx.variables == {"tier": "gold"}


async def test_set_body_replaces_the_request_body_inbound_and_response_body_outbound() -> None:
    ctx = await inbound("<set-body>hello</set-body>")
    assert await ctx.request.body.read() == b"hello"
    response = await outbound("<set-body>{&quot;a&quot;: 1}</set-body>")
    assert await body(response) == b'{"a": 1}'


async def test_rewrite_uri_fills_parameters_and_copies_unmatched_query() -> None:
    ctx = await inbound(
        '<rewrite-uri template="/v2/things/{id}?kind=x" />',
        context(query=[("id", "7"), ("debug", "1")], params={"id": "a b"}),
    )
    assert ctx.request.path == "/v2/things/a%20b"
    assert ctx.request.query == [("kind", "x"), ("debug", "1")]


async def test_rewrite_uri_without_copying_unmatched_params() -> None:
    ctx = await inbound(
        '<rewrite-uri template="/v2/{id}" copy-unmatched-params="false" />',
        context(query=[("debug", "1")]),
    )
    assert (ctx.request.path, ctx.request.query) == ("/v2/7", [])


async def test_rewrite_uri_with_an_unknown_parameter_fails_the_request() -> None:
    response, ctx, _ = await run(
        policies(operation_policy=doc('<rewrite-uri template="/{nope}" />'))
    )
    assert response.status == 500
    assert ctx.last_error is not None
    assert ctx.last_error.source == "rewrite-uri"


async def test_set_backend_service_changes_the_backend_url() -> None:
    ctx = await inbound('<set-backend-service base-url="https://other.example/api" />')
    assert ctx.backend_url == "https://other.example/api"


def test_set_backend_service_refuses_what_is_not_an_http_url() -> None:
    problem = error(operation_policy=doc('<set-backend-service base-url="ftp://x" />'))
    assert "base-url" in str(problem)
    problem = error(operation_policy=doc('<set-backend-service backend-id="b1" />'))
    assert "backend-id" in str(problem)


def test_set_header_refuses_values_that_would_split_the_message() -> None:
    problem = error(
        operation_policy=doc('<set-header name="x"><value>a&#13;&#10;b: c</value></set-header>')
    )
    assert "CR, LF or NUL" in str(problem)
    assert "not a header name" in str(error(operation_policy=doc('<set-header name="a b" />')))


async def test_set_header_refuses_a_computed_value_with_a_newline() -> None:
    from tollhouse.gateway.policies import Literal, compile_operation_policies

    from .support import configuration

    config = configuration(
        operation_policy=doc('<set-header name="x"><value>@("bad")</value></set-header>')
    )
    api = config.apis[0]
    compiled = compile_operation_policies(
        config, api, api.operations[0], expressions=lambda t, line, col: Literal("a\r\nb: c")
    )
    assert not isinstance(compiled, Exception)
    response, ctx, backend = await run(compiled)
    assert (response.status, backend.calls) == (500, [])
    assert ctx.last_error is not None
    assert ctx.last_error.reason == "InvalidHeader"
