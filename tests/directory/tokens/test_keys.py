"""Signing keys: published before they sign, kept published for a token lifetime after."""

from __future__ import annotations

import jwt
import pytest

from tollhouse.directory.tokens import (
    KeyRing,
    Resource,
    mint_app_token,
    new_signing_key,
    verify_access_token,
)
from tollhouse.directory.tokens._access_token import InvalidToken

T0 = 1_800_000_000.0
LIFETIME = 86_400.0
RESOURCE = Resource("797f4846-ba00-4fd7-ba43-dac1f8f63013", "https://management.azure.com/", 1)


def mint(ring: KeyRing, now: float) -> str:
    return mint_app_token(
        ring.signing_key(now),
        authority="https://127.0.0.1:8443",
        tenant_id="t",
        resource=RESOURCE,
        client_app_id="c",
        service_principal_id="p",
        auth_method="1",
        now=now,
    ).access_token


def verify(ring: KeyRing, token: str, now: float) -> dict[str, object]:
    return verify_access_token(
        token,
        keys=ring,
        issuers={"https://127.0.0.1:8443/t/"},
        audiences={"https://management.azure.com/"},
        now=now,
    )


def test_the_kid_is_the_x5t_of_the_signing_certificate() -> None:
    key = new_signing_key(T0)
    jwk = key.jwk()
    assert jwk["kid"] == jwk["x5t"] == key.kid
    assert jwk["x5c"] and jwk["kty"] == "RSA" and jwk["use"] == "sig"


def test_a_successor_is_published_before_it_signs() -> None:
    first = new_signing_key(T0)
    ring = KeyRing([first])
    successor, retired = ring.rotation(T0 + 10, publish_ahead=600, max_token_lifetime=LIFETIME)
    ring = KeyRing([*retired, successor])
    assert {k["kid"] for k in ring.jwks(T0 + 11)["keys"]} == {first.kid, successor.kid}
    assert ring.signing_key(T0 + 11).kid == first.kid
    assert ring.signing_key(T0 + 611).kid == successor.kid


def test_tokens_of_the_old_key_verify_until_it_retires() -> None:
    first = new_signing_key(T0)
    ring = KeyRing([first])
    old_token = mint(ring, T0 + 5)
    successor, retired = ring.rotation(T0 + 10, publish_ahead=600, max_token_lifetime=LIFETIME)
    ring = KeyRing([*retired, successor])
    assert verify(ring, old_token, T0 + 700)["oid"] == "p"
    retire_at = T0 + 610 + LIFETIME
    assert first.kid not in {k["kid"] for k in ring.jwks(retire_at + 1)["keys"]}
    with pytest.raises(InvalidToken):
        verify(ring, old_token, retire_at + 1)


def test_a_v1_token_has_x5t_and_kid_in_its_header() -> None:
    ring = KeyRing([new_signing_key(T0)])
    header = jwt.get_unverified_header(mint(ring, T0))
    assert header["alg"] == "RS256"
    assert header["kid"] == header["x5t"]


def test_a_token_signed_by_an_unknown_key_does_not_verify() -> None:
    token = mint(KeyRing([new_signing_key(T0)]), T0)
    with pytest.raises(InvalidToken):
        verify(KeyRing([new_signing_key(T0)]), token, T0)


def test_a_token_for_another_audience_does_not_verify() -> None:
    ring = KeyRing([new_signing_key(T0)])
    token = mint(ring, T0)
    with pytest.raises(InvalidToken):
        verify_access_token(
            token, keys=ring, issuers={"https://127.0.0.1:8443/t/"}, audiences={"x"}, now=T0
        )


def test_an_expired_token_does_not_verify() -> None:
    ring = KeyRing([new_signing_key(T0)])
    token = mint(ring, T0)
    with pytest.raises(InvalidToken):
        verify(ring, token, T0 + 3600 + 301)


def test_an_hs256_token_keyed_with_our_public_key_does_not_verify() -> None:
    key = new_signing_key(T0)
    ring = KeyRing([key])
    forged = jwt.encode(
        {
            "aud": "https://management.azure.com/",
            "iss": "https://127.0.0.1:8443/t/",
            "exp": T0 + 60,
            "tid": "t",
            "oid": "p",
        },
        "a-secret-that-is-long-enough-for-hs256!",
        algorithm="HS256",
        headers={"kid": key.kid},
    )
    with pytest.raises(InvalidToken):
        verify(ring, forged, T0)
