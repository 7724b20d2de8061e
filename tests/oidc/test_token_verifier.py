"""TokenVerifier's rules, one by one, with hand-made tokens and a key source that counts.

RFC 8725 and security-and-faults.md C.5 cases 17–23: every refused token raises
`InvalidBearerToken` with a short reason that quotes nothing from the token, and nothing is
fetched for a token whose header or claims already refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.oidc import (
    MAX_KID_LENGTH,
    InvalidBearerToken,
    MetadataFetchError,
    TokenVerifier,
    VerifiedToken,
)

from .conftest import FakeKeySource, b64, compact, new_key, rs256, segment

NOW = 1_800_000_000.0
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
ISSUER = f"https://login.example.test/{TENANT}/"
AUDIENCE = "https://azure-api.net/configuration"
KID = "nOo3ZDrODXEK1jKWhXslHR_KXEg"
APP_ID = "2f6f1b2a-5b1e-4c55-9d43-0a0d7b1b7c11"
OBJECT_ID = "5e9b8a2c-0f3d-4a3e-8f43-7d2b7e3a9b10"


def claims_v1(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": int(NOW) - 60,
        "nbf": int(NOW) - 60,
        "exp": int(NOW) + 3600,
        "appid": APP_ID,
        "appidacr": "1",
        "idtyp": "app",
        "oid": OBJECT_ID,
        "sub": OBJECT_ID,
        "tid": TENANT,
        "ver": "1.0",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def header(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"typ": "JWT", "alg": "RS256", "kid": KID, "x5t": KID}
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


@pytest.fixture
def keys(issuer_key: rsa.RSAPrivateKey) -> FakeKeySource:
    return FakeKeySource({(ISSUER, KID): issuer_key.public_key()})


def verifier(keys: FakeKeySource, **options: Any) -> TokenVerifier:
    options.setdefault("issuers", [ISSUER])
    options.setdefault("audiences", [AUDIENCE])
    return TokenVerifier(keys, clock=lambda: NOW, **options)


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    """A v1-shaped token with these claims changed (None removes one)."""
    return compact(header(), claims_v1(**claims), key)


async def refused(
    keys: FakeKeySource, token: object, reason: str, *, fetches: int = 0, **options: Any
) -> InvalidBearerToken:
    with pytest.raises(InvalidBearerToken) as caught:
        await verifier(keys, **options).verify(token)  # type: ignore[arg-type]
    assert caught.value.reason == reason
    assert len(keys.calls) == fetches
    assert_safe(caught.value, token)
    return caught.value


def assert_safe(error: InvalidBearerToken, token: object) -> None:
    """The message is short and quotes no part of the token."""
    message = str(error)
    assert len(message) <= 64
    if isinstance(token, str):
        for part in token.split("."):
            if len(part) >= 8:
                assert part not in message


# --- what a good token yields -------------------------------------------------------------


async def test_a_v1_token_from_a_trusted_issuer_verifies_and_names_its_caller(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    verified = await verifier(keys).verify(token(issuer_key, roles=["Gateway.Read"]))
    assert verified == VerifiedToken(
        claims=verified.claims,
        issuer=ISSUER,
        tenant_id=TENANT,
        object_id=OBJECT_ID,
        app_id=APP_ID,
        roles=("Gateway.Read",),
    )
    assert verified.claims["ver"] == "1.0"
    assert keys.calls == [(ISSUER, KID)]


async def test_a_v2_token_names_its_client_by_azp(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    claims = claims_v1(appid=None, appidacr=None, azp=APP_ID, azpacr="2", ver="2.0")
    verified = await verifier(keys).verify(compact(header(x5t=None), claims, issuer_key))
    assert (verified.app_id, verified.roles) == (APP_ID, ())


async def test_the_claims_of_a_verified_token_are_read_only(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    verified = await verifier(keys).verify(token(issuer_key))
    with pytest.raises(TypeError):
        verified.claims["oid"] = "someone else"  # type: ignore[index]


async def test_a_token_with_padded_segments_verifies(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    # entra.md §2.2: some real clients pad; the signature covers the text as sent.
    def padded(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()

    body = next(
        text
        for text in (padded(claims_v1(xms_pad="a" * n)) for n in range(3))
        if text.endswith("=")
    )
    signing_input = f"{padded(header())}.{body}"
    signature = base64.urlsafe_b64encode(rs256(issuer_key, signing_input)).decode()
    assert signature.endswith("=")
    await verifier(keys).verify(f"{signing_input}.{signature}")


async def test_aud_may_be_a_list_with_one_accepted_value(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    await verifier(keys).verify(token(issuer_key, aud=["api://other", AUDIENCE]))


async def test_any_of_several_accepted_audiences_will_do(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    await verifier(keys, audiences=["api://first", AUDIENCE]).verify(token(issuer_key))


# --- issuer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER.rstrip("/"),  # entra.md §3.1: trailing slashes matter
        ISSUER.upper(),
        f"https://login.example.test/{OTHER_TENANT}/",
        "https://attacker.example/" + TENANT + "/",
    ],
)
async def test_an_issuer_not_exactly_trusted_is_refused_and_never_asked_for_keys(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, iss: str
) -> None:
    await refused(keys, token(issuer_key, iss=iss), "issuer not trusted")


@pytest.mark.parametrize("iss", [None, "", 7, ["https://login.example.test/"]])
async def test_a_token_without_a_string_iss_is_refused(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, iss: object
) -> None:
    await refused(keys, token(issuer_key, iss=iss), "issuer missing")


async def test_a_templated_issuer_matches_with_the_token_tid_and_fetches_that_issuer(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    template = "https://login.example.test/{tenantid}/"
    verified = await verifier(keys, issuers=[template]).verify(token(issuer_key))
    assert verified.issuer == ISSUER
    assert keys.calls == [(ISSUER, KID)]


async def test_a_templated_issuer_refuses_a_tid_outside_tenant_ids_unfetched(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    template = "https://login.example.test/{tenantid}/"
    await refused(
        keys,
        token(issuer_key),
        "tenant not allowed",
        issuers=[template],
        tenant_ids=[OTHER_TENANT],
    )


async def test_tenant_ids_compare_guids_without_regard_to_case(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    template = "https://login.example.test/{tenantid}/"
    options: dict[str, Any] = {"issuers": [template], "tenant_ids": [TENANT.upper()]}
    await verifier(keys, **options).verify(token(issuer_key))


async def test_tenant_ids_bind_exact_issuers_too(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    await refused(keys, token(issuer_key), "tenant not allowed", tenant_ids=[OTHER_TENANT])
    await refused(keys, token(issuer_key, tid=None), "tenant not allowed", tenant_ids=[TENANT])


@pytest.mark.parametrize(
    ("tid", "iss"),
    [
        # Not a GUID: never substituted into a URL that would be fetched.
        ("..", "https://login.example.test/../"),
        ("common", "https://login.example.test/common/"),
        (f"{TENANT}/x", f"https://login.example.test/{TENANT}/x/"),
        # The tid of one tenant with the issuer of another.
        (OTHER_TENANT, ISSUER),
    ],
)
async def test_a_templated_issuer_does_not_match_a_foreign_or_non_guid_tid(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, tid: str, iss: str
) -> None:
    template = "https://login.example.test/{tenantid}/"
    await refused(
        keys, token(issuer_key, tid=tid, iss=iss), "issuer not trusted", issuers=[template]
    )


# --- audience -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    [
        "https://management.azure.com/",
        AUDIENCE + "/",
        AUDIENCE.upper(),
        ["api://one", "api://two"],
        [],
        [AUDIENCE, 5],
        5,
        None,
    ],
)
async def test_a_token_for_another_audience_is_refused_and_never_asked_for_keys(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, aud: object
) -> None:
    await refused(keys, token(issuer_key, aud=aud), "audience not accepted")


# --- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(NOW) - 301}, "token expired"),
        ({"exp": int(NOW) - 300}, "token expired"),  # RFC 7519 §4.1.4: "on or after"
        ({"nbf": int(NOW) + 301}, "token not yet valid"),
        ({"iat": int(NOW) + 301}, "token issued in the future"),
        ({"exp": None}, "exp missing"),
        ({"exp": "1800003600"}, "exp claim malformed"),
        ({"exp": True}, "exp claim malformed"),
        ({"exp": -1}, "exp claim malformed"),
        ({"nbf": [1]}, "nbf claim malformed"),
        ({"iat": 1e20}, "iat claim malformed"),
    ],
)
async def test_times_outside_the_leeway_or_not_numeric_dates_are_refused_unfetched(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, claims: dict[str, Any], reason: str
) -> None:
    await refused(keys, token(issuer_key, **claims), reason)


async def test_an_exp_that_overflows_to_infinity_is_refused(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    body = json.dumps(claims_v1(exp=0)).replace('"exp": 0', '"exp": 1e400')
    signing_input = f"{segment(header())}.{b64(body.encode())}"
    text = f"{signing_input}.{b64(rs256(issuer_key, signing_input))}"
    await refused(keys, text, "exp claim malformed")


async def test_times_within_the_leeway_are_accepted(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    skewed = token(issuer_key, exp=NOW - 299.5, nbf=NOW + 300, iat=NOW + 300)
    await verifier(keys).verify(skewed)


async def test_the_leeway_is_configurable_down_to_zero(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    await refused(keys, token(issuer_key, nbf=NOW + 1), "token not yet valid", leeway_seconds=0)


async def test_the_clock_is_read_at_each_verification(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    now = [NOW]
    checker = TokenVerifier(keys, issuers=[ISSUER], audiences=[AUDIENCE], clock=lambda: now[0])
    good = token(issuer_key)
    await checker.verify(good)
    now[0] += 3600 + 300
    with pytest.raises(InvalidBearerToken, match="token expired"):
        await checker.verify(good)


# --- algorithm, kid and key-pointing headers -------------------------------------------------


def _unsigned(alg: str) -> str:
    return f"{segment(header(alg=alg))}.{segment(claims_v1())}."


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
async def test_an_unsigned_token_is_refused_unfetched(keys: FakeKeySource, alg: str) -> None:
    # C.5 case 17: with an empty signature the parser refuses first; with any signature the
    # allow-list does.
    await refused(keys, _unsigned(alg), "token has no signature")
    unsigned_but_padded = _unsigned(alg) + "AAAA"
    await refused(keys, unsigned_but_padded, "algorithm not allowed")


async def test_an_hs256_token_keyed_with_the_issuer_public_key_pem_is_refused_unfetched(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    # C.5 case 18: the RSA public key, as the verifier would know it, used as an HMAC secret.
    secret = issuer_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment(header(alg='HS256'))}.{segment(claims_v1())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    await refused(keys, f"{signing_input}.{b64(mac)}", "algorithm not allowed")


@pytest.mark.parametrize("alg", ["RS384", "PS256", "ES256", "HS512", "rs256", ["RS256"], None])
async def test_any_alg_outside_the_allow_list_is_refused_unfetched(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, alg: object
) -> None:
    await refused(keys, compact(header(alg=alg), claims_v1(), issuer_key), "algorithm not allowed")


@pytest.mark.parametrize("kid", [None, "", 7, ["a"], "k" * (MAX_KID_LENGTH + 1), "x" * 10_000])
async def test_a_missing_or_oversized_kid_is_refused_without_a_lookup(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, kid: object
) -> None:
    await refused(keys, compact(header(kid=kid), claims_v1(), issuer_key), "kid missing or invalid")


@pytest.mark.parametrize("kid", ["../../dev/null", "' OR 1=1 --", "%00", "C:\\keys\\k.pem"])
async def test_a_hostile_kid_is_only_ever_a_key_in_the_issuer_jwks(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, kid: str
) -> None:
    # C.5 case 19: the kid is handed to the key source as an opaque string, nothing else.
    error = await refused(
        keys,
        compact(header(kid=kid), claims_v1(), issuer_key),
        "signing key not found",
        fetches=1,
    )
    assert keys.calls == [(ISSUER, kid)]
    assert error.__cause__ is None


async def test_a_critical_header_parameter_is_refused(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    signed = compact(header(crit=["exp"], exp=1), claims_v1(), issuer_key)
    await refused(keys, signed, "critical header parameters are not supported")


async def test_keys_embedded_in_the_header_do_not_select_the_key(
    keys: FakeKeySource, attacker_key: rsa.RSAPrivateKey
) -> None:
    # C.5 case 20: jwk/x5c/jku/x5u name the attacker's key; the issuer's key is used instead.
    numbers = attacker_key.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "kid": KID,
        "n": b64(numbers.n.to_bytes(256, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }
    forged_header = header(
        jwk=jwk,
        x5c=["MIIBIjANBgkq"],
        jku="https://attacker.example/keys",
        x5u="https://attacker.example/cert.pem",
    )
    forged = compact(forged_header, claims_v1(), attacker_key)
    await refused(keys, forged, "signature invalid", fetches=1)
    assert keys.calls == [(ISSUER, KID)]


# --- signature ----------------------------------------------------------------------------


async def test_a_tampered_payload_breaks_the_signature(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    head, _, signature = token(issuer_key).split(".")
    tampered = f"{head}.{segment(claims_v1(oid=APP_ID))}.{signature}"
    await refused(keys, tampered, "signature invalid", fetches=1)


async def test_a_tampered_header_breaks_the_signature(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    _, body, signature = token(issuer_key).split(".")
    tampered = f"{segment(header(typ='at+jwt'))}.{body}.{signature}"
    await refused(keys, tampered, "signature invalid", fetches=1)


async def test_a_token_signed_by_another_key_under_the_issuer_kid_is_refused(
    keys: FakeKeySource, attacker_key: rsa.RSAPrivateKey
) -> None:
    await refused(keys, token(attacker_key), "signature invalid", fetches=1)


async def test_a_signing_key_shorter_than_2048_bits_is_not_used(
    issuer_key: rsa.RSAPrivateKey,
) -> None:
    weak = new_key(1024)
    keys = FakeKeySource({(ISSUER, KID): weak.public_key()})
    await refused(keys, token(weak), "signing key not usable", fetches=1)


async def test_an_issuer_whose_metadata_cannot_be_fetched_refuses_the_token(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    keys.error = MetadataFetchError(ISSUER, f"{ISSUER} answered 503")
    error = await refused(keys, token(issuer_key), "issuer metadata unavailable", fetches=1)
    # The cause names the trusted issuer and what failed: worth logging, safe to log.
    assert isinstance(error.__cause__, MetadataFetchError)


# --- claims callers read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"appid": APP_ID, "azp": OBJECT_ID}, "appid and azp disagree"),
        ({"roles": "Gateway.Read"}, "roles claim malformed"),
        ({"roles": ["Gateway.Read", 1]}, "roles claim malformed"),
        ({"oid": 5}, "oid claim malformed"),
        ({"tid": ""}, "tid claim malformed"),
        ({"appid": {"id": APP_ID}}, "appid claim malformed"),
    ],
)
async def test_claims_of_the_wrong_shape_are_refused_unfetched(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey, claims: dict[str, Any], reason: str
) -> None:
    await refused(keys, token(issuer_key, **claims), reason)


# --- malformed input ------------------------------------------------------------------------

_SIG = b64(b"\x01" * 256)
_HEAD = segment({"alg": "RS256", "kid": KID})
_BODY = segment(claims_v1())
_DUPLICATE = b64(b'{"aud":"a","aud":"b"}')
_NOT_UTF8 = b64(b'{"a":"\xff"}')
_NAN = b64(b'{"exp":NaN}')
_DEEP = segment({"a": [[[[[[[[1]]]]]]]]})
_VERY_DEEP = b64(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}")

MALFORMED: list[tuple[str, object, str]] = [
    ("two segments", f"{_HEAD}.{_BODY}", "token is not a compact JWS"),
    ("four segments", f"{_HEAD}.{_BODY}.{_SIG}.{_SIG}", "token is not a compact JWS"),
    ("a JWE", f"{_HEAD}.a.b.c.d", "token is not a compact JWS"),
    ("garbage", "not a token at all", "token is not a compact JWS"),
    ("empty", "", "token is not a compact JWS"),
    ("not base64url", f"{_HEAD}.{_BODY}+/.{_SIG}", "token segment is not base64url"),
    ("non-ASCII digit", f"{_HEAD}.{_BODY}.{_SIG}\u0665", "token segment is not base64url"),
    ("impossible length", f"{_HEAD}.AAAAA.{_SIG}", "token segment is not base64url"),
    ("non-canonical", f"{_HEAD}.{_BODY}.{_SIG[:-1]}B", "token segment is not base64url"),
    ("duplicate keys", f"{_HEAD}.{_DUPLICATE}.{_SIG}", "token payload is not a JSON object"),
    ("non-UTF-8", f"{_HEAD}.{_NOT_UTF8}.{_SIG}", "token payload is not a JSON object"),
    ("NaN", f"{_HEAD}.{_NAN}.{_SIG}", "token payload is not a JSON object"),
    ("a JSON array", f"{segment([1])}.{_BODY}.{_SIG}", "token header is not a JSON object"),
    ("deep nesting", f"{_HEAD}.{_DEEP}.{_SIG}", "token payload is nested too deeply"),
    ("very deep nesting", f"{_HEAD}.{_VERY_DEEP}.{_SIG}", "token payload is not a JSON object"),
    ("1 MB payload", f"{_HEAD}.{'A' * 1_000_000}.{_SIG}", "token too large"),
    ("no signature", f"{_HEAD}.{_BODY}.", "token has no signature"),
    ("bytes", f"{_HEAD}.{_BODY}.{_SIG}".encode(), "token is not a string"),
    ("None", None, "token is not a string"),
]


@pytest.mark.parametrize(
    ("text", "reason"),
    [(text, reason) for _, text, reason in MALFORMED],
    ids=[name for name, _, _ in MALFORMED],
)
async def test_a_malformed_token_is_refused_unfetched(
    keys: FakeKeySource, text: object, reason: str
) -> None:
    await refused(keys, text, reason)


async def test_any_mutation_of_a_good_token_is_refused_with_invalid_bearer_token_only(
    keys: FakeKeySource, issuer_key: rsa.RSAPrivateKey
) -> None:
    # C.5 case 23 as an invariant: whatever the bytes, either verified or InvalidBearerToken.
    good = token(issuer_key)
    checker = verifier(keys)
    alphabet = 'ABCxyz019-_.=+/ \x00é{}"'
    rng = random.Random(8725)
    started = time.monotonic()
    for _ in range(2000):
        chars = list(good)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(chars))
            action = rng.randrange(3)
            if action == 0:
                chars[position] = rng.choice(alphabet)
            elif action == 1:
                del chars[position]
            else:
                chars.insert(position, rng.choice(alphabet))
        mutated = "".join(chars)
        try:
            await checker.verify(mutated)
        except InvalidBearerToken as error:
            assert_safe(error, mutated)
        else:
            # Padding is tolerated, so "=" at the end of the signature is the same token.
            assert mutated.rstrip("=") == good
    assert time.monotonic() - started < 30


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"leeway_seconds": 601}, "leeway_seconds"),
        ({"leeway_seconds": -1}, "leeway_seconds"),
        ({"algorithms": ("HS256",)}, "unsupported algorithms"),
        ({"algorithms": ("none",)}, "unsupported algorithms"),
        ({"algorithms": ("RS256", "PS256")}, "unsupported algorithms"),
        ({"algorithms": ()}, "algorithms"),
        ({"algorithms": "RS256"}, "algorithms"),
        ({"issuers": []}, "issuers"),
        ({"issuers": ISSUER}, "issuers"),
        ({"issuers": ["http://login.example.test/t/"]}, "https"),
        ({"issuers": ["login.example.test/t/"]}, "https"),
        ({"issuers": ["https://{tenantid}.example.test/"]}, "in the path"),
        ({"issuers": ["https://x.test/{tenantid}/{tenantid}/"]}, "once"),
        ({"audiences": []}, "audiences"),
        ({"audiences": AUDIENCE}, "audiences"),
        ({"audiences": [""]}, "audiences"),
        ({"tenant_ids": []}, "tenant_ids"),
        ({"tenant_ids": ["contoso.onmicrosoft.com"]}, "GUID"),
    ],
)
def test_a_misconfiguration_is_a_value_error_at_construction(
    keys: FakeKeySource, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        verifier(keys, **options)
