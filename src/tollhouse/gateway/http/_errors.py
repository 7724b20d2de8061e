"""What can go wrong between the gateway and a backend, and the response each becomes.

    UpstreamError                 any failure of an upstream exchange
    ├── UpstreamConnectError      502: refused, unreachable, DNS, TLS handshake or verification
    │   └── UpstreamEgressDenied  502: every address of the backend is outside the egress policy
    ├── UpstreamTimeout           504: connect, response head (`timeout`), body inactivity,
    │                                  no pooled connection free in time
    ├── UpstreamProtocolError     502: the backend broke HTTP/1.1 (framing, early close, limits);
    │                                  its connection is discarded
    └── UpstreamRequestError      500: the gateway built a request it cannot send (bad URL,
                                       header or body length) — a configuration or policy fault

`reason` is a fixed phrase chosen here, for logs and `context.LastError`; it never carries text
from the backend or the parser (security-and-faults §C.4: never reflect parser error text).
Anything else escaping the pool is a bug, except an exception raised by the request body's own
stream (a client that stops sending), which passes through unchanged for the downstream side.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import ClassVar

from tollhouse.gateway.http._messages import Body, Response


class UpstreamError(Exception):
    """An upstream exchange failed; `status` is the response the client gets instead."""

    status: ClassVar[int] = 502

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UpstreamConnectError(UpstreamError):
    status = 502


class UpstreamEgressDenied(UpstreamConnectError):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamProtocolError(UpstreamError):
    status = 502


class UpstreamRequestError(UpstreamError):
    status = 500


def error_response(exc: UpstreamError) -> Response:
    """The response the client gets for `exc`, in APIM's error body shape:
    `{"statusCode": 502, "message": "Bad Gateway"}`."""
    status = HTTPStatus(exc.status)
    body = json.dumps({"statusCode": status.value, "message": status.phrase}).encode("utf-8")
    headers = [(b"content-type", b"application/json; charset=utf-8")]
    return Response(status=status.value, headers=headers, body=Body(data=body))
