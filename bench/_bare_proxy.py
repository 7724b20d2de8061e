"""The floor under the gateway's data plane: an HTTP/1.1 reverse proxy on the same event loop
(uvloop) and parser (llhttp through httptools) as the gateway, with nothing else. No
validation, routing, limits, deadlines or metrics; one backend connection per client
connection; Content-Length framing only. Fit for bench/ceiling.py's fixed GET traffic and
nothing more: it shows what the loop and the parser cost, so that the rest is the gateway's.

    python bench/_bare_proxy.py PORT BACKEND_PORT
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import uvloop

LOOPBACK = "127.0.0.1"
# Response fields the proxy writes itself.
_OWN = frozenset((b"connection", b"content-length", b"keep-alive", b"transfer-encoding"))


class Backend(asyncio.Protocol):
    def __init__(self, client: Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[bytes] = []
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in _OWN:
            self.headers += (name, b": ", value, b"\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.body)
        status = self.parser.get_status_code()
        head = b"HTTP/1.1 %d OK\r\n%bcontent-length: %d\r\n\r\n" % (
            status,
            b"".join(self.headers),
            len(body),
        )
        self.headers, self.body = [], []
        self.client.send(head + body)


class Client(asyncio.Protocol):
    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.backend: Backend | None = None
        self.waiting: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        asyncio.get_running_loop().create_task(self.connect())

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, backend = await loop.create_connection(
            lambda: Backend(self), LOOPBACK, self.backend_port
        )
        self.backend = backend
        for data in self.waiting:
            self.forward(data)
        self.waiting.clear()

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers += (name, b": ", value, b"\r\n")

    def on_message_complete(self) -> None:
        head = b"%b %b HTTP/1.1\r\n%bx-forwarded-for: 127.0.0.1\r\n\r\n" % (
            self.parser.get_method(),
            self.url,
            b"".join(self.headers),
        )
        self.url, self.headers = b"", []
        if self.backend is None:
            self.waiting.append(head)
        else:
            self.forward(head)

    def forward(self, data: bytes) -> None:
        assert self.backend is not None and self.backend.transport is not None
        self.backend.transport.write(data)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(port: int, backend_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(backend_port), LOOPBACK, port, backlog=4096)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))
