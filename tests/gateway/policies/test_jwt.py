"""validate-jwt, validate-azure-ad-token and authentication-basic (security-and-faults.md C.3,
C.5 cases 17–23), against a real HTTPS OIDC issuer on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.directory.federation.conftest import Pki, Server, Servers
from tollhouse.gateway.policies import (
    CompiledPolicies,
    PolicyCompileError,
    PolicyContext,
    PolicyResponse,
    compile_operation_policies,
    default_registry,
)
from tollhouse.gateway.policies._jwt import TokenServices
from tollhouse.gateway.policies.expressions import Jwt
from tollhouse.kubeissuer import ServiceAccountIssuer
from tollhouse.oidc import IssuerMetadataCache
from tollhouse.pki import CertificateAuthority

from .support import configuration, context, doc

AUDIENCE = "api://orders"
HS_KEY = b"k" * 32
DISCOVERY = "/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create()
    (directory / "ca.pem").write_bytes(ca.certificate_pem)
    ca.issue_server(["127.0.0.1"]).write(directory / "server.pem", directory / "server.key")
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
async def servers(pki: Pki) -> AsyncIterator[Servers]:
    async with contextlib.AsyncExitStack() as stack:
        yield Servers(stack, pki)


@pytest.fixture
async def cache(pki: Pki, servers: Servers) -> AsyncIterator[IssuerMetadataCache]:
    async with IssuerMetadataCache(verify=pki.ca_path) as cache:
        yield cache


@pytest.fixture
async def issuer(servers: Servers, key_pem: bytes) -> tuple[ServiceAccountIssuer, Server]:
    return await servers.kube_issuer(key_pem, path="/cluster")


def compile_with(cache: IssuerMetadataCache, inbound: str) -> CompiledPolicies | PolicyCompileError:
    config = configuration(operation_policy=doc(inbound=inbound, backend="<forward-request />"))
    api = config.apis[0]
    registry = default_registry(TokenServices(signing_keys=cache))
    return compile_operation_policies(config, api, api.operations[0], registry=registry)


def compile_ok(cache: IssuerMetadataCache, inbound: str) -> CompiledPolicies:
    result = compile_with(cache, inbound)
    assert isinstance(result, CompiledPolicies), str(result)
    return result


def validate_jwt(issuer_url: str, extra: str = "", attributes: str = "") -> str:
    return (
        f'<validate-jwt header-name="Authorization" {attributes}>'
        f'<openid-config url="{issuer_url}{DISCOVERY}" />'
        f"<audiences><audience>{AUDIENCE}</audience></audiences>{extra}</validate-jwt>"
    )


def claims(issuer_url: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": issuer_url,
        "aud": AUDIENCE,
        "sub": "caller",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def rs256(key_pem: bytes, kid: str, body: dict[str, Any], **header: Any) -> str:
    return jwt.encode(body, key_pem, algorithm="RS256", headers={"kid": kid, **header})


class Backend:
    def __init__(self) -> None:
        self.requests: list[PolicyContext] = []

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse:
        self.requests.append(ctx)
        return PolicyResponse(200)


async def run(
    policies: CompiledPolicies, token: str | None, **options: Any
) -> tuple[PolicyResponse, PolicyContext, Backend]:
    headers = [("Authorization", f"Bearer {token}")] if token is not None else []
    ctx = context(headers=headers, **options)
    backend = Backend()
    policies_doc = policies
    response = await policies_doc.execute(ctx, backend)
    return response, ctx, backend


def assert_refused(response: PolicyResponse, backend: Backend, message: str | None = None) -> None:
    assert response.status == 401
    assert json.loads(response.body.buffered or b"") == {
        "statusCode": 401,
        "message": message or "Unauthorized. Access token is missing or invalid.",
    }
    assert any(k == "WWW-Authenticate" for k, _ in response.headers)
    assert backend.requests == []


FORWARD = ""  # forward-request is in every document's backend section


async def test_a_token_from_the_openid_issuer_is_accepted_and_its_claims_kept(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server], key_pem: bytes
) -> None:
    kube, server = issuer
    policies = compile_ok(
        cache,
        validate_jwt(kube.issuer, attributes='output-token-variable-name="jwt"') + FORWARD,
    )
    token = rs256(key_pem, kube.kid, claims(kube.issuer))
    response, ctx, backend = await run(policies, token)
    assert response.status == 200
    assert len(backend.requests) == 1
    parsed = ctx.variables["jwt"]
    assert isinstance(parsed, Jwt)
    assert parsed.Issuer == kube.issuer
    assert parsed.Claims["sub"] == [jwt.decode(token, options={"verify_signature": False})["sub"]]
    assert server.recording.count(DISCOVERY) == 1


async def test_a_missing_token_is_refused_with_the_configured_message_and_status(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server]
) -> None:
    kube, server = issuer
    policies = compile_ok(
        cache,
        validate_jwt(kube.issuer, attributes='failed-validation-error-message="nope"') + FORWARD,
    )
    response, ctx, backend = await run(policies, None)
    assert_refused(response, backend, "nope")
    assert ("WWW-Authenticate", "Bearer") in response.headers
    assert ctx.last_error is not None and ctx.last_error.reason == "TokenNotPresent"
    assert server.requests == 0


def _unsigned(body: dict[str, Any], alg: str, kid: str) -> str:
    def segment(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': alg, 'kid': kid})}.{segment(body)}."


@pytest.mark.parametrize("alg", ["none", "None", "RS256"])
async def test_an_unsigned_token_is_refused(
    cache: IssuerMetadataCache,
    issuer: tuple[ServiceAccountIssuer, Server],
    alg: str,
) -> None:
    kube, _ = issuer
    policies = compile_ok(cache, validate_jwt(kube.issuer) + FORWARD)
    response, _, backend = await run(policies, _unsigned(claims(kube.issuer), alg, kube.kid))
    assert_refused(response, backend)


async def test_hs256_signed_with_the_issuer_public_key_is_refused(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server], key_pem: bytes
) -> None:
    kube, _ = issuer
    public = (
        serialization.load_pem_private_key(key_pem, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    body = claims(kube.issuer)
    header = {"alg": "HS256", "kid": kube.kid, "typ": "JWT"}

    def segment(value: Any) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    import hashlib
    import hmac

    signing_input = segment(header) + b"." + segment(body)
    signature = base64.urlsafe_b64encode(
        hmac.new(public, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    token = (signing_input + b"." + signature).decode()
    policies = compile_ok(cache, validate_jwt(kube.issuer) + FORWARD)
    response, _, backend = await run(policies, token)
    assert_refused(response, backend)


async def test_unknown_kids_are_refused_without_a_refetch_storm(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server], key_pem: bytes
) -> None:
    kube, server = issuer
    policies = compile_ok(cache, validate_jwt(kube.issuer) + FORWARD)
    for kid in ["../../dev/null", "' OR 1=1 --", "x" * 100, *(f"k{i}" for i in range(20))]:
        response, _, backend = await run(policies, rs256(key_pem, kid, claims(kube.issuer)))
        assert_refused(response, backend)
    # One fetch of discovery and JWKS, then at most one refetch per rate-limit interval.
    assert server.recording.count(DISCOVERY) <= 2


async def test_jku_and_x5u_in_the_header_are_ignored(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server]
) -> None:
    kube, server = issuer
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_pem = attacker.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    policies = compile_ok(cache, validate_jwt(kube.issuer) + FORWARD)
    token = rs256(
        attacker_pem,
        kube.kid,
        claims(kube.issuer),
        jku=server.base + "/attacker/jwks",
        x5u=server.base + "/attacker/cert",
    )
    response, _, backend = await run(policies, token)
    assert_refused(response, backend)
    assert not any(p.startswith("/attacker") for p in server.recording.paths)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://other.example"}, "TokenIssuerNotAllowed"),
        ({"aud": "api://other"}, "TokenAudienceNotAllowed"),
        ({"aud": None}, "TokenAudienceNotAllowed"),
        ({"exp": -10}, "TokenExpired"),
        ({"exp": None}, "TokenExpirationTimeMissing"),
        ({"nbf": 100}, "TokenNotYetValid"),
    ],
)
async def test_claims_that_break_a_rule_are_refused(
    cache: IssuerMetadataCache,
    issuer: tuple[ServiceAccountIssuer, Server],
    key_pem: bytes,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    kube, _ = issuer
    # Times are offsets from now, taken when the test runs (not when it is collected).
    now = int(time.time())
    overrides = {
        k: now + v if k in ("exp", "nbf") and isinstance(v, int) else v
        for k, v in overrides.items()
    }
    policies = compile_ok(cache, validate_jwt(kube.issuer) + FORWARD)
    token = rs256(key_pem, kube.kid, claims(kube.issuer, **overrides))
    response, ctx, backend = await run(policies, token)
    assert_refused(response, backend)
    assert ctx.last_error is not None and ctx.last_error.reason == reason


@pytest.mark.parametrize(
    "token", ["a.b", "a.b.c.d", "!!!.###.$$$", "e30.e30.AA", "x" * (1024 * 1024)]
)
async def test_malformed_tokens_are_refused_never_500(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server], token: str
) -> None:
    kube, _ = issuer
    policies = compile_ok(cache, validate_jwt(kube.issuer) + FORWARD)
    response, _, backend = await run(policies, token)
    assert_refused(response, backend)


async def test_required_claims_all_and_any(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server], key_pem: bytes
) -> None:
    kube, _ = issuer
    required = (
        "<required-claims>"
        '<claim name="roles" match="all"><value>read</value><value>write</value></claim>'
        '<claim name="scp" match="any" separator=" "><value>a</value><value>z</value></claim>'
        "</required-claims>"
    )
    policies = compile_ok(cache, validate_jwt(kube.issuer, required) + FORWARD)
    good = claims(kube.issuer, roles=["read", "write"], scp="x a")
    response, _, _ = await run(policies, rs256(key_pem, kube.kid, good))
    assert response.status == 200
    for bad in (
        claims(kube.issuer, roles=["read"], scp="a"),
        claims(kube.issuer, roles=["read", "write"], scp="x y"),
        claims(kube.issuer, roles=["read", "write"]),
    ):
        response, _, backend = await run(policies, rs256(key_pem, kube.kid, bad))
        assert_refused(response, backend)


async def test_require_scheme_refuses_another_scheme(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server], key_pem: bytes
) -> None:
    kube, _ = issuer
    policies = compile_ok(
        cache, validate_jwt(kube.issuer, attributes='require-scheme="Bearer"') + FORWARD
    )
    token = rs256(key_pem, kube.kid, claims(kube.issuer))
    ctx = context(headers=[("Authorization", f"Token {token}")])
    backend = Backend()
    assert_refused(await policies.execute(ctx, backend), backend)


def hs_policy(extra: str = "", key: bytes = HS_KEY) -> str:
    encoded = base64.b64encode(key).decode()
    return (
        '<validate-jwt query-parameter-name="access_token" output-token-variable-name="t">'
        f"<issuer-signing-keys><key>{encoded}</key></issuer-signing-keys>"
        f"<audiences><audience>{AUDIENCE}</audience></audiences>{extra}</validate-jwt>"
    ) + FORWARD


async def test_hs256_with_configured_keys(cache: IssuerMetadataCache) -> None:
    policies = compile_ok(
        cache, hs_policy("<issuers><issuer>https://hs.example</issuer></issuers>")
    )
    good = jwt.encode(claims("https://hs.example"), HS_KEY, algorithm="HS256")
    backend = Backend()
    ctx = context(query=[("access_token", good)])
    assert (await policies.execute(ctx, backend)).status == 200
    assert ctx.variables["t"].Issuer == "https://hs.example"  # type: ignore[attr-defined]
    for bad in (
        jwt.encode(claims("https://hs.example"), b"w" * 32, algorithm="HS256"),
        jwt.encode(claims("https://evil.example"), HS_KEY, algorithm="HS256"),
        jwt.encode(claims("https://hs.example", aud="api://x"), HS_KEY, algorithm="HS256"),
        jwt.encode(claims("https://hs.example", exp=None), HS_KEY, algorithm="HS256"),
        jwt.encode(claims("https://hs.example"), HS_KEY, algorithm="HS512"),
        _unsigned(claims("https://hs.example"), "none", "k"),
    ):
        backend = Backend()
        response = await policies.execute(context(query=[("access_token", bad)]), backend)
        assert_refused(response, backend)


@pytest.mark.parametrize(
    "inbound",
    [
        hs_policy(key=b"short"),
        hs_policy().replace('output-token-variable-name="t"', 'require-signed-tokens="false"'),
        hs_policy().replace("<audiences>", "<x>").replace("</audiences>", "</x>"),
        '<validate-jwt header-name="Authorization"><audiences><audience>a</audience>'
        "</audiences></validate-jwt>",
        '<validate-jwt header-name="Authorization"><openid-config url="https://x/oidc" />'
        "<audiences><audience>a</audience></audiences></validate-jwt>",
        '<validate-jwt header-name="Authorization"><issuer-signing-keys>'
        '<key n="abc" e="AQAB" /></issuer-signing-keys>'
        "<audiences><audience>a</audience></audiences></validate-jwt>",
    ],
)
def test_unsupported_or_unsafe_configurations_are_compile_errors(
    cache: IssuerMetadataCache, inbound: str
) -> None:
    assert isinstance(compile_with(cache, inbound), PolicyCompileError)


async def test_validate_azure_ad_token_uses_the_configured_authority(
    cache: IssuerMetadataCache, servers: Servers, key_pem: bytes
) -> None:
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    server = await servers.start()
    kube = ServiceAccountIssuer(f"{server.base}/{tenant}/v2.0", key_pem)
    from tollhouse.kubeissuer import create_app

    server.recording.app = create_app(kube)
    config = configuration(
        operation_policy=doc(
            inbound=f'<validate-azure-ad-token tenant-id="{tenant}">'
            "<client-application-ids><application-id>app-1</application-id>"
            f"</client-application-ids><audiences><audience>{AUDIENCE}</audience></audiences>"
            "</validate-azure-ad-token>",
            backend="<forward-request />",
        )
    )
    api = config.apis[0]
    registry = default_registry(TokenServices(signing_keys=cache, azure_ad_authority=server.base))
    policies = compile_operation_policies(config, api, api.operations[0], registry=registry)
    assert isinstance(policies, CompiledPolicies), str(policies)
    good = claims(kube.issuer, tid=tenant, azp="app-1")
    response, _, _ = await run(policies, rs256(key_pem, kube.kid, good))
    assert response.status == 200
    for bad in (claims(kube.issuer, tid=tenant, azp="app-2"), claims(kube.issuer, tid=tenant)):
        response, _, backend = await run(policies, rs256(key_pem, kube.kid, bad))
        assert_refused(response, backend)


async def test_authentication_basic_sets_the_backend_authorization(
    cache: IssuerMetadataCache,
) -> None:
    policies = compile_ok(
        cache, '<authentication-basic username="alice" password="s3cr:t" />' + FORWARD
    )
    ctx = context(headers=[("authorization", "Bearer client")])
    backend = Backend()
    await policies.execute(ctx, backend)
    expected = "Basic " + base64.b64encode(b"alice:s3cr:t").decode()
    assert [v for k, v in ctx.request.headers if k.lower() == "authorization"] == [expected]


def compile_with_clock(
    cache: IssuerMetadataCache, inbound: str, clock: Callable[[], float]
) -> CompiledPolicies:
    config = configuration(operation_policy=doc(inbound=inbound, backend="<forward-request />"))
    api = config.apis[0]
    registry = default_registry(TokenServices(signing_keys=cache, clock=clock))
    result = compile_operation_policies(config, api, api.operations[0], registry=registry)
    assert isinstance(result, CompiledPolicies), str(result)
    return result


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [(None, False), ('clock-skew="600"', True), ('clock-skew="00:10:00"', True)],
)
async def test_a_gateway_clock_ten_minutes_ahead_is_forgiven_only_by_clock_skew(
    cache: IssuerMetadataCache,
    issuer: tuple[ServiceAccountIssuer, Server],
    key_pem: bytes,
    skew: str | None,
    accepted: bool,
) -> None:
    # security-and-faults.md §C.5 #34: decisions match the documented leeway.
    kube, _ = issuer
    policies = compile_with_clock(
        cache,
        validate_jwt(kube.issuer, attributes=skew or ""),
        clock=lambda: time.time() + 600 - 5,  # the token below expires in 5 minutes
    )
    token = rs256(key_pem, kube.kid, claims(kube.issuer, exp=int(time.time()) + 300))
    response, _, backend = await run(policies, token)
    if accepted:
        assert response.status == 200
    else:
        assert_refused(response, backend)


async def test_a_token_from_an_issuer_clock_ahead_is_not_yet_valid_without_clock_skew(
    cache: IssuerMetadataCache, issuer: tuple[ServiceAccountIssuer, Server], key_pem: bytes
) -> None:
    kube, _ = issuer
    ahead = int(time.time()) + 240
    token = rs256(key_pem, kube.kid, claims(kube.issuer, nbf=ahead, iat=ahead))
    strict = compile_ok(cache, validate_jwt(kube.issuer))
    response, _, backend = await run(strict, token)
    assert_refused(response, backend)
    lenient = compile_ok(cache, validate_jwt(kube.issuer, attributes='clock-skew="00:05:00"'))
    assert (await run(lenient, token))[0].status == 200


@pytest.mark.parametrize("skew", ["601", "00:10:01", "-1", "ten", "1.5"])
def test_clock_skew_beyond_ten_minutes_or_malformed_is_a_compile_error(
    cache: IssuerMetadataCache, skew: str
) -> None:
    inbound = validate_jwt("https://issuer.example", attributes=f'clock-skew="{skew}"')
    assert isinstance(compile_with(cache, inbound), PolicyCompileError)
