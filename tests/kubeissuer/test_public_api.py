"""The public surface of tollhouse.kubeissuer is what __all__ lists."""

from __future__ import annotations

import dataclasses

import tollhouse.kubeissuer as kubeissuer


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(kubeissuer.__all__) == sorted(
        [
            "DEFAULT_AUDIENCE",
            "DEFAULT_LIFETIME_SECONDS",
            "DEFAULT_NAMESPACE",
            "DEFAULT_SERVICE_ACCOUNT",
            "MAX_TOKEN_AGE_SECONDS",
            "MIN_LIFETIME_SECONDS",
            "ROTATE_FRACTION",
            "KubeIssuerConfig",
            "ServiceAccountIssuer",
            "TokenFileWriter",
            "create_app",
            "key_id",
            "load_or_create_signing_key",
            "run",
            "write_atomically",
        ]
    )
    for name in kubeissuer.__all__:
        assert getattr(kubeissuer, name) is not None


def test_the_config_is_a_frozen_dataclass_with_the_documented_fields() -> None:
    fields = [field.name for field in dataclasses.fields(kubeissuer.KubeIssuerConfig)]
    assert fields == [
        "host",
        "port",
        "issuer_url",
        "tls_cert_path",
        "tls_key_path",
        "signing_key_path",
        "token_file",
        "namespace",
        "service_account",
        "audience",
        "lifetime_seconds",
        "rewrite_after_seconds",
    ]
    assert kubeissuer.KubeIssuerConfig.__dataclass_params__.frozen  # type: ignore[attr-defined]
