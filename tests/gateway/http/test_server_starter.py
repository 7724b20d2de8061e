"""The server's callback way of answering (`Starter`): a request without a body is offered to
the starter first, which replies at once or later from the event loop, or declines and leaves
it to the async handler. Every rule of the task way holds: order, keep-alive, framing,
cancellation when the client goes away, and an answer in APIM's shape when things fail."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from tollhouse.gateway.http import Body, Reply, Request, Response, Started

from .server_support import (
    TEST_LIMITS,
    connect,
    exchange,
    parse_responses,
    read_response,
    read_until_closed,
    request,
    run,
    serving,
    wait_until,
)


@dataclass
class Pending:
    """A request a starter took and has not answered yet."""

    request: Request
    reply: Reply
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Starter:
    """Answers `/now` inside the call, `/later` from a loop callback, `/held` when the test
    says, `/stream` with a streamed body, `/bad` with a field that cannot be written, raises
    on `/raise`, returns a coroutine for `/coroutine` (and one that raises for
    `/coroutine-fails`), and declines everything else."""

    taken: list[Request] = field(default_factory=list)
    held: list[Pending] = field(default_factory=list)

    def __call__(
        self, request: Request, reply: Reply
    ) -> Started | Coroutine[Any, Any, Response] | None:
        self.taken.append(request)
        path = request.path
        if path == "/now":
            reply(text(200, "now"))
            return Pending(request, reply)
        if path.startswith("/later"):
            asyncio.get_running_loop().call_soon(reply, text(200, path))
            return Pending(request, reply)
        if path == "/held":
            pending = Pending(request, reply)
            self.held.append(pending)
            return pending
        if path == "/stream":
            reply(Response(200, [(b"content-type", b"text/plain")], Body(chunks("a", "b", "c"))))
            return Pending(request, reply)
        if path == "/bad":
            reply(Response(200, [(b"x-bad", b"a\r\nb")], Body(data=b"x")))
            return Pending(request, reply)
        if path == "/raise":
            raise RuntimeError("the starter broke")
        if path == "/coroutine":
            return self.later(text(201, "made in a task"))
        if path == "/coroutine-fails":
            return self.later(None)
        return None

    async def later(self, response: Response | None) -> Response:
        await asyncio.sleep(0.01)
        if response is None:
            raise RuntimeError("the coroutine broke")
        return response


def text(status: int, body: str) -> Response:
    return Response(status, [(b"content-type", b"text/plain")], Body(data=body.encode()))


async def chunks(*parts: str) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part.encode()


def test_a_starter_answering_at_once_serves_many_requests_on_one_connection() -> None:
    starter = Starter()

    async def scenario() -> None:
        async with serving(starter=starter) as served:
            reader, writer = await connect(served.port)
            for _ in range(3):
                writer.write(request("/now"))
                response = await read_response(reader)
                assert (response.status, response.body) == (200, b"now")
                assert not response.closes and "date" in response.headers
            writer.close()
            assert len(starter.taken) == 3
            assert served.recorder.requests == []
            await wait_until(lambda: served.server.stats().requests_in_flight == 0)
            assert served.server.stats().requests_handled == 3

    run(scenario())


def test_replies_from_the_loop_keep_pipelined_requests_in_order() -> None:
    starter = Starter()

    async def scenario() -> None:
        async with serving(starter=starter) as served:
            pipelined = [
                request("/later/1"),
                request("/now"),
                request("/handler"),
                request("/later/2", headers=[("Connection", "close")]),
            ]
            raw = await exchange(served.port, b"".join(pipelined))
            responses = parse_responses(raw)
            assert [r.status for r in responses] == [200, 200, 200, 200]
            assert responses[0].body == b"/later/1"
            assert responses[1].body == b"now"
            assert responses[2].json()["path"] == "/handler"  # the handler's echo
            assert responses[3].body == b"/later/2" and responses[3].closes

    run(scenario())


def test_a_request_with_a_body_never_reaches_the_starter() -> None:
    starter = Starter()

    async def scenario() -> None:
        async with serving(starter=starter) as served:
            raw = await exchange(served.port, request("/now", method="POST", body=b"hello"))
            assert parse_responses(raw)[0].json()["body_length"] == 5
            assert starter.taken == []
            assert served.recorder.bodies == [b"hello"]

    run(scenario())


def test_a_declined_request_goes_to_the_handler() -> None:
    starter = Starter()

    async def scenario() -> None:
        async with serving(starter=starter) as served:
            raw = await exchange(served.port, request("/elsewhere?x=1"))
            echoed = parse_responses(raw)[0].json()
            assert (echoed["path"], echoed["query"]) == ("/elsewhere", "x=1")
            assert [r.path for r in starter.taken] == ["/elsewhere"]

    run(scenario())


def test_a_streamed_reply_is_sent_chunked_and_the_connection_goes_on() -> None:
    starter = Starter()

    async def scenario() -> None:
        async with serving(starter=starter) as served:
            reader, writer = await connect(served.port)
            writer.write(request("/stream"))
            response = await read_response(reader)
            assert response.headers["transfer-encoding"] == "chunked"
            assert response.body == b"abc"
            writer.write(request("/now"))
            assert (await read_response(reader)).body == b"now"
            writer.close()

    run(scenario())


def test_a_client_that_resets_before_the_reply_cancels_the_started_request() -> None:
    starter = Starter()

    async def scenario() -> None:
        async with serving(starter=starter) as served:
            _, writer = await connect(served.port)
            writer.write(request("/held"))
            await wait_until(lambda: len(starter.held) == 1)
            assert served.server.stats().requests_in_flight == 1
            # A reset (SO_LINGER 0): nobody is left to answer.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            await wait_until(lambda: starter.held[0].cancelled)
            assert served.server.stats().requests_in_flight == 0
            # A reply after that is dropped quietly.
            starter.held[0].reply(text(200, "too late"))
            assert served.server.stats().open_connections == 0

    run(scenario())


def test_a_starter_that_raises_is_answered_500_and_the_connection_closes() -> None:
    async def scenario() -> None:
        async with serving(starter=Starter()) as served:
            raw = await exchange(served.port, request("/raise") + request("/now"))
            responses = parse_responses(raw)
            assert len(responses) == 1
            assert responses[0].status == 500 and responses[0].closes
            assert responses[0].json() == {"statusCode": 500, "message": "Internal server error."}

    run(scenario())


def test_a_reply_that_cannot_be_written_becomes_a_500() -> None:
    async def scenario() -> None:
        async with serving(starter=Starter()) as served:
            raw = await exchange(served.port, request("/bad"))
            response = parse_responses(raw)[0]
            assert response.status == 500 and response.closes
            assert b"a\r\nb" not in raw

    run(scenario())


def test_a_reply_to_head_carries_no_body() -> None:
    async def scenario() -> None:
        async with serving(starter=Starter()) as served:
            raw = await exchange(
                served.port, request("/now", method="HEAD", headers=[("Connection", "close")])
            )
            (response,) = parse_responses(raw, head_request=True)
            assert response.status == 200 and response.body == b""
            assert raw.endswith(b"\r\n\r\n")

    run(scenario())


def test_a_slow_reader_of_a_large_reply_is_dropped_at_the_write_deadline() -> None:
    big = b"x" * (8 * 1024 * 1024)

    def starter(request: Request, reply: Reply) -> Started | None:
        reply(Response(200, [], Body(data=big)))
        return Pending(request, reply)

    async def scenario() -> None:
        limits = TEST_LIMITS.__class__(**{**TEST_LIMITS.__dict__, "write_timeout": 0.5})
        async with serving(starter=starter, limits=limits) as served:
            reader, writer = await connect(served.port)
            writer.write(request("/big"))
            # Never read: the server must give up on the write within its deadline.
            await wait_until(lambda: served.server.stats().open_connections == 0, within=10)
            assert served.server.stats().requests_in_flight == 0
            received = await read_until_closed(reader)
            assert len(received) < len(big)
            writer.close()

    run(scenario())


def test_a_coroutine_from_the_starter_runs_as_the_request_task() -> None:
    starter = Starter()

    async def scenario() -> None:
        async with serving(starter=starter) as served:
            reader, writer = await connect(served.port)
            writer.write(request("/coroutine") + request("/now"))
            first = await read_response(reader)
            assert (first.status, first.body) == (201, b"made in a task")
            assert not first.closes
            assert (await read_response(reader)).body == b"now"
            writer.close()
            assert served.recorder.requests == []

    run(scenario())


def test_a_coroutine_that_raises_is_answered_500_and_closes() -> None:
    async def scenario() -> None:
        async with serving(starter=Starter()) as served:
            raw = await exchange(served.port, request("/coroutine-fails"))
            response = parse_responses(raw)[0]
            assert response.status == 500 and response.closes

    run(scenario())
