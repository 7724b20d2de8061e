"""The messages passed between the HTTP layer and the request pipeline.

The downstream server parses a request into a `Request` (headers decoded, body a stream) and
calls the pipeline, an `async (Request) -> Response`; the upstream client sends an
`UpstreamRequest` and returns a `Response` whose body streams from the backend. Header names
are lower-case ASCII bytes; values are bytes as received (validated: no CR, LF or NUL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Headers = list[tuple[bytes, bytes]]


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class Body:
    """A request or response body: a byte stream read once, or bytes already in memory."""

    def __init__(
        self, stream: AsyncIterator[bytes] | None = None, *, data: bytes | None = None
    ) -> None:
        self._stream = stream
        self._data = data

    @classmethod
    def empty(cls) -> Body:
        return cls(data=b"")

    @property
    def buffered(self) -> bytes | None:
        """The whole body when it is in memory, else None."""
        return self._data

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, kept in memory for further reads; `limit` bounds it, whether it is
        streamed or in memory already (ValueError when exceeded)."""
        if self._data is not None and limit is not None and len(self._data) > limit:
            raise ValueError("body larger than the limit")
        if self._data is None:
            chunks, size = [], 0
            async for chunk in self._stream or _empty():
                size += len(chunk)
                if limit is not None and size > limit:
                    raise ValueError("body larger than the limit")
                chunks.append(chunk)
            self._data = b"".join(chunks)
            self._stream = None
        return self._data

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk, streamed when it is not in memory."""
        if self._data is not None:
            if self._data:
                yield self._data
            return
        stream, self._stream = self._stream, None
        if stream is None:
            return
        async for chunk in stream:
            yield chunk


@dataclass
class Request:
    method: str
    # The path after normalisation (percent-decoding of unreserved characters, dot-segments
    # removed); routing and policies see this, and it is what is forwarded.
    path: str
    # The raw query string, without the leading "?".
    query: str
    headers: Headers
    body: Body
    client_ip: str
    client_port: int
    scheme: str  # "http" or "https"
    # The Host header's value (lower-case, port removed) or the SNI name.
    host: str
    http_version: str = "1.1"
    # SNI server name of a TLS connection, if any.
    server_name: str | None = None

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (name lower-case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass
class Response:
    status: int
    headers: Headers = field(default_factory=list)
    body: Body = field(default_factory=Body.empty)


@dataclass
class UpstreamRequest:
    method: str
    # Absolute URL of the backend: scheme, host, port, path and query.
    url: str
    headers: Headers
    body: Body
    # Seconds to wait for the response head (APIM forward-request `timeout`).
    timeout: float = 300.0
    # Whether to verify the backend's TLS certificate chain and name.
    verify_tls: bool = True
    # Extra trusted CA certificates (PEM) for this request's backend.
    ca_certificates: Sequence[bytes] = ()


Handler = Callable[[Request], Awaitable[Response]]

Reply = Callable[[Response], None]


class Started(Protocol):
    """A request a `Starter` took: `cancel` abandons it (the client went away); its reply
    may then never come."""

    def cancel(self) -> object: ...


Starter = Callable[[Request, Reply], "Started | Coroutine[Any, Any, Response] | None"]
"""The callback way to answer a request without a body. A starter takes the request and either
arranges for `reply` to be called once, from the event loop or at once inside the call,
returning a `Started`; or returns a coroutine that makes the response, which the server runs
as the request's task (as it runs the `Handler`'s); or returns None, and the server awaits the
`Handler`. No task is made for a request answered through `reply`, which is what makes this
the gateway's fast path."""
