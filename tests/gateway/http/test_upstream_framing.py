"""Response framing from backends: strict, and the same whether bytes come whole or one at a
time. Malformed framing (security-and-faults §C.5 case 8) fails the exchange with a 502 and
discards the connection; a well-formed response hands its connection back only when both sides
allowed keep-alive and nothing arrived out of turn."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from tollhouse.gateway.http import (
    Headers,
    UpstreamError,
    UpstreamPool,
    UpstreamProtocolError,
    error_response,
)
from tollhouse.gateway.http._upstream_connection import UpstreamConnection, body_of
from tollhouse.gateway.http._upstream_pool import MAX_RESPONSE_HEAD_SIZE, MAX_RESPONSE_HEADERS

from .upstream_backends import Runner, backend, get, ok, run

__all__ = ["run"]


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.aborted = False
        self.reading = True

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


@dataclass
class Outcome:
    status: int | None = None
    headers: Headers | None = None
    body: bytes | None = None
    error: UpstreamError | None = None
    failed_in: str | None = None  # "head" or "body"
    reusable: bool | None = None
    discarded: bool = False


async def exchange(
    response: bytes | list[bytes],
    *,
    method: bytes = b"GET",
    one_byte: bool = False,
    eof: bool = False,
) -> Outcome:
    """Feed `response` (bytes, or the segments it arrives in) to a connection that sent a
    `method` request, and report."""
    closed: list[UpstreamConnection] = []
    connection = UpstreamConnection(
        on_close=closed.append,
        max_head_size=MAX_RESPONSE_HEAD_SIZE,
        max_headers=MAX_RESPONSE_HEADERS,
        body_timeout=0.05,
    )
    connection.connection_made(FakeTransport())
    head = connection.begin(method)
    segments = response if isinstance(response, list) else [response]
    whole = b"".join(segments)
    pieces = [whole[i : i + 1] for i in range(len(whole))] if one_byte else segments
    for piece in pieces:
        connection.data_received(piece)
        if connection.closed:
            break
    if eof and not connection.closed:
        connection.eof_received()
    outcome = Outcome()
    if not head.done():
        outcome.failed_in = "pending"
        return outcome
    if head.exception() is not None:
        error = head.exception()
        assert isinstance(error, UpstreamError)
        outcome.error, outcome.failed_in, outcome.discarded = error, "head", bool(closed)
        return outcome
    outcome.status, outcome.headers = head.result()
    released: list[bool] = []
    body = body_of(connection, lambda c, reusable: released.append(reusable))
    try:
        outcome.body = await body.read()
    except UpstreamError as error:
        outcome.error, outcome.failed_in = error, "body"
    outcome.reusable = released[0] if released else None
    outcome.discarded = bool(closed)
    return outcome


def feed(response: bytes | list[bytes], **kwargs: Any) -> tuple[Outcome, Outcome]:
    """The outcome of `response` given whole (or in its segments), and one byte at a time."""

    async def both() -> tuple[Outcome, Outcome]:
        return (
            await exchange(response, **kwargs),
            await exchange(response, one_byte=True, **kwargs),
        )

    return asyncio.run(both())


# -- well-formed responses -------------------------------------------------------------------------

WELL_FORMED = {
    "content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
        200,
        b"hello",
        True,
    ),
    "chunked with extensions and a trailer": (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: 1\r\n\r\n",
        201,
        b"abcde",
        True,
    ),
    "empty chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        200,
        b"",
        True,
    ),
    "204": (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
    "304 with a length that announces no body": (
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n",
        304,
        b"",
        True,
    ),
    "interim responses then the final one": (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
    ),
    "connection close": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        False,
    ),
    "HTTP/1.0 without keep-alive": (
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        False,
    ),
    "HTTP/1.0 with keep-alive": (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
    ),
    "bytes after the response": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
        200,
        b"ok",
        False,
    ),
}


@pytest.mark.parametrize("name", list(WELL_FORMED))
def test_a_well_formed_response_parses_the_same_whole_and_byte_by_byte(name: str) -> None:
    response, status, body, reusable = WELL_FORMED[name]
    for outcome in feed(response):
        assert outcome.error is None
        assert (outcome.status, outcome.body, outcome.reusable) == (status, body, reusable)


def test_header_names_arrive_lower_case_without_framing_or_hop_by_hop_fields() -> None:
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: abc\r\n"
        b"Connection: X-Hop\r\nX-Hop: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n0\r\n\r\n"
    )
    for outcome in feed(response):
        assert outcome.headers == [
            (b"x-request-id", b"abc"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ]


def test_a_response_to_head_has_no_body_whatever_its_length_says() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    for outcome in feed(response, method=b"HEAD"):
        assert (outcome.status, outcome.body, outcome.reusable) == (200, b"", True)
        assert (b"content-length", b"1000") in (outcome.headers or [])


def test_a_response_to_head_followed_by_body_bytes_is_not_reused() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
    for outcome in feed(response, method=b"HEAD"):
        assert (outcome.status, outcome.body, outcome.reusable) == (200, b"", False)


def test_a_response_without_length_ends_at_close_and_is_not_reused() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
    for outcome in feed(response, eof=True):
        assert (outcome.status, outcome.body, outcome.reusable) == (200, b"all of it", False)


def test_a_body_cut_short_by_close_is_an_error_not_a_shorter_body() -> None:
    for response in (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n",
    ):
        for outcome in feed(response, eof=True):
            assert isinstance(outcome.error, UpstreamProtocolError)
            assert outcome.failed_in == "body"


def test_a_head_cut_short_by_close_is_an_error() -> None:
    for outcome in feed(b"HTTP/1.1 200 OK\r\nContent-Len", eof=True):
        assert isinstance(outcome.error, UpstreamProtocolError)
        assert outcome.failed_in == "head"


# -- malformed responses (case 8) --------------------------------------------------------------

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BIG = MAX_RESPONSE_HEAD_SIZE + 1024

MALFORMED: dict[str, bytes | list[bytes]] = {
    # RFC 9112 §6.3: both lengths → the message is an attack or a bug.
    "content-length and transfer-encoding": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "transfer-encoding and content-length": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "two content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "signed content-length": b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
    "negative content-length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc",
    "arabic-indic digit content-length": b"HTTP/1.1 200 OK\r\nContent-Length: \xd9\xa5\r\n\r\n",
    "21-digit content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999999\r\n\r\n",
    "list content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
    "xchunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\nabc",
    "chunked, identity": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\nabc",
    "gzip only": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "two transfer-encodings": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n",
    "huge chunk size": CHUNKED + b"ffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    "bad chunk footer": CHUNKED + b"3\r\nabcX\r\n0\r\n\r\n",
    "newline in chunk extension": CHUNKED + b"3;a=b\nc\r\nabc\r\n0\r\n\r\n",
    # llhttp skips extensions without keeping them; the bound is on bytes without progress.
    "endless chunk extension": [CHUNKED, b"3;" + b"a" * BIG],
    "oversized trailer": CHUNKED + b"0\r\nX-T: " + b"t" * BIG + b"\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n",
    "bare LF": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "NUL in a header value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n",
    "switching protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    b"Connection: upgrade\r\n\r\n",
    "status code 999": b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
    "status code 99": b"HTTP/1.1 99 Odd\r\nContent-Length: 0\r\n\r\n",
    "not HTTP": b"SSH-2.0-OpenSSH_9.6\r\n",
    "oversized header block": b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * BIG + b"\r\n\r\n",
    "too many header fields": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_RESPONSE_HEADERS + 1))
    + b"Content-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_framing_fails_with_502_and_discards_the_connection(name: str) -> None:
    for outcome in feed(MALFORMED[name]):
        assert isinstance(outcome.error, UpstreamProtocolError), outcome
        assert error_response(outcome.error).status == 502
        assert outcome.discarded
        assert not outcome.reusable


def test_an_error_never_carries_the_backend_bytes() -> None:
    outcome, _ = feed(b"HTTP/1.1 200 OK\r\nX-Evil: <script>\x00\r\n\r\n")
    assert outcome.error is not None
    assert "script" not in str(outcome.error)


# -- the same over a socket ---------------------------------------------------------------------

OVER_A_SOCKET = [
    "content-length and transfer-encoding",
    "two content-lengths",
    "xchunked",
    "bad chunk size",
    "huge chunk size",
    "bad chunk footer",
    "newline in chunk extension",
]


@pytest.mark.parametrize("one_byte", [False, True], ids=["whole", "one-byte-per-write"])
@pytest.mark.parametrize("name", OVER_A_SOCKET)
def test_a_backend_sending_malformed_framing_gets_a_502_and_a_new_connection_next_time(
    run: Runner[None], name: str, one_byte: bool
) -> None:
    malformed = MALFORMED[name]
    assert isinstance(malformed, bytes)

    async def scenario() -> None:
        responses = lambda r: malformed if r.target == "/bad" else ok()  # noqa: E731
        async with backend(responses, one_byte_at_a_time=one_byte) as server:
            pool = UpstreamPool()
            with pytest.raises(UpstreamProtocolError):
                response = await pool.request(get(server.url("/bad")))
                await response.body.read()
            response = await pool.request(get(server.url("/good")))
            assert (response.status, await response.body.read()) == (200, b"ok")
            assert server.connections == 2
            await pool.close()

    run(scenario())


@pytest.mark.parametrize("name", ["content-length", "chunked with extensions and a trailer"])
def test_a_backend_writing_one_byte_at_a_time_is_understood_and_reused(
    run: Runner[None], name: str
) -> None:
    response, status, body, _ = WELL_FORMED[name]

    async def scenario() -> None:
        async with backend(response, one_byte_at_a_time=True) as server:
            pool = UpstreamPool()
            for _ in range(2):
                answer = await pool.request(get(server.url()))
                assert (answer.status, await answer.body.read()) == (status, body)
            assert server.connections == 1
            await pool.close()

    run(scenario())
