"""Reading a federated client assertion before its signature is checked (sans-I/O).

Only what is needed to pick a federated credential is read here: the JOSE header and the
claims, as JSON objects. Invariant: any input either parses or raises the `EntraError` of
`assertion_invalid` (AADSTS50027) — never anything else (security-and-faults.md C.5 case 23).
Nothing read here is trusted until `FederatedAssertionValidator` has verified the signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from tollhouse.directory.tokens._errors import assertion_invalid

# Kubernetes and GitHub Actions tokens are 1–2 KiB; 16 KiB leaves room for any real issuer
# while bounding the work done before a signature is checked (C.5 case 23: "1 MB payload").
MAX_ASSERTION_LENGTH = 16 * 1024
# RFC 7515 §2: base64url without padding; trailing "=" is tolerated, as PyJWT does.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True)
class UnverifiedAssertion:
    """The decoded header and claims of a compact JWS whose signature is not yet checked."""

    header: dict[str, Any]
    claims: dict[str, Any]


def parse_unverified(
    assertion: object, max_length: int = MAX_ASSERTION_LENGTH
) -> UnverifiedAssertion:
    """Split and decode a compact JWS (RFC 7515 §7.1) without verifying it."""
    if not isinstance(assertion, str):
        raise assertion_invalid("The assertion is not a string.")
    if len(assertion) > max_length:
        raise assertion_invalid(f"The assertion is longer than {max_length} characters.")
    segments = assertion.split(".")
    if len(segments) != 3:
        # Five segments would be a JWE (RFC 7516 §7.1); federated assertions are signed only.
        raise assertion_invalid("The assertion is not a JWS in compact serialization.")
    header_segment, claims_segment, signature_segment = segments
    header = _json_object(_decode(header_segment, "header"), "header")
    claims = _json_object(_decode(claims_segment, "payload"), "payload")
    if not _decode(signature_segment, "signature"):
        raise assertion_invalid("The assertion has no signature.")
    return UnverifiedAssertion(header, claims)


def _decode(segment: str, name: str) -> bytes:
    stripped = segment.rstrip("=")
    if not _SEGMENT.fullmatch(segment) or len(stripped) % 4 == 1:
        raise assertion_invalid(f"The assertion's {name} is not base64url.")
    try:
        data = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise assertion_invalid(f"The assertion's {name} is not base64url.") from None
    # Non-canonical encodings (stray low bits in the last character) decode to the same bytes
    # as another string: refused, so one token has one spelling.
    if base64.urlsafe_b64encode(data).rstrip(b"=") != stripped.encode("ascii"):
        raise assertion_invalid(f"The assertion's {name} is not base64url.")
    return data


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        # RFC 8725 §3.7: UTF-8 only. RFC 7515 §5.2: duplicate member names are rejected.
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise assertion_invalid(f"The assertion's {name} is not a JSON object.") from None
    if not isinstance(value, dict):
        raise assertion_invalid(f"The assertion's {name} is not a JSON object.")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result
