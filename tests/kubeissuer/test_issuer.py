"""ServiceAccountIssuer publishes and signs like kube-apiserver and the kubelet (entra.md §5.1)."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.kubeissuer import ServiceAccountIssuer, key_id

ISSUER = "https://127.0.0.1:8444/cluster/"
NOW = 1_750_000_000.5


def b64url_json(segment: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@pytest.fixture
def issuer(signing_key_pem: bytes) -> ServiceAccountIssuer:
    return ServiceAccountIssuer(ISSUER, signing_key_pem)


def test_the_kid_is_the_base64url_sha256_of_the_der_public_key(
    issuer: ServiceAccountIssuer, signing_key: rsa.RSAPrivateKey
) -> None:
    der = signing_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert issuer.kid == expected == key_id(signing_key.public_key())
    assert len(issuer.kid) == 43


def test_the_discovery_document_is_the_self_managed_cluster_one(
    issuer: ServiceAccountIssuer,
) -> None:
    assert issuer.discovery_document() == {
        "issuer": ISSUER,
        "jwks_uri": "https://127.0.0.1:8444/cluster/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def test_an_issuer_without_a_trailing_slash_gets_the_same_jwks_path(
    signing_key_pem: bytes,
) -> None:
    issuer = ServiceAccountIssuer("https://127.0.0.1:8444", signing_key_pem)
    assert issuer.jwks_uri == "https://127.0.0.1:8444/openid/v1/jwks"
    assert issuer.path == ""
    assert ServiceAccountIssuer(ISSUER, signing_key_pem).path == "/cluster"


def test_the_jwks_publishes_the_signing_key_as_an_rs256_signature_key(
    issuer: ServiceAccountIssuer, signing_key: rsa.RSAPrivateKey
) -> None:
    (entry,) = issuer.jwks()["keys"]
    assert {k: entry[k] for k in ("use", "kty", "kid", "alg")} == {
        "use": "sig",
        "kty": "RSA",
        "kid": issuer.kid,
        "alg": "RS256",
    }
    assert entry["e"] == "AQAB"
    assert "=" not in entry["n"]
    assert set(entry) == {"use", "kty", "kid", "alg", "n", "e"}
    public = jwt.PyJWK(entry).key
    assert public.public_numbers() == signing_key.public_key().public_numbers()


def test_a_minted_token_has_the_kubelet_header_and_claims(issuer: ServiceAccountIssuer) -> None:
    token = issuer.mint(
        "apim-gateway-wi",
        "apim-gateway-workload-identity",
        now=NOW,
        pod_name="gateway-0",
        pod_uid="11111111-2222-3333-4444-555555555555",
        service_account_uid="66666666-7777-8888-9999-000000000000",
    )
    header_segment, claims_segment, _ = token.split(".")
    assert b64url_json(header_segment) == {"alg": "RS256", "kid": issuer.kid}
    claims = b64url_json(claims_segment)
    assert claims["aud"] == ["api://AzureADTokenExchange"]
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "system:serviceaccount:apim-gateway-wi:apim-gateway-workload-identity"
    assert claims["iat"] == claims["nbf"] == 1_750_000_000
    assert claims["exp"] == 1_750_000_000 + 3600
    assert claims["kubernetes.io"] == {
        "namespace": "apim-gateway-wi",
        "pod": {"name": "gateway-0", "uid": "11111111-2222-3333-4444-555555555555"},
        "serviceaccount": {
            "name": "apim-gateway-workload-identity",
            "uid": "66666666-7777-8888-9999-000000000000",
        },
    }


def test_a_minted_token_verifies_with_the_published_key(issuer: ServiceAccountIssuer) -> None:
    now = time.time()
    token = issuer.mint("ns", "sa", now=now, audience="aud-x", lifetime_seconds=600)
    key = jwt.PyJWK(issuer.jwks()["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="aud-x", issuer=ISSUER)
    assert claims["exp"] - claims["iat"] == 600


def test_the_service_account_uid_is_stable_and_the_pod_claim_needs_a_pod(
    issuer: ServiceAccountIssuer,
) -> None:
    first = b64url_json(issuer.mint("ns", "sa", now=NOW).split(".")[1])
    second = b64url_json(issuer.mint("ns", "sa", now=NOW).split(".")[1])
    assert first["kubernetes.io"] == second["kubernetes.io"]
    assert "pod" not in first["kubernetes.io"]  # type: ignore[operator]
    assert first["jti"] != second["jti"]


def test_tokens_minted_in_the_same_second_still_differ(issuer: ServiceAccountIssuer) -> None:
    assert issuer.mint("ns", "sa", now=NOW) != issuer.mint("ns", "sa", now=NOW)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8444/",
        "127.0.0.1:8444",
        "https://127.0.0.1:8444/?x=1",
        "https://127.0.0.1:8444/#f",
    ],
)
def test_an_issuer_url_that_is_not_plain_https_is_refused(url: str, signing_key_pem: bytes) -> None:
    with pytest.raises(ValueError, match="https"):
        ServiceAccountIssuer(url, signing_key_pem)


def test_a_signing_key_shorter_than_2048_bits_is_refused() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="2048"):
        ServiceAccountIssuer(ISSUER, short)


@pytest.mark.parametrize(
    ("namespace", "service_account"),
    [("", "sa"), ("ns", ""), ("Upper", "sa"), ("ns", "sa:x"), ("ns:x", "sa"), ("a" * 64, "sa")],
)
def test_names_that_are_not_kubernetes_names_are_refused(
    issuer: ServiceAccountIssuer, namespace: str, service_account: str
) -> None:
    with pytest.raises(ValueError, match="Kubernetes"):
        issuer.mint(namespace, service_account, now=NOW)


def test_a_lifetime_under_ten_minutes_is_refused_as_kubernetes_does(
    issuer: ServiceAccountIssuer,
) -> None:
    with pytest.raises(ValueError, match="600"):
        issuer.mint("ns", "sa", now=NOW, lifetime_seconds=599)
