"""Reading a compact JWS (RFC 7515 §7.1) before its signature is checked (sans-I/O).

Invariant: any input either parses or raises `InvalidBearerToken` — never anything else
(security-and-faults.md C.5 case 23). The work done is bounded by `max_length` and
`MAX_JSON_DEPTH` before anything is trusted. Nothing read here is trusted until
`TokenVerifier` has verified the signature over `signing_input`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from tollhouse.oidc._errors import InvalidBearerToken

# Entra access tokens are 1–3 KiB, up to ~8 KiB with a full `groups` claim (the claim
# overflows into a Graph link beyond 200 groups); 16 KiB bounds the work done on garbage.
MAX_TOKEN_LENGTH = 16 * 1024
# Access token claims are flat, with lists of strings (`roles`, `aud`); 8 levels are plenty.
MAX_JSON_DEPTH = 8
# RFC 7515 §2: base64url without padding; trailing "=" is tolerated (azure-identity's
# AadClient pads, entra.md §2.2), and the signature is checked over the text as received.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True)
class UnverifiedJws:
    """The decoded parts of a compact JWS whose signature is not yet checked."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_compact(token: object, max_length: int = MAX_TOKEN_LENGTH) -> UnverifiedJws:
    """Split and decode a compact JWS without verifying it."""
    if not isinstance(token, str):
        raise InvalidBearerToken("token is not a string")
    if len(token) > max_length:
        raise InvalidBearerToken("token too large")
    segments = token.split(".")
    if len(segments) != 3:
        # Five segments would be a JWE (RFC 7516 §7.1): bearer tokens here are signed only.
        raise InvalidBearerToken("token is not a compact JWS")
    header_segment, claims_segment, signature_segment = segments
    header = _json_object(_decode(header_segment), "header")
    claims = _json_object(_decode(claims_segment), "payload")
    signature = _decode(signature_segment)
    if not signature:
        # RFC 8725 §3.1 / C.5 case 17: an empty signature is an unsigned token.
        raise InvalidBearerToken("token has no signature")
    # The segments were matched against an ASCII pattern, so this cannot fail.
    signing_input = f"{header_segment}.{claims_segment}".encode("ascii")
    return UnverifiedJws(header, claims, signing_input, signature)


def _decode(segment: str) -> bytes:
    stripped = segment.rstrip("=")
    if not _SEGMENT.fullmatch(segment) or len(stripped) % 4 == 1:
        raise InvalidBearerToken("token segment is not base64url")
    try:
        data = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise InvalidBearerToken("token segment is not base64url") from None
    # Non-canonical encodings (stray low bits in the last character) decode to the same bytes
    # as another string: refused, so that one token has one spelling.
    if base64.urlsafe_b64encode(data).rstrip(b"=") != stripped.encode("ascii"):
        raise InvalidBearerToken("token segment is not base64url")
    return data


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        # RFC 8725 §3.7: UTF-8 only. RFC 7515 §5.2: duplicate member names are rejected.
        # RFC 8259 has no NaN or Infinity, which Python's json would otherwise accept.
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidBearerToken(f"token {name} is not a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidBearerToken(f"token {name} is not a JSON object")
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidBearerToken(f"token {name} is nested too deeply")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests objects and arrays more than `limit` levels (no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: list[object]
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
