"""Helpers for the downstream server's tests: a runner on uvloop (the gateway's loop), a
server on 127.0.0.1 with a recording echo handler, raw socket clients that send exactly the
bytes a test gives, and a small response parser of their own (never the server's code)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvloop

from tollhouse.gateway.http import (
    Body,
    DownstreamError,
    GatewayServer,
    Handler,
    Request,
    Response,
    ServerLimits,
    Starter,
)

T = TypeVar("T")

# Short deadlines keep the suite quick; assertions on time are only upper bounds that catch
# a hang, never exact timings.
TEST_LIMITS = ServerLimits(
    header_timeout=5.0,
    body_timeout=5.0,
    keepalive_timeout=5.0,
    write_timeout=5.0,
    linger_timeout=1.0,
    shutdown_grace=2.0,
)
# Longest a test waits for the server to answer or close before calling it a hang.
HANG = 10.0


def run(scenario: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(asyncio.wait_for(scenario, timeout))


@dataclass
class Recorder:
    """An echo handler that remembers each request and what reading its body gave."""

    requests: list[Request] = field(default_factory=list)
    bodies: list[bytes | BaseException] = field(default_factory=list)

    async def echo(self, request: Request) -> Response:
        self.requests.append(request)
        try:
            body = await request.body.read()
        except DownstreamError as error:
            self.bodies.append(error)
            raise
        self.bodies.append(body)
        description = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "host": request.host,
            "scheme": request.scheme,
            "server_name": request.server_name,
            "http_version": request.http_version,
            "client_ip": request.client_ip,
            "client_port": request.client_port,
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.headers],
            "body_length": len(body),
        }
        return Response(
            200,
            [(b"content-type", b"application/json")],
            Body(data=json.dumps(description).encode()),
        )

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


@dataclass
class Served:
    server: GatewayServer
    host: str
    port: int
    recorder: Recorder


@asynccontextmanager
async def serving(
    handler: Handler | None = None,
    limits: ServerLimits = TEST_LIMITS,
    ssl_context: ssl.SSLContext | None = None,
    starter: Starter | None = None,
) -> AsyncIterator[Served]:
    recorder = Recorder()
    server = GatewayServer(handler or recorder.echo, limits, starter=starter)
    host, port = await server.start("127.0.0.1", 0, ssl_context)
    try:
        yield Served(server, host, port, recorder)
    finally:
        await server.shutdown(grace=1.0)


async def connect(
    port: int, ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl_context, server_hostname=server_hostname
    )
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def read_until_closed(reader: asyncio.StreamReader, within: float = HANG) -> bytes:
    """Everything the server sends until it closes; AssertionError if it never does."""
    chunks: list[bytes] = []

    async def read_all() -> None:
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionResetError, BrokenPipeError):
                return
            if not chunk:
                return
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read_all(), within)
    except TimeoutError:
        raise AssertionError(f"the server did not close the connection within {within} s") from None
    return b"".join(chunks)


async def exchange(port: int, data: bytes | Sequence[bytes], *, half_close: bool = False) -> bytes:
    """Send `data` (pieces sent one by one) and return all the server sends until it closes."""
    reader, writer = await connect(port)
    pieces = [data] if isinstance(data, bytes) else list(data)
    # The server may answer and close before it has read everything: what it sent is read.
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            if len(pieces) > 1:
                await asyncio.sleep(0)
        if half_close:
            writer.write_eof()
    try:
        return await read_until_closed(reader)
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader, within: float = HANG) -> ParsedResponse:
    """One response off a connection that stays open (Content-Length or chunked)."""

    async def read() -> ParsedResponse:
        head = await reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head)
        if headers.get("transfer-encoding") == "chunked":
            body = bytearray()
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            return ParsedResponse(status, headers, bytes(body), head)
        length = int(headers.get("content-length", "0"))
        return ParsedResponse(status, headers, await reader.readexactly(length), head)

    return await asyncio.wait_for(read(), within)


@dataclass
class ParsedResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    head: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll `condition` until it holds; AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        assert name == name.strip() and name, line
        assert name.lower() not in headers, f"duplicate {name}"
        headers[name.lower()] = value.strip()
    return int(status), headers


def parse_responses(raw: bytes, *, head_request: bool = False) -> list[ParsedResponse]:
    """Every complete response in `raw`, as a strict client reads them; a truncated last
    response is an error (a response delimited by the close of the connection ends there)."""
    responses: list[ParsedResponse] = []
    rest = raw
    while rest:
        end = rest.find(b"\r\n\r\n")
        assert end >= 0, f"incomplete response head: {rest[:200]!r}"
        head, rest = rest[: end + 4], rest[end + 4 :]
        status, headers = _parse_head(head)
        if status == 100:
            continue
        if head_request or status in (204, 304):
            body = b""
        elif headers.get("transfer-encoding") == "chunked":
            assert "content-length" not in headers
            chunks = bytearray()
            while True:
                line_end = rest.index(b"\r\n")
                size = int(rest[:line_end], 16)
                rest = rest[line_end + 2 :]
                if size == 0:
                    assert rest.startswith(b"\r\n"), "no end of chunked body"
                    rest = rest[2:]
                    break
                chunks += rest[:size]
                assert rest[size : size + 2] == b"\r\n"
                rest = rest[size + 2 :]
            body = bytes(chunks)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            assert len(rest) >= length, "truncated body"
            body, rest = rest[:length], rest[length:]
        else:
            body, rest = rest, b""
        responses.append(ParsedResponse(status, headers, body, head))
    return responses


def only_response(raw: bytes) -> ParsedResponse:
    responses = parse_responses(raw)
    assert len(responses) == 1, f"{len(responses)} responses: {raw[:300]!r}"
    return responses[0]


def request(
    path: str = "/",
    *,
    method: str = "GET",
    host: str = "example.com",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """A well-formed request, with Content-Length when there is a body."""
    lines = [f"{method} {path} HTTP/{version}", f"Host: {host}"]
    lines += [f"{n}: {v}" for n, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
