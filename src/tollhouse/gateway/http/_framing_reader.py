"""Reading requests out of a connection's byte stream: bytes in, events out.

Sans-I/O in h11's manner: the caller owns the socket, the clock and the deadlines, and feeds
whatever it received, whole or one byte at a time. The parsing is llhttp's (through httptools),
strict, with no leniency enabled; what llhttp leaves to its caller is done here:

- the limits, enforced as the bytes arrive so that memory stays bounded however a head is cut
  up: the request target (414) per piece, the header section (431) per complete field line
  and, for field lines that arrive in pieces (which httptools accumulates), by counting the
  bytes fed while a head is in progress;
- the framing rules of `_framing.check_head`, run when the head is complete, before anything
  is dispatched;
- the body limit (413) while a chunked body streams; trailers are read, bounded and dropped;
- a cap on requests parsed but not answered yet (pipelining);
- ignoring upgrades: llhttp stops at a request asking for one and would skip its body; the
  reader goes on parsing that body and what follows as HTTP/1.1.

Any input yields events or a final `Rejected` carrying the status to answer with; after
`Rejected` or `PipelineFull` the reader reads nothing more, and the connection must close once
the requests before it are answered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import httptools

from tollhouse.gateway.http._framing import FIELD_LINE_OVERHEAD, RequestHead, check_head
from tollhouse.gateway.http._limits import ServerLimits
from tollhouse.gateway.http._server_errors import (
    BodyTooLarge,
    DownstreamError,
    HeadersTooLarge,
    IncompleteBody,
    MalformedRequest,
    TargetTooLong,
)

# Bytes of a request line besides its target: the longest method llhttp knows, two spaces,
# "HTTP/1.1", CRLF, and the empty line ending the head.
_REQUEST_LINE_SLACK = 64


@dataclass(frozen=True)
class BodyData:
    data: bytes


@dataclass(frozen=True)
class EndOfMessage:
    pass


@dataclass(frozen=True)
class Rejected:
    """The stream cannot be read further; answer `error.status` and close.

    `in_body` is true when the error arose in the body of the last `RequestHead` (a bad chunk,
    a body over the limit, the client gone), false when it concerns a request not yet
    dispatched."""

    error: DownstreamError
    in_body: bool


@dataclass(frozen=True)
class PipelineFull:
    """More requests arrived than may wait for an answer; answer those before and close."""


Event = RequestHead | BodyData | EndOfMessage | Rejected | PipelineFull

# Every EndOfMessage is alike: one instance serves.
_END_OF_MESSAGE = EndOfMessage()


class ReaderState(enum.Enum):
    IDLE = "idle"  # between requests
    HEAD = "head"  # a request head has begun
    BODY = "body"  # the head was emitted, its body is being read
    CLOSED = "closed"  # rejected, pipeline full or end of stream: nothing more is read


class _PipelineOverflow(Exception):
    pass


class RequestReader:
    """One connection's request stream (see the module docstring)."""

    def __init__(self, limits: ServerLimits) -> None:
        self._limits = limits
        self._parser = httptools.HttpRequestParser(self)
        self._state = ReaderState.IDLE
        self._events: list[Event] = []
        self._url = bytearray()
        self._fields: list[tuple[bytes, bytes]] = []
        self._field_bytes = 0
        self._trailer_count = 0
        self._trailer_bytes = 0
        self._head: RequestHead | None = None
        self._body_size = 0
        # Bytes fed without any event: they all belong to the head or chunk framing in
        # progress, which httptools buffers or skips without telling.
        self._stalled = 0
        self._progress = 0
        self._outstanding = 0
        # llhttp treated the last head as an upgrade and skipped its body; the next parser is
        # primed with a stand-in head to read that body.
        self._body_after_upgrade = False
        self._priming = False
        self._head_stall_limit = (
            limits.max_request_target + limits.max_header_block + _REQUEST_LINE_SLACK
        )

    @property
    def state(self) -> ReaderState:
        return self._state

    @property
    def outstanding(self) -> int:
        """Requests emitted and not yet marked done."""
        return self._outstanding

    def request_done(self) -> None:
        """One emitted request was answered: it no longer counts against the pipeline cap."""
        self._outstanding = max(0, self._outstanding - 1)

    def close(self) -> None:
        """Read nothing more (the connection is closing)."""
        self._state = ReaderState.CLOSED

    def receive(self, data: bytes) -> list[Event]:
        if self._state is ReaderState.CLOSED or not data:
            return []
        events: list[Event] = []
        self._events = events
        progress = self._progress
        try:
            self._feed(memoryview(data))
        except _PipelineOverflow:
            self._state = ReaderState.CLOSED
            events.append(PipelineFull())
            return events
        except DownstreamError as error:
            self._reject(error, in_body=self._state is ReaderState.BODY)
            return events
        if self.state is ReaderState.CLOSED:
            return events
        if self._progress != progress:
            self._stalled = 0
            return events
        self._stalled += len(data)
        if self._state is ReaderState.BODY:
            # Chunk sizes, extensions and trailers between two pieces of body data.
            if self._stalled > self._limits.max_header_block:
                self._reject(MalformedRequest(), in_body=True)
        elif self._stalled > self._head_stall_limit:
            self._reject(HeadersTooLarge(), in_body=False)
        return events

    def receive_eof(self) -> list[Event]:
        """The client closed its side: a body in progress is incomplete (RFC 9112 §8); a head
        in progress is dropped."""
        state, self._state = self._state, ReaderState.CLOSED
        if state is ReaderState.BODY:
            return [Rejected(IncompleteBody(), in_body=True)]
        return []

    # --- parsing -------------------------------------------------------------------------

    def _feed(self, data: memoryview) -> None:
        while data:
            try:
                self._parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as upgrade:
                # The server never switches protocols: go on reading HTTP/1.1 with a new
                # parser from where llhttp stopped.
                data = data[int(upgrade.args[0]) :]
                self._parser = httptools.HttpRequestParser(self)
                if self._body_after_upgrade:
                    self._body_after_upgrade = False
                    self._prime_for_body()
            except httptools.HttpParserError as error:
                cause = error.__context__
                if isinstance(cause, DownstreamError | _PipelineOverflow):
                    raise cause from None
                if cause is not None:
                    raise cause from error  # a bug in a callback, not bad input
                raise MalformedRequest from None

    def _prime_for_body(self) -> None:
        head = self._head
        assert head is not None
        if head.chunked:
            stand_in = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        else:
            stand_in = b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (head.content_length or 0)
        self._priming = True
        try:
            self._parser.feed_data(stand_in)
        finally:
            self._priming = False

    def _reject(self, error: DownstreamError, *, in_body: bool) -> None:
        self._state = ReaderState.CLOSED
        self._events.append(Rejected(error, in_body=in_body))

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._priming:
            return
        if self._outstanding >= self._limits.max_pipelined_requests:
            raise _PipelineOverflow
        self._state = ReaderState.HEAD
        self._url.clear()
        self._fields = []
        self._field_bytes = 0
        self._progress += 1

    def on_url(self, piece: bytes) -> None:
        if self._priming:
            return
        self._url += piece
        if len(self._url) > self._limits.max_request_target:
            raise TargetTooLong

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._priming:
            return
        size = len(name) + len(value) + FIELD_LINE_OVERHEAD
        if self._state is ReaderState.BODY:
            # Trailer fields (RFC 9112 §7.1.2): bounded like a header section, then dropped;
            # none of them may change the framing or reach the handler.
            self._trailer_count += 1
            self._trailer_bytes += size
            if (
                self._trailer_count > self._limits.max_header_count
                or self._trailer_bytes > self._limits.max_header_block
            ):
                raise HeadersTooLarge
            return
        self._field_bytes += size
        if (
            len(self._fields) >= self._limits.max_header_count
            or self._field_bytes > self._limits.max_header_block
        ):
            raise HeadersTooLarge
        self._fields.append((name, value))

    def on_headers_complete(self) -> None:
        if self._priming:
            return
        parser = self._parser
        head = check_head(
            parser.get_method().decode("ascii"),
            bytes(self._url),
            parser.get_http_version(),
            self._fields,
            self._limits,
        )
        self._url.clear()
        self._fields = []
        self._head = head
        self._body_size = 0
        self._trailer_count = self._trailer_bytes = 0
        self._state = ReaderState.BODY
        self._outstanding += 1
        self._progress += 1
        self._events.append(head)
        if parser.should_upgrade() and head.has_body:
            self._body_after_upgrade = True

    def on_body(self, data: bytes) -> None:
        self._body_size += len(data)
        limit = self._limits.max_body_size
        if limit is not None and self._body_size > limit:
            raise BodyTooLarge
        self._progress += 1
        self._events.append(BodyData(data))

    def on_message_complete(self) -> None:
        if self._priming or self._body_after_upgrade:
            # llhttp ends an upgrade request at its head; its body is still to come.
            return
        self._state = ReaderState.IDLE
        self._progress += 1
        self._events.append(_END_OF_MESSAGE)
