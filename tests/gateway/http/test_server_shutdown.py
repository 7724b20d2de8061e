"""Graceful shutdown (security-and-faults.md §C.5 case 35): stop accepting, close idle
keep-alive connections at once, let requests in flight finish within the grace period, then
cancel what is left."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.gateway.http.server_support import (
    connect,
    parse_responses,
    read_response,
    read_until_closed,
    request,
    run,
    wait_until,
)
from tollhouse.gateway.http import (
    Body,
    GatewayServer,
    Request,
    Response,
    ServerLimits,
    ServerState,
)

LIMITS = ServerLimits(linger_timeout=0.5, header_timeout=5.0, keepalive_timeout=30.0)


def test_shutdown_under_load_loses_no_request_in_flight() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def slow(req: Request) -> Response:
            body = await req.body.read()
            await release.wait()
            return Response(200, [], Body(data=req.path.encode() + b":" + body))

        server = GatewayServer(slow, LIMITS)
        _, port = await server.start("127.0.0.1", 0)

        idle = [await connect(port) for _ in range(5)]
        for _reader, writer in idle:
            writer.write(request("/warm", method="POST", body=b"w"))
        release.set()
        for reader, _ in idle:
            assert (await read_response(reader)).status == 200
        release.clear()

        busy = [await connect(port) for _ in range(30)]
        for index, (_, writer) in enumerate(busy):
            writer.write(request(f"/r{index}", method="POST", body=b"b%d" % index))
        await wait_until(lambda: server.stats().requests_in_flight == 30)

        stopping = asyncio.ensure_future(server.shutdown(grace=10.0))
        await wait_until(lambda: server.state is ServerState.STOPPING)
        # Idle keep-alive connections are closed at once...
        closed = await asyncio.gather(*(read_until_closed(r, within=3) for r, _ in idle))
        assert closed == [b""] * 5
        # ...no new connection is accepted...
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        # ...and every request in flight is answered, with the connection then closed.
        release.set()
        for index, (reader, _) in enumerate(busy):
            responses = parse_responses(await read_until_closed(reader))
            assert len(responses) == 1 and responses[0].status == 200
            assert responses[0].body == b"/r%d:b%d" % (index, index)
            assert responses[0].closes
        await asyncio.wait_for(stopping, 5)
        assert server.state is ServerState.STOPPED
        assert server.stats().open_connections == 0
        for _, writer in idle + busy:
            writer.close()

    run(scenario())


def test_a_request_whose_head_is_arriving_at_shutdown_is_still_served() -> None:
    async def scenario() -> None:
        async def echo(req: Request) -> Response:
            return Response(200, [], Body(data=req.path.encode()))

        server = GatewayServer(echo, LIMITS)
        _, port = await server.start("127.0.0.1", 0)
        reader, writer = await connect(port)
        writer.write(b"GET /late HTTP/1.1\r\nHo")
        await writer.drain()
        await asyncio.sleep(0.1)
        stopping = asyncio.ensure_future(server.shutdown(grace=5.0))
        await asyncio.sleep(0.1)
        writer.write(b"st: a\r\n\r\n")
        responses = parse_responses(await read_until_closed(reader))
        assert [(r.status, r.body, r.closes) for r in responses] == [(200, b"/late", True)]
        await asyncio.wait_for(stopping, 5)
        writer.close()

    run(scenario())


def test_requests_still_running_after_the_grace_period_are_cancelled() -> None:
    async def scenario() -> None:
        cancelled = asyncio.Event()

        async def stuck(req: Request) -> Response:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return Response(200)

        server = GatewayServer(stuck, LIMITS)
        _, port = await server.start("127.0.0.1", 0)
        reader, writer = await connect(port)
        writer.write(request("/stuck"))
        await wait_until(lambda: server.stats().requests_in_flight == 1)
        started = time.monotonic()
        await server.shutdown(grace=0.3)
        assert time.monotonic() - started < 5
        assert cancelled.is_set()
        assert await read_until_closed(reader, within=3) == b""
        assert server.stats().requests_in_flight == 0
        writer.close()

    run(scenario())


def test_shutdown_twice_and_start_after_shutdown() -> None:
    async def scenario() -> None:
        async def ok(req: Request) -> Response:
            return Response(200)

        server = GatewayServer(ok, LIMITS)
        await server.start("127.0.0.1", 0)
        await asyncio.gather(server.shutdown(grace=0.5), server.shutdown(grace=0.5))
        assert server.state is ServerState.STOPPED
        with pytest.raises(RuntimeError):
            await server.start("127.0.0.1", 0)

    run(scenario())
