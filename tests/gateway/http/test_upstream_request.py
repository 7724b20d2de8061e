"""Writing the upstream request (sans-I/O): the target and `Host` come from the URL, the
framing from the body, and nothing the client or a policy put in the headers can change them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tollhouse.gateway.http import Body, UpstreamRequestError
from tollhouse.gateway.http._upstream_request import (
    body_length,
    check_method,
    outgoing_headers,
    parse_url,
    replayable,
    serialise_head,
)


async def _chunks() -> AsyncIterator[bytes]:
    yield b"x"


def streamed() -> Body:
    return Body(_chunks())


@pytest.mark.parametrize(
    ("url", "host", "port", "target", "authority"),
    [
        ("http://backend.example/api", "backend.example", 80, "/api", b"backend.example"),
        ("https://backend.example", "backend.example", 443, "/", b"backend.example"),
        (
            "http://backend.example:8080/a?b=c",
            "backend.example",
            8080,
            "/a?b=c",
            b"backend.example:8080",
        ),
        ("https://Backend.Example:443/x", "backend.example", 443, "/x", b"backend.example"),
        ("http://[::1]:8080/x", "::1", 8080, "/x", b"[::1]:8080"),
        ("http://b\u00fccher.example/", "xn--bcher-kva.example", 80, "/", b"xn--bcher-kva.example"),
        ("http://backend.example/a#fragment", "backend.example", 80, "/a", b"backend.example"),
        ("http://backend.example/p%20q", "backend.example", 80, "/p%20q", b"backend.example"),
    ],
)
def test_the_target_and_host_come_from_the_url(
    url: str, host: str, port: int, target: str, authority: bytes
) -> None:
    parsed = parse_url(url)
    assert (parsed.host, parsed.port, parsed.target, parsed.authority) == (
        host,
        port,
        target,
        authority,
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://backend.example/",
        "backend.example/path",
        "http:///path",
        "http://user:pass@backend.example/",
        "http://expected@169.254.169.254/",
        "http://backend.example:99999/",
        "http://backend.example:port/",
        "http://backend.example/a b",
        "http://backend.example/caf\u00e9",
        "http://backend.example/a\r\nx-injected: 1",
    ],
)
def test_a_url_that_cannot_be_a_backend_is_refused(url: str) -> None:
    with pytest.raises(UpstreamRequestError):
        parse_url(url)


def test_the_head_is_written_from_the_structured_request() -> None:
    target = parse_url("http://backend.example:8080/orders?id=1")
    headers = outgoing_headers(
        [
            (b"Host", b"gateway.example"),
            (b"Accept", b"application/json"),
            (b"Content-Length", b"100"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Connection", b"keep-alive"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Upgrade", b"h2c"),
            (b"TE", b"trailers"),
            (b"x-multi", b"1"),
            (b"x-multi", b"2"),
        ]
    )
    head = serialise_head(b"POST", target, headers, 2)
    assert bytes(head) == (
        b"POST /orders?id=1 HTTP/1.1\r\n"
        b"host: backend.example:8080\r\n"
        b"accept: application/json\r\n"
        b"x-multi: 1\r\n"
        b"x-multi: 2\r\n"
        b"content-length: 2\r\n"
        b"\r\n"
    )


def test_a_streamed_body_without_a_length_is_chunked() -> None:
    head = serialise_head(b"PUT", parse_url("http://b/"), [], None)
    assert b"transfer-encoding: chunked\r\n" in head
    assert b"content-length" not in head


def test_an_empty_body_declares_a_length_only_where_content_is_expected() -> None:
    assert b"content-length" not in serialise_head(b"GET", parse_url("http://b/"), [], 0)
    assert b"content-length: 0\r\n" in serialise_head(b"POST", parse_url("http://b/"), [], 0)


@pytest.mark.parametrize(
    "header",
    [(b"x-a", b"1\r\nx-b: 2"), (b"x-a", b"1\nx"), (b"x-a", b"\x00"), (b"x a", b"1"), (b"", b"1")],
)
def test_a_header_that_would_corrupt_the_request_is_refused(header: tuple[bytes, bytes]) -> None:
    with pytest.raises(UpstreamRequestError):
        outgoing_headers([header])


@pytest.mark.parametrize("method", ["G T", "GET\r\n", "", "G\u00c9T"])
def test_a_method_that_is_not_a_token_is_refused(method: str) -> None:
    with pytest.raises(UpstreamRequestError):
        check_method(method)


def test_the_body_length_is_known_when_buffered_or_declared() -> None:
    assert body_length("POST", [(b"content-length", b"99")], Body(data=b"abc")) == 3
    assert body_length("POST", [(b"content-length", b"5")], streamed()) == 5
    assert body_length("POST", [], streamed()) is None


@pytest.mark.parametrize(
    "values", [[b"5", b"6"], [b"+5"], [b"-1"], [b"5, 5"], [b"\xd9\xa5"], [b"9" * 21]]
)
def test_a_declared_length_that_is_not_one_plain_number_is_refused(values: list[bytes]) -> None:
    with pytest.raises(UpstreamRequestError):
        body_length("POST", [(b"content-length", v) for v in values], streamed())


def test_only_idempotent_requests_with_bodies_in_memory_are_replayable() -> None:
    assert replayable("GET", [], Body.empty())
    assert replayable("PUT", [], Body(data=b"x"))
    assert not replayable("POST", [], Body.empty())
    assert not replayable("PATCH", [], Body(data=b"x"))
    assert replayable("POST", [(b"Idempotency-Key", b"k")], Body(data=b"x"))
    assert not replayable("GET", [], streamed())
