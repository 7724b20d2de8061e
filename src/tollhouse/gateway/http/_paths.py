"""Request targets, and the one path normalisation done before routing.

security-and-faults.md case 12 (Envoy's normalize_path and merge_slashes): a path is
normalised once, here, and routing, policies and the upstream request all see the result.
The rules, in order:

1. percent-decode the unreserved characters (RFC 3986 §6.2.2.2) and upper-case the hex of
   every other triplet (§6.2.2.1); an encoded slash, backslash or NUL (`%2F`, `%5C`, `%00`), a
   malformed triplet, a raw backslash or a byte outside visible ASCII → 400;
2. percent-encode the visible characters a path may not hold raw (`"`, `<`, `{`, …);
3. merge runs of slashes into one (`//api` → `/api`);
4. remove dot-segments (RFC 3986 §5.2.4), encoded dots included since step 1 decoded them;
   a `..` that would climb above the root → 400;
5. `;` is an ordinary character (APIM does not treat path parameters specially).

A fragment never reaches the path: it is dropped from the target first.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from tollhouse.gateway.http._server_errors import MalformedRequest

# RFC 3986 §2.3.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; plus the "/".
_PATH_SAFE = _UNRESERVED | frozenset(b"!$&'()*+,;=:@/")
_HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")
# Encoded characters that would change the path's structure once a backend decodes them.
_FORBIDDEN_ENCODED = frozenset((0x2F, 0x5C, 0x00))  # "/", "\", NUL
_BACKSLASH = 0x5C
_PERCENT = 0x25

# A path made only of characters that step 1 and 2 leave alone; with no "//" and no "/." it
# is already normal, which is the common case.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")
_ABSOLUTE_FORM = re.compile(rb"(?i)(https?)://([^/?#]*)(.*)", re.DOTALL)


class Target(NamedTuple):
    """A parsed request target (RFC 9112 §3.2); a tuple, as one is made per request."""

    # The normalised path; "*" for `OPTIONS *` (asterisk-form).
    path: str
    # The raw query string, without "?".
    query: str
    # Absolute-form only: the scheme (lower-case) and the authority as sent.
    scheme: str | None = None
    authority: str | None = None


def parse_target(target: bytes, method: str) -> Target:
    """Split and normalise a request target; `MalformedRequest` when it cannot be served.

    Origin-form and absolute-form (http and https) are accepted, asterisk-form only for
    OPTIONS; authority-form belongs to CONNECT, which the server does not implement.
    """
    if target == b"*":
        # RFC 9112 §3.2.4: asterisk-form is only used for a server-wide OPTIONS request.
        if method != "OPTIONS":
            raise MalformedRequest
        return Target(path="*", query="")
    scheme: str | None = None
    authority: str | None = None
    if target[:1] == b"/":
        rest = target
    else:
        match = _ABSOLUTE_FORM.fullmatch(target)
        if match is None:
            raise MalformedRequest
        scheme = match.group(1).decode("ascii").lower()
        raw_authority = match.group(2)
        # RFC 9110 §4.2.4: userinfo in an http(s) URI is refused.
        if not raw_authority or b"@" in raw_authority:
            raise MalformedRequest
        authority = _ascii(raw_authority)
        rest = match.group(3) or b"/"
        if not rest.startswith((b"/", b"?", b"#")):
            raise MalformedRequest
        if not rest.startswith(b"/"):
            rest = b"/" + rest
    # A fragment is not part of a request target (RFC 9112 §3.2); drop it if sent.
    if b"#" in rest:
        rest = rest.split(b"#", 1)[0]
    raw_path, _, query = rest.partition(b"?")
    return Target(normalize_path(_ascii(raw_path)), _ascii(query), scheme, authority)


def normalize_path(path: str) -> str:
    """The normal form of an origin-form path (module docstring), or `MalformedRequest`."""
    if not path:
        return "/"
    if not path.startswith("/"):
        raise MalformedRequest
    if _PLAIN_PATH.fullmatch(path) and "//" not in path and "/." not in path:
        return path
    try:
        raw = path.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedRequest from None
    decoded = _decode_unreserved(raw)
    merged = re.sub("/{2,}", "/", decoded)
    return _remove_dot_segments(merged)


def _decode_unreserved(raw: bytes) -> str:
    out = bytearray()
    index, size = 0, len(raw)
    while index < size:
        byte = raw[index]
        if byte == _PERCENT:
            digits = raw[index + 1 : index + 3]
            if len(digits) != 2 or not all(d in _HEX_DIGITS for d in digits):
                raise MalformedRequest
            value = int(digits, 16)
            if value in _FORBIDDEN_ENCODED:
                raise MalformedRequest
            if value in _UNRESERVED:
                out.append(value)
            else:
                out += b"%" + digits.upper()
            index += 3
            continue
        if byte in _PATH_SAFE:
            out.append(byte)
        elif byte == _BACKSLASH or not 0x21 <= byte <= 0x7E:
            # Some servers read a backslash as a slash: refuse rather than guess.
            raise MalformedRequest
        else:
            out += b"%%%02X" % byte
        index += 1
    return out.decode("ascii")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on a path with no empty segments, refusing to climb above the root."""
    segments = path.split("/")[1:]
    output: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if not output:
                raise MalformedRequest
            output.pop()
            continue
        output.append(segment)
    result = "/" + "/".join(output)
    # "/a/." and "/a/b/.." name a directory: keep the trailing slash the dot-segment implied.
    if segments and segments[-1] in (".", "..") and not result.endswith("/"):
        result += "/"
    return result


def _ascii(raw: bytes) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedRequest from None
