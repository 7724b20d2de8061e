"""Scripted backends for the upstream pool's tests: raw `asyncio.start_server` on 127.0.0.1
that read requests with a small parser of their own and write exactly the bytes a test gives,
so every framing case is under the test's control. Plus a runner for both event loops."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import uvloop

from tollhouse.gateway.http import Body, UpstreamPool, UpstreamRequest

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, T]], T]

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Runner[Any]:
    """Runs a scenario to completion on the stdlib loop and on uvloop (the gateway's loop)."""
    factory = LOOPS[request.param]

    def runner(scenario: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=factory) as loop_runner:
            return loop_runner.run(asyncio.wait_for(scenario, 20))

    return runner


@dataclass
class Received:
    """A request as the backend read it off the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    chunked: bool
    head: bytes

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name]
        return values[0] if values else None

    def names(self) -> list[str]:
        return [n.lower() for n, _ in self.headers]


class BackendConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_head(self) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        assert version == "HTTP/1.1"
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        return method, target, headers, head

    async def read_request(self) -> Received | None:
        """The next request, body included; None at end of stream."""
        parsed = await self.read_head()
        if parsed is None:
            return None
        method, target, headers, head = parsed
        names = {n.lower(): v for n, v in headers}
        chunked = names.get("transfer-encoding") == "chunked"
        body = b""
        if chunked:
            async for chunk in self.chunks():
                body += chunk
        elif "content-length" in names:
            body = await self.reader.readexactly(int(names["content-length"]))
        return Received(method, target, headers, body, chunked, head)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                assert await self.reader.readuntil(b"\r\n") == b"\r\n"
                return
            data = await self.reader.readexactly(size)
            assert await self.reader.readexactly(2) == b"\r\n"
            yield data

    async def send(self, data: bytes, *, one_byte_at_a_time: bool = False) -> None:
        if not one_byte_at_a_time:
            self.writer.write(data)
            await self.writer.drain()
            return
        for i in range(len(data)):
            self.writer.write(data[i : i + 1])
            await self.writer.drain()
            await asyncio.sleep(0.0005)  # TCP_NODELAY is on: each byte is its own segment

    def close(self) -> None:
        self.writer.close()


Handler = Callable[[BackendConnection], Awaitable[None]]


@dataclass
class Backend:
    """A server on 127.0.0.1 running `handler` for each connection it accepts."""

    handler: Handler
    tls: ssl.SSLContext | None = None
    connections: int = 0
    open_connections: int = 0
    peak_connections: int = 0
    requests: list[Received] = field(default_factory=list)
    closed_by_client: int = 0
    errors: list[Exception] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def __aenter__(self) -> Backend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()  # handlers blocked on a read see the end of the stream
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.errors and exc[0] is None:
            raise self.errors[0]

    def url(self, path: str = "/", *, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        connection = BackendConnection(reader, writer)
        self._writers.append(writer)
        try:
            # The client going away ends a handler quietly (Python 3.11's start_server would
            # log a handler task's cancellation); an assertion in a handler fails the test.
            with contextlib.suppress(
                ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError
            ):
                await self.handler(connection)
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self.open_connections -= 1
            self._changed.set()
            writer.close()
            self._tasks.discard(task)

    def client_closed(self) -> None:
        self.closed_by_client += 1
        self._changed.set()

    async def wait_closed_by_client(self, count: int) -> None:
        """Until the client has closed `count` connections (the scenario's deadline applies)."""
        await self.wait_until(lambda: self.closed_by_client >= count)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._changed.clear()
            await self._changed.wait()


def serve(
    responses: Callable[[Received], bytes] | bytes,
    *,
    one_byte_at_a_time: bool = False,
    delay: float = 0.0,
) -> Callable[[Backend], Handler]:
    """A keep-alive handler answering every request with scripted bytes; it counts a client
    close (end of stream between requests) in `closed_by_client`."""

    def bind(backend: Backend) -> Handler:
        async def handler(connection: BackendConnection) -> None:
            while True:
                received = await connection.read_request()
                if received is None:
                    backend.client_closed()
                    return
                backend.requests.append(received)
                if delay:
                    await asyncio.sleep(delay)
                data = responses(received) if callable(responses) else responses
                await connection.send(data, one_byte_at_a_time=one_byte_at_a_time)

        return handler

    return bind


def backend(
    responses: Callable[[Received], bytes] | bytes,
    *,
    tls: ssl.SSLContext | None = None,
    one_byte_at_a_time: bool = False,
    delay: float = 0.0,
) -> Backend:
    instance = Backend(handler=_unbound, tls=tls)
    instance.handler = serve(responses, one_byte_at_a_time=one_byte_at_a_time, delay=delay)(
        instance
    )
    return instance


async def _unbound(connection: BackendConnection) -> None:
    raise AssertionError("handler not bound")


def ok(body: bytes = b"ok", *extra: bytes) -> bytes:
    """A keep-alive 200 with Content-Length."""
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n" % len(body)
    return head + b"".join(line + b"\r\n" for line in extra) + b"\r\n" + body


def closes_reused_connections(server: Backend) -> None:
    """Answer the first request of each connection, then close on the next without a word:
    the race of a backend closing an idle connection as the gateway reuses it."""

    async def handler(connection: BackendConnection) -> None:
        received = await connection.read_request()
        assert received is not None
        server.requests.append(received)
        await connection.send(ok())
        await connection.read_head()
        connection.close()

    server.handler = handler


async def fetch(pool: UpstreamPool, request: UpstreamRequest) -> tuple[int, bytes]:
    """The status and whole body of `request` through the pool."""
    response = await pool.request(request)
    return response.status, await response.body.read()


def get(url: str, **kwargs: Any) -> UpstreamRequest:
    return UpstreamRequest(method="GET", url=url, headers=[], body=Body.empty(), **kwargs)


async def stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
