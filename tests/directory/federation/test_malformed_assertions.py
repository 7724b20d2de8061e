"""Any malformed assertion is AADSTS50027 'JWT token is invalid' — never another exception.

security-and-faults.md C.5 case 23; the h11 invariant: any input parses or raises the one
error type.
"""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.directory.federation import (
    MAX_ASSERTION_LENGTH,
    FederatedAssertionValidator,
    FederatedCredential,
    UnknownSigningKeyError,
)
from tollhouse.directory.tokens._errors import EntraError
from tollhouse.kubeissuer import ServiceAccountIssuer

ISSUER = "https://oidc.example/"
CREDENTIAL = FederatedCredential(
    id="1", name="k8s", issuer=ISSUER, subject="system:serviceaccount:ns:sa"
)


class CountingKeys:
    def __init__(self, key: rsa.RSAPublicKey, kid: str) -> None:
        self.key, self.kid, self.lookups = key, kid, 0

    async def signing_key(self, issuer: str, kid: str) -> rsa.RSAPublicKey:
        self.lookups += 1
        if kid != self.kid:
            raise UnknownSigningKeyError(issuer, "unknown kid")
        return self.key


@pytest.fixture(scope="module")
def signer() -> ServiceAccountIssuer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ServiceAccountIssuer(ISSUER, pem)


@pytest.fixture
def keys(signer: ServiceAccountIssuer) -> CountingKeys:
    return CountingKeys(signer._key.public_key(), signer.kid)


@pytest.fixture
def validator(keys: CountingKeys) -> FederatedAssertionValidator:
    return FederatedAssertionValidator(keys)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = b64(b'{"alg":"RS256","kid":"k"}')
CLAIMS_JSON = b'{"iss":"https://oidc.example/","sub":"system:serviceaccount:ns:sa","aud":"x"}'
CLAIMS = b64(CLAIMS_JSON)


def with_claims(claims: bytes, signature: str = "c2ln") -> str:
    return f"{HEADER}.{b64(claims)}.{signature}"


def with_header(header: bytes) -> str:
    return f"{b64(header)}.{CLAIMS}.c2ln"


MALFORMED = {
    "empty": "",
    "one segment": HEADER,
    "two segments": f"{HEADER}.{CLAIMS}",
    "four segments": f"{HEADER}.{CLAIMS}.c2ln.c2ln",
    "five segments (JWE)": "a.b.c.d.e",
    "garbage base64": "!!!.@@@.###",
    "base64 with a space": f"{HEADER}.{CLAIMS} .c2ln",
    "standard base64 alphabet": f"{HEADER}.{CLAIMS}.ab+/",
    "impossible length": f"{HEADER}.{CLAIMS}.abcde",
    "non-canonical base64": f"{HEADER}.{CLAIMS}.c2l",
    "too much padding": f"{HEADER}.{CLAIMS}.c2ln===",
    "non-JSON header": with_header(b"not json"),
    "non-JSON payload": with_claims(b"{"),
    "JSON array header": with_header(b"[1,2]"),
    "JSON string payload": with_claims(json.dumps("claims").encode()),
    "non-UTF-8 payload": with_claims(b'{"iss":"\xff"}'),
    "duplicate alg": with_header(b'{"alg":"RS256","alg":"none"}'),
    "duplicate iss": with_claims(b'{"iss":"a","iss":"b"}'),
    "deep nesting": with_claims(b"[" * 100_000),
    "empty signature": with_claims(CLAIMS_JSON, signature=""),
    "non-ASCII": with_claims(CLAIMS_JSON, signature="\u00e9"),
    "NaN exp": with_claims(b'{"exp":NaN}'),
    "missing iss": with_claims(b'{"sub":"s","aud":"a"}'),
    "missing sub": with_claims(b'{"iss":"i","aud":"a"}'),
    "missing aud": with_claims(b'{"iss":"i","sub":"s"}'),
    "empty aud list": with_claims(b'{"iss":"i","sub":"s","aud":[]}'),
    "numeric aud": with_claims(b'{"iss":"i","sub":"s","aud":[1]}'),
    "numeric iss": with_claims(b'{"iss":1,"sub":"s","aud":"a"}'),
    "oversized": with_claims(b'{"x":"' + b"a" * MAX_ASSERTION_LENGTH + b'"}'),
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_assertion_is_invalid_and_looks_up_no_key(
    validator: FederatedAssertionValidator, keys: CountingKeys, token: str
) -> None:
    with pytest.raises(EntraError) as caught:
        await validator.validate(token, "client", [CREDENTIAL], time.time())
    assert (caught.value.code, caught.value.error) == (50027, "invalid_client")
    assert caught.value.message.startswith("JWT token is invalid.")
    assert keys.lookups == 0


@pytest.mark.parametrize("token", [None, b"a.b.c", 42, ["a", "b", "c"]])
async def test_an_assertion_that_is_not_a_string_is_invalid(
    validator: FederatedAssertionValidator, token: Any
) -> None:
    with pytest.raises(EntraError) as caught:
        await validator.validate(token, "client", [CREDENTIAL], time.time())
    assert caught.value.code == 50027


async def test_every_truncation_of_a_valid_assertion_is_refused_with_an_entra_error(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    now = time.time()
    token = signer.mint("ns", "sa", now=now, audience="api://AzureADTokenExchange")
    assert await validator.validate(token, "client", [CREDENTIAL], now) is CREDENTIAL
    for end in range(len(token)):
        with pytest.raises(EntraError):
            await validator.validate(token[:end], "client", [CREDENTIAL], now)


async def test_random_corruptions_of_a_valid_assertion_never_raise_anything_else(
    validator: FederatedAssertionValidator, signer: ServiceAccountIssuer
) -> None:
    now = time.time()
    token = signer.mint("ns", "sa", now=now)
    alphabet = "ABCxyz019-_.=+/ é\x00"
    rng = random.Random(2607)
    for _ in range(1500):
        chars = list(token)
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        corrupted = "".join(chars)
        if corrupted == token:
            continue
        try:
            await validator.validate(corrupted, "client", [CREDENTIAL], now)
        except EntraError:
            continue
        raise AssertionError(f"accepted a corrupted token: {corrupted}")


async def test_the_assertion_length_limit_can_be_lowered(
    keys: CountingKeys, signer: ServiceAccountIssuer
) -> None:
    token = signer.mint("ns", "sa", now=time.time())
    small = FederatedAssertionValidator(keys, max_assertion_length=len(token) - 1)
    with pytest.raises(EntraError, match="longer than"):
        await small.validate(token, "client", [CREDENTIAL], time.time())
    assert keys.lookups == 0
