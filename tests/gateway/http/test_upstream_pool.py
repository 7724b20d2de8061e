"""The upstream pool against real backends on 127.0.0.1: keep-alive, limits, streaming both
ways, deadlines, the stale-connection retry, and what it never does (follow redirects)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tollhouse.gateway.http import (
    Body,
    UpstreamConnectError,
    UpstreamError,
    UpstreamLimits,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamRequest,
    UpstreamRequestError,
    UpstreamTimeout,
    error_response,
)
from tollhouse.gateway.http._upstream_connection import (
    RESPONSE_BUFFER_HIGH_WATER,
    ResponseBody,
)

from .upstream_backends import (
    Backend,
    BackendConnection,
    Runner,
    backend,
    closed_port,
    closes_reused_connections,
    fetch,
    get,
    ok,
    run,
    stream,
)

__all__ = ["run"]


# -- keep-alive and limits ---------------------------------------------------------------------


def test_sequential_requests_share_one_tcp_connection(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(lambda r: ok(r.target.encode())) as server:
            pool = UpstreamPool()
            for i in range(5):
                assert await fetch(pool, get(server.url(f"/n{i}"))) == (200, f"/n{i}".encode())
            assert server.connections == 1
            assert len(server.requests) == 5
            await pool.close()

    run(scenario())


def test_concurrent_requests_never_open_more_than_the_per_origin_limit(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(ok(), delay=0.05) as server:
            pool = UpstreamPool(UpstreamLimits(max_connections_per_origin=2))
            results = await asyncio.gather(*(fetch(pool, get(server.url())) for _ in range(8)))
            assert results == [(200, b"ok")] * 8
            assert server.peak_connections <= 2
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_idle_connections_beyond_the_idle_limit_are_closed(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok(), delay=0.05) as server:
            pool = UpstreamPool(UpstreamLimits(max_idle_per_origin=1))
            await asyncio.gather(*(fetch(pool, get(server.url())) for _ in range(3)))
            assert server.connections == 3
            await server.wait_closed_by_client(2)
            await fetch(pool, get(server.url()))
            assert server.connections == 3  # the one kept idle served it
            await pool.close()

    run(scenario())


def test_an_idle_connection_is_closed_after_the_idle_timeout(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool(UpstreamLimits(idle_timeout=0.1))
            await fetch(pool, get(server.url()))
            await server.wait_closed_by_client(1)
            await fetch(pool, get(server.url()))
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_different_origins_do_not_share_connections(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok(b"a")) as first, backend(ok(b"b")) as second:
            pool = UpstreamPool()
            assert await fetch(pool, get(first.url())) == (200, b"a")
            assert await fetch(pool, get(second.url())) == (200, b"b")
            assert await fetch(pool, get(first.url())) == (200, b"a")
            assert (first.connections, second.connections) == (1, 1)
            await pool.close()

    run(scenario())


def test_close_closes_idle_connections_and_refuses_new_requests(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            await pool.close()
            await server.wait_closed_by_client(1)
            with pytest.raises(UpstreamConnectError):
                await pool.request(get(server.url()))

    run(scenario())


# -- request serialisation ----------------------------------------------------------------------


def test_the_request_is_written_from_the_structured_request(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool()
            request = UpstreamRequest(
                method="PUT",
                url=server.url("/items/1?x=1&y=2"),
                headers=[
                    (b"host", b"client.example"),
                    (b"content-length", b"999"),
                    (b"transfer-encoding", b"chunked"),
                    (b"connection", b"close"),
                    (b"x-kept", b"yes"),
                ],
                body=Body(data=b"hello"),
            )
            assert await fetch(pool, request) == (200, b"ok")
            (received,) = server.requests
            assert received.method == "PUT"
            assert received.target == "/items/1?x=1&y=2"
            assert received.header("host") == f"127.0.0.1:{server.port}"
            assert received.header("content-length") == "5"
            assert received.names().count("host") == 1
            assert "transfer-encoding" not in received.names()
            assert "connection" not in received.names()
            assert received.header("x-kept") == "yes"
            assert received.body == b"hello"
            await pool.close()

    run(scenario())


def test_bodiless_get_has_no_content_length_but_empty_post_says_zero(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            await fetch(pool, UpstreamRequest("POST", server.url(), headers=[], body=Body.empty()))
            get_request, post_request = server.requests
            assert "content-length" not in get_request.names()
            assert post_request.header("content-length") == "0"
            await pool.close()

    run(scenario())


def test_a_request_that_cannot_be_written_fails_before_connecting(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool()
            bad = [
                get("ftp://127.0.0.1/"),
                get(f"http://user@127.0.0.1:{server.port}/"),
                UpstreamRequest("G T", server.url(), headers=[], body=Body.empty()),
                UpstreamRequest(
                    "GET", server.url(), headers=[(b"x-a", b"1\r\nx-b: 2")], body=Body.empty()
                ),
                UpstreamRequest("GET", server.url(), headers=[(b"x a", b"1")], body=Body.empty()),
            ]
            for request in bad:
                with pytest.raises(UpstreamRequestError) as caught:
                    await pool.request(request)
                assert caught.value.status == 500
            assert server.connections == 0
            await pool.close()

    run(scenario())


# -- streaming ------------------------------------------------------------------------------------


def test_a_streamed_request_body_goes_chunked_before_it_has_all_been_produced(
    run: Runner[None],
) -> None:
    first_chunk_arrived = asyncio.Event()
    parts: list[bytes] = []

    async def handler(connection: BackendConnection) -> None:
        head = await connection.read_head()
        assert head is not None
        assert ("transfer-encoding", "chunked") in [(n.lower(), v) for n, v in head[2]]
        async for chunk in connection.chunks():
            parts.append(chunk)
            first_chunk_arrived.set()
        await connection.send(ok(b"%d" % sum(map(len, parts))))

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 65536
        # Only the backend having read the first chunk lets the rest be produced: a client
        # that buffered the whole body before sending would wait here forever.
        await first_chunk_arrived.wait()
        for _ in range(63):
            yield b"b" * 65536

    async def scenario() -> None:
        first_chunk_arrived.clear()
        parts.clear()
        async with Backend(handler) as server:
            pool = UpstreamPool()
            request = UpstreamRequest("POST", server.url(), headers=[], body=Body(body()))
            assert await fetch(pool, request) == (200, b"4194304")
            assert b"".join(parts) == b"a" * 65536 + b"b" * 65536 * 63
            await pool.close()

    run(scenario())


def test_a_streamed_body_with_a_declared_length_keeps_content_length(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool()
            request = UpstreamRequest(
                "POST",
                server.url(),
                headers=[(b"content-length", b"6")],
                body=Body(stream(b"abc", b"def")),
            )
            assert await fetch(pool, request) == (200, b"ok")
            (received,) = server.requests
            assert received.header("content-length") == "6"
            assert not received.chunked
            assert received.body == b"abcdef"
            await pool.close()

    run(scenario())


def test_a_stream_longer_than_its_declared_length_is_never_sent_whole(run: Runner[None]) -> None:
    smuggled = b"GET /admin HTTP/1.1\r\nhost: x\r\n\r\n"

    async def scenario() -> None:
        async with backend(ok(), delay=0.1) as server:
            pool = UpstreamPool()
            request = UpstreamRequest(
                "POST",
                server.url(),
                headers=[(b"content-length", b"3")],
                body=Body(stream(b"abc", smuggled)),
            )
            with pytest.raises(UpstreamRequestError):
                await pool.request(request)
            await server.wait_until(lambda: server.open_connections == 0)
            assert [r.body for r in server.requests] == [b"abc"]
            await pool.close()

    run(scenario())


def test_a_failing_request_body_passes_its_error_through_and_aborts_the_backend_request(
    run: Runner[None],
) -> None:
    class ClientWentAway(Exception):
        """The downstream client disconnected while its body was being sent."""

    async def body() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ClientWentAway

    async def handler(connection: BackendConnection) -> None:
        await connection.read_head()
        data = await connection.reader.read()  # to end of stream: the gateway gave up
        assert b"partial" in data
        assert not data.endswith(b"0\r\n\r\n")  # never a terminated body

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            request = UpstreamRequest("POST", server.url(), headers=[], body=Body(body()))
            with pytest.raises(ClientWentAway):
                await pool.request(request)
            await pool.close()

    run(scenario())


def test_a_response_body_streams_and_a_slow_reader_pushes_back_on_the_backend(
    run: Runner[None],
) -> None:
    size = 16 * 1024 * 1024
    unread_at_backend: list[int] = []

    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        connection.writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        connection.writer.write(b"x" * size)
        await asyncio.sleep(0.3)
        unread_at_backend.append(connection.writer.transport.get_write_buffer_size())
        await connection.writer.drain()
        await connection.read_request()

    async def scenario() -> None:
        unread_at_backend.clear()
        async with Backend(handler) as server:
            pool = UpstreamPool()
            response = await pool.request(get(server.url()))
            stream = response.body._stream
            assert isinstance(stream, ResponseBody)
            chunks = aiter(response.body.chunks())
            first = await anext(chunks)
            assert 0 < len(first) < size
            await asyncio.sleep(0.4)  # a slow client: the pool must stop reading
            # What the pool holds stays near its high-water mark (plus one socket read)...
            held = stream._connection._buffered if stream._connection else 0
            assert held <= RESPONSE_BUFFER_HIGH_WATER + 256 * 1024
            # ... and the rest waits at the backend, beyond what the kernel buffers.
            assert unread_at_backend and unread_at_backend[0] > 0
            total = len(first)
            async for chunk in chunks:
                total += len(chunk)
            assert total == size
            await pool.close()

    run(scenario())


def test_a_chunked_response_is_decoded_and_its_connection_reused(run: Runner[None]) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-trailer: t\r\n\r\n"
    )

    async def scenario() -> None:
        async with backend(chunked) as server:
            pool = UpstreamPool()
            for _ in range(3):
                response = await pool.request(get(server.url()))
                assert (b"content-type", b"text/plain") in response.headers
                assert b"transfer-encoding" not in dict(response.headers)
                assert b"x-trailer" not in dict(response.headers)
                assert await response.body.read() == b"hello world"
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_a_response_without_length_is_read_until_close_and_not_reused(run: Runner[None]) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ")
        await asyncio.sleep(0.05)
        await connection.send(b"the end")
        connection.close()

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            assert await fetch(pool, get(server.url())) == (200, b"until the end")
            assert await fetch(pool, get(server.url())) == (200, b"until the end")
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_a_response_to_head_has_no_body_and_keeps_the_connection(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n") as server:
            pool = UpstreamPool()
            for _ in range(2):
                request = UpstreamRequest("HEAD", server.url(), headers=[], body=Body.empty())
                response = await pool.request(request)
                assert response.status == 200
                assert (b"content-length", b"1000") in response.headers
                assert await response.body.read() == b""
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_interim_responses_are_skipped(run: Runner[None]) -> None:
    interim = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
    )

    async def scenario() -> None:
        async with backend(interim + ok(b"final")) as server:
            pool = UpstreamPool()
            assert await fetch(pool, get(server.url())) == (200, b"final")
            assert await fetch(pool, get(server.url())) == (200, b"final")
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_a_body_abandoned_midway_costs_its_connection(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok(b"x" * 1_000_000)) as server:
            pool = UpstreamPool()
            response = await pool.request(get(server.url()))
            chunks = response.body.chunks()
            await anext(chunks)
            del chunks, response  # dropped with most of the body unread
            await server.wait_closed_by_client(1)
            assert await fetch(pool, get(server.url())) == (200, b"x" * 1_000_000)
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_a_reader_cancelled_mid_body_closes_the_backend_connection(run: Runner[None]) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nsome")
        assert await connection.reader.read() == b""
        server.client_closed()

    server = Backend(handler)

    async def scenario() -> None:
        async with server:
            pool = UpstreamPool()
            response = await pool.request(get(server.url()))
            reader = asyncio.create_task(response.body.read())
            await asyncio.sleep(0.05)
            reader.cancel()
            await server.wait_closed_by_client(1)
            await pool.close()

    run(scenario())


def test_a_backend_answering_before_reading_the_body_still_gets_its_answer_through(
    run: Runner[None],
) -> None:
    never = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        await never.wait()
        yield b"never"

    async def handler(connection: BackendConnection) -> None:
        await connection.read_head()
        await connection.send(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!")
        await connection.reader.read()

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            request = UpstreamRequest("POST", server.url(), headers=[], body=Body(body()))
            assert await fetch(pool, request) == (413, b"big!")
            await pool.close()

    run(scenario())


def test_redirects_are_returned_not_followed(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok(b"internal")) as internal:
            redirect = (
                b"HTTP/1.1 302 Found\r\nlocation: %b\r\ncontent-length: 0\r\n\r\n"
                % internal.url("/admin").encode()
            )
            async with backend(redirect) as server:
                pool = UpstreamPool()
                response = await pool.request(get(server.url()))
                assert response.status == 302
                assert (b"location", internal.url("/admin").encode()) in response.headers
                assert internal.connections == 0
                await pool.close()

    run(scenario())


def test_hop_by_hop_response_headers_do_not_reach_the_caller(run: Runner[None]) -> None:
    response_bytes = ok(
        b"fine",
        b"connection: keep-alive, x-internal",
        b"keep-alive: timeout=5",
        b"x-internal: secret",
        b"x-public: yes",
    )

    async def scenario() -> None:
        async with backend(response_bytes) as server:
            pool = UpstreamPool()
            response = await pool.request(get(server.url()))
            names = [name for name, _ in response.headers]
            assert names == [b"content-length", b"x-public"]
            await pool.close()

    run(scenario())


# -- stale connections ------------------------------------------------------------------------


def test_a_get_on_a_connection_the_backend_closed_is_retried_once_on_a_new_one(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with Backend(lambda c: asyncio.sleep(0)) as server:
            closes_reused_connections(server)
            pool = UpstreamPool()
            assert await fetch(pool, get(server.url())) == (200, b"ok")
            assert await fetch(pool, get(server.url())) == (200, b"ok")
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_a_post_on_a_connection_the_backend_closed_is_not_replayed(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with Backend(lambda c: asyncio.sleep(0)) as server:
            closes_reused_connections(server)
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            post = UpstreamRequest("POST", server.url(), headers=[], body=Body(data=b"{}"))
            with pytest.raises(UpstreamProtocolError) as caught:
                await pool.request(post)
            assert caught.value.status == 502
            assert server.connections == 1
            keyed = UpstreamRequest(
                "POST", server.url(), headers=[(b"idempotency-key", b"k1")], body=Body(data=b"{}")
            )
            assert await fetch(pool, keyed) == (200, b"ok")  # a fresh connection answers
            await pool.close()

    run(scenario())


def test_a_connection_closed_while_idle_is_not_used(run: Runner[None]) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(ok())
        connection.close()

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            await asyncio.sleep(0.05)
            post = UpstreamRequest("POST", server.url(), headers=[], body=Body(data=b"{}"))
            assert await fetch(pool, post) == (200, b"ok")
            assert server.connections == 2
            await pool.close()

    run(scenario())


# -- failures and deadlines -----------------------------------------------------------------------


def test_a_refused_connection_is_an_upstream_connect_error_502(run: Runner[None]) -> None:
    async def scenario() -> None:
        pool = UpstreamPool()
        with pytest.raises(UpstreamConnectError) as caught:
            await pool.request(get(f"http://127.0.0.1:{closed_port()}/"))
        assert error_response(caught.value).status == 502
        await pool.close()

    run(scenario())


def test_an_unresolvable_host_is_an_upstream_connect_error(run: Runner[None]) -> None:
    async def scenario() -> None:
        pool = UpstreamPool()
        with pytest.raises(UpstreamConnectError):
            await pool.request(get("http://does-not-exist.invalid/"))
        await pool.close()

    run(scenario())


def test_a_backend_slow_to_answer_is_an_upstream_timeout_504(run: Runner[None]) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(UpstreamTimeout) as caught:
                await pool.request(get(server.url(), timeout=0.2))
            assert loop.time() - started < 2
            assert error_response(caught.value).status == 504
            await pool.close()

    run(scenario())


def test_a_backend_that_stops_sending_the_body_is_an_upstream_timeout(run: Runner[None]) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool(UpstreamLimits(body_timeout=0.2))
            response = await pool.request(get(server.url()))
            with pytest.raises(UpstreamTimeout):
                await response.body.read()
            await pool.close()

    run(scenario())


def test_a_backend_that_stops_reading_the_request_body_is_an_upstream_timeout(
    run: Runner[None],
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(1024):
            yield b"z" * 65536

    async def handler(connection: BackendConnection) -> None:
        await connection.read_head()
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool(UpstreamLimits(body_timeout=0.2))
            request = UpstreamRequest("PUT", server.url(), headers=[], body=Body(body()))
            with pytest.raises(UpstreamTimeout):
                await pool.request(request)
            await pool.close()

    run(scenario())


def test_a_backend_closing_mid_body_is_an_upstream_protocol_error(run: Runner[None]) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
        await asyncio.sleep(0.05)
        connection.close()

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            response = await pool.request(get(server.url()))
            with pytest.raises(UpstreamProtocolError):
                await response.body.read()
            await pool.close()

    run(scenario())


def test_waiting_for_a_connection_counts_against_the_request_timeout(run: Runner[None]) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await asyncio.sleep(0.3)
        await connection.send(ok())

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool(UpstreamLimits(max_connections_per_origin=1))
            slow = asyncio.create_task(fetch(pool, get(server.url())))
            await asyncio.sleep(0.05)
            with pytest.raises(UpstreamTimeout):
                await pool.request(get(server.url(), timeout=0.1))
            assert await slow == (200, b"ok")
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_error_responses_have_the_apim_body_shape() -> None:
    for error, status, message in [
        (UpstreamConnectError("x"), 502, "Bad Gateway"),
        (UpstreamProtocolError("x"), 502, "Bad Gateway"),
        (UpstreamTimeout("x"), 504, "Gateway Timeout"),
        (UpstreamRequestError("x"), 500, "Internal Server Error"),
    ]:
        response = error_response(error)
        assert response.status == status
        assert (b"content-type", b"application/json; charset=utf-8") in response.headers
        assert response.body.buffered is not None
        assert json.loads(response.body.buffered) == {"statusCode": status, "message": message}
        assert isinstance(error, UpstreamError)
