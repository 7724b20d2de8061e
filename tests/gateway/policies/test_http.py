"""Converting between HTTP messages and policy messages."""

from __future__ import annotations

from tollhouse.gateway.http import Body, Request, Response
from tollhouse.gateway.policies import (
    PolicyResponse,
    backend_target,
    http_response,
    policy_request,
    policy_response,
)


def request() -> Request:
    return Request(
        method="GET",
        path="/shop/items/7",
        query="b=%7e&a=1",
        headers=[(b"x-name", b"caf\xe9")],
        body=Body(data=b"payload"),
        client_ip="192.0.2.9",
        client_port=5000,
        scheme="https",
        host="gw.example",
    )


def test_a_policy_request_starts_from_what_would_be_forwarded() -> None:
    made = policy_request(
        request(),
        headers=[(b"x-name", b"caf\xe9"), (b"x-forwarded-for", b"192.0.2.9")],
        query="b=%7e&a=1",
        backend_path="/items/7",
        parameters={"id": "7"},
    )
    assert made.path == "/items/7"
    assert made.headers == [("x-name", "café"), ("x-forwarded-for", "192.0.2.9")]
    assert made.query == [("b", "~"), ("a", "1")]
    assert made.matched_parameters == {"id": "7"}
    assert made.client_ip == "192.0.2.9"


def test_the_backend_target_keeps_an_unchanged_query_byte_for_byte() -> None:
    made = policy_request(
        request(), headers=[], query="b=%7e&a=1", backend_path="/items/7", parameters={}
    )
    assert backend_target("https://b.example/", made, "b=%7e&a=1") == (
        "https://b.example/items/7?b=%7e&a=1"
    )
    made.query.append(("c", "x y"))
    assert backend_target("https://b.example", made, "b=%7e&a=1") == (
        "https://b.example/items/7?b=~&a=1&c=x%20y"
    )
    made.query.clear()
    assert backend_target("https://b.example", made, "b=%7e&a=1") == "https://b.example/items/7"


def test_responses_convert_both_ways() -> None:
    converted = policy_response(Response(201, [(b"etag", b'"1"')], Body(data=b"x")))
    assert (converted.status, converted.headers) == (201, [("etag", '"1"')])
    back = http_response(PolicyResponse(200, headers=[("X-Price", "5 €"), ("X-A", "é")]))
    assert back.headers == [(b"x-price", "5 €".encode()), (b"x-a", b"\xe9")]
