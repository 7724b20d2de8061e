"""External OIDC issuers: federated identity credentials, issuer metadata, assertion checks.

How the directory accepts a federated client assertion (workload identity federation,
entra.md §3): `parse_federated_credential` validates the Graph object,
`FederatedAssertionValidator` matches a token to one credential and verifies it with keys from
`IssuerMetadataCache`, which fetches issuers' discovery documents and JWKS over HTTPS. The
cache and its errors live in `tollhouse.oidc` and are re-exported here.
"""

from tollhouse.directory.federation._assertion import MAX_ASSERTION_LENGTH
from tollhouse.directory.federation._credential import (
    DEFAULT_AUDIENCE,
    MAX_FEDERATED_CREDENTIALS_PER_APP,
    FederatedCredential,
    parse_federated_credential,
)
from tollhouse.directory.federation._errors import CredentialError, FederationError
from tollhouse.directory.federation._validator import (
    DEFAULT_LEEWAY_SECONDS,
    FederatedAssertionValidator,
)
from tollhouse.oidc import (
    FETCH_TIMEOUT_SECONDS,
    KEYS_LIFETIME_SECONDS,
    MAX_DISCOVERY_BYTES,
    MAX_JWKS_BYTES,
    MAX_SIGNING_KEYS,
    UNKNOWN_KID_REFETCH_SECONDS,
    InsecureURLError,
    IssuerMetadataCache,
    IssuerMetadataError,
    MetadataFetchError,
    MetadataInvalidError,
    ResponseTooLargeError,
    SigningKeySource,
    UnknownSigningKeyError,
)

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_LEEWAY_SECONDS",
    "FETCH_TIMEOUT_SECONDS",
    "KEYS_LIFETIME_SECONDS",
    "MAX_ASSERTION_LENGTH",
    "MAX_DISCOVERY_BYTES",
    "MAX_FEDERATED_CREDENTIALS_PER_APP",
    "MAX_JWKS_BYTES",
    "MAX_SIGNING_KEYS",
    "UNKNOWN_KID_REFETCH_SECONDS",
    "CredentialError",
    "FederatedAssertionValidator",
    "FederatedCredential",
    "FederationError",
    "InsecureURLError",
    "IssuerMetadataCache",
    "IssuerMetadataError",
    "MetadataFetchError",
    "MetadataInvalidError",
    "ResponseTooLargeError",
    "SigningKeySource",
    "UnknownSigningKeyError",
    "parse_federated_credential",
]
