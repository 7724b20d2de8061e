"""How a resource server verifies a bearer token from an OIDC issuer (RFC 8725, RFC 9068).

The order is deliberate: everything that can be decided from the token alone is decided
before any network access, so a token that would be refused anyway never costs a fetch, and
an issuer that is not trusted by configuration is never contacted (security-and-faults.md
C.5 cases 21 and 26).

1. parse strictly (`_jws`) and check the header: `alg` from the allow-list, `kid` present;
2. `iss` is one of the trusted issuers — exactly, or by a `{tenantid}` template — then `tid`,
   `aud`, `exp`/`nbf`/`iat`, and the shape of the claims a caller reads;
3. the key `kid` of that issuer, from its own discovery document and JWKS (RFC 8725 §3.8: the
   key must belong to the issuer), and the RS256 signature over the token as received.

Header parameters that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are never read (RFC 8725
§3.10). Every failure is an `InvalidBearerToken` whose reason names the rule, never a value.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tollhouse.oidc._cache import SigningKeySource
from tollhouse.oidc._errors import InvalidBearerToken, IssuerMetadataError, UnknownSigningKeyError
from tollhouse.oidc._jws import MAX_TOKEN_LENGTH, parse_compact
from tollhouse.oidc._metadata import MIN_RSA_KEY_BITS

# Clock skew tolerated on exp, nbf and iat; Entra's documented tolerance is five minutes.
DEFAULT_LEEWAY_SECONDS = 300
# RFC 8725 / RFC 7519 §4.1.4 allow "a small leeway"; more than ten minutes is a misconfiguration.
MAX_LEEWAY_SECONDS = 600
# The key identifier is untrusted input (RFC 8725 §3.10). Entra's are 27 characters (a SHA-1
# thumbprint), Kubernetes' 43 (a SHA-256 one); anything much longer is not a key id.
MAX_KID_LENGTH = 128
# entra.md §4.2: "With `common` metadata, substitute `{tenantid}` with the token's `tid`."
TENANT_PLACEHOLDER = "{tenantid}"
# Algorithms a key from `IssuerMetadataCache` may verify: its JWKS parser keeps only keys
# whose `alg` is RS256 or absent, so each key is bound to RS256 (RFC 8725 §3.1).
SUPPORTED_ALGORITHMS = frozenset({"RS256"})
# NumericDates outside 1970–9999 are not times.
_LATEST_NUMERIC_DATE = 253402300799
# entra.md §4.2: "check `tid` is a GUID" before substituting it into an issuer.
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class VerifiedToken:
    """A token that passed every check, and the claims callers authorise by.

    entra.md §4.1: `oid` is the caller's service principal object id; the client application
    is `appid` in v1 tokens and `azp` in v2 tokens; `roles` may be absent (empty here).
    """

    claims: Mapping[str, Any]
    issuer: str
    tenant_id: str | None
    object_id: str | None
    app_id: str | None
    roles: tuple[str, ...]


class TokenVerifier:
    """Verifies bearer tokens issued by `issuers` for `audiences`, with keys from `cache`.

    `issuers` are compared exactly (entra.md §4.2: "Exact `iss` match"); an entry containing
    `{tenantid}` matches the token's `iss` with its `tid` (a GUID) substituted. `tenant_ids`,
    when given, is the allow-list of `tid` every token must carry; without it, a template
    makes the metadata of any tenant's issuer fetchable by presenting a token, so give it
    unless the API really serves every tenant. `clock` returns Unix time. Configuration
    errors raise `ValueError` here; `verify` raises only `InvalidBearerToken`.
    """

    def __init__(
        self,
        cache: SigningKeySource,
        *,
        issuers: Sequence[str],
        audiences: Sequence[str],
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        algorithms: Sequence[str] = ("RS256",),
        clock: Callable[[], float] = time.time,
        tenant_ids: Sequence[str] | None = None,
        max_token_length: int = MAX_TOKEN_LENGTH,
    ) -> None:
        self._cache = cache
        self._exact, self._templates = _issuers(issuers)
        if isinstance(audiences, str) or not audiences:
            raise ValueError("audiences must be a non-empty list of strings")
        if not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("audiences must be non-empty strings")
        self._audiences = frozenset(audiences)
        if not 0 <= leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway_seconds must be between 0 and {MAX_LEEWAY_SECONDS}")
        self._leeway = float(leeway_seconds)
        if isinstance(algorithms, str) or not algorithms:
            raise ValueError("algorithms must be a non-empty list")
        unsupported = set(algorithms) - SUPPORTED_ALGORITHMS
        if unsupported:
            # RFC 8725 §3.1: never `none`, never HS* for keys that are public.
            raise ValueError(
                f"unsupported algorithms {sorted(unsupported)!r}; "
                f"supported: {sorted(SUPPORTED_ALGORITHMS)!r}"
            )
        self._algorithms = frozenset(algorithms)
        self._clock = clock
        self._tenant_ids = _tenant_ids(tenant_ids)
        self._max_length = max_token_length

    async def verify(self, token: str) -> VerifiedToken:
        """The verified token, or `InvalidBearerToken` saying which rule it breaks."""
        parsed = parse_compact(token, self._max_length)
        header, claims = parsed.header, parsed.claims

        alg = header.get("alg")
        # RFC 8725 §3.1: the allow-list decides; `none`, HS* and the rest are not in it.
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidBearerToken("algorithm not allowed")
        if "crit" in header:
            # RFC 7515 §4.1.11: extensions we do not understand make the token invalid.
            raise InvalidBearerToken("critical header parameters are not supported")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise InvalidBearerToken("kid missing or invalid")

        tenant_id = _optional_string(claims, "tid")
        issuer = self._trusted_issuer(claims.get("iss"), tenant_id)
        if self._tenant_ids is not None and (
            tenant_id is None or tenant_id.lower() not in self._tenant_ids
        ):
            raise InvalidBearerToken("tenant not allowed")
        if not self._audiences.intersection(_audiences(claims)):
            # RFC 8725 §3.9, RFC 9700 §2.3: a token for another resource is refused.
            raise InvalidBearerToken("audience not accepted")
        self._check_times(claims)
        verified = _verified(claims, issuer, tenant_id)

        key = await self._signing_key(issuer, kid)
        try:
            # RFC 7515 §5.2: the signature covers the first two segments as received; RS256 is
            # RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), the one supported algorithm.
            key.verify(parsed.signature, parsed.signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise InvalidBearerToken("signature invalid") from None
        return verified

    def _trusted_issuer(self, issuer: object, tenant_id: str | None) -> str:
        if not isinstance(issuer, str) or not issuer:
            raise InvalidBearerToken("issuer missing")
        if issuer in self._exact:
            return issuer
        if tenant_id is not None and _GUID.fullmatch(tenant_id):
            for template in self._templates:
                if template.replace(TENANT_PLACEHOLDER, tenant_id) == issuer:
                    return issuer
        raise InvalidBearerToken("issuer not trusted")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        expiry = _numeric_date(claims, "exp")
        if expiry is None:
            raise InvalidBearerToken("exp missing")
        # RFC 7519 §4.1.4: the token "MUST NOT be accepted for processing" on or after exp.
        if now >= expiry + self._leeway:
            raise InvalidBearerToken("token expired")
        # RFC 7519 §4.1.5: nor before nbf.
        not_before = _numeric_date(claims, "nbf")
        if not_before is not None and now + self._leeway < not_before:
            raise InvalidBearerToken("token not yet valid")
        # C.5 case 21: an iat in the future is no better.
        issued_at = _numeric_date(claims, "iat")
        if issued_at is not None and now + self._leeway < issued_at:
            raise InvalidBearerToken("token issued in the future")

    async def _signing_key(self, issuer: str, kid: str) -> RSAPublicKey:
        try:
            key = await self._cache.signing_key(issuer, kid)
        except UnknownSigningKeyError:
            # Its message quotes the token's kid: not carried along.
            raise InvalidBearerToken("signing key not found") from None
        except IssuerMetadataError as exc:
            # The cause names a trusted issuer and what failed; it is worth a log line.
            raise InvalidBearerToken("issuer metadata unavailable") from exc
        if not isinstance(key, RSAPublicKey) or key.key_size < MIN_RSA_KEY_BITS:
            raise InvalidBearerToken("signing key not usable")
        return key


def _issuers(issuers: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    if isinstance(issuers, str) or not issuers:
        raise ValueError("issuers must be a non-empty list of URLs")
    exact: set[str] = set()
    templates: list[str] = []
    for issuer in issuers:
        if not isinstance(issuer, str):
            raise ValueError("issuers must be strings")
        try:
            parts = urlsplit(issuer)
            hostname = parts.hostname
        except ValueError:
            raise ValueError(f"issuer {issuer!r} is not a URL") from None
        # entra.md §3.2 step 4: issuers are https URLs; their metadata is fetched from them.
        if parts.scheme != "https" or not hostname:
            raise ValueError(f"issuer {issuer!r} is not an https:// URL")
        if TENANT_PLACEHOLDER in issuer:
            # entra.md §4.2 templates name the tenant in the path: the host is never the token's.
            if issuer.count(TENANT_PLACEHOLDER) != 1 or TENANT_PLACEHOLDER not in parts.path:
                raise ValueError(
                    f"issuer {issuer!r} must name {TENANT_PLACEHOLDER} once, in the path"
                )
            templates.append(issuer)
        else:
            exact.add(issuer)
    return frozenset(exact), tuple(templates)


def _tenant_ids(tenant_ids: Sequence[str] | None) -> frozenset[str] | None:
    if tenant_ids is None:
        return None
    if isinstance(tenant_ids, str) or not tenant_ids:
        raise ValueError("tenant_ids must be None or a non-empty list of tenant ids")
    if not all(isinstance(t, str) and _GUID.fullmatch(t) for t in tenant_ids):
        raise ValueError("tenant_ids must be GUIDs")
    # GUIDs compare without regard to case; Entra writes them in lower case.
    return frozenset(t.lower() for t in tenant_ids)


def _audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    audience = claims.get("aud")
    # RFC 7519 §4.1.3: "aud" is a string or an array of strings.
    if isinstance(audience, str):
        return (audience,)
    if isinstance(audience, list) and all(isinstance(value, str) for value in audience):
        return tuple(audience)
    return ()


def _verified(claims: dict[str, Any], issuer: str, tenant_id: str | None) -> VerifiedToken:
    # entra.md §4.1: v1 tokens name the client `appid`, v2 tokens `azp`.
    appid, azp = _optional_string(claims, "appid"), _optional_string(claims, "azp")
    if appid is not None and azp is not None and appid != azp:
        raise InvalidBearerToken("appid and azp disagree")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidBearerToken("roles claim malformed")
    return VerifiedToken(
        claims=MappingProxyType(claims),
        issuer=issuer,
        tenant_id=tenant_id,
        object_id=_optional_string(claims, "oid"),
        app_id=appid if appid is not None else azp,
        roles=tuple(roles),
    )


def _optional_string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidBearerToken(f"{name} claim malformed")
    return value


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # RFC 7519 §2 NumericDate: a JSON number; floats are allowed.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= _LATEST_NUMERIC_DATE
    ):
        raise InvalidBearerToken(f"{name} claim malformed")
    return float(value)
