"""The downstream server's exceptions: a request that cannot be served as the client sent it.

    DownstreamError                 status, and the fixed message of the error body
    ├── MalformedRequest            400  framing or syntax the server refuses (RFC 9112)
    ├── IncompleteBody              400  the client closed before the end of the body
    ├── RequestTimeout              408  header block or body too slow
    ├── BodyTooLarge                413
    ├── TargetTooLong               414
    ├── HeadersTooLarge             431
    ├── NotImplementedByServer      501  a transfer coding or method the server has not
    └── VersionNotSupported         505

The framing rules raise them before a request is dispatched; a request body's stream raises
them while the handler reads it (a handler should let them propagate: the server answers with
the status they carry). Messages are fixed strings: nothing the client sent is ever echoed.
"""

from __future__ import annotations

from typing import ClassVar


class DownstreamError(Exception):
    """A request the server answers with `status` and an APIM-shaped error body."""

    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "Bad request."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class MalformedRequest(DownstreamError):
    status = 400
    default_message = "The request is malformed."


class IncompleteBody(DownstreamError):
    status = 400
    default_message = "The connection closed before the end of the request body."


class RequestTimeout(DownstreamError):
    status = 408
    default_message = "The request was not received in time."


class BodyTooLarge(DownstreamError):
    status = 413
    default_message = "The request body is larger than the limit."


class TargetTooLong(DownstreamError):
    status = 414
    default_message = "The request target is longer than the limit."


class HeadersTooLarge(DownstreamError):
    status = 431
    default_message = "The request header fields are larger than the limit."


class NotImplementedByServer(DownstreamError):
    status = 501
    default_message = "The request uses a feature the gateway does not implement."


class VersionNotSupported(DownstreamError):
    status = 505
    default_message = "The HTTP version is not supported."
