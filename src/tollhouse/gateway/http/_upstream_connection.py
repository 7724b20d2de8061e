"""One HTTP/1.1 client connection to a backend: an asyncio Protocol around llhttp.

The connection carries one exchange at a time (no pipelining). Its rules:

- a fresh `HttpResponseParser` per exchange; llhttp rejects CL+TE, duplicate or malformed
  Content-Length, bad chunk sizes and footers, bare LF and obs-fold (RFC 9112 §6.3, §7.1,
  §5.2); on top of it a `Transfer-Encoding` other than exactly `chunked` is refused (RFC 9112
  §6.3 lets a response be read to close then, but the coding would reach the client unnoticed),
  as are status codes outside 100–599, `101` (the gateway never asks to upgrade) and any header
  block or trailer section over the size limit;
- any framing error fails the exchange with `UpstreamProtocolError` and aborts the connection:
  a connection whose framing is in doubt is never reused;
- interim 1xx responses are skipped; a response to HEAD, and 204 and 304, have no body;
- a response without Content-Length or chunking is read until the backend closes;
- bytes that arrive when no response is expected (after a complete response, or while the
  connection is idle) make the connection unusable;
- the connection is reusable when the response was complete, both sides allowed keep-alive
  (RFC 9112 §9.3) and the request body was sent whole.

Flow control both ways: reading pauses while `RESPONSE_BUFFER_HIGH_WATER` bytes of body wait
for the consumer, and the request body sender waits while the transport's write buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httptools

from tollhouse.gateway.http._errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamTimeout,
)
from tollhouse.gateway.http._forwarding import (
    HOP_BY_HOP,
    connection_options,
    strip_response_hop_by_hop,
)
from tollhouse.gateway.http._messages import Body, Headers

# uvicorn's flow-control HIGH_WATER_LIMIT: enough to keep the socket busy, small enough that a
# slow client never makes the gateway hold a backend's whole response.
RESPONSE_BUFFER_HIGH_WATER = 64 * 1024

_LAST_CHUNK = b"0\r\n\r\n"
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")
# The response fields looked at before the head is handed on: the framing, and the hop-by-hop
# ones (which go, with those `Connection` names).
_FRAMING_OR_HOP = HOP_BY_HOP | {b"content-length"}
_NO_OPTIONS: frozenset[bytes] = frozenset()


class StaleConnection(UpstreamProtocolError):
    """A reused connection closed by the backend before any byte of the response: the request
    may never have been read, so the pool may replay it once on a fresh connection."""


class _State(enum.Enum):
    IDLE = "idle"  # in the pool, or not yet used
    ACTIVE = "active"  # an exchange is in progress
    CLOSED = "closed"


class _Framing(enum.Enum):
    NONE = "none"  # HEAD, 204, 304: no body
    LENGTH = "length"
    CHUNKED = "chunked"
    EOF = "eof"  # read until the backend closes (RFC 9112 §6.3 item 8)


class UpstreamConnection(asyncio.Protocol):
    """A client connection to one origin. The pool drives it; nothing else should."""

    def __init__(
        self,
        *,
        on_close: Callable[[UpstreamConnection], None],
        max_head_size: int,
        max_headers: int,
        body_timeout: float,
    ) -> None:
        self._on_close = on_close
        self._max_head_size = max_head_size
        self._max_headers = max_headers
        self._body_timeout = body_timeout
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._state = _State.IDLE
        self._write_paused = False
        self._write_waiter: asyncio.Future[None] | None = None
        # When it went back to the pool (the loop's clock); the pool closes it after its idle
        # timeout.
        self.idle_since = 0.0
        self.exchanges = 0
        # Whether llhttp read the last response to its end, so that the same parser can read
        # the next one (a response to HEAD, an interrupted one, and so on get a new parser).
        self._parser_clean = False
        self._error: UpstreamError | None = None
        self._new_exchange(b"GET")
        self._complete = True

    # -- the pool's side ----------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return (
            self._state is _State.IDLE
            and self._transport is not None
            and not self._transport.is_closing()
        )

    @property
    def closed(self) -> bool:
        return self._state is _State.CLOSED

    def idle(self, now: float) -> None:
        """Back in the pool, unused since `now`."""
        self._state = _State.IDLE
        self.idle_since = now

    def close(self) -> None:
        """Close now, discarding anything in flight; the pool hears of it once."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._transport is not None:
            self._transport.abort()
        if not self._complete and self._error is None:
            # Closed from outside (the pool closing, the exchange abandoned): whoever waits
            # for this response hears it now, not at its deadline.
            error = UpstreamConnectError("the backend connection was closed")
            self._error = error
            if not self._head.done():
                self._head.set_exception(error)
                self._head.exception()  # retrieved: the waiter may be gone
            self._wake_reader()
        self._wake_writer()
        self._on_close(self)

    # -- one exchange -------------------------------------------------------------------------

    def _new_exchange(self, method: bytes) -> None:
        if not self._parser_clean:
            self._parser = httptools.HttpResponseParser(self)
        self._parser_clean = False
        self._head_only = method == b"HEAD"
        self._head: asyncio.Future[tuple[int, Headers]] = self._loop.create_future()
        self._headers: Headers = []
        self._head_bytes = 0
        self._stalled_bytes = 0
        self._progress = False
        self._in_head = True
        self._interim = False
        self._framing = _Framing.NONE
        self._keep_alive = False
        self._complete = False
        self._reusable = True
        self._received = False
        self._error = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._read_paused = False
        self._body_waiter: asyncio.Future[None] | None = None
        self._sender: asyncio.Task[None] | None = None

    def begin(self, method: bytes) -> asyncio.Future[tuple[int, Headers]]:
        """Start an exchange; the future gives the final response's status and headers."""
        assert self._state is _State.IDLE
        self._state = _State.ACTIVE
        self.exchanges += 1
        self._new_exchange(method)
        return self._head

    def write(self, data: bytes | bytearray) -> None:
        if self._state is not _State.ACTIVE or self._transport is None:
            raise self._error or UpstreamProtocolError("backend connection closed")
        self._transport.write(data)

    async def send_body(self, body: AsyncIterator[bytes], length: int | None) -> None:
        """Stream a request body after its head: chunked when `length` is None, else exactly
        `length` bytes (RFC 9112 §6.2, §7.1)."""
        sent = 0
        async for chunk in body:
            if not chunk:
                continue
            if length is None:
                self.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                sent += len(chunk)
                if sent > length:
                    raise UpstreamRequestError("request body longer than its Content-Length")
                self.write(chunk)
            await self._drain()
        if length is None:
            self.write(_LAST_CHUNK)
        elif sent != length:
            raise UpstreamRequestError("request body shorter than its Content-Length")

    def attach_sender(self, sender: asyncio.Task[None]) -> None:
        """The task still sending the request body after the response head arrived."""
        self._sender = sender
        sender.add_done_callback(self._sender_done)

    def _sender_done(self, sender: asyncio.Task[None]) -> None:
        if sender.cancelled() or sender.exception() is not None:
            # A request half sent cannot be finished: the backend must not see a truncated
            # message as a complete one, so the connection goes, and with it the response.
            self._reusable = False
            if not self._complete:
                self._fail(UpstreamProtocolError("request body failed while streaming"))

    @property
    def complete(self) -> bool:
        """The whole response has arrived."""
        return self._complete

    def take_body(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return data

    def finish(self) -> bool:
        """End the exchange; whether the connection may serve another one."""
        sender = self._sender
        if sender is not None:
            if not sender.done():
                sender.cancel()  # the backend answered before taking the whole body
                self._reusable = False
            elif sender.cancelled() or sender.exception() is not None:
                self._reusable = False
        ok = self._state is _State.ACTIVE and self._complete and self._keep_alive and self._reusable
        if self._read_paused and self._transport is not None and ok:
            self._transport.resume_reading()
            self._read_paused = False
        return ok

    async def read_body(self) -> bytes:
        """The next part of the response body; b"" at its end."""
        while True:
            if self._chunks:
                data = self.take_body()
                if self._read_paused and self._transport is not None:
                    self._read_paused = False
                    self._transport.resume_reading()
                return data
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            waiter = self._loop.create_future()
            self._body_waiter = waiter
            timer = self._loop.call_later(self._body_timeout, _expire, waiter)
            try:
                await waiter
            except TimeoutError:
                error = UpstreamTimeout("backend response body stalled")
                self._fail(error)
                raise error from None
            finally:
                timer.cancel()
                self._body_waiter = None

    async def _drain(self) -> None:
        while self._write_paused and self._state is _State.ACTIVE:
            waiter = self._loop.create_future()
            self._write_waiter = waiter
            timer = self._loop.call_later(self._body_timeout, _expire, waiter)
            try:
                await waiter
            except TimeoutError:
                error = UpstreamTimeout("backend stopped reading the request body")
                self._fail(error)
                raise error from None
            finally:
                timer.cancel()
                self._write_waiter = None
        if self._state is not _State.ACTIVE:
            raise self._error or UpstreamProtocolError("backend connection closed")

    def _wake_reader(self) -> None:
        waiter = self._body_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writer(self) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        """The exchange cannot go on: tell whoever waits, and discard the connection."""
        if not self._complete and self._error is None:
            self._error = error
            if not self._head.done():
                self._head.set_exception(error)
                # Retrieved by the pool, or not at all when it gave up first; never log it.
                self._head.exception()
        self._wake_reader()
        self.close()

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self._transport = cast(asyncio.Transport, transport)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    def data_received(self, data: bytes) -> None:
        if self._state is not _State.ACTIVE or self._complete:
            # Nothing was asked: a backend talking out of turn cannot be trusted with the
            # next request.
            self._reusable = False
            self.close()
            return
        self._received = True
        self._progress = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamProtocolError("backend switched protocols"))
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, UpstreamError):
                self._fail(cause)
            else:
                self._fail(UpstreamProtocolError("malformed response from backend"))
            return
        if self._progress:
            self._stalled_bytes = 0
        else:
            # Bytes that complete no header and carry no body: a header or trailer line, or
            # a chunk-size line, still growing inside the parser. Bound them.
            self._stalled_bytes += len(data)
            if self._stalled_bytes > self._max_head_size:
                self._fail(UpstreamProtocolError("response header section too large"))

    def eof_received(self) -> bool | None:
        self._end_of_stream()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_of_stream()
        self._transport = None
        self.close()

    def _end_of_stream(self) -> None:
        if self._state is not _State.ACTIVE or self._complete:
            self.close()
            return
        if self._head.done() and self._framing is _Framing.EOF:
            self._keep_alive = False
            self._complete = True
            self._wake_reader()
            self.close()
        elif not self._received and self.exchanges > 1:
            self._fail(StaleConnection("backend closed the connection before responding"))
        elif not self._head.done():
            self._fail(UpstreamProtocolError("backend closed the connection before responding"))
        else:
            self._fail(UpstreamProtocolError("backend closed the connection mid-response"))

    # -- llhttp callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            self._reusable = False
        self._headers = []
        self._head_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self._max_head_size:
            raise UpstreamProtocolError("response header section too large")
        if not self._in_head:
            return  # a trailer field: nowhere to forward it (Response has no trailers)
        if len(self._headers) >= self._max_headers:
            raise UpstreamProtocolError("too many response header fields")
        # Values are checked for CR, LF and NUL together, once the head is complete.
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._progress = True
        if self._complete:
            return
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                raise UpstreamProtocolError("backend switched protocols")
            self._interim = True  # 100 Continue, 103 Early Hints: wait for the final one
            return
        if status > 599:
            raise UpstreamProtocolError("response status code out of range")
        headers = self._headers
        if _FORBIDDEN_IN_VALUE.search(b"\t".join([value for _, value in headers])):
            raise UpstreamProtocolError("response header value holds CR, LF or NUL")
        # One pass for the fields that frame the message or concern this hop only.
        hop = False
        length = False
        codings: list[bytes] = []
        for name, value in headers:
            if name in _FRAMING_OR_HOP:
                if name == b"content-length":
                    length = True
                else:
                    hop = True
                    if name == b"transfer-encoding":
                        codings.append(value)
        options = connection_options(headers) if hop else _NO_OPTIONS
        version = self._parser.get_http_version()
        # RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        self._keep_alive = (version == "1.1" and b"close" not in options) or (
            version == "1.0" and b"keep-alive" in options and b"close" not in options
        )
        if self._head_only or status in (204, 304):
            self._framing = _Framing.NONE
        elif codings:
            if len(codings) != 1 or codings[0].strip(b" \t").lower() != b"chunked":
                raise UpstreamProtocolError("unsupported response transfer coding")
            self._framing = _Framing.CHUNKED
        elif length:
            self._framing = _Framing.LENGTH
        else:
            self._framing = _Framing.EOF
            self._keep_alive = False
        self._in_head = False
        self._head_bytes = 0
        if hop:
            headers = strip_response_hop_by_hop(headers, options)
        self._head.set_result((status, headers))
        if self._framing is _Framing.NONE:
            # llhttp cannot be told a response to HEAD has no body; any byte it would take
            # for one is out of turn, and `on_body` marks the connection unusable.
            self._complete = True

    def on_body(self, data: bytes) -> None:
        self._progress = True
        if self._complete:
            self._reusable = False
            return
        self._chunks.append(data)
        self._buffered += len(data)
        transport = self._transport
        if self._buffered >= RESPONSE_BUFFER_HIGH_WATER and not self._read_paused and transport:
            self._read_paused = True
            transport.pause_reading()
        self._wake_reader()

    def on_message_complete(self) -> None:
        self._progress = True
        if self._interim:
            self._interim = False
            return
        if self._complete:
            return
        self._keep_alive = self._keep_alive and self._parser.should_keep_alive()
        self._complete = True
        # llhttp framed this message itself, to its last byte: it is ready for the next one.
        self._parser_clean = self._framing in (_Framing.LENGTH, _Framing.CHUNKED)
        self._wake_reader()


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class ResponseBody:
    """A backend response body as an async iterator; ending it hands the connection back."""

    def __init__(
        self,
        connection: UpstreamConnection,
        release: Callable[[UpstreamConnection, bool], None],
    ) -> None:
        self._connection: UpstreamConnection | None = connection
        self._release = release

    def __aiter__(self) -> ResponseBody:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        if connection is None:
            raise StopAsyncIteration
        try:
            data = await connection.read_body()
        except BaseException:
            # An error, or the consumer cancelled mid-body: the rest can never be read.
            self._end(reusable=False)
            raise
        if not data:
            self._end(reusable=True)
            raise StopAsyncIteration
        return data

    async def aclose(self) -> None:
        """Stop reading; an unread remainder costs the connection."""
        self._end(reusable=False)

    def _end(self, *, reusable: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._release(connection, reusable and connection.finish())

    def __del__(self) -> None:
        # Abandoned without reaching the end (the consumer dropped the body): the connection
        # still holds the unread remainder, so it is closed, not pooled.
        connection = self._connection
        if connection is not None:
            self._connection = None
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                connection.close()


def body_of(
    connection: UpstreamConnection, release: Callable[[UpstreamConnection, bool], None]
) -> Body:
    """The response body: in memory when it has all arrived already (the connection goes back
    at once), else streamed from the connection."""
    if connection.complete:
        data = connection.take_body()
        release(connection, connection.finish())
        return Body(data=data)
    return Body(ResponseBody(connection, release))
