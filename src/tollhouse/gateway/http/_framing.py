"""The framing rules a request head must pass before it is dispatched (RFC 9112, RFC 9110).

Sans-I/O: `check_head` takes the pieces of a parsed head and returns a `RequestHead` or raises
a `DownstreamError` carrying the status to answer with. llhttp already refuses much of what
is checked here (bare LF, obs-fold, space before the colon, CTLs in values, conflicting
lengths); the rules are checked again so that they hold whatever the parser lets through, and
so that they can be read and tested in one place (security-and-faults.md C.4, C.5 cases 1–8).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import NamedTuple

from tollhouse.gateway.http._limits import ServerLimits
from tollhouse.gateway.http._messages import Headers
from tollhouse.gateway.http._paths import parse_target
from tollhouse.gateway.http._server_errors import (
    BodyTooLarge,
    HeadersTooLarge,
    MalformedRequest,
    NotImplementedByServer,
    TargetTooLong,
    VersionNotSupported,
)

# RFC 9110 §5.6.2: field-name = token.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: CR, LF and NUL MUST be refused; the other controls are not field-vchar
# either (HTAB is whitespace and allowed).
_INVALID_VALUE_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Field names, one per line: every name of a header list checked in one match.
_TOKEN_LINES = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*")
# 1*DIGIT in ASCII only (never Unicode digits, aiohttp CVE-2025-69224), no sign, at most 18
# digits so that the value fits a signed 64-bit integer (h11 and llhttp refuse more too).
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")
# RFC 9110 §7.2, RFC 3986 §3.2.2: an IP literal or a reg-name, then an optional port. A reg-name
# is kept to unreserved characters: sub-delimiters in a Host are a smuggling trick, not a name.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~]*)(?::([0-9]{0,5}))?")
_OWS = b" \t"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SUPPORTED_VERSIONS = ("1.1", "1.0")
# Not forwarded and never acted on: the server does not switch protocols (case 11, h2c
# smuggling); a client that asked for an upgrade gets a plain HTTP/1.1 answer.
_UPGRADE_FIELDS = (b"upgrade", b"http2-settings")
# Each field line costs its name, its value and ": " and CRLF around them.
FIELD_LINE_OVERHEAD = 4


class RequestHead(NamedTuple):
    """A request head that passed the framing rules (a tuple: one is made per request)."""

    method: str
    # Normalised (see `_paths`); "*" for `OPTIONS *`.
    path: str
    query: str
    http_version: str
    # Names lower-case, values without surrounding whitespace, Upgrade, HTTP2-Settings and
    # `Expect: 100-continue` removed; everything else as received.
    headers: Headers
    # The Host (or absolute-form authority) lower-case without its port; "" if none was sent.
    host: str
    content_length: int | None
    chunked: bool
    keep_alive: bool
    expect_continue: bool

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


def check_head(
    method: str,
    target: bytes,
    http_version: str,
    fields: Sequence[tuple[bytes, bytes]],
    limits: ServerLimits,
) -> RequestHead:
    """The rules, in the order their status wins: sizes, version, method, field syntax, Host,
    message framing, body size, target."""
    if len(target) > limits.max_request_target:
        raise TargetTooLong
    if len(fields) > limits.max_header_count or (
        sum(len(n) + len(v) + FIELD_LINE_OVERHEAD for n, v in fields) > limits.max_header_block
    ):
        raise HeadersTooLarge
    if http_version not in _SUPPORTED_VERSIONS:
        raise VersionNotSupported
    if method == "CONNECT":
        # Tunnels are not part of an API gateway.
        raise NotImplementedByServer

    headers: Headers = []
    hosts: list[bytes] = []
    lengths: list[bytes] = []
    codings: list[bytes] = []
    connection: list[bytes] = []
    expect_continue = False
    if not valid_fields(fields):
        raise MalformedRequest
    for raw_name, raw_value in fields:
        name, value = raw_name.lower(), raw_value.strip(_OWS)
        if name == b"host":
            hosts.append(value)
        elif name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings.append(value)
        elif name == b"connection":
            connection.append(value)
        elif name in _UPGRADE_FIELDS:
            continue
        elif name == b"expect" and value.lower() == b"100-continue":
            # RFC 9110 §10.1.1: this hop answers the expectation (see the server).
            expect_continue = True
            continue
        headers.append((name, value))

    # RFC 9112 §3.2: no Host in HTTP/1.1, or more than one → 400.
    if len(hosts) > 1 or (not hosts and http_version == "1.1"):
        raise MalformedRequest
    host, port = _parse_host_cached(hosts[0]) if hosts else ("", None)

    content_length: int | None = None
    chunked = False
    if codings:
        # RFC 9112 §6.3: both Content-Length and Transfer-Encoding → reject (smuggling).
        if lengths:
            raise MalformedRequest
        # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
        if http_version == "1.0":
            raise MalformedRequest
        check_transfer_coding(codings)
        chunked = True
    elif lengths:
        content_length = parse_content_length(lengths)
    if limits.max_body_size is not None and (content_length or 0) > limits.max_body_size:
        raise BodyTooLarge

    parsed = parse_target(target, method)
    if parsed.authority is not None:
        # The authority of an absolute-form target must name the same host and port as the
        # Host field (aiohttp CVE-2026-34525: a mismatch routes one way, forwards another).
        scheme = parsed.scheme or "http"
        target_host, target_port = parse_host(parsed.authority.encode("ascii"))
        if not hosts or (target_host, target_port or _DEFAULT_PORTS[scheme]) != (
            host,
            port or _DEFAULT_PORTS[scheme],
        ):
            raise MalformedRequest

    if connection:
        tokens = {t.strip(_OWS).lower() for value in connection for t in value.split(b",")}
        if http_version == "1.1":
            keep_alive = b"close" not in tokens
        else:
            keep_alive = b"keep-alive" in tokens and b"close" not in tokens
    else:
        keep_alive = http_version == "1.1"

    return RequestHead(
        method,
        parsed.path,
        parsed.query,
        http_version,
        headers,
        host,
        content_length,
        chunked,
        keep_alive,
        expect_continue,
    )


def is_token(value: bytes) -> bool:
    """RFC 9110 §5.6.2 token: what a method or a field name must be."""
    return _TOKEN.fullmatch(value) is not None


def valid_fields(fields: Sequence[tuple[bytes, bytes]]) -> bool:
    """Every field name is a token and no value holds CR, LF, NUL or another control but HTAB
    (RFC 9110 §5.1, §5.5; a space before the colon makes the name invalid, RFC 9112 §5.1).
    One match over all the names and one over all the values."""
    if not fields:
        return True
    names = b"\n".join([name for name, _ in fields])
    return (
        _TOKEN_LINES.fullmatch(names) is not None
        # A newline inside a name would pass for a separator: the count tells.
        and names.count(b"\n") == len(fields) - 1
        and _INVALID_VALUE_BYTE.search(b"\t".join([value for _, value in fields])) is None
    )


def parse_content_length(values: Sequence[bytes]) -> int:
    """RFC 9112 §6.3 item 5: Content-Length values, repeated or listed, must all be the same
    valid number."""
    lengths: set[int] = set()
    for value in values:
        for item in value.split(b","):
            item = item.strip(_OWS)
            if not _CONTENT_LENGTH.fullmatch(item):
                raise MalformedRequest
            lengths.add(int(item))
    if len(lengths) != 1:
        raise MalformedRequest
    return lengths.pop()


def check_transfer_coding(values: Sequence[bytes]) -> None:
    """Transfer-Encoding must be exactly `chunked` (case-insensitive).

    RFC 9112 §6.3: chunked not the final coding → 400 and close; RFC 9112 §7: chunked applied
    more than once → 400; RFC 9112 §6.1: a coding the server does not implement (gzip before
    chunked) → 501.
    """
    codings = [c.strip(_OWS).lower() for value in values for c in value.split(b",")]
    if not codings or not all(codings) or codings[-1] != b"chunked":
        raise MalformedRequest
    if codings.count(b"chunked") > 1:
        raise MalformedRequest
    if len(codings) > 1:
        raise NotImplementedByServer


# Clients send the same few Host values over and over.
_HOST_CACHE_SIZE = 256


def parse_host(value: bytes) -> tuple[str, int | None]:
    """A Host field value (RFC 9110 §7.2) as (host lower-case, port or None)."""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedRequest from None
    match = _HOST.fullmatch(text)
    if match is None:
        raise MalformedRequest
    host, port = match.group(1).lower(), match.group(2)
    if port:
        number = int(port)
        if not 0 < number <= 65535:
            raise MalformedRequest
        return host, number
    return host, None


_parse_host_cached = functools.lru_cache(maxsize=_HOST_CACHE_SIZE)(parse_host)
