"""FederatedAssertionValidator, with a fake key source that counts lookups.

The order of checks is specified: a malformed token or a wrong algorithm fails before matching,
a token matching no credential fails before any key is looked up, and only then are the
signature and the times checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.directory.federation import (
    FederatedAssertionValidator,
    FederatedCredential,
    MetadataFetchError,
    UnknownSigningKeyError,
)
from tollhouse.directory.tokens._errors import EntraError
from tollhouse.kubeissuer import ServiceAccountIssuer

ISSUER = "https://oidc.example/cluster/"
SUBJECT = "system:serviceaccount:apim-gateway-wi:apim-gateway-workload-identity"
CLIENT_ID = "00000000-0000-0000-0000-00000000c11e"
CREDENTIAL = FederatedCredential(
    id="11111111-1111-1111-1111-111111111111",
    name="kubernetes-federated-identity",
    issuer=ISSUER,
    subject=SUBJECT,
)
OTHER = FederatedCredential(
    id="22222222-2222-2222-2222-222222222222",
    name="other",
    issuer="https://other.example/",
    subject="system:serviceaccount:x:y",
)


class FakeKeys:
    """A key source that knows one issuer's keys and records every lookup."""

    def __init__(self, keys: dict[tuple[str, str], rsa.RSAPublicKey]) -> None:
        self.keys = keys
        self.lookups: list[tuple[str, str]] = []
        self.error: Exception | None = None

    async def signing_key(self, issuer: str, kid: str) -> rsa.RSAPublicKey:
        self.lookups.append((issuer, kid))
        if self.error is not None:
            raise self.error
        try:
            return self.keys[issuer, kid]
        except KeyError:
            raise UnknownSigningKeyError(issuer, f"no key {kid}") from None


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def signer() -> ServiceAccountIssuer:
    return ServiceAccountIssuer(ISSUER, pem(rsa.generate_private_key(65537, 2048)))


@pytest.fixture(scope="module")
def attacker() -> ServiceAccountIssuer:
    return ServiceAccountIssuer(ISSUER, pem(rsa.generate_private_key(65537, 2048)))


@pytest.fixture
def keys(signer: ServiceAccountIssuer) -> FakeKeys:
    public = jwt.PyJWK(signer.jwks()["keys"][0]).key
    return FakeKeys({(ISSUER, signer.kid): public})


@pytest.fixture
def validator(keys: FakeKeys) -> FederatedAssertionValidator:
    return FederatedAssertionValidator(keys)


def mint(signer: ServiceAccountIssuer, now: float | None = None, **claims: Any) -> str:
    now = time.time() if now is None else now
    return signer.mint("apim-gateway-wi", "apim-gateway-workload-identity", now=now, **claims)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"sig") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


def resign(
    signer: ServiceAccountIssuer,
    token: str,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """The token's claims, changed and signed again with `signer`'s key."""
    original = jwt.decode(token, options={"verify_signature": False})
    original.update(claims)
    return jwt.encode(
        original,
        signer._key,
        algorithm="RS256",
        headers={"kid": signer.kid, "typ": None, **(header or {})},
    )


async def refused(
    validator: FederatedAssertionValidator,
    token: Any,
    credentials: Sequence[FederatedCredential] = (CREDENTIAL,),
    now: float | None = None,
) -> EntraError:
    with pytest.raises(EntraError) as caught:
        await validator.validate(token, CLIENT_ID, credentials, time.time() if now is None else now)
    return caught.value


# -- the happy path -------------------------------------------------------------------------


async def test_a_kubernetes_token_matching_a_credential_returns_that_credential(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer, keys: FakeKeys
) -> None:
    token = mint(signer)
    matched = await validator.validate(token, CLIENT_ID, [OTHER, CREDENTIAL], time.time())
    assert matched is CREDENTIAL
    assert keys.lookups == [(ISSUER, signer.kid)]


async def test_an_aud_given_as_a_string_matches_too(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    token = resign(signer, mint(signer), aud="api://AzureADTokenExchange")
    assert await validator.validate(token, CLIENT_ID, [CREDENTIAL], time.time()) is CREDENTIAL


async def test_one_of_several_token_audiences_may_match(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    token = resign(
        signer, mint(signer), aud=["https://kubernetes.default.svc", "api://AzureADTokenExchange"]
    )
    assert await validator.validate(token, CLIENT_ID, [CREDENTIAL], time.time()) is CREDENTIAL


# -- matching: exact, and before any key lookup ---------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("aud", ["https://management.azure.com/"]),
        ("aud", ["api://azureadtokenexchange"]),
        ("sub", "system:serviceaccount:apim-gateway-wi:default"),
        ("sub", SUBJECT.upper()),
        ("iss", "https://OIDC.example/cluster/"),
        ("iss", "https://oidc.example/Cluster/"),
        ("iss", "https://oidc.example/cluster"),
        ("iss", "https://oidc.example/cluster//"),
        ("iss", " https://oidc.example/cluster/"),
        ("iss", "https://oidc.example/cluster/ "),
    ],
)
async def test_a_token_differing_in_iss_sub_or_aud_finds_no_record_and_fetches_nothing(
    validator: FederatedAssertionValidator,
    signer: ServiceAccountIssuer,
    keys: FakeKeys,
    claim: str,
    value: Any,
) -> None:
    error = await refused(validator, resign(signer, mint(signer), **{claim: value}))
    assert (error.code, error.error, error.status) == (70021, "invalid_request", 400)
    shown = value if isinstance(value, str) else value[0]
    assert f"'{shown}'" in error.message
    assert keys.lookups == []


async def test_an_application_without_credentials_finds_no_record(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer, keys: FakeKeys
) -> None:
    error = await refused(validator, mint(signer), credentials=[])
    assert error.code == 70021
    assert keys.lookups == []


async def test_the_no_record_error_names_issuer_subject_and_audience(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    error = await refused(validator, mint(signer), credentials=[OTHER])
    assert error.message == (
        "No matching federated identity record found for presented assertion. "
        f"Assertion Issuer: '{ISSUER}'. Assertion Subject: '{SUBJECT}'. "
        "Assertion Audience: 'api://AzureADTokenExchange'."
    )


# -- algorithm ------------------------------------------------------------------------------


async def test_an_hs256_token_keyed_with_the_issuer_public_key_is_refused_unfetched(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer, keys: FakeKeys
) -> None:
    claims = jwt.decode(mint(signer), options={"verify_signature": False})
    public_pem = jwt.PyJWK(signer.jwks()["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    unsigned = compact({"alg": "HS256", "kid": signer.kid}, claims).rsplit(".", 1)[0]
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    error = await refused(validator, f"{unsigned}.{b64(mac)}")
    assert (error.code, error.error) == (50027, "invalid_client")
    assert "RS256" in error.message
    assert keys.lookups == []


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "", None, "PS256", "RS384", "rs256", 256])
async def test_any_alg_but_rs256_is_refused_before_matching(
    validator: FederatedAssertionValidator,
    signer: ServiceAccountIssuer,
    keys: FakeKeys,
    alg: Any,
) -> None:
    claims = jwt.decode(mint(signer), options={"verify_signature": False})
    header = {"kid": signer.kid} if alg is None else {"alg": alg, "kid": signer.kid}
    for signature in (b"", b"x"):
        token = compact(header, claims, signature)
        error = await refused(validator, token)
        assert (error.code, error.error) == (50027, "invalid_client")
        assert "JWT token is invalid" in error.message
    assert keys.lookups == []


async def test_a_critical_header_parameter_is_refused(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    token = resign(signer, mint(signer), header={"crit": ["exp"], "exp": 1})
    assert (await refused(validator, token)).code == 50027


# -- signature and key ----------------------------------------------------------------------


async def test_a_token_signed_by_another_key_under_the_issuer_kid_fails_signature(
    validator: FederatedAssertionValidator,
    signer: ServiceAccountIssuer,
    attacker: ServiceAccountIssuer,
) -> None:
    forged = resign(attacker, mint(signer), header={"kid": signer.kid})
    error = await refused(validator, forged)
    assert (error.code, error.error, error.status) == (50027, "invalid_client", 401)
    assert error.message.startswith(f"External ID token from issuer '{ISSUER}' failed signature")


async def test_a_token_with_an_unknown_kid_fails_signature(
    validator: FederatedAssertionValidator,
    attacker: ServiceAccountIssuer,
    keys: FakeKeys,
) -> None:
    error = await refused(validator, mint(attacker))
    assert error.code == 50027
    assert "failed signature verification" in error.message
    assert keys.lookups == [(ISSUER, attacker.kid)]


async def test_a_token_without_kid_fails_signature_without_a_lookup(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer, keys: FakeKeys
) -> None:
    claims = jwt.decode(mint(signer), options={"verify_signature": False})
    token = jwt.encode(claims, signer._key, algorithm="RS256", headers={"typ": None})
    error = await refused(validator, token)
    assert error.code == 50027
    assert "kid" in error.message
    assert keys.lookups == []


async def test_a_tampered_claim_breaks_the_signature(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    header, _, signature = mint(signer).split(".")
    claims = jwt.decode(mint(signer), options={"verify_signature": False})
    claims["exp"] += 86400
    token = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert "failed signature" in (await refused(validator, token)).message


async def test_an_issuer_whose_metadata_cannot_be_fetched_fails_signature(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer, keys: FakeKeys
) -> None:
    keys.error = MetadataFetchError(ISSUER, "https://oidc.example/... answered 503")
    error = await refused(validator, mint(signer))
    assert error.code == 50027
    assert "answered 503" in error.message


@pytest.mark.parametrize("name", ["jku", "x5u"])
async def test_key_url_headers_are_ignored(
    validator: FederatedAssertionValidator,
    signer: ServiceAccountIssuer,
    attacker: ServiceAccountIssuer,
    keys: FakeKeys,
    name: str,
) -> None:
    honest = resign(signer, mint(signer), header={name: "https://attacker.example/jwks"})
    assert await validator.validate(honest, CLIENT_ID, [CREDENTIAL], time.time()) is CREDENTIAL
    forged = resign(
        attacker, mint(signer), header={name: "https://attacker.example/jwks", "kid": "evil"}
    )
    assert (await refused(validator, forged)).code == 50027
    assert keys.lookups == [(ISSUER, signer.kid), (ISSUER, "evil")]


async def test_an_embedded_jwk_or_x5c_does_not_select_the_key(
    validator: FederatedAssertionValidator,
    attacker: ServiceAccountIssuer,
    signer: ServiceAccountIssuer,
) -> None:
    embedded = attacker.jwks()["keys"][0]
    forged = resign(
        attacker, mint(signer), header={"kid": signer.kid, "jwk": embedded, "x5c": ["MIIB"]}
    )
    assert "failed signature" in (await refused(validator, forged)).message


# -- times ----------------------------------------------------------------------------------


async def test_an_expired_token_is_out_of_its_time_range(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    now = time.time()
    token = mint(signer, now=now - 7200, lifetime_seconds=3600)
    error = await refused(validator, token, now=now)
    assert (error.code, error.error, error.status) == (700024, "invalid_client", 401)
    assert "not within its valid time range" in error.message


async def test_expiry_is_tolerated_within_the_leeway_and_not_beyond(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    issued = 1_750_000_000
    token = mint(signer, now=issued, lifetime_seconds=3600)
    expiry = issued + 3600
    assert await validator.validate(token, CLIENT_ID, [CREDENTIAL], expiry + 299) is CREDENTIAL
    assert (await refused(validator, token, now=expiry + 300)).code == 700024


async def test_a_token_not_yet_valid_beyond_the_leeway_is_out_of_its_time_range(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    issued = 1_750_000_000
    token = mint(signer, now=issued)
    assert await validator.validate(token, CLIENT_ID, [CREDENTIAL], issued - 300) is CREDENTIAL
    error = await refused(validator, token, now=issued - 301)
    assert error.code == 700024
    assert "assertion valid from" in error.message


async def test_an_iat_in_the_future_beyond_the_leeway_is_refused(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    now = time.time()
    token = resign(signer, mint(signer, now=now), iat=int(now) + 3000, nbf=None)
    assert (await refused(validator, token, now=now)).code == 700024


async def test_the_leeway_is_configurable(keys: FakeKeys, signer: ServiceAccountIssuer) -> None:
    strict = FederatedAssertionValidator(keys, leeway_seconds=0)
    token = mint(signer, now=1_750_000_000)
    assert (await refused(strict, token, now=1_750_000_000 + 3600)).code == 700024


async def test_a_token_without_exp_is_invalid(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    token = resign(signer, mint(signer), exp=None)
    error = await refused(validator, token)
    assert error.code == 50027
    assert "'exp'" in error.message


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", "tomorrow"), ("exp", True), ("nbf", 1e300), ("iat", -5), ("exp", [1]), ("nbf", {})],
)
async def test_times_that_are_not_numeric_dates_are_invalid(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer, claim: str, value: Any
) -> None:
    token = resign(signer, mint(signer), **{claim: value})
    assert (await refused(validator, token)).code == 50027


async def test_float_times_are_accepted(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    now = time.time()
    token = resign(signer, mint(signer, now=now), iat=now, nbf=now, exp=now + 600.5)
    assert await validator.validate(token, CLIENT_ID, [CREDENTIAL], now) is CREDENTIAL


async def test_the_signature_is_checked_before_the_times(
    validator: FederatedAssertionValidator,
    signer: ServiceAccountIssuer,
    attacker: ServiceAccountIssuer,
) -> None:
    now = time.time()
    expired_forgery = resign(attacker, mint(signer, now=now - 7200), header={"kid": signer.kid})
    assert (await refused(validator, expired_forgery, now=now)).code == 50027
    assert "failed signature" in (await refused(validator, expired_forgery, now=now)).message
