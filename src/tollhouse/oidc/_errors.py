"""The exception tree of federation.

    FederationError (ValueError)
    ├── CredentialError             a federated identity credential breaks Graph's rules
    └── IssuerMetadataError         an external issuer's metadata cannot be used
        ├── InsecureURLError        the issuer or its jwks_uri is not https: never contacted
        ├── MetadataFetchError      connection, TLS, timeout, status other than 200, redirect
        ├── ResponseTooLargeError   a document exceeds its byte limit (the read is aborted)
        ├── MetadataInvalidError    not JSON, wrong shape, or names another `issuer`
        └── UnknownSigningKeyError  no usable RS256 key with the token's `kid`

`CredentialError` becomes a Graph 400 `Request_BadRequest` where credentials are written.
`FederatedAssertionValidator` turns every `IssuerMetadataError` into AADSTS50027
`federated_signature_failed` (entra.md §3.2 step 5); nothing else escapes it but `EntraError`.
"""

from __future__ import annotations


class FederationError(ValueError):
    """Base of every error raised by `tollhouse.directory.federation`."""


class CredentialError(FederationError):
    """A federated identity credential document is invalid; `field` names the property."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class IssuerMetadataError(FederationError):
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
