"""App-only access tokens: what they contain (entra.md §4.1) and how we check our own.

The token version is chosen by the resource, not by the endpoint: v1 tokens name the
resource by its identifier URI and the client by `appid`/`appidacr`, with issuer
`{authority}/{tid}/`; v2 tokens name the resource by its application id and the client by
`azp`/`azpacr`, with issuer `{authority}/{tid}/v2.0`.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tollhouse.directory.tokens import _jws as jws
from tollhouse.directory.tokens._keys import KeyRing, SigningKey

# entra.md §1.2/§6.1: MSAL treats tokens with < 300 s left as expired and Entra issues 60–90
# minutes; tokens of at least an hour keep both libraries' caches effective.
MIN_TOKEN_LIFETIME_SECONDS = 3600
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600
# Verification of our own tokens (management callers): five minutes of skew.
DEFAULT_LEEWAY_SECONDS = 300

# `azpacr` / `appidacr` (entra.md §4.1).
AUTH_SECRET = "1"
AUTH_CERTIFICATE = "2"


@dataclass(frozen=True)
class Resource:
    """The resource a token is for: an application exposing an identifier URI."""

    app_id: str
    identifier: str
    token_version: int


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    claims: dict[str, Any]

    def response(self) -> dict[str, Any]:
        """The success body of entra.md §1.2, with `refresh_in` to drive proactive refresh."""
        return {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "refresh_in": self.expires_in // 2,
            "access_token": self.access_token,
        }


def issuer_for(authority: str, tenant_id: str, version: int) -> str:
    base = authority.rstrip("/")
    return f"{base}/{tenant_id}/v2.0" if version == 2 else f"{base}/{tenant_id}/"


def _opaque() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(24)).decode("ascii").rstrip("=")


def sign(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    def segment(value: dict[str, Any]) -> str:
        return jws.b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))

    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = key.private_key().sign(
        signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
    )
    return f"{signing_input}.{jws.b64url_encode(signature)}"


def mint_app_token(
    key: SigningKey,
    *,
    authority: str,
    tenant_id: str,
    resource: Resource,
    client_app_id: str,
    service_principal_id: str,
    auth_method: str,
    roles: Collection[str] = (),
    now: float,
    lifetime: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
) -> IssuedToken:
    issued_at = int(now)
    v2 = resource.token_version == 2
    claims: dict[str, Any] = {
        "aud": resource.app_id if v2 else resource.identifier,
        "iss": issuer_for(authority, tenant_id, resource.token_version),
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime,
        "aio": _opaque(),
    }
    if v2:
        claims.update(azp=client_app_id, azpacr=auth_method)
    else:
        claims.update(appid=client_app_id, appidacr=auth_method)
        claims["idp"] = claims["iss"]
    claims.update(idtyp="app", oid=service_principal_id, rh=_opaque())
    if roles:
        claims["roles"] = sorted(roles)
    claims.update(
        sub=service_principal_id,
        tid=tenant_id,
        uti=_opaque()[:22],
        ver="2.0" if v2 else "1.0",
        xms_tcdt=issued_at,
    )
    header: dict[str, Any] = {"typ": "JWT", "alg": "RS256", "kid": key.kid}
    if not v2:
        header["x5t"] = key.kid
    return IssuedToken(sign(header, claims, key), lifetime, claims)


class InvalidToken(ValueError):
    """A bearer token that does not verify; the message is safe to log, never to echo."""


def unverified_tenant(token: str) -> str | None:
    """The `tid` of a token before verification: it names the issuers to verify against."""
    try:
        tid = jws.parse(token).payload.get("tid")
    except jws.MalformedJws:
        return None
    return tid if isinstance(tid, str) else None


def verify_access_token(
    token: str,
    *,
    keys: KeyRing,
    issuers: Collection[str],
    audiences: Collection[str],
    now: float,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
) -> dict[str, Any]:
    """The claims of a token this directory issued, after every check (RFC 8725 §3)."""
    try:
        parsed = jws.parse(token)
    except jws.MalformedJws as exc:
        raise InvalidToken(str(exc)) from exc
    kid = parsed.header.get("kid")
    # RFC 8725 §3.1: our keys sign RS256 only; the token's alg must agree.
    if parsed.alg != "RS256" or not isinstance(kid, str):
        raise InvalidToken("unexpected algorithm or key")
    key = keys.get(kid, now)
    if key is None or not jws.verify_rsa(parsed, key.public_key(), frozenset({"RS256"})):
        raise InvalidToken("bad signature")
    claims = parsed.payload
    if claims.get("iss") not in issuers:
        raise InvalidToken("unexpected issuer")
    aud = claims.get("aud")
    if not isinstance(aud, str) or aud not in audiences:
        raise InvalidToken("unexpected audience")
    try:
        exp = jws.numeric_date(claims, "exp")
        nbf = jws.numeric_date(claims, "nbf")
    except jws.MalformedJws as exc:
        raise InvalidToken(str(exc)) from exc
    if exp is None or now > exp + leeway or (nbf is not None and now + leeway < nbf):
        raise InvalidToken("expired or not yet valid")
    for claim in ("tid", "oid"):
        if not isinstance(claims.get(claim), str):
            raise InvalidToken(f"no {claim} claim")
    return claims


def new_guid() -> str:
    return str(uuid.uuid4())
