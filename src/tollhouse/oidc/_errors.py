"""The exception tree of tollhouse.oidc.

    OIDCError (ValueError)
    ├── InvalidBearerToken          a bearer token is refused: 401, `invalid_token`
    └── IssuerMetadataError         an issuer's metadata cannot be used
        ├── InsecureURLError        the issuer or its jwks_uri is not https: never contacted
        ├── MetadataFetchError      connection, TLS, timeout, status other than 200, redirect
        ├── ResponseTooLargeError   a document exceeds its byte limit (the read is aborted)
        ├── MetadataInvalidError    not JSON, wrong shape, or names another `issuer`
        └── UnknownSigningKeyError  no usable RS256 key with the token's `kid`

`IssuerMetadataCache` raises only `IssuerMetadataError`s. `TokenVerifier.verify` raises only
`InvalidBearerToken`: it turns every `IssuerMetadataError` into one.
"""

from __future__ import annotations


class OIDCError(ValueError):
    """Base of every error raised by `tollhouse.oidc`."""


class InvalidBearerToken(OIDCError):
    """A bearer token that is refused; `reason` is short and never quotes the token.

    RFC 6750 §3.1: a token that is "expired, revoked, malformed, or invalid for other reasons"
    is answered with 401 and `error="invalid_token"`.
    """

    status = 401
    error = "invalid_token"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IssuerMetadataError(OIDCError):
    """The discovery document or the JWKS of `issuer` cannot be used."""

    def __init__(self, issuer: str, message: str) -> None:
        super().__init__(message)
        self.issuer = issuer


class InsecureURLError(IssuerMetadataError):
    """An issuer or jwks_uri that is not an https URL; it is refused before any connection."""


class MetadataFetchError(IssuerMetadataError):
    """The request failed: network, TLS, timeout, a status other than 200, or a redirect."""


class ResponseTooLargeError(IssuerMetadataError):
    """A discovery document or JWKS larger than its limit."""


class MetadataInvalidError(IssuerMetadataError):
    """A document that is not the JSON object it should be, or names another issuer."""


class UnknownSigningKeyError(IssuerMetadataError):
    """The issuer's JWKS holds no usable RS256 key with the requested `kid`."""
