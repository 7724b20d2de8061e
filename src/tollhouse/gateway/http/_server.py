"""The gateway's downstream HTTP/1.1 server: an asyncio protocol per connection, and the shell
that owns the listeners (uvicorn's shape, without its framework).

A connection feeds what it receives to the sans-I/O `RequestReader` and acts on its events:
a complete head becomes a `Request` dispatched to the handler as a task, its body streamed to
the handler through a bounded buffer (reading pauses above the high-water mark and resumes
below the low one). Requests are answered in order; one that arrives while another is handled
waits, and reading pauses until its turn. One timer per connection enforces whichever deadline
applies: the header block (slowloris), the body's next piece (slow POST), keep-alive idleness,
and the lingering close. Errors are answered in APIM's shape, `{"statusCode": n, "message":
"…"}`, with `Connection: close`, and never echo what the client sent.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import logging
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, NamedTuple, cast

from tollhouse.gateway.http._framing import RequestHead, parse_content_length, valid_fields
from tollhouse.gateway.http._framing_reader import (
    BodyData,
    EndOfMessage,
    Event,
    PipelineFull,
    ReaderState,
    Rejected,
    RequestReader,
)
from tollhouse.gateway.http._limits import ServerLimits
from tollhouse.gateway.http._messages import Body, Handler, Request, Response, Started, Starter
from tollhouse.gateway.http._server_errors import (
    DownstreamError,
    IncompleteBody,
    RequestTimeout,
)

log = logging.getLogger("tollhouse.gateway.http.server")

# Response fields the server decides itself: connection management and message framing
# (RFC 9110 §7.6.1, RFC 9112 §6). Content-Length is handled apart.
_SERVER_OWNED_FIELDS = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te")
)
# The response fields `_plan` looks at rather than copies.
_PLANNED_FIELDS = _SERVER_OWNED_FIELDS | {b"content-length", b"date"}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A buffered body up to this size goes out in the same write as the head (one syscall);
# larger ones are written apart rather than copied.
_COALESCE_LIMIT = 64 * 1024
_LAST_CHUNK = b"0\r\n\r\n"
_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
_STATUS_LINES = {
    status: b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b""))
    for status in range(200, 600)
}

# The SNI name each TLS connection asked for, recorded by the context's sni_callback: a
# server-side SSLObject does not keep it (its server_hostname is None).
_SERVER_NAMES: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()

# Why reading is paused; it resumes when no reason is left.
_PAUSED_FOR_BODY = "body"
_PAUSED_FOR_PIPELINE = "pipeline"


def _error_response(status: int, message: str) -> Response:
    """An error in APIM's shape: `{"statusCode": <n>, "message": "<reason>"}`."""
    body = json.dumps({"statusCode": status, "message": message}).encode()
    return Response(status, [(b"content-type", b"application/json")], Body(data=body))


class _ConnectionGone(Exception):
    """The client went away, or stopped reading for longer than the write deadline."""


class _InvalidResponse(Exception):
    """The handler's response cannot be written as HTTP/1.1 (bad status or field)."""


class _Deadline(enum.Enum):
    HEADER = "header"
    BODY = "body"
    IDLE = "idle"
    LINGER = "linger"


class _Framing(enum.Enum):
    NONE = "none"  # no body: HEAD, 204, 304
    LENGTH = "length"  # Content-Length
    CHUNKED = "chunked"
    CLOSE = "close"  # delimited by closing the connection (HTTP/1.0 client, unknown length)


class _Plan(NamedTuple):
    head: bytes
    framing: _Framing
    length: int | None
    keep_alive: bool


class _RequestBody:
    """A request body on its way from the socket to the handler: a bounded buffer."""

    def __init__(self, connection: _Connection, exchange: _Exchange) -> None:
        self._connection = connection
        self._exchange = exchange
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._error: DownstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._discarding = False
        self.received = 0
        self.discarded = 0

    @property
    def ended(self) -> bool:
        return self._ended

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self._discarding:
            self.discarded += len(data)
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()
        if self._buffered > self._connection.limits.body_high_water:
            self._connection.pause_reading(_PAUSED_FOR_BODY)

    def end(self) -> None:
        self._ended = True
        self._wake()

    def fail(self, error: DownstreamError) -> None:
        if not self._ended and self._error is None:
            self._error = error
            self._wake()

    def discard(self) -> None:
        """The handler has answered: drop what is buffered and whatever else arrives."""
        self._discarding = True
        self.discarded += self._buffered
        self._chunks.clear()
        self._buffered = 0
        self._connection.resume_reading(_PAUSED_FOR_BODY)

    async def stream(self) -> AsyncIterator[bytes]:
        self._connection.send_continue(self._exchange)
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= self._connection.limits.body_low_water:
                    self._connection.resume_reading(_PAUSED_FOR_BODY)
                yield chunk
            elif self._error is not None:
                raise self._error
            elif self._ended:
                return
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Exchange:
    """One request and its response on a connection."""

    __slots__ = (
        "answered",
        "body",
        "close_after",
        "continue_sent",
        "error",
        "handle",
        "head",
        "keep_alive",
        "received_all",
        "replied",
        "response_started",
        "started",
        "task",
    )

    def __init__(self, head: RequestHead | None, error: DownstreamError | None = None) -> None:
        self.head = head
        # Set when the request is answered with this error instead of calling the handler.
        self.error = error
        self.body: _RequestBody | None = None
        self.started = False
        self.task: asyncio.Task[None] | None = None
        # Set while a `Starter` holds the request (no task), until its reply.
        self.handle: Started | None = None
        self.replied = False
        self.received_all = head is None
        self.continue_sent = False
        self.response_started = False
        self.answered = False
        self.close_after = error is not None
        self.keep_alive = False


class _Connection(asyncio.Protocol):
    def __init__(self, server: GatewayServer, scheme: str) -> None:
        self._server = server
        self.limits = server.limits
        self._scheme = scheme
        self._loop = asyncio.get_running_loop()
        self._reader = RequestReader(self.limits)
        self._transport: asyncio.Transport | None = None
        self._exchanges: deque[_Exchange] = deque()
        # The exchange whose request the reader is still reading.
        self._receiving: _Exchange | None = None
        self._paused: set[str] = set()
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._close_when_done = False
        self._lingering = False
        self._closed = False
        self.counted = False
        self.client_ip = ""
        self.client_port = 0
        self._server_name: str | None = None
        now = self._loop.time()
        # The first request's header deadline runs from the connection's start.
        self._head_started: float | None = now
        self._head_bytes = False
        self._last_body_at = now
        self._idle_since = now
        self._linger_until = now
        self._deadline: tuple[_Deadline, float] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.client_ip, self.client_port = str(peer[0]), int(peer[1])
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._server_name = self._server._server_name_of(ssl_object)
        if not self._server._admit(self):
            # Over a connection cap (or shutting down): answer 503 at once and close.
            response = _error_response(503, "The gateway is at its connection limit.")
            transport.write(self._plan(None, response).head + (response.body.buffered or b""))
            self._close()
            return
        self._update_deadline()

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._reader.state is ReaderState.CLOSED:
            return
        now = self._loop.time()
        if self._head_started is None and self._reader.state is ReaderState.IDLE:
            self._head_started = now
        for event in self._reader.receive(data):
            self._on_event(event, now)
            if self._closed or self._lingering:
                return
        if self._reader.state is ReaderState.HEAD:
            self._head_bytes = True
            if self._head_started is None:
                self._head_started = now
        self._update_deadline()

    def eof_received(self) -> bool | None:
        if self._lingering:
            return None
        for event in self._reader.receive_eof():
            self._on_event(event, self._loop.time())
        self._reader.close()
        transport = self._transport
        if self._lingering or self._closed:
            return None
        if self._exchanges and transport is not None:
            # A half-closed client may still read: answer what is in progress, then close
            # (TLS has no half-close: its transport closes whatever is returned).
            self._close_when_done = True
            return True if transport.can_write_eof() else None
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._reader.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        receiving = self._receiving
        if receiving is not None and receiving.body is not None:
            receiving.body.fail(IncompleteBody())
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(_ConnectionGone())
        for exchange in self._exchanges:
            # Nobody is left to answer: stop the work done on the client's behalf (a proxy's
            # usual choice, nginx proxy_ignore_client_abort off).
            self._cancel(exchange)
        self._server._forget(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # --- reading ---------------------------------------------------------------------------

    def _on_event(self, event: Event, now: float) -> None:
        if isinstance(event, RequestHead):
            self._head_started = None
            self._head_bytes = False
            exchange = _Exchange(event)
            if event.has_body:
                exchange.body = _RequestBody(self, exchange)
                self._receiving = exchange
            else:
                # Nothing more to read for it: it may be answered before its EndOfMessage
                # event is seen, which then has nothing to act on.
                exchange.received_all = True
                self._receiving = None
            self._last_body_at = now
            self._enqueue(exchange)
        elif isinstance(event, BodyData):
            self._last_body_at = now
            receiving = self._receiving
            if receiving is not None and receiving.body is not None:
                receiving.body.feed(event.data)
                if receiving.answered and receiving.body.discarded > self.limits.max_drain_size:
                    self._close()
        elif isinstance(event, EndOfMessage):
            receiving, self._receiving = self._receiving, None
            if receiving is None:
                return
            receiving.received_all = True
            if receiving.body is not None:
                receiving.body.end()
            if receiving.answered:
                # Its body was being drained after the answer: the connection is free again.
                self._exchanges.popleft()
                self._next()
        elif isinstance(event, Rejected):
            self._close_when_done = True
            receiving = self._receiving
            if event.in_body and receiving is not None:
                self._receiving = None
                receiving.close_after = True
                if receiving.answered:
                    self._close()
                elif receiving.body is not None:
                    receiving.body.fail(event.error)
            else:
                self._enqueue(_Exchange(None, event.error))
        elif isinstance(event, PipelineFull):
            self._close_when_done = True
            if not self._exchanges:
                self._close()

    def pause_reading(self, reason: str) -> None:
        transport = self._transport
        if transport is None or self._lingering or transport.is_closing():
            return
        if not self._paused:
            transport.pause_reading()
        self._paused.add(reason)

    def resume_reading(self, reason: str) -> None:
        if reason not in self._paused:
            return
        self._paused.discard(reason)
        transport = self._transport
        if self._paused or transport is None or transport.is_closing():
            return
        transport.resume_reading()
        # The client could not send while paused: its deadlines start again.
        now = self._loop.time()
        self._last_body_at = now
        if self._head_started is not None:
            self._head_started = now
        self._update_deadline()

    # --- requests --------------------------------------------------------------------------

    def _enqueue(self, exchange: _Exchange) -> None:
        self._exchanges.append(exchange)
        if len(self._exchanges) == 1:
            self._start(exchange)
        else:
            self.pause_reading(_PAUSED_FOR_PIPELINE)

    def _start(self, exchange: _Exchange) -> None:
        self._server._in_flight += 1
        exchange.started = True
        if exchange.error is not None:
            exchange.task = self._loop.create_task(self._run(exchange, None))
            return
        request = self._request(exchange)
        starter = self._server.starter
        taken: Started | Coroutine[Any, Any, Response] | None = None
        if starter is not None and exchange.body is None:
            try:
                taken = starter(request, functools.partial(self._reply, exchange))
            except Exception:
                self._handler_failed(exchange)
                self._reply(exchange, _error_response(500, "Internal server error."))
                return
        pending: Awaitable[Response]
        if taken is None:
            pending = self._server.handler(request)
        elif asyncio.iscoroutine(taken):
            pending = taken
        else:
            if not exchange.replied:
                exchange.handle = taken
            return
        exchange.task = self._loop.create_task(self._run(exchange, pending))

    def _cancel(self, exchange: _Exchange) -> None:
        if exchange.task is not None and not exchange.task.done():
            exchange.task.cancel()
        handle, exchange.handle = exchange.handle, None
        if handle is not None and not exchange.replied:
            # Its reply may never come now: the request is over as far as the server counts.
            exchange.replied = True
            self._server._in_flight -= 1
            handle.cancel()

    def _reply(self, exchange: _Exchange, response: Response) -> None:
        """A `Starter`'s answer, written at once; a streamed body, or the drain when the
        client reads slowly, goes on in a task."""
        if exchange.replied:
            return
        exchange.replied = True
        exchange.handle = None
        if self._closed:
            self._count_answered()
            return
        response, plan = self._checked(exchange, response)
        try:
            complete = self._write_start(exchange, response, plan)
        except _ConnectionGone:
            exchange.close_after = True
            complete = True
        if not complete or (self._write_paused and not self._closed):
            exchange.task = self._loop.create_task(self._finish(exchange, response, plan, complete))
            return
        self._count_answered()
        self._done(exchange)

    async def _finish(
        self, exchange: _Exchange, response: Response, plan: _Plan, complete: bool
    ) -> None:
        """The rest of a `Starter`'s reply (see `_reply`)."""
        try:
            await self._send_rest(exchange, response, plan, complete)
        except _ConnectionGone:
            exchange.close_after = True
        finally:
            self._count_answered()
        self._done(exchange)

    def _count_answered(self) -> None:
        self._server._in_flight -= 1
        self._server._handled += 1

    def _next(self) -> None:
        if len(self._exchanges) <= 1:
            self.resume_reading(_PAUSED_FOR_PIPELINE)
        if self._exchanges:
            first = self._exchanges[0]
            if not first.started:
                self._start(first)
        elif self._close_when_done or self._server._stopping:
            self._close()
        else:
            self._idle_since = self._loop.time()
            self._update_deadline()

    def _request(self, exchange: _Exchange) -> Request:
        head = exchange.head
        assert head is not None
        body = Body(exchange.body.stream()) if exchange.body is not None else Body.empty()
        return Request(
            method=head.method,
            path=head.path,
            query=head.query,
            headers=head.headers,
            body=body,
            client_ip=self.client_ip,
            client_port=self.client_port,
            scheme=self._scheme,
            host=head.host or self._server_name or "",
            http_version=head.http_version,
            server_name=self._server_name,
        )

    async def _run(self, exchange: _Exchange, pending: Awaitable[Response] | None) -> None:
        """The task way: `pending` is the handler's (or a starter's) answer in the making;
        None for a request refused before any handler (`exchange.error`)."""
        try:
            response, plan = self._checked(exchange, await self._respond(exchange, pending))
            complete = self._write_start(exchange, response, plan)
            await self._send_rest(exchange, response, plan, complete)
        except _ConnectionGone:
            exchange.close_after = True
        finally:
            self._count_answered()
        self._done(exchange)

    async def _respond(self, exchange: _Exchange, pending: Awaitable[Response] | None) -> object:
        if exchange.error is not None or pending is None:
            error = exchange.error
            assert error is not None
            return _error_response(error.status, error.message)
        try:
            return await pending
        except DownstreamError as error:
            # Raised by the request body's stream: the client's fault, with its own status.
            exchange.close_after = True
            return _error_response(error.status, error.message)
        except Exception:
            self._handler_failed(exchange)
            return _error_response(500, "Internal server error.")

    def _handler_failed(self, exchange: _Exchange) -> None:
        head = exchange.head
        assert head is not None
        log.exception("the request handler failed (%s %s)", head.method, head.path)
        exchange.close_after = True

    def _checked(self, exchange: _Exchange, response: object) -> tuple[Response, _Plan]:
        """The handler's answer and how it is written; a 500 (and a close) instead when it is
        not a response or cannot be written as HTTP/1.1."""
        if not isinstance(response, Response):
            log.error("the request handler returned %s, not a Response", type(response).__name__)
            exchange.close_after = True
            response = _error_response(500, "Internal server error.")
        try:
            return response, self._plan(exchange, response)
        except _InvalidResponse:
            log.error("the request handler returned a response that cannot be sent")
            exchange.close_after = True
            response = _error_response(500, "Internal server error.")
            return response, self._plan(exchange, response)

    def _done(self, exchange: _Exchange) -> None:
        exchange.answered = True
        self._reader.request_done()
        if self._closed or self._lingering:
            return
        if not exchange.keep_alive or exchange.close_after:
            self._close()
            return
        if not exchange.received_all:
            # The handler answered without reading the whole body. Keep the connection only
            # when the rest is small and on its way: a client that waits for 100 Continue
            # will not send it.
            body = exchange.body
            head = exchange.head
            assert body is not None and head is not None
            remaining = (head.content_length or 0) - body.received
            if (
                (head.expect_continue and not exchange.continue_sent)
                or remaining > self.limits.max_drain_size
                or body.received - body.discarded > self.limits.max_drain_size
            ):
                self._close()
                return
            body.discard()
            self._update_deadline()
            return
        if exchange.body is not None:
            # Whatever the handler left unread is dropped, and with it any pause it caused.
            exchange.body.discard()
        self._exchanges.popleft()
        self._next()

    # --- writing ---------------------------------------------------------------------------

    def send_continue(self, exchange: _Exchange) -> None:
        """RFC 9110 §10.1.1: the handler reads the body, so tell a waiting client to send it."""
        head = exchange.head
        if (
            head is None
            or not head.expect_continue
            or exchange.continue_sent
            or exchange.response_started
        ):
            return
        exchange.continue_sent = True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(_CONTINUE)

    def _plan(self, exchange: _Exchange | None, response: Response) -> _Plan:
        head = exchange.head if exchange is not None else None
        method = head.method if head is not None else "GET"
        http_version = head.http_version if head is not None else "1.1"
        # When the connection is to close, the last response queued says so; those before it
        # are answered on a connection that stays open until then.
        closing = self._close_when_done or self._server._stopping
        keep_alive = (
            exchange is not None
            and head is not None
            and head.keep_alive
            and not exchange.close_after
            and not (closing and len(self._exchanges) <= 1)
        )
        status = response.status
        # 1xx answers and protocol switches are not supported (the server never upgrades).
        status_line = _STATUS_LINES.get(status) if type(status) is int else None
        if status_line is None:
            raise _InvalidResponse
        headers = response.headers
        if not valid_fields(headers):
            # Response splitting: a field that would break the head is never written.
            raise _InvalidResponse
        lines = [status_line]
        declared: bytes | None = None
        has_date = False
        for name, value in headers:
            lower = name.lower()
            if lower in _PLANNED_FIELDS:
                if lower == b"content-length":
                    declared = value
                    continue
                if lower == b"date":
                    has_date = True
                else:
                    if lower == b"connection" and b"close" in value.lower():
                        keep_alive = False
                    continue
            lines += (name, b": ", value, b"\r\n")
        if not has_date:
            lines.append(b"date: %s\r\n" % self._server._date_value())

        declared_length: int | None = None
        if declared is not None:
            try:
                declared_length = parse_content_length([declared])
            except DownstreamError:
                raise _InvalidResponse from None
        buffered = response.body.buffered
        length: int | None = None
        if status in (204, 304) or method == "HEAD":
            framing = _Framing.NONE
            # RFC 9110 §8.6: HEAD and 304 may announce the length a GET would have had.
            if status != 204 and declared_length is not None:
                length = declared_length
        elif buffered is not None:
            framing, length = _Framing.LENGTH, len(buffered)
        elif declared_length is not None:
            framing, length = _Framing.LENGTH, declared_length
        elif http_version == "1.1":
            framing = _Framing.CHUNKED
            lines.append(b"transfer-encoding: chunked\r\n")
        else:
            framing = _Framing.CLOSE
            keep_alive = False
        if length is not None:
            lines.append(b"content-length: %d\r\n" % length)
        if not keep_alive:
            lines.append(b"connection: close\r\n")
        elif http_version == "1.0":
            lines.append(b"connection: keep-alive\r\n")
        lines.append(b"\r\n")
        return _Plan(b"".join(lines), framing, length, keep_alive)

    def _write_start(self, exchange: _Exchange, response: Response, plan: _Plan) -> bool:
        """Write the head, with the body when it is in memory; whether the body is all out."""
        exchange.response_started = True
        exchange.keep_alive = plan.keep_alive
        if plan.framing is _Framing.NONE:
            self._write(plan.head)
            return True
        buffered = response.body.buffered
        if buffered is None:
            self._write(plan.head)
            return False
        if len(buffered) <= _COALESCE_LIMIT:
            self._write(plan.head + buffered)
        else:
            self._write(plan.head)
            self._write(buffered)
        return True

    async def _send_rest(
        self, exchange: _Exchange, response: Response, plan: _Plan, complete: bool
    ) -> None:
        """After `_write_start`: the streamed body, if any, then wait until the client has
        taken what was written (within the write timeout)."""
        if not complete:
            await self._stream(exchange, response.body, plan)
        await self._drain()

    async def _stream(self, exchange: _Exchange, body: Body, plan: _Plan) -> None:
        chunks = body.chunks()
        sent = 0
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                sent += len(chunk)
                if plan.framing is _Framing.LENGTH:
                    if plan.length is not None and sent > plan.length:
                        raise _InvalidResponse
                    self._write(chunk)
                elif plan.framing is _Framing.CHUNKED:
                    self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self._write(chunk)
                await self._drain()
            if plan.framing is _Framing.CHUNKED:
                self._write(_LAST_CHUNK)
            elif plan.framing is _Framing.LENGTH and sent != plan.length:
                raise _InvalidResponse
        except (_ConnectionGone, asyncio.CancelledError):
            raise
        except Exception:
            # The head is out: the only honest signal left is a connection that ends without
            # a complete message.
            log.exception("the response body failed after its head was sent")
            self._abort()
            raise _ConnectionGone from None
        finally:
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if self._closed or transport is None or transport.is_closing():
            raise _ConnectionGone
        transport.write(data)

    async def _drain(self) -> None:
        if self._closed:
            raise _ConnectionGone
        if not self._write_paused:
            return
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        try:
            async with asyncio.timeout(self.limits.write_timeout):
                await waiter
        except TimeoutError:
            # The client stopped reading (slow read): give up on it.
            self._abort()
            raise _ConnectionGone from None
        finally:
            self._drain_waiter = None

    # --- closing and deadlines ---------------------------------------------------------------

    def _close(self) -> None:
        """Close once everything written is sent, reading and discarding what the client still
        sends for a while (a lingering close), so that it reads the answer, not a reset."""
        transport = self._transport
        if self._lingering or self._closed or transport is None or transport.is_closing():
            return
        self._lingering = True
        self._reader.close()
        if self._paused:
            self._paused.clear()
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
            self._linger_until = self._loop.time() + self.limits.linger_timeout
            self._update_deadline()
        else:
            transport.close()

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def shutdown(self) -> None:
        """Graceful shutdown: close at once if idle, else after what is in progress."""
        if self._closed:
            return
        idle = not self._exchanges and self._reader.state in (
            ReaderState.IDLE,
            ReaderState.CLOSED,
        )
        if self._lingering or idle:
            if self._transport is not None:
                self._transport.close()
            return
        self._close_when_done = True

    def abort(self) -> None:
        """The end of a graceful shutdown: cancel what is left."""
        for exchange in self._exchanges:
            self._cancel(exchange)
        self._abort()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [e.task for e in self._exchanges if e.task is not None and not e.task.done()]

    def _update_deadline(self) -> None:
        if self._closed:
            return
        state = self._reader.state
        deadline: tuple[_Deadline, float] | None = None
        if self._lingering:
            deadline = (_Deadline.LINGER, self._linger_until)
        elif self._paused or state is ReaderState.CLOSED:
            deadline = None
        elif self._head_started is not None:
            deadline = (_Deadline.HEADER, self._head_started + self.limits.header_timeout)
        elif state is ReaderState.BODY:
            deadline = (_Deadline.BODY, self._last_body_at + self.limits.body_timeout)
        elif not self._exchanges:
            deadline = (_Deadline.IDLE, self._idle_since + self.limits.keepalive_timeout)
        self._deadline = deadline
        if deadline is None:
            return
        # One timer, moved only when the deadline comes sooner; a timer that fires early
        # re-arms itself for the deadline then in force.
        if self._timer is None or deadline[1] < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline[1]
            self._timer = self._loop.call_at(deadline[1], self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._closed:
            return
        kind, at = deadline
        if self._loop.time() < at:
            self._timer_at = at
            self._timer = self._loop.call_at(at, self._on_timer)
            return
        self._deadline = None
        if kind is _Deadline.LINGER:
            self._abort()
        elif kind is _Deadline.IDLE:
            if self._transport is not None:
                self._transport.close()
        elif kind is _Deadline.HEADER:
            self._reader.close()
            self._close_when_done = True
            if self._exchanges:
                return
            if self._head_bytes:
                self._enqueue(_Exchange(None, RequestTimeout()))
            elif self._transport is not None:
                self._transport.close()
        else:
            self._reader.close()
            self._close_when_done = True
            receiving, self._receiving = self._receiving, None
            if receiving is None or receiving.answered:
                self._close()
            elif receiving.body is not None:
                receiving.close_after = True
                receiving.body.fail(RequestTimeout())


class ServerState(enum.Enum):
    NEW = "new"
    SERVING = "serving"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ServerStats:
    open_connections: int
    requests_in_flight: int
    # Since start: connections admitted, connections refused over a cap, requests answered.
    connections_accepted: int
    connections_refused: int
    requests_handled: int


class GatewayServer:
    """The downstream server: listeners, connection tracking, graceful shutdown.

    `start` may be called once per listener (HTTP and HTTPS share the connection cap).
    Shutdown is a sequence: stop accepting, close idle keep-alive connections at once, let
    requests in flight finish within the grace period (their responses carry
    `Connection: close`), then cancel the rest.
    """

    def __init__(
        self,
        handler: Handler,
        limits: ServerLimits | None = None,
        *,
        starter: Starter | None = None,
    ) -> None:
        """`starter`: tried first for each request without a body (see `Starter`)."""
        self.handler = handler
        self.starter = starter
        self.limits = limits or ServerLimits()
        self._state = ServerState.NEW
        self._listeners: list[asyncio.Server] = []
        self._connections: set[_Connection] = set()
        self._per_client: dict[str, int] = {}
        self._all_closed = asyncio.Event()
        self._all_closed.set()
        self._stopped = asyncio.Event()
        self._date_second = -1
        self._date = b""
        self._in_flight = 0
        self._handled = 0
        self._accepted = 0
        self._refused = 0
        self._open = 0

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def _stopping(self) -> bool:
        return self._state in (ServerState.STOPPING, ServerState.STOPPED)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The bound (host, port) of every listening socket."""
        found: list[tuple[str, int]] = []
        for listener in self._listeners:
            for sock in listener.sockets:
                name = sock.getsockname()
                found.append((str(name[0]), int(name[1])))
        return found

    async def start(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[str, int]:
        """Listen on host:port (port 0 picks one) and return the bound address.

        With `ssl_context`, connections speak TLS; the SNI name the client sent becomes
        `Request.server_name`. Certificate selection by SNI is the context's own
        `sni_callback`, which must be set before this call: the server wraps it.
        """
        if self._state not in (ServerState.NEW, ServerState.SERVING):
            raise RuntimeError("the server has been shut down")
        loop = asyncio.get_running_loop()
        scheme = "http"
        if ssl_context is not None:
            scheme = "https"
            self._record_server_names(ssl_context)

        def factory() -> _Connection:
            return _Connection(self, scheme)

        if ssl_context is not None:
            listener = await loop.create_server(
                factory,
                host,
                port,
                ssl=ssl_context,
                backlog=self.limits.listen_backlog,
                ssl_handshake_timeout=self.limits.tls_handshake_timeout,
                reuse_address=True,
            )
        else:
            listener = await loop.create_server(
                factory, host, port, backlog=self.limits.listen_backlog, reuse_address=True
            )
        self._listeners.append(listener)
        self._state = ServerState.SERVING
        name = listener.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    def stats(self) -> ServerStats:
        return ServerStats(
            open_connections=self._open,
            requests_in_flight=self._in_flight,
            connections_accepted=self._accepted,
            connections_refused=self._refused,
            requests_handled=self._handled,
        )

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, finish in-flight requests within `grace` seconds (default
        `ServerLimits.shutdown_grace`), then cancel what is left."""
        if self._state in (ServerState.STOPPING, ServerState.STOPPED):
            await self._stopped.wait()
            return
        self._state = ServerState.STOPPING
        for listener in self._listeners:
            listener.close()
        for connection in list(self._connections):
            connection.shutdown()
        grace = self.limits.shutdown_grace if grace is None else grace
        try:
            async with asyncio.timeout(grace):
                await self._all_closed.wait()
        except TimeoutError:
            log.warning(
                "shutdown: %d connections still busy after %.1f s; cancelling them",
                len(self._connections),
                grace,
            )
        tasks = [task for c in self._connections for task in c.tasks()]
        for connection in list(self._connections):
            connection.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=max(1.0, self.limits.linger_timeout))
        try:
            async with asyncio.timeout(max(1.0, self.limits.linger_timeout)):
                await self._all_closed.wait()
                for listener in self._listeners:
                    await listener.wait_closed()
        except TimeoutError:
            log.warning("shutdown: listeners did not close in time")
        self._state = ServerState.STOPPED
        self._stopped.set()

    # --- for the connections (same module) ---------------------------------------------------

    def _admit(self, connection: _Connection) -> bool:
        self._connections.add(connection)
        self._all_closed.clear()
        per_client = self.limits.max_connections_per_client
        if (
            self._stopping
            or self._open >= self.limits.max_connections
            or (
                per_client is not None
                and self._per_client.get(connection.client_ip, 0) >= per_client
            )
        ):
            self._refused += 1
            return False
        connection.counted = True
        self._open += 1
        self._accepted += 1
        self._per_client[connection.client_ip] = self._per_client.get(connection.client_ip, 0) + 1
        return True

    def _forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if connection.counted:
            connection.counted = False
            self._open -= 1
            count = self._per_client.get(connection.client_ip, 0) - 1
            if count > 0:
                self._per_client[connection.client_ip] = count
            else:
                self._per_client.pop(connection.client_ip, None)
        if not self._connections:
            self._all_closed.set()

    def _server_name_of(self, ssl_object: object) -> str | None:
        return _SERVER_NAMES.get(ssl_object)

    def _date_value(self) -> bytes:
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = formatdate(now, usegmt=True).encode("ascii")
        return self._date

    def _record_server_names(self, context: ssl.SSLContext) -> None:
        previous = context.sni_callback
        if getattr(previous, "_tollhouse_records_server_name", False):
            return
        names = _SERVER_NAMES

        def record(ssl_object: ssl.SSLObject, server_name: str, ctx: ssl.SSLContext) -> int | None:
            # server_name is None when the client sent no SNI (typeshed says str).
            if server_name:
                names[ssl_object] = server_name
            if previous is not None:
                return previous(ssl_object, server_name, ctx)
            return None

        marked: Callable[[ssl.SSLObject, str, ssl.SSLContext], int | None] = record
        setattr(marked, "_tollhouse_records_server_name", True)  # noqa: B010
        context.sni_callback = marked
