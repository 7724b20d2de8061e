"""The exception tree of federation.

    FederationError (ValueError; the root of tollhouse.oidc's tree, so that it covers both)
    ├── CredentialError             a federated identity credential breaks Graph's rules
    └── IssuerMetadataError         an external issuer's metadata cannot be used, and its
                                    subclasses: raised by `tollhouse.oidc.IssuerMetadataCache`

`CredentialError` becomes a Graph 400 `Request_BadRequest` where credentials are written.
`FederatedAssertionValidator` turns every `IssuerMetadataError` into AADSTS50027
`federated_signature_failed` (entra.md §3.2 step 5); nothing else escapes it but `EntraError`.
"""

from __future__ import annotations

from tollhouse.oidc import OIDCError

# The metadata errors are defined by tollhouse.oidc, below the directory; one root lets
# `except FederationError` catch them together with the credential errors defined here.
FederationError = OIDCError


class CredentialError(FederationError):
    """A federated identity credential document is invalid; `field` names the property."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
