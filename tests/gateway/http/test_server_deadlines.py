"""Deadlines and caps (security-and-faults.md §C.5 case 13): slowloris, slow bodies, idle
keep-alive connections, slow readers and connection floods are closed while other clients
are served. Deadlines here are short; timings are only checked as upper bounds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import cast

from tests.gateway.http.server_support import (
    connect,
    exchange,
    only_response,
    read_response,
    read_until_closed,
    request,
    run,
    serving,
    wait_until,
)
from tollhouse.gateway.http import (
    Body,
    GatewayServer,
    Request,
    RequestTimeout,
    Response,
    ServerLimits,
)

SHORT = ServerLimits(
    header_timeout=0.5,
    body_timeout=0.5,
    keepalive_timeout=0.5,
    write_timeout=0.5,
    linger_timeout=0.5,
    shutdown_grace=1.0,
)


def test_slowloris_is_cut_at_the_header_deadline_while_others_are_served() -> None:
    async def scenario() -> None:
        async with serving(limits=SHORT) as served:
            reader, writer = await connect(served.port)
            answer = asyncio.ensure_future(read_until_closed(reader))
            started = time.monotonic()
            writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            # One header byte every 0.1 s: each keeps the socket busy, none ends the head.
            while not answer.done() and time.monotonic() - started < 5:
                try:
                    writer.write(b"z")
                    await writer.drain()
                except (ConnectionResetError, BrokenPipeError):
                    break
                other = only_response(
                    await exchange(served.port, request("/", headers=[("Connection", "close")]))
                )
                assert other.status == 200
                await asyncio.sleep(0.1)
            response = only_response(await answer)
            assert response.status == 408 and response.closes
            assert time.monotonic() - started < 4
            writer.close()
            assert "/" in served.recorder.paths and len(served.recorder.requests) >= 1

    run(scenario())


def test_a_connection_that_sends_nothing_is_closed_without_an_answer() -> None:
    async def scenario() -> None:
        async with serving(limits=SHORT) as served:
            reader, writer = await connect(served.port)
            assert await read_until_closed(reader, within=5) == b""
            writer.close()

    run(scenario())


def test_a_slow_body_is_cut_at_the_body_deadline() -> None:
    async def scenario() -> None:
        async with serving(limits=SHORT) as served:
            reader, writer = await connect(served.port)
            writer.write(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nten bytes.")
            response = only_response(await read_until_closed(reader, within=5))
            assert response.status == 408 and response.closes
            assert isinstance(served.recorder.bodies[0], RequestTimeout)
            writer.close()

    run(scenario())


def test_idle_keep_alive_connections_are_closed_at_the_idle_deadline() -> None:
    async def scenario() -> None:
        limits = ServerLimits(keepalive_timeout=0.5, header_timeout=5.0, linger_timeout=0.5)
        async with serving(limits=limits) as served:
            clients = [await connect(served.port) for _ in range(200)]
            for _reader, writer in clients:
                writer.write(request("/"))
            for reader, _ in clients:
                assert (await read_response(reader)).status == 200
            assert served.server.stats().open_connections == 200
            # Every idle connection is closed by the server, none by the client.
            leftovers = await asyncio.gather(
                *(read_until_closed(reader, within=5) for reader, _ in clients)
            )
            assert leftovers == [b""] * 200
            for _, writer in clients:
                writer.close()
            await wait_until(lambda: served.server.stats().open_connections == 0)

    run(scenario())


def test_connections_beyond_the_cap_get_503_and_are_closed() -> None:
    async def scenario() -> None:
        limits = ServerLimits(max_connections=5, linger_timeout=0.5)
        async with serving(limits=limits) as served:
            clients = [await connect(served.port) for _ in range(5)]
            for reader, writer in clients:
                writer.write(request("/"))
                assert (await read_response(reader)).status == 200
            refused = only_response(await exchange(served.port, request("/")))
            assert refused.status == 503 and refused.closes
            assert set(refused.json()) == {"statusCode", "message"}
            stats = served.server.stats()
            assert (stats.open_connections, stats.connections_refused) == (5, 1)
            # A freed slot is usable again.
            clients[0][1].close()
            await wait_until(lambda: served.server.stats().open_connections < 5)
            again = only_response(
                await exchange(served.port, request("/", headers=[("Connection", "close")]))
            )
            assert again.status == 200
            for _, writer in clients:
                writer.close()

    run(scenario())


def test_connections_from_one_client_beyond_its_cap_get_503() -> None:
    async def scenario() -> None:
        limits = ServerLimits(max_connections_per_client=2, linger_timeout=0.5)
        async with serving(limits=limits) as served:
            clients = [await connect(served.port) for _ in range(2)]
            for reader, writer in clients:
                writer.write(request("/"))
                assert (await read_response(reader)).status == 200
            assert only_response(await exchange(served.port, request("/"))).status == 503
            for _, writer in clients:
                writer.close()

    run(scenario())


def test_a_client_that_stops_reading_is_dropped_at_the_write_deadline() -> None:
    async def huge(req: Request) -> Response:
        async def pieces() -> AsyncIterator[bytes]:
            for _ in range(256):
                yield b"x" * 65536

        return Response(200, [], Body(pieces()))

    async def scenario() -> None:
        server = GatewayServer(huge, SHORT)
        _, port = await server.start("127.0.0.1", 0)
        _reader, writer = await connect(port)
        # uvloop transports do not subclass asyncio.ReadTransport.
        cast(
            asyncio.ReadTransport, writer.transport
        ).pause_reading()  # never read the 16 MiB answer
        writer.write(request("/"))
        await wait_until(lambda: server.stats().requests_handled == 1)
        await wait_until(lambda: server.stats().open_connections == 0)
        writer.close()
        await server.shutdown(grace=1.0)

    run(scenario())
