"""The public surface of tollhouse.directory.federation is what __all__ lists."""

from __future__ import annotations

import tollhouse.directory.federation as federation


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(federation.__all__) == sorted(
        [
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
    )
    for name in federation.__all__:
        assert getattr(federation, name) is not None


def test_every_error_is_a_federation_error_and_a_value_error() -> None:
    errors = [getattr(federation, name) for name in federation.__all__ if name.endswith("Error")]
    assert len(errors) == 8
    for error in errors:
        assert issubclass(error, federation.FederationError)
        assert issubclass(error, ValueError)
    assert issubclass(federation.UnknownSigningKeyError, federation.IssuerMetadataError)
