"""Compact JWS (RFC 7515 §7.1) split and verified without trusting the header.

The real clients do not all produce canonical JWS: azure-identity's `AadClient` encodes the
header and payload with `=` padding, and MSAL writes float NumericDates (entra.md §2.2). This
parser accepts both; the signature is always checked over the segments exactly as received.
Any malformed input raises `MalformedJws`, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# An assertion with a certificate chain in `x5c` stays far below this; RFC 8725 §3.7 asks for
# bounded work on untrusted input.
MAX_JWS_BYTES = 32 * 1024
MAX_JSON_DEPTH = 8
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*={0,2}")

# RFC 8725 §3.1: the algorithm is chosen by the verifier's allow-list, never by the token.
RSA_ALGORITHMS = frozenset({"RS256", "PS256"})


class MalformedJws(ValueError):
    """The input is not a compact JWS we can read."""


@dataclass(frozen=True)
class Jws:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        alg = self.header.get("alg")
        return alg if isinstance(alg, str) else ""


def b64url_decode(segment: str) -> bytes:
    """base64url with or without `=` padding (RFC 7515 §2 forbids it; AadClient sends it)."""
    if not _SEGMENT.fullmatch(segment):
        raise MalformedJws("a segment is not base64url")
    unpadded = segment.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedJws("a segment is not base64url") from exc


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJws(f"duplicate member {key[:32]!r}")
        result[key] = value
    return result


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        # RFC 8725 §3.7: UTF-8 only.
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedJws(f"the {what} is not a JSON object") from exc
    if not isinstance(value, dict):
        raise MalformedJws(f"the {what} is not a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise MalformedJws(f"the {what} is nested too deeply")
    return value


def parse(token: str, max_bytes: int = MAX_JWS_BYTES) -> Jws:
    if not isinstance(token, str) or len(token) > max_bytes:
        raise MalformedJws("the token is too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJws("a compact JWS has three segments")
    header_segment, payload_segment, signature_segment = parts
    header = _json_object(b64url_decode(header_segment), "header")
    payload = _json_object(b64url_decode(payload_segment), "payload")
    return Jws(
        header=header,
        payload=payload,
        signing_input=f"{header_segment}.{payload_segment}".encode("ascii"),
        signature=b64url_decode(signature_segment),
    )


def verify_rsa(jws: Jws, key: rsa.RSAPublicKey, allowed: frozenset[str] = RSA_ALGORITHMS) -> bool:
    """True when the signature is valid for `key` under an allowed RSA algorithm."""
    alg = jws.alg
    if alg not in allowed:
        return False
    pad: padding.AsymmetricPadding
    if alg == "RS256":
        pad = padding.PKCS1v15()
    else:
        # PS256 verifiers must accept any salt length: MSAL uses the digest length,
        # azure-identity's AadClient 32 bytes — both are 32 today, AUTO keeps us honest.
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    try:
        key.verify(jws.signature, jws.signing_input, pad, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def numeric_date(payload: dict[str, Any], claim: str) -> float | None:
    """A NumericDate claim (RFC 7519 §2), ints or floats; None when absent."""
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedJws(f"the '{claim}' claim is not a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise MalformedJws(f"the '{claim}' claim is not a number")
    return float(value)
