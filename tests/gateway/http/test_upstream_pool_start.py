"""The upstream pool's callback way (`UpstreamPool.start`) against real backends on 127.0.0.1:
when it takes a request and when it declines, the answer through `on_done` on the reused
connection, streamed bodies, deadlines, cancellation, the stale-connection retry, and the one
idle timer per origin that closes idle connections while busy ones keep serving."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tollhouse.gateway.http import (
    Body,
    Response,
    UpstreamError,
    UpstreamLimits,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamRequest,
    UpstreamRequestError,
    UpstreamTimeout,
)

from .upstream_backends import (
    Backend,
    BackendConnection,
    Runner,
    backend,
    closes_reused_connections,
    fetch,
    get,
    ok,
    run,
    stream,
)

__all__ = ["run"]


async def outcome(pool: UpstreamPool, request: UpstreamRequest) -> Response | UpstreamError:
    """What `on_done` gets for a request `start` took."""
    future: asyncio.Future[Response | UpstreamError] = asyncio.get_running_loop().create_future()
    handle = pool.start(request, future.set_result)
    assert handle is not None
    assert not future.done()  # on_done comes from the event loop, never inside start
    return await future


async def started(pool: UpstreamPool, request: UpstreamRequest) -> Response:
    result = await outcome(pool, request)
    assert isinstance(result, Response), result
    return result


# -- when start takes a request -------------------------------------------------------------------


def test_start_declines_when_the_pool_has_no_idle_connection_to_the_origin(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(ok(b"a")) as first, backend(ok(b"b")) as second:
            pool = UpstreamPool()
            calls: list[Response | UpstreamError] = []
            assert pool.start(get(first.url()), calls.append) is None
            await fetch(pool, get(first.url()))
            assert pool.start(get(second.url()), calls.append) is None
            await asyncio.sleep(0.05)
            assert calls == []
            assert (first.connections, second.connections) == (1, 0)
            assert first.requests[-1].target == "/"
            assert len(first.requests) == 1  # nothing was sent for the declined ones
            await pool.close()

    run(scenario())


def test_start_declines_a_streamed_body_and_leaves_the_idle_connection_in_the_pool(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(lambda r: ok(r.body)) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            calls: list[Response | UpstreamError] = []
            request = UpstreamRequest("POST", server.url(), headers=[], body=Body(stream(b"a")))
            assert pool.start(request, calls.append) is None
            await asyncio.sleep(0.05)
            assert calls == []
            assert len(server.requests) == 1
            response = await started(pool, get(server.url()))
            assert (response.status, await response.body.read()) == (200, b"")
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_start_declines_once_the_pool_is_closed(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            await pool.close()
            calls: list[Response | UpstreamError] = []
            assert pool.start(get(server.url()), calls.append) is None
            await server.wait_closed_by_client(1)
            assert calls == []

    run(scenario())


def test_a_second_start_while_the_only_idle_connection_is_busy_is_declined(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(ok(), delay=0.05) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            future: asyncio.Future[Response | UpstreamError] = (
                asyncio.get_running_loop().create_future()
            )
            assert pool.start(get(server.url()), future.set_result) is not None
            assert pool.start(get(server.url()), future.set_result) is None
            response = await future
            assert isinstance(response, Response)
            assert await response.body.read() == b"ok"
            assert server.connections == 1
            assert len(server.requests) == 2
            await pool.close()

    run(scenario())


def test_a_connection_the_backend_closed_while_idle_is_not_offered_to_start(
    run: Runner[None],
) -> None:
    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(ok())
        connection.close()

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            await asyncio.sleep(0.05)
            calls: list[Response | UpstreamError] = []
            assert pool.start(get(server.url()), calls.append) is None
            assert await fetch(pool, get(server.url())) == (200, b"ok")
            assert server.connections == 2
            assert calls == []
            await pool.close()

    run(scenario())


def test_a_header_that_cannot_be_written_raises_at_once_and_spares_the_idle_connection(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(ok()) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            calls: list[Response | UpstreamError] = []
            bad = UpstreamRequest(
                "GET", server.url(), headers=[(b"x-bad", b"a\r\nb")], body=Body.empty()
            )
            with pytest.raises(UpstreamRequestError) as caught:
                pool.start(bad, calls.append)
            assert caught.value.status == 500
            response = await started(pool, get(server.url()))
            assert await response.body.read() == b"ok"
            assert calls == []
            assert server.connections == 1
            assert [r.target for r in server.requests] == ["/", "/"]
            assert all(r.header("x-bad") is None for r in server.requests)
            await pool.close()

    run(scenario())


# -- the answer through on_done -------------------------------------------------------------------


def test_the_answer_arrives_through_on_done_on_the_same_tcp_connection(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(lambda r: ok(r.target.encode(), b"x-answer: yes")) as server:
            pool = UpstreamPool()
            assert await fetch(pool, get(server.url("/warm"))) == (200, b"/warm")
            for i in range(5):
                response = await started(pool, get(server.url(f"/n{i}")))
                assert response.status == 200
                assert (b"x-answer", b"yes") in response.headers
                assert response.body.buffered == f"/n{i}".encode()  # complete: in memory
                assert await response.body.read() == f"/n{i}".encode()
            assert server.connections == 1
            assert [r.target for r in server.requests] == [
                "/warm",
                *(f"/n{i}" for i in range(5)),
            ]
            await pool.close()

    run(scenario())


def test_on_done_is_called_once_and_a_late_cancel_changes_nothing(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(ok(b"once")) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            calls: list[Response | UpstreamError] = []
            done = asyncio.Event()

            def on_done(result: Response | UpstreamError) -> None:
                calls.append(result)
                done.set()

            handle = pool.start(get(server.url()), on_done)
            assert handle is not None
            await done.wait()
            handle.cancel()
            handle.cancel()
            await asyncio.sleep(0.05)
            (response,) = calls
            assert isinstance(response, Response)
            assert await response.body.read() == b"once"
            assert (await started(pool, get(server.url()))).status == 200
            assert server.connections == 1
            assert server.closed_by_client == 0
            await pool.close()

    run(scenario())


def test_a_request_body_in_memory_is_sent_whole_small_or_large(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(lambda r: ok(b"%d" % len(r.body))) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            for data in (b"{}", bytes(range(256)) * 400):
                request = UpstreamRequest(
                    "POST",
                    server.url("/items"),
                    headers=[(b"content-type", b"application/octet-stream")],
                    body=Body(data=data),
                )
                response = await started(pool, request)
                assert await response.body.read() == b"%d" % len(data)
                received = server.requests[-1]
                assert (received.method, received.target) == ("POST", "/items")
                assert received.header("content-length") == str(len(data))
                assert received.header("content-type") == "application/octet-stream"
                assert received.body == data
            assert server.connections == 1
            await pool.close()

    run(scenario())


def test_a_large_response_comes_as_a_streamed_body_and_the_connection_is_reused(
    run: Runner[None],
) -> None:
    size = 1024 * 1024
    payload = bytes(range(256)) * (size // 256)

    async def scenario() -> None:
        async with backend(ok(payload)) as server:
            pool = UpstreamPool()
            assert await fetch(pool, get(server.url())) == (200, payload)
            for _ in range(2):
                response = await started(pool, get(server.url()))
                assert response.status == 200
                assert (b"content-length", str(size).encode()) in response.headers
                assert response.body.buffered is None  # still arriving: streamed
                assert await response.body.read() == payload
            assert server.connections == 1
            assert len(server.requests) == 3
            await pool.close()

    run(scenario())


# -- failures -------------------------------------------------------------------------------------


def test_no_head_within_the_timeout_is_an_upstream_timeout_and_costs_the_connection(
    run: Runner[None],
) -> None:
    async def handler(connection: BackendConnection) -> None:
        first = await connection.read_request()
        assert first is not None
        await connection.send(ok())
        second = await connection.read_request()
        if second is None:
            return
        server.requests.append(second)
        if await connection.read_head() is None:  # silent until the client gives up
            server.client_closed()

    server = Backend(handler)

    async def scenario() -> None:
        async with server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            loop = asyncio.get_running_loop()
            begun = loop.time()
            error = await outcome(pool, get(server.url("/slow"), timeout=0.2))
            assert isinstance(error, UpstreamTimeout)
            assert error.status == 504
            assert loop.time() - begun < 2
            assert [r.target for r in server.requests] == ["/slow"]
            calls: list[Response | UpstreamError] = []
            assert pool.start(get(server.url()), calls.append) is None  # not back in the pool
            await asyncio.wait_for(server.wait_closed_by_client(1), 2)  # closed, not left idle
            assert await fetch(pool, get(server.url())) == (200, b"ok")
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_a_malformed_answer_is_an_upstream_protocol_error_and_costs_the_connection(
    run: Runner[None],
) -> None:
    answers = iter([ok(), b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n"])

    async def scenario() -> None:
        async with backend(lambda r: next(answers, ok(b"fresh"))) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            error = await outcome(pool, get(server.url()))
            assert isinstance(error, UpstreamProtocolError)
            assert error.status == 502
            calls: list[Response | UpstreamError] = []
            assert pool.start(get(server.url()), calls.append) is None  # not back in the pool
            await asyncio.wait_for(server.wait_closed_by_client(1), 2)
            assert await fetch(pool, get(server.url())) == (200, b"fresh")
            assert server.connections == 2
            await pool.close()

    run(scenario())


# -- cancellation ---------------------------------------------------------------------------------


def test_cancel_before_the_answer_means_no_on_done_and_a_closed_connection(
    run: Runner[None],
) -> None:
    received = asyncio.Event()
    answered = asyncio.Event()

    async def handler(connection: BackendConnection) -> None:
        first = await connection.read_request()
        assert first is not None
        await connection.send(ok())
        second = await connection.read_request()
        if second is None:
            return
        server.requests.append(second)
        received.set()
        await asyncio.sleep(0.1)
        with contextlib.suppress(ConnectionError):
            await connection.send(ok(b"too late"))
        answered.set()
        if await connection.read_head() is None:
            server.client_closed()

    server = Backend(handler)

    async def scenario() -> None:
        async with server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            calls: list[Response | UpstreamError] = []
            handle = pool.start(get(server.url("/abandoned")), calls.append)
            assert handle is not None
            await received.wait()
            handle.cancel()
            await server.wait_closed_by_client(1)
            await answered.wait()
            await asyncio.sleep(0.1)
            assert calls == []
            assert [r.target for r in server.requests] == ["/abandoned"]
            # The pool still serves, on a new connection: the abandoned one is never reused.
            assert await fetch(pool, get(server.url())) == (200, b"ok")
            assert server.connections == 2
            response = await started(pool, get(server.url()))
            assert response.status == 200
            await pool.close()

    run(scenario())


def test_cancel_right_after_start_means_no_on_done_even_once_the_answer_would_be_there(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(ok(b"fast")) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            calls: list[Response | UpstreamError] = []
            handle = pool.start(get(server.url()), calls.append)
            assert handle is not None
            handle.cancel()
            await server.wait_closed_by_client(1)
            await asyncio.sleep(0.1)
            assert calls == []
            assert await fetch(pool, get(server.url())) == (200, b"fast")
            assert server.connections == 2
            await pool.close()

    run(scenario())


# -- stale connections ------------------------------------------------------------------------


def test_a_get_started_on_a_connection_the_backend_closed_is_retried_once_on_a_new_one(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with Backend(lambda c: asyncio.sleep(0)) as server:
            closes_reused_connections(server)
            pool = UpstreamPool()
            assert await fetch(pool, get(server.url())) == (200, b"ok")
            response = await started(pool, get(server.url("/again")))
            assert (response.status, await response.body.read()) == (200, b"ok")
            assert server.connections == 2
            assert [r.target for r in server.requests] == ["/", "/again"]
            await pool.close()

    run(scenario())


def test_a_post_started_on_a_connection_the_backend_closed_is_not_replayed(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with Backend(lambda c: asyncio.sleep(0)) as server:
            closes_reused_connections(server)
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            post = UpstreamRequest("POST", server.url(), headers=[], body=Body(data=b"{}"))
            error = await outcome(pool, post)
            assert isinstance(error, UpstreamProtocolError)
            assert error.status == 502
            assert server.connections == 1
            await fetch(pool, get(server.url()))
            keyed = UpstreamRequest(
                "POST", server.url(), headers=[(b"idempotency-key", b"k1")], body=Body(data=b"{}")
            )
            response = await started(pool, keyed)  # replayed on a fresh connection
            assert (response.status, await response.body.read()) == (200, b"ok")
            assert server.connections == 3
            await pool.close()

    run(scenario())


def test_cancel_during_the_retry_means_no_on_done_and_closes_the_new_connection(
    run: Runner[None],
) -> None:
    retried = asyncio.Event()

    async def handler(connection: BackendConnection) -> None:
        index = server.connections
        received = await connection.read_request()
        assert received is not None
        server.requests.append(received)
        if index == 1:
            await connection.send(ok())
            await connection.read_head()
            connection.close()  # stale: the retry goes to a second connection
            return
        retried.set()
        await asyncio.sleep(0.1)
        with contextlib.suppress(ConnectionError):
            await connection.send(ok(b"too late"))
        if await connection.read_head() is None:
            server.client_closed()

    server = Backend(handler)

    async def scenario() -> None:
        async with server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            calls: list[Response | UpstreamError] = []
            handle = pool.start(get(server.url("/retried")), calls.append)
            assert handle is not None
            await retried.wait()
            handle.cancel()
            await server.wait_closed_by_client(1)
            await asyncio.sleep(0.2)
            assert calls == []
            assert server.connections == 2
            assert [r.target for r in server.requests] == ["/", "/retried"]
            await pool.close()

    run(scenario())


# -- the idle timer -------------------------------------------------------------------------------


def test_the_idle_timer_closes_the_idle_connection_while_a_busy_one_keeps_serving(
    run: Runner[None],
) -> None:
    async def scenario() -> None:
        async with backend(ok(), delay=0.05) as server:
            pool = UpstreamPool(UpstreamLimits(idle_timeout=0.3))
            results = await asyncio.gather(*(fetch(pool, get(server.url())) for _ in range(2)))
            assert results == [(200, b"ok")] * 2
            assert server.connections == 2
            loop = asyncio.get_running_loop()
            end = loop.time() + 1.0
            busy = 0
            while loop.time() < end:
                response = await started(pool, get(server.url()))
                assert (response.status, await response.body.read()) == (200, b"ok")
                busy += 1
                await asyncio.sleep(0.05)
            assert busy >= 3
            assert server.closed_by_client == 1  # the idle one went, the busy one stayed
            assert server.connections == 2
            assert len(server.requests) == 2 + busy
            # Left alone, the last one idles out too: the timer was set again for it.
            await server.wait_closed_by_client(2)
            calls: list[Response | UpstreamError] = []
            assert pool.start(get(server.url()), calls.append) is None
            assert await fetch(pool, get(server.url())) == (200, b"ok")
            assert server.connections == 3
            await pool.close()

    run(scenario())


def test_connections_idle_since_different_times_each_close_after_their_own_idle_timeout(
    run: Runner[None],
) -> None:
    async def handler(connection: BackendConnection) -> None:
        while True:
            received = await connection.read_request()
            if received is None:
                server.client_closed()
                return
            server.requests.append(received)
            if received.target == "/held":
                await asyncio.sleep(0.5)
            await connection.send(ok(received.target.encode()))

    server = Backend(handler)

    async def scenario() -> None:
        async with server:
            pool = UpstreamPool(UpstreamLimits(idle_timeout=0.2))
            held = asyncio.create_task(fetch(pool, get(server.url("/held"))))
            await asyncio.sleep(0.05)
            assert await fetch(pool, get(server.url("/quick"))) == (200, b"/quick")
            assert server.connections == 2
            # The quick one idles out while the held one is busy ...
            await server.wait_closed_by_client(1)
            assert await held == (200, b"/held")
            # ... and the held one, idle only from now on, serves the next request.
            response = await started(pool, get(server.url("/next")))
            assert await response.body.read() == b"/next"
            assert server.connections == 2
            assert server.closed_by_client == 1
            await server.wait_closed_by_client(2)
            calls: list[Response | UpstreamError] = []
            assert pool.start(get(server.url()), calls.append) is None
            await pool.close()

    run(scenario())


def test_closing_the_pool_fails_an_exchange_in_flight_at_once(run: Runner[None]) -> None:
    received = asyncio.Event()

    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(ok())
        await connection.read_request()
        received.set()
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            await fetch(pool, get(server.url()))
            future: asyncio.Future[Response | UpstreamError] = (
                asyncio.get_running_loop().create_future()
            )
            assert pool.start(get(server.url(), timeout=60), future.set_result) is not None
            await received.wait()
            await pool.close()
            # Long before the request's own 60 s deadline.
            outcome = await asyncio.wait_for(future, 2)
            assert isinstance(outcome, UpstreamError) and outcome.status == 502

    run(scenario())


def test_closing_the_pool_fails_a_request_awaiting_its_head_at_once(run: Runner[None]) -> None:
    received = asyncio.Event()

    async def handler(connection: BackendConnection) -> None:
        await connection.read_request()
        received.set()
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with Backend(handler) as server:
            pool = UpstreamPool()
            waiting = asyncio.ensure_future(pool.request(get(server.url(), timeout=60)))
            await received.wait()
            await pool.close()
            with pytest.raises(UpstreamError):
                await asyncio.wait_for(waiting, 2)

    run(scenario())
