"""The public surface of tollhouse.oidc is what __all__ lists, and it stands on its own."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import tollhouse.oidc as oidc


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(oidc.__all__) == sorted(
        [
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
    )
    for name in oidc.__all__:
        assert getattr(oidc, name) is not None


def test_the_limits_are_the_documented_ones() -> None:
    assert oidc.DEFAULT_LEEWAY_SECONDS == 300
    assert oidc.MAX_LEEWAY_SECONDS == 600
    assert oidc.MAX_TOKEN_LENGTH == 16 * 1024
    assert oidc.MAX_KID_LENGTH == 128
    assert frozenset({"RS256"}) == oidc.SUPPORTED_ALGORITHMS
    assert oidc.TENANT_PLACEHOLDER == "{tenantid}"


def test_every_error_is_an_oidc_error_and_a_value_error() -> None:
    errors = [getattr(oidc, name) for name in oidc.__all__ if name.endswith("Error")]
    assert len(errors) == 7
    for error in errors:
        assert issubclass(error, oidc.OIDCError)
        assert issubclass(error, ValueError)
    assert issubclass(oidc.InvalidBearerToken, oidc.OIDCError)
    assert not issubclass(oidc.InvalidBearerToken, oidc.IssuerMetadataError)


def test_an_invalid_bearer_token_carries_its_status_and_oauth_error_code() -> None:
    error = oidc.InvalidBearerToken("token expired")
    assert (error.status, error.error, error.reason, str(error)) == (
        401,
        "invalid_token",
        "token expired",
        "token expired",
    )


def test_a_verified_token_is_frozen() -> None:
    assert oidc.VerifiedToken.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert [field.name for field in dataclasses.fields(oidc.VerifiedToken)] == [
        "claims",
        "issuer",
        "tenant_id",
        "object_id",
        "app_id",
        "roles",
    ]


def test_importing_it_loads_no_component() -> None:
    # DESIGN.md: the components import this package, never the other way round.
    code = (
        "import sys, tollhouse.oidc\n"
        "loaded = [m for m in sys.modules if m.startswith('tollhouse.')]\n"
        "print(' '.join(sorted(loaded)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = result.stdout.split()
    assert loaded
    assert all(name.startswith("tollhouse.oidc") for name in loaded), loaded
