"""Verifying bearer tokens from OIDC issuers, as a resource server.

`TokenVerifier` checks a token (RFC 8725: algorithm allow-list, issuer, audience, times,
signature) with keys that `IssuerMetadataCache` fetches from the issuer's own discovery
document and JWKS over HTTPS. Used by the control plane for its management and configuration
APIs, by the gateway's `validate-jwt` policy, and by the directory's federation code.

This package sits below the components: it imports none of them.
"""

from tollhouse.oidc._cache import (
    DEFAULT_USER_AGENT,
    FETCH_TIMEOUT_SECONDS,
    KEYS_LIFETIME_SECONDS,
    MAX_DISCOVERY_BYTES,
    MAX_JWKS_BYTES,
    UNKNOWN_KID_REFETCH_SECONDS,
    IssuerMetadataCache,
    SigningKeySource,
)
from tollhouse.oidc._errors import (
    InsecureURLError,
    InvalidBearerToken,
    IssuerMetadataError,
    MetadataFetchError,
    MetadataInvalidError,
    OIDCError,
    ResponseTooLargeError,
    UnknownSigningKeyError,
)
from tollhouse.oidc._jws import MAX_JSON_DEPTH, MAX_TOKEN_LENGTH, UnverifiedJws, parse_compact
from tollhouse.oidc._metadata import MAX_SIGNING_KEYS, MIN_RSA_KEY_BITS
from tollhouse.oidc._verifier import (
    DEFAULT_LEEWAY_SECONDS,
    MAX_KID_LENGTH,
    MAX_LEEWAY_SECONDS,
    SUPPORTED_ALGORITHMS,
    TENANT_PLACEHOLDER,
    TokenVerifier,
    VerifiedToken,
)

__all__ = [
    "DEFAULT_LEEWAY_SECONDS",
    "DEFAULT_USER_AGENT",
    "FETCH_TIMEOUT_SECONDS",
    "KEYS_LIFETIME_SECONDS",
    "MAX_DISCOVERY_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JWKS_BYTES",
    "MAX_KID_LENGTH",
    "MAX_LEEWAY_SECONDS",
    "MAX_SIGNING_KEYS",
    "MAX_TOKEN_LENGTH",
    "MIN_RSA_KEY_BITS",
    "SUPPORTED_ALGORITHMS",
    "TENANT_PLACEHOLDER",
    "UNKNOWN_KID_REFETCH_SECONDS",
    "InsecureURLError",
    "InvalidBearerToken",
    "IssuerMetadataCache",
    "IssuerMetadataError",
    "MetadataFetchError",
    "MetadataInvalidError",
    "OIDCError",
    "ResponseTooLargeError",
    "SigningKeySource",
    "TokenVerifier",
    "UnknownSigningKeyError",
    "UnverifiedJws",
    "VerifiedToken",
    "parse_compact",
]
