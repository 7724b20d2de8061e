"""Certificate client assertions (RFC 7523 §3, Entra `certificate-credentials.md`).

What the real clients send differs (entra.md §2.2): RS256 or PS256, `x5t` or `x5t#S256`,
padded segments, float times, `iat` or `nbf` missing, one assertion reused for nine minutes.
Entra accepts all of it, and so does this (entra.md §2.3 gives the order of checks).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.directory.tokens import _errors as errors
from tollhouse.directory.tokens import _jws as jws

# About five minutes of clock skew, as Entra tolerates (entra.md §9.3).
DEFAULT_LEEWAY_SECONDS = 300
# Entra sets no cap on `exp`; we refuse assertions usable for longer than an hour (the
# longest a real client asks for is 30 minutes, azure-identity's AadClient). Setting:
# directory.assertion.maxLifetime.
DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS = 3600
# entra.md §2.3.5: weak RSA keys are refused (AADSTS50032).
MIN_RSA_KEY_BITS = 2048


@dataclass(frozen=True)
class RegisteredCertificate:
    """A key credential of an application, as the token endpoint needs it."""

    key_id: str
    sha1: bytes
    sha256: bytes
    public_key: rsa.RSAPublicKey
    not_before: float
    not_after: float


def unverified_issuer(assertion: str) -> str | None:
    """The `iss` of an assertion before any check: it tells a certificate assertion (`iss` is
    the client id) from a federated one (`iss` is the external issuer)."""
    try:
        parsed = jws.parse(assertion)
    except jws.MalformedJws:
        return None
    iss = parsed.payload.get("iss")
    return iss if isinstance(iss, str) else None


def _thumbprint(header: dict[str, object]) -> tuple[str, bytes]:
    for name in ("x5t#S256", "x5t"):
        value = header.get(name)
        if isinstance(value, str) and value:
            try:
                return name, jws.b64url_decode(value)
            except jws.MalformedJws as exc:
                raise errors.assertion_invalid(f"The '{name}' header is malformed.") from exc
    raise errors.assertion_invalid("The assertion header names no key: 'x5t' or 'x5t#S256'.")


def verify_client_assertion(
    assertion: str,
    *,
    client_id: str,
    token_endpoints: Collection[str],
    certificates: Sequence[RegisteredCertificate],
    now: float,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    max_lifetime: float = DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS,
) -> RegisteredCertificate:
    """The certificate that signed a valid assertion, or the EntraError saying why not."""
    try:
        parsed = jws.parse(assertion)
    except jws.MalformedJws as exc:
        raise errors.assertion_invalid(f"The client assertion is malformed: {exc}.") from exc
    if parsed.alg not in jws.RSA_ALGORITHMS:
        raise errors.assertion_invalid("The assertion must be signed with RS256 or PS256.")
    claims = parsed.payload

    # entra.md §2.3.1, rfc7523bis: exactly one audience, our own token endpoint.
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if not isinstance(aud, str) or aud not in token_endpoints:
        raise errors.assertion_invalid(
            "The client assertion's audience must be this token endpoint."
        )
    # entra.md §2.3.2: iss == sub == client_id.
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise errors.assertion_subject_mismatch()

    name, thumbprint = _thumbprint(parsed.header)
    attribute = "sha256" if name == "x5t#S256" else "sha1"
    matches = [c for c in certificates if getattr(c, attribute) == thumbprint]
    shown = thumbprint.hex().upper()
    if not matches:
        raise errors.assertion_key_not_found(shown, client_id)
    certificate = matches[0]
    if not certificate.not_before - leeway <= now <= certificate.not_after + leeway:
        raise errors.assertion_key_expired(shown, client_id)
    if certificate.public_key.key_size < MIN_RSA_KEY_BITS:
        raise errors.assertion_weak_key(certificate.public_key.key_size)
    if not jws.verify_rsa(parsed, certificate.public_key):
        raise errors.assertion_bad_signature(client_id)

    try:
        exp = jws.numeric_date(claims, "exp")
        nbf = jws.numeric_date(claims, "nbf")
        iat = jws.numeric_date(claims, "iat")
    except jws.MalformedJws as exc:
        raise errors.assertion_invalid(str(exc)) from exc
    if exp is None:
        raise errors.assertion_invalid("The client assertion has no 'exp' claim.")
    start = nbf if nbf is not None else iat
    if now > exp + leeway or (start is not None and now + leeway < start):
        raise errors.assertion_time_range(now, start, exp)
    if exp - (start if start is not None else now) > max_lifetime:
        raise errors.assertion_time_range(now, start, exp)
    return certificate
