"""check-header, ip-filter, cors."""

from __future__ import annotations

import json

from tollhouse.gateway.policies import PolicyContext, PolicyResponse

from .support import body, context, doc, error, policies, run


async def inbound(xml: str, ctx: PolicyContext) -> tuple[PolicyResponse, PolicyContext, int]:
    response, ctx, backend = await run(policies(operation_policy=doc(xml)), ctx)
    return response, ctx, len(backend.calls)


def check(values: str = "", ignore_case: str = "false") -> str:
    return (
        '<check-header name="x-role" failed-check-httpcode="403" '
        f'failed-check-error-message="Role refused" ignore-case="{ignore_case}">'
        f"{values}</check-header>"
    )


async def test_check_header_refuses_a_missing_header_with_its_status_and_message() -> None:
    response, ctx, forwarded = await inbound(check(), context())
    assert (response.status, forwarded) == (403, 0)
    assert json.loads(await body(response)) == {"statusCode": 403, "message": "Role refused"}
    assert ctx.last_error is not None
    assert ctx.last_error.reason == "HeaderNotFound"


async def test_check_header_without_values_only_needs_the_header() -> None:
    response, _, forwarded = await inbound(check(), context(headers=[("X-Role", "any")]))
    assert (response.status, forwarded) == (200, 1)


async def test_check_header_compares_values_with_or_without_case() -> None:
    values = "<value>admin</value><value>ops</value>"
    response, ctx, _ = await inbound(check(values), context(headers=[("x-role", "ADMIN")]))
    assert response.status == 403
    assert ctx.last_error is not None
    assert ctx.last_error.reason == "HeaderValueNotAllowed"
    response, _, _ = await inbound(check(values, "true"), context(headers=[("x-role", "ADMIN")]))
    assert response.status == 200
    response, _, _ = await inbound(check(values), context(headers=[("x-role", "guest, ops")]))
    assert response.status == 200


def test_check_header_requires_its_attributes() -> None:
    problem = error(operation_policy=doc('<check-header name="x" />'))
    assert "is required" in str(problem)


FILTER = (
    '<ip-filter action="{action}">'
    "<address>13.66.201.169</address>"
    '<address-range from="10.0.0.1" to="10.0.0.9" />'
    '<address-range from="2001:db8::1" to="2001:db8::ff" />'
    "</ip-filter>"
)


async def test_ip_filter_allow_admits_only_listed_addresses() -> None:
    xml = FILTER.format(action="allow")
    for ip, status in (
        ("13.66.201.169", 200),
        ("10.0.0.1", 200),  # both ends of a range are in it
        ("10.0.0.9", 200),
        ("10.0.0.5", 200),
        ("10.0.0.10", 403),
        ("2001:db8::10", 200),
        ("2001:db8::100", 403),
        ("::ffff:10.0.0.2", 200),
        ("not-an-ip", 403),
    ):
        response, _, _ = await inbound(xml, context(client_ip=ip))
        assert response.status == status, ip


async def test_ip_filter_forbid_refuses_listed_addresses() -> None:
    xml = FILTER.format(action="forbid")
    response, ctx, forwarded = await inbound(xml, context(client_ip="10.0.0.3"))
    assert (response.status, forwarded) == (403, 0)
    assert ctx.last_error is not None
    assert (ctx.last_error.source, ctx.last_error.reason) == ("ip-filter", "CallerIpNotAllowed")
    response, _, _ = await inbound(xml, context(client_ip="192.0.2.1"))
    assert response.status == 200


def test_ip_filter_needs_an_address() -> None:
    assert "at least one" in str(error(operation_policy=doc('<ip-filter action="allow" />')))


def test_ip_filter_refuses_a_bad_address_or_range() -> None:
    assert "not an IP" in str(
        error(
            operation_policy=doc('<ip-filter action="allow"><address>10.0.0</address></ip-filter>')
        )
    )
    problem = error(
        operation_policy=doc(
            '<ip-filter action="allow"><address-range from="10.0.0.9" to="10.0.0.1" /></ip-filter>'
        )
    )
    assert "ascending" in str(problem)


CORS = (
    '<cors allow-credentials="true">'
    "<allowed-origins><origin>https://app.example</origin></allowed-origins>"
    '<allowed-methods preflight-result-max-age="300"><method>GET</method><method>PUT</method>'
    "</allowed-methods>"
    "<allowed-headers><header>content-type</header></allowed-headers>"
    "<expose-headers><header>x-total</header></expose-headers>"
    "</cors>"
)


async def test_cors_answers_a_matching_preflight_without_forwarding() -> None:
    ctx = context(
        method="OPTIONS",
        headers=[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "Content-Type"),
        ],
    )
    response, _, forwarded = await inbound(CORS, ctx)
    assert forwarded == 0
    assert response.status == 200
    headers = dict(response.headers)
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Allow-Methods"] == "PUT"
    assert headers["Access-Control-Allow-Headers"] == "content-type"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Max-Age"] == "300"


async def test_cors_ends_an_unmatched_preflight_without_cors_headers() -> None:
    ctx = context(
        method="OPTIONS",
        headers=[("origin", "https://app.example"), ("access-control-request-method", "DELETE")],
    )
    response, _, forwarded = await inbound(CORS, ctx)
    assert (response.status, forwarded, response.headers) == (200, 0, [])


async def test_cors_adds_headers_to_the_backends_response_for_an_allowed_origin() -> None:
    response, _, forwarded = await inbound(
        CORS, context(headers=[("origin", "https://app.example")])
    )
    assert forwarded == 1
    headers = dict(response.headers)
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert headers["Access-Control-Expose-Headers"] == "x-total"


async def test_cors_ends_a_simple_request_from_another_origin_with_an_empty_200() -> None:
    response, _, forwarded = await inbound(
        CORS, context(headers=[("origin", "https://evil.example")])
    )
    assert (response.status, forwarded, response.headers) == (200, 0, [])
    assert await body(response) == b""


async def test_cors_without_terminate_lets_an_unmatched_request_through_without_headers() -> None:
    xml = CORS.replace('allow-credentials="true"', 'terminate-unmatched-request="false"')
    response, _, forwarded = await inbound(
        xml, context(headers=[("origin", "https://evil.example")])
    )
    assert (forwarded, response.headers) == (1, [("x-backend", "1")])


async def test_cors_leaves_same_origin_requests_alone() -> None:
    response, _, forwarded = await inbound(CORS, context())
    assert (forwarded, response.headers) == (1, [("x-backend", "1")])


def test_cors_refuses_credentials_with_any_origin() -> None:
    problem = error(
        operation_policy=doc(
            '<cors allow-credentials="true">'
            "<allowed-origins><origin>*</origin></allowed-origins></cors>"
        )
    )
    assert "allow-credentials" in str(problem)
