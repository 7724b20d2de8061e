"""Reading an issuer's OpenID metadata: discovery document and JWKS (sans-I/O).

entra.md §3.2 step 4 and §4.2: a token is validated against its issuer's OIDC metadata,
`GET {iss}/.well-known/openid-configuration` → `jwks_uri` → key by `kid`. These functions take
the parsed documents and return values; `IssuerMetadataCache` does the fetching.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from tollhouse.oidc._errors import InsecureURLError, MetadataInvalidError

DISCOVERY_PATH = "/.well-known/openid-configuration"
# entra.md §3.1: "Entra caches only the first 100 signing keys from the issuer's JWKS."
MAX_SIGNING_KEYS = 100
# RFC 8725 §3.5 asks for enough key entropy; 2048 bits is Entra's floor for RSA (AADSTS50032).
MIN_RSA_KEY_BITS = 2048

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def require_https(issuer: str, url: str, what: str) -> None:
    """Refuse a URL that is not https, before anything contacts it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InsecureURLError(issuer, f"the {what} is not a valid URL") from None
    # entra.md §3.2 step 4: "The issuer must be a publicly reachable HTTPS URL."
    if parts.scheme != "https" or not parts.hostname:
        raise InsecureURLError(issuer, f"the {what} '{url[:200]}' is not an https:// URL")


def discovery_url(issuer: str) -> str:
    """Where the issuer's discovery document lives.

    OpenID Connect Discovery 1.0 §4: the well-known path is appended to the issuer after
    removing a terminating "/" (AKS and other Kubernetes issuers end in one).
    """
    require_https(issuer, issuer, "issuer")
    return issuer.removesuffix("/") + DISCOVERY_PATH


def parse_json_object(issuer: str, body: bytes, what: str) -> dict[str, Any]:
    """The body as a JSON object, or `MetadataInvalidError`."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MetadataInvalidError(issuer, f"the {what} is not valid JSON") from None
    if not isinstance(document, dict):
        raise MetadataInvalidError(issuer, f"the {what} is not a JSON object")
    return document


def jwks_uri_of(issuer: str, discovery: Mapping[str, Any]) -> str:
    """The `jwks_uri` of a discovery document fetched for `issuer`."""
    # OpenID Connect Discovery 1.0 §4.3: "The issuer value returned MUST be identical to the
    # Issuer URL that was used as the prefix to /.well-known/openid-configuration".
    announced = discovery.get("issuer")
    if announced != issuer:
        shown = announced[:200] if isinstance(announced, str) else repr(announced)[:200]
        raise MetadataInvalidError(
            issuer, f"the discovery document names issuer '{shown}', not the one requested"
        )
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise MetadataInvalidError(issuer, "the discovery document has no jwks_uri")
    require_https(issuer, jwks_uri, "jwks_uri")
    return jwks_uri


def signing_keys_of(
    issuer: str, jwks: Mapping[str, Any], max_keys: int = MAX_SIGNING_KEYS
) -> dict[str, RSAPublicKey]:
    """The usable RS256 keys of a JWKS, by `kid`.

    Only the first `max_keys` entries are looked at (entra.md §3.1). An entry is usable when it
    has a `kid`, `kty` RSA, `use` absent or `sig`, `alg` absent or RS256 (entra.md §3.1: "Only
    RS256-signed external tokens are supported") and at least `MIN_RSA_KEY_BITS`. Unusable
    entries are skipped, not fatal; for a repeated `kid` the first entry wins.
    """
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise MetadataInvalidError(issuer, "the JWKS has no 'keys' list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries[:max_keys]:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or kid in keys:
            continue
        if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", "RS256") != "RS256":
            continue
        key = _rsa_public_key(entry)
        if key is not None and key.key_size >= MIN_RSA_KEY_BITS:
            keys[kid] = key
    return keys


def _rsa_public_key(entry: dict[str, Any]) -> RSAPublicKey | None:
    # RFC 7518 §6.3.1: `n` and `e` are base64url-encoded unsigned big-endian integers. Private
    # parameters, if an issuer leaks them, are not read.
    modulus, exponent = _base64url_uint(entry.get("n")), _base64url_uint(entry.get("e"))
    if modulus is None or exponent is None:
        return None
    try:
        return RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        return None


def _base64url_uint(value: object) -> int | None:
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        return None
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return None
    return int.from_bytes(data, "big") if data else None
