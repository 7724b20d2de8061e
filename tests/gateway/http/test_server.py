"""The downstream server over real sockets on 127.0.0.1: requests reach the handler as
`Request`s, responses go out framed by the server, and every framing hazard of
security-and-faults.md §C.5 (1–8, 11, 12, 14, 15) is answered before the handler sees it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator

import pytest

from tests.gateway.http.server_support import (
    TEST_LIMITS,
    connect,
    exchange,
    only_response,
    parse_responses,
    read_response,
    read_until_closed,
    request,
    run,
    serving,
)
from tollhouse.gateway.http import (
    Body,
    BodyTooLarge,
    IncompleteBody,
    MalformedRequest,
    Request,
    Response,
    ServerLimits,
)

ERROR_BODY_KEYS = {"statusCode", "message"}


def test_a_request_reaches_the_handler_and_its_answer_comes_back() -> None:
    async def scenario() -> None:
        async with serving() as served:
            raw = await exchange(
                served.port,
                request(
                    "/api/users?id=7",
                    method="POST",
                    host="API.Example.com:8080",
                    headers=[("Connection", "close"), ("X-Thing", "  v  ")],
                    body=b"hello",
                ),
            )
            response = only_response(raw)
            assert response.status == 200 and response.closes
            echoed = response.json()
            assert echoed["method"] == "POST"
            assert (echoed["path"], echoed["query"]) == ("/api/users", "id=7")
            assert echoed["host"] == "api.example.com"
            assert (echoed["scheme"], echoed["server_name"]) == ("http", None)
            assert echoed["client_ip"] == "127.0.0.1" and echoed["client_port"] > 0
            assert ["x-thing", "v"] in echoed["headers"]
            assert served.recorder.bodies == [b"hello"]
            assert "date" in response.headers

    run(scenario())


def test_keep_alive_serves_requests_one_after_another_on_one_connection() -> None:
    async def scenario() -> None:
        async with serving() as served:
            reader, writer = await connect(served.port)
            for index in range(3):
                writer.write(request(f"/r{index}", body=b"x" * index))
                response = await read_response(reader)
                assert response.status == 200 and not response.closes
                assert response.json()["path"] == f"/r{index}"
            writer.close()
            assert served.server.stats().connections_accepted == 1

    run(scenario())


def test_http_1_0_closes_unless_keep_alive_is_asked_for() -> None:
    async def scenario() -> None:
        async with serving() as served:
            raw = await exchange(served.port, b"GET /old HTTP/1.0\r\n\r\n")
            response = only_response(raw)
            assert response.status == 200 and response.closes
            assert response.json()["http_version"] == "1.0"
            reader, writer = await connect(served.port)
            writer.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            first = await read_response(reader)
            assert first.headers["connection"] == "keep-alive"
            writer.write(b"GET /b HTTP/1.0\r\n\r\n")
            rest = parse_responses(await read_until_closed(reader))
            assert [r.json()["path"] for r in rest] == ["/b"]
            writer.close()

    run(scenario())


def test_connection_close_is_honoured() -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = request("/a", headers=[("Connection", "close")]) + request("/never")
            responses = parse_responses(await exchange(served.port, data))
            assert len(responses) == 1 and responses[0].closes
            assert served.recorder.paths == ["/a"]

    run(scenario())


def test_pipelined_requests_are_answered_in_order() -> None:
    async def scenario() -> None:
        order: list[str] = []

        async def slow_first(req: Request) -> Response:
            # The first is the slowest: answers must still come out in request order.
            await asyncio.sleep(0.2 if req.path == "/0" else 0)
            body = await req.body.read()
            order.append(req.path)
            return Response(200, [], Body(data=req.path.encode() + b":" + body))

        async with serving(slow_first) as served:
            data = b"".join(
                request(f"/{i}", method="POST", body=b"b%d" % i) for i in range(5)
            ) + request("/5", headers=[("Connection", "close")])
            responses = parse_responses(await exchange(served.port, data))
            assert [r.body for r in responses[:5]] == [b"/%d:b%d" % (i, i) for i in range(5)]
            assert order == [f"/{i}" for i in range(6)]

    run(scenario())


# --- §C.5 cases 1–6: the head is refused, the handler never called, the connection closed ---

FRAMING_CASES = [
    ("CL and TE", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", {400}),
    ("TE and CL", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", {400}),
    ("two different CL", b"Content-Length: 5\r\nContent-Length: 6\r\n", {400}),
    ("CL +5", b"Content-Length: +5\r\n", {400}),
    ("CL -1", b"Content-Length: -1\r\n", {400}),
    ("CL arabic digit", "Content-Length: ٥\r\n".encode(), {400}),
    ("CL 21 digits", b"Content-Length: 123456789012345678901\r\n", {400}),
    ("TE xchunked", b"Transfer-Encoding: xchunked\r\n", {400, 501}),
    ("TE chunked, identity", b"Transfer-Encoding: chunked, identity\r\n", {400, 501}),
    ("two TE", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", {400, 501}),
    ("TE gzip, chunked", b"Transfer-Encoding: gzip, chunked\r\n", {400, 501}),
    ("bare LF", b"X-A: 1\nX-B: 2\r\n", {400}),
    ("obs-fold", b"X-A: 1\r\n  folded\r\n", {400}),
    ("space before colon", b"X-A : 1\r\n", {400}),
    ("CR in value", b"X-A: a\rb\r\n", {400}),
    ("NUL in value", b"X-A: a\x00b\r\n", {400}),
    ("duplicate Host", b"Host: example.com\r\n", {400}),
    ("second Host", b"Host: admin.internal\r\n", {400}),
]


@pytest.mark.parametrize(
    ("fields", "statuses"),
    [(f, s) for _, f, s in FRAMING_CASES],
    ids=[n for n, _, _ in FRAMING_CASES],
)
def test_a_bad_head_is_refused_and_closed_before_the_handler(
    fields: bytes, statuses: set[int]
) -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = b"POST / HTTP/1.1\r\nHost: example.com\r\n" + fields + b"\r\n0\r\n\r\n"
            data += request("/smuggled")
            response = only_response(await exchange(served.port, data))
            assert response.status in statuses and response.closes
            assert set(response.json()) == ERROR_BODY_KEYS
            assert response.json()["statusCode"] == response.status
            assert served.recorder.requests == []

    run(scenario())


def test_bare_lf_line_endings_are_refused() -> None:
    async def scenario() -> None:
        async with serving() as served:
            response = only_response(await exchange(served.port, b"GET / HTTP/1.1\nHost: a\n\n"))
            assert response.status == 400 and served.recorder.requests == []

    run(scenario())


@pytest.mark.parametrize(
    ("target", "host", "status", "path"),
    [
        ("http://evil.example/admin", "example.com", 400, None),
        ("http://example.com:81/a", "example.com", 400, None),
        ("http://EXAMPLE.com/a/./b", "example.com:80", 200, "/a/b"),
    ],
)
def test_an_absolute_form_authority_must_match_host(
    target: str, host: str, status: int, path: str | None
) -> None:
    async def scenario() -> None:
        async with serving() as served:
            raw = await exchange(
                served.port,
                request(target, host=host, headers=[("Connection", "close")]),
            )
            response = only_response(raw)
            assert response.status == status
            assert served.recorder.paths == ([path] if path else [])

    run(scenario())


def test_an_error_never_echoes_what_the_client_sent() -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: <script>x</script>\r\n\r\n"
            response = only_response(await exchange(served.port, data))
            assert response.status == 400
            assert b"script" not in response.head + response.body
            assert response.json() == {"statusCode": 400, "message": "The request is malformed."}

    run(scenario())


# --- §C.5 case 7: limits, sent in one piece and one byte per send, memory bounded -----------

SMALL = ServerLimits(
    max_request_target=512,
    max_header_block=2048,
    max_header_count=30,
    max_body_size=4096,
    header_timeout=30.0,
    body_timeout=5.0,
    keepalive_timeout=5.0,
    linger_timeout=1.0,
)


async def send_until_answered(port: int, data: bytes) -> tuple[int, bytes]:
    """Send one byte at a time until the server answers; bytes sent by then, and the answer."""
    reader, writer = await connect(port)
    answer = asyncio.ensure_future(read_until_closed(reader))
    sent = 0
    # The server may close mid-request (that is often what the test expects).
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        for index in range(len(data)):
            if answer.done():
                break
            writer.write(data[index : index + 1])
            await writer.drain()
            sent += 1
            await asyncio.sleep(0)
    raw = await answer
    writer.close()
    return sent, raw


@pytest.mark.parametrize("way", ["whole", "bytewise"])
def test_a_request_line_over_the_limit_is_414(way: str) -> None:
    async def scenario() -> None:
        async with serving(limits=SMALL) as served:
            data = b"GET /" + b"a" * 50_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
            if way == "whole":
                raw = await exchange(served.port, data)
            else:
                sent, raw = await send_until_answered(served.port, data)
                assert sent <= 2 * SMALL.max_request_target
            response = only_response(raw)
            assert response.status == 414 and response.closes
            assert served.recorder.requests == []

    run(scenario())


@pytest.mark.parametrize("way", ["whole", "bytewise"])
def test_a_header_block_over_the_limit_is_431(way: str) -> None:
    async def scenario() -> None:
        async with serving(limits=SMALL) as served:
            data = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 50_000 + b"\r\n\r\n"
            if way == "whole":
                raw = await exchange(served.port, data)
            else:
                sent, raw = await send_until_answered(served.port, data)
                assert sent <= 2 * (SMALL.max_request_target + SMALL.max_header_block)
            response = only_response(raw)
            assert response.status == 431 and response.closes
            assert served.recorder.requests == []

    run(scenario())


def test_too_many_header_fields_is_431() -> None:
    async def scenario() -> None:
        async with serving(limits=SMALL) as served:
            data = request("/", headers=[("X-N", str(i)) for i in range(40)])
            assert only_response(await exchange(served.port, data)).status == 431

    run(scenario())


# --- §C.5 case 8: malformed chunked bodies -------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"ffffffffffffffffffff\r\nabc",
        b"5\r\nhelloXX0\r\n\r\n",
        b"5;a=b\nc\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",
    ],
    ids=["huge size", "bad chunk footer", "newline in extension", "smuggled trailer"],
)
def test_a_malformed_chunked_body_fails_the_body_read_and_closes(body: bytes) -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body
            data += request("/smuggled")
            response = only_response(await exchange(served.port, data))
            assert response.status == 400 and response.closes
            # The head was valid, so the handler ran; reading the body failed cleanly.
            assert served.recorder.paths == ["/"]
            assert isinstance(served.recorder.bodies[0], MalformedRequest)

    run(scenario())


def test_a_chunked_body_with_extensions_and_trailers_is_delivered_without_them() -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n"
                b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"
            )
            response = only_response(await exchange(served.port, data))
            assert response.status == 200
            assert served.recorder.bodies == [b"hello!"]
            assert "x-trailer" not in dict(response.json()["headers"])

    run(scenario())


# --- §C.5 case 11: upgrades are ignored -----------------------------------------------------


def test_an_h2c_upgrade_is_ignored_and_the_connection_stays_http_1_1() -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = (
                b"GET /first HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            ) + request("/second", headers=[("Connection", "close")])
            responses = parse_responses(await exchange(served.port, data))
            assert [r.status for r in responses] == [200, 200]
            assert served.recorder.paths == ["/first", "/second"]
            names = [n for n, _ in responses[0].json()["headers"]]
            assert "upgrade" not in names and "http2-settings" not in names

    run(scenario())


def test_the_body_of_a_websocket_upgrade_request_cannot_smuggle_a_request() -> None:
    async def scenario() -> None:
        async with serving() as served:
            smuggled = request("/admin")
            data = (
                b"POST /upload HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                b"Upgrade: websocket\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
            ) + request("/next", headers=[("Connection", "close")])
            responses = parse_responses(await exchange(served.port, data))
            assert [r.status for r in responses] == [200, 200]
            assert served.recorder.paths == ["/upload", "/next"]
            assert served.recorder.bodies[0] == smuggled

    run(scenario())


# --- §C.5 case 12: one path normalisation ---------------------------------------------------


@pytest.mark.parametrize(
    ("target", "status", "path"),
    [
        ("/api/../admin", 200, "/admin"),
        ("/api/%2e%2e/admin", 200, "/admin"),
        ("/api%2Fadmin", 400, None),
        ("/api%5cadmin", 400, None),
        ("/api%00", 400, None),
        ("/../admin", 400, None),
        ("//api", 200, "/api"),
        ("/api;x=y", 200, "/api;x=y"),
        ("/api#fragment", 200, "/api"),
    ],
)
def test_the_handler_sees_the_normalised_path(target: str, status: int, path: str | None) -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = request(target, headers=[("Connection", "close")])
            response = only_response(await exchange(served.port, data))
            assert response.status == status
            assert served.recorder.paths == ([path] if path else [])

    run(scenario())


# --- §C.5 case 14: pipelining flood ----------------------------------------------------------


def test_ten_thousand_pipelined_requests_are_bounded_then_closed() -> None:
    limits = ServerLimits(max_pipelined_requests=8, linger_timeout=1.0)

    async def scenario() -> None:
        async with serving(limits=limits) as served:
            reader, writer = await connect(served.port)
            flood = b"".join(request(f"/p{i}") for i in range(10_000))

            async def send() -> None:
                # The server closes while the flood is still being written.
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    writer.write(flood)
                    await writer.drain()

            sending = asyncio.ensure_future(send())
            responses = parse_responses(await read_until_closed(reader))
            await sending
            writer.close()
            # A bounded number answered, in order, then the connection closed.
            assert responses, "not even the first pipelined request was answered"
            assert len(responses) <= 2 * limits.max_pipelined_requests
            assert [r.json()["path"] for r in responses] == [
                f"/p{i}" for i in range(len(responses))
            ]
            assert len(served.recorder.requests) == len(responses)
            # The server is fine for everyone else.
            response = only_response(
                await exchange(served.port, request("/after", headers=[("Connection", "close")]))
            )
            assert response.status == 200

    run(scenario())


# --- §C.5 case 15: body limits and a body cut short ------------------------------------------


def test_a_declared_body_over_the_limit_is_413_before_it_is_sent() -> None:
    async def scenario() -> None:
        async with serving(limits=SMALL) as served:
            reader, writer = await connect(served.port)
            # Only the head: the answer must not wait for the body.
            writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
            response = only_response(await read_until_closed(reader))
            assert response.status == 413 and response.closes
            assert served.recorder.requests == []
            writer.close()

    run(scenario())


def test_a_chunked_body_over_the_limit_is_413_while_it_streams() -> None:
    async def scenario() -> None:
        async with serving(limits=SMALL) as served:
            chunk = b"400\r\n" + b"x" * 0x400 + b"\r\n"
            data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            data += chunk * 8 + b"0\r\n\r\n"
            response = only_response(await exchange(served.port, data))
            assert response.status == 413 and response.closes
            assert isinstance(served.recorder.bodies[0], BodyTooLarge)

    run(scenario())


def test_a_body_shorter_than_declared_then_fin_fails_the_read_cleanly() -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten b"
            raw = await exchange(served.port, data, half_close=True)
            assert isinstance(served.recorder.bodies[0], IncompleteBody)
            # The client half-closed and can still read the answer.
            response = only_response(raw)
            assert response.status == 400 and response.closes

    run(scenario())


def test_a_client_that_vanishes_mid_body_cancels_the_handler() -> None:
    async def scenario() -> None:
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def handler(req: Request) -> Response:
            try:
                await req.body.read()
                await asyncio.sleep(30)
            except IncompleteBody:
                outcome.set_result("incomplete")
                raise
            except asyncio.CancelledError:
                outcome.set_result("cancelled")
                raise
            return Response(200)

        async with serving(handler) as served:
            _reader, writer = await connect(served.port)
            writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
            await writer.drain()
            await asyncio.sleep(0.1)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            writer.close()
            assert await asyncio.wait_for(outcome, 5) in ("incomplete", "cancelled")

    run(scenario())


# --- handlers and responses ------------------------------------------------------------------


def test_a_handler_that_raises_gets_a_500_in_the_error_shape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing(req: Request) -> Response:
        raise RuntimeError("secret internal detail")

    async def scenario() -> None:
        async with serving(failing) as served:
            response = only_response(await exchange(served.port, request("/boom")))
            assert response.status == 500 and response.closes
            assert response.json() == {"statusCode": 500, "message": "Internal server error."}
            assert b"secret" not in response.head + response.body

    with caplog.at_level(logging.ERROR, logger="tollhouse.gateway.http.server"):
        run(scenario())
    assert any(
        r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records
    )


def test_a_response_field_with_a_newline_is_never_written() -> None:
    async def splitting(req: Request) -> Response:
        return Response(200, [(b"x-injected", b"a\r\nSet-Cookie: evil=1")])

    async def scenario() -> None:
        async with serving(splitting) as served:
            response = only_response(await exchange(served.port, request("/")))
            assert response.status == 500
            assert b"evil" not in response.head

    run(scenario())


async def _pieces() -> AsyncIterator[bytes]:
    for piece in (b"one ", b"", b"two ", b"three"):
        await asyncio.sleep(0)
        yield piece


def test_a_streamed_body_of_unknown_length_is_chunked_for_http_1_1() -> None:
    async def streaming(req: Request) -> Response:
        return Response(
            200, [(b"transfer-encoding", b"gzip"), (b"connection", b"x")], Body(_pieces())
        )

    async def scenario() -> None:
        async with serving(streaming) as served:
            reader, writer = await connect(served.port)
            writer.write(request("/"))
            response = await read_response(reader)
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.body == b"one two three" and not response.closes
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            old = parse_responses(await read_until_closed(reader))
            assert old[0].body == b"one two three" and old[0].closes
            assert "transfer-encoding" not in old[0].headers
            writer.close()

    run(scenario())


def test_a_streamed_body_with_a_declared_length_keeps_it() -> None:
    async def streaming(req: Request) -> Response:
        return Response(200, [(b"content-length", b"13")], Body(_pieces()))

    async def scenario() -> None:
        async with serving(streaming) as served:
            reader, writer = await connect(served.port)
            writer.write(request("/"))
            response = await read_response(reader)
            assert response.headers["content-length"] == "13"
            assert response.body == b"one two three"
            writer.close()

    run(scenario())


def test_a_streamed_body_shorter_than_declared_ends_the_connection() -> None:
    async def lying(req: Request) -> Response:
        return Response(200, [(b"content-length", b"100")], Body(_pieces()))

    async def scenario() -> None:
        async with serving(lying) as served:
            raw = await exchange(served.port, request("/"))
            assert raw.startswith(b"HTTP/1.1 200")
            with pytest.raises(AssertionError, match="truncated"):
                parse_responses(raw)

    run(scenario())


def test_head_and_204_responses_have_no_body() -> None:
    async def handler(req: Request) -> Response:
        if req.method == "HEAD":
            return Response(200, [(b"content-length", b"1234")])
        return Response(204, [(b"content-length", b"5")], Body(data=b"ignored"))

    async def scenario() -> None:
        async with serving(handler) as served:
            reader, writer = await connect(served.port)
            writer.write(request("/", method="HEAD"))
            head = await reader.readuntil(b"\r\n\r\n")
            assert b"content-length: 1234" in head
            writer.write(request("/", method="DELETE"))
            response = await read_response(reader)
            assert response.status == 204 and "content-length" not in response.headers
            writer.close()

    run(scenario())


def test_expect_100_continue_is_answered_when_the_handler_reads_the_body() -> None:
    async def scenario() -> None:
        async with serving(limits=SMALL) as served:
            reader, writer = await connect(served.port)
            writer.write(
                b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
            )
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"hello")
            response = await read_response(reader)
            assert response.status == 200 and response.json()["body_length"] == 5
            # A body over the limit is refused without inviting it.
            writer.write(
                b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                b"Content-Length: 100000\r\n\r\n"
            )
            refused = parse_responses(await read_until_closed(reader))
            assert [r.status for r in refused] == [413]
            writer.close()

    run(scenario())


def test_a_body_the_handler_ignores_is_drained_to_keep_the_connection() -> None:
    async def ignoring(req: Request) -> Response:
        return Response(200, [], Body(data=b"ok"))

    async def scenario() -> None:
        async with serving(ignoring) as served:
            reader, writer = await connect(served.port)
            writer.write(request("/", method="POST", body=b"x" * 100_000))
            assert (await read_response(reader)).status == 200
            writer.write(request("/again"))
            assert (await read_response(reader)).status == 200
            writer.close()
            assert served.server.stats().connections_accepted == 1

    run(scenario())


def test_a_large_body_is_streamed_with_flow_control() -> None:
    size = 32 * 1024 * 1024

    async def scenario() -> None:
        release = asyncio.Event()
        received: list[int] = []

        async def slow_reader(req: Request) -> Response:
            await release.wait()
            total = 0
            async for chunk in req.body.chunks():
                total += len(chunk)
            received.append(total)
            return Response(200)

        limits = ServerLimits(max_body_size=None, body_timeout=5.0, linger_timeout=1.0)
        async with serving(slow_reader, limits=limits) as served:
            reader, writer = await connect(served.port)
            writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
            writer.write(b"\0" * size)
            await asyncio.sleep(0.5)
            # The server stopped reading: the body waits in the client, not in the gateway.
            assert writer.transport.get_write_buffer_size() > 0
            release.set()
            await writer.drain()
            response = await read_response(reader)
            assert response.status == 200 and received == [size]
            writer.close()

    run(scenario())


def test_the_request_and_error_bodies_are_json_in_the_apim_shape() -> None:
    async def scenario() -> None:
        async with serving() as served:
            response = only_response(await exchange(served.port, b"GET / HTTP/1.1\r\n\r\n"))
            assert response.headers["content-type"] == "application/json"
            assert json.loads(response.body) == {
                "statusCode": 400,
                "message": "The request is malformed.",
            }

    run(scenario())


def test_limits_refuse_inconsistent_settings() -> None:
    with pytest.raises(ValueError, match="body_low_water"):
        ServerLimits(body_low_water=10, body_high_water=5)
    with pytest.raises(ValueError, match="header_timeout"):
        ServerLimits(header_timeout=0)
    assert TEST_LIMITS.max_body_size == ServerLimits().max_body_size


def test_a_bad_request_after_a_good_one_is_refused_after_the_good_one_is_answered() -> None:
    async def scenario() -> None:
        async with serving() as served:
            data = request("/good") + b"GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
            data += request("/never")
            responses = parse_responses(await exchange(served.port, data))
            assert [r.status for r in responses] == [200, 400]
            assert not responses[0].closes and responses[1].closes
            assert served.recorder.paths == ["/good"]

    run(scenario())


def test_the_server_api_is_exported() -> None:
    import tollhouse.gateway.http as http

    for name in (
        "GatewayServer",
        "ServerLimits",
        "ServerState",
        "ServerStats",
        "DownstreamError",
        "MalformedRequest",
        "IncompleteBody",
        "RequestTimeout",
        "BodyTooLarge",
        "TargetTooLong",
        "HeadersTooLarge",
        "NotImplementedByServer",
        "VersionNotSupported",
        "normalize_path",
    ):
        assert name in http.__all__ and hasattr(http, name)
    assert issubclass(http.BodyTooLarge, http.DownstreamError)
    assert http.BodyTooLarge.status == 413
