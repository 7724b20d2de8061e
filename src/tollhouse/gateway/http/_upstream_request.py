"""Turning an `UpstreamRequest` into HTTP/1.1 bytes (sans-I/O).

The request line, `Host` and the body framing are always written from the structured request,
never copied from what the client sent (security-and-faults §C.4: re-serialise, never forward
raw bytes). Fields that describe the connection or the framing are the pool's to write, so any
copies in the request's headers are dropped; every other name and value is validated, because
policies can put anything there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from tollhouse.gateway.http._errors import UpstreamRequestError
from tollhouse.gateway.http._framing import is_token, valid_fields
from tollhouse.gateway.http._messages import Body, Headers

DEFAULT_PORTS = {"http": 80, "https": 443}

# Written by the pool from the URL and the body, or meaningful for one connection only
# (RFC 9110 §7.6.1); a request's own copies are dropped.
POOL_OWNED_HEADERS = frozenset(
    {
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"upgrade",
        b"te",
        b"trailer",
    }
)

# RFC 9110 §9.2.2: the methods a client may repeat after a connection failure.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

# RFC 9110 §8.6: "A user agent SHOULD NOT send a Content-Length header field when the request
# message does not contain content and the method semantics do not anticipate such data."
_NO_CONTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"})

# RFC 9112 §3.2 origin-form: visible ASCII only (the path is percent-encoded by then).
_TARGET = re.compile(r"[\x21-\x7e]+")
_DIGITS = re.compile(rb"[0-9]{1,18}")


@dataclass(frozen=True)
class Target:
    """Where a request goes: the connection's origin and the request-target."""

    scheme: str  # "http" or "https"
    host: str  # lower-case; IDNA-encoded; an IPv6 address without brackets
    port: int
    target: str  # origin-form: path and query
    authority: bytes  # the Host field value

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


# Backend URLs repeat (the same service URL, often the same operation path).
@functools.lru_cache(maxsize=1024)
def parse_url(url: str) -> Target:
    """The origin and request-target of an absolute `http` or `https` URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UpstreamRequestError("backend URL is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UpstreamRequestError("backend URL scheme is not http or https")
    if parts.username is not None or parts.password is not None:
        # `http://expected@other/` names `other`; never guess which host was meant.
        raise UpstreamRequestError("backend URL carries user information")
    host = parts.hostname
    if not host:
        raise UpstreamRequestError("backend URL has no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UpstreamRequestError("backend URL host is not a valid name") from None
    if port is None:
        port = DEFAULT_PORTS[scheme]
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if not _TARGET.fullmatch(target) or not target.startswith("/"):
        raise UpstreamRequestError("backend URL path is not in origin form")
    name = f"[{host}]" if ":" in host else host
    authority = name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"
    return Target(scheme, host, port, target, authority.encode("ascii"))


# The methods nearly every request uses, known to be tokens.
_COMMON_METHODS = {
    method: method.encode("ascii")
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
}


def check_method(method: str) -> bytes:
    raw = _COMMON_METHODS.get(method)
    if raw is not None:
        return raw
    raw = method.encode("ascii", "replace")
    if not is_token(raw):
        raise UpstreamRequestError("request method is not a token")
    return raw


def outgoing_headers(headers: Headers) -> Headers:
    """The request's end-to-end headers, validated, without the pool-owned ones."""
    kept = [(name.lower(), value) for name, value in headers]
    kept = [field for field in kept if field[0] not in POOL_OWNED_HEADERS]
    if not valid_fields(kept):
        raise UpstreamRequestError("request header is not valid HTTP")
    return kept


def body_length(method: str, headers: Headers, body: Body) -> int | None:
    """The length to declare in `Content-Length`, or None to send the body chunked.

    A body in memory has a known length. A streamed body keeps the length the client declared
    (the downstream server has checked it, and the sender checks the stream against it);
    without one it goes chunked (RFC 9112 §7.1).
    """
    data = body.buffered
    if data is not None:
        return len(data)
    declared = [value for name, value in headers if name.lower() == b"content-length"]
    if not declared:
        return None
    if len(set(declared)) != 1 or not _DIGITS.fullmatch(declared[0].strip(b" \t")):
        raise UpstreamRequestError("request Content-Length is not valid")
    return int(declared[0])


def serialise_head(
    method: bytes, target: Target, headers: Headers, length: int | None
) -> bytearray:
    """The request line and header block; `headers` as returned by `outgoing_headers`."""
    head = bytearray(method)
    head += b" "
    head += target.target.encode("ascii")
    head += b" HTTP/1.1\r\nhost: "
    head += target.authority
    head += b"\r\n"
    for name, value in headers:
        head += name
        head += b": "
        head += value
        head += b"\r\n"
    if length is None:
        head += b"transfer-encoding: chunked\r\n"
    elif length or method.decode("ascii") not in _NO_CONTENT_METHODS:
        head += b"content-length: %d\r\n" % length
    head += b"\r\n"
    return head


def replayable(method: str, headers: Headers, body: Body) -> bool:
    """Whether the request may be sent again on a fresh connection after the backend closed
    a reused one without answering: its body is in memory and repeating it is safe (RFC 9110
    §9.2.2 idempotent methods, or an `Idempotency-Key` the client vouches with)."""
    if body.buffered is None:
        return False
    if method in IDEMPOTENT_METHODS:
        return True
    return any(name.lower() == b"idempotency-key" for name, _ in headers)
