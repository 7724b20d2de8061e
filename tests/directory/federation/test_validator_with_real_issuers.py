"""Federated assertions from a real kube issuer, over real TLS, end to end.

The kube issuer runs as `tollhouse.kubeissuer.run` does (or as its ASGI app behind a request
recorder, where a test must prove that a server was never contacted).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from tollhouse.directory.federation import (
    UNKNOWN_KID_REFETCH_SECONDS,
    FederatedAssertionValidator,
    FederatedCredential,
    IssuerMetadataCache,
)
from tollhouse.directory.tokens._errors import EntraError
from tollhouse.kubeissuer import KubeIssuerConfig, ServiceAccountIssuer, run

from .conftest import FakeClock, Pki, Servers, json_app

NAMESPACE = "apim-gateway-wi"
SERVICE_ACCOUNT = "apim-gateway-workload-identity"
SUBJECT = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
CLIENT_ID = "00000000-0000-0000-0000-00000000c11e"


def credential_for(issuer: str, subject: str = SUBJECT) -> FederatedCredential:
    return FederatedCredential(
        id="11111111-1111-1111-1111-111111111111",
        name="kubernetes-federated-identity",
        issuer=issuer,
        subject=subject,
    )


def mint(issuer: ServiceAccountIssuer, now: float | None = None, **options: object) -> str:
    return issuer.mint(
        NAMESPACE,
        SERVICE_ACCOUNT,
        now=time.time() if now is None else now,
        **options,  # type: ignore[arg-type]
    )


async def refused(
    validator: FederatedAssertionValidator,
    token: str,
    credentials: list[FederatedCredential],
) -> EntraError:
    with pytest.raises(EntraError) as caught:
        await validator.validate(token, CLIENT_ID, credentials, time.time())
    return caught.value


@pytest.fixture
def validator(cache: IssuerMetadataCache) -> FederatedAssertionValidator:
    return FederatedAssertionValidator(cache)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def running_kube_issuer(config: KubeIssuerConfig) -> AsyncIterator[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(run(config, ready=ready))
    await asyncio.wait_for(ready.wait(), timeout=10)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_token_file_of_a_running_kube_issuer_validates_against_its_credential(
    pki: Pki, tmp_path: Path
) -> None:
    port = free_port()
    config = KubeIssuerConfig(
        host="127.0.0.1",
        port=port,
        issuer_url=f"https://127.0.0.1:{port}/cluster/",
        tls_cert_path=pki.cert_path,
        tls_key_path=pki.key_path,
        signing_key_path=tmp_path / "signer.key",
        token_file=tmp_path / "azure-identity-token",
        namespace=NAMESPACE,
        service_account=SERVICE_ACCOUNT,
    )
    credential = credential_for(config.issuer_url)
    async with (
        running_kube_issuer(config),
        IssuerMetadataCache(verify=pki.ca_path) as cache,
    ):
        token = config.token_file.read_text()
        validator = FederatedAssertionValidator(cache)
        matched = await validator.validate(token, CLIENT_ID, [credential], time.time())
    assert matched is credential


async def test_an_issuer_named_by_no_credential_is_never_contacted(
    servers: Servers,
    validator: FederatedAssertionValidator,
    issuer_key: bytes,
    other_key: bytes,
) -> None:
    configured, configured_server = await servers.kube_issuer(issuer_key)
    stranger, stranger_server = await servers.kube_issuer(other_key)
    error = await refused(validator, mint(stranger), [credential_for(configured.issuer)])
    assert (error.code, error.error) == (70021, "invalid_request")
    assert stranger.issuer in error.message
    assert stranger_server.requests == 0
    assert configured_server.requests == 0


@pytest.mark.parametrize(
    "case",
    ["wrong audience", "wrong subject", "issuer in upper case", "issuer without slash"],
)
async def test_a_mismatching_token_finds_no_record_before_any_request(
    servers: Servers, validator: FederatedAssertionValidator, issuer_key: bytes, case: str
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    token = mint(issuer)
    credential = credential_for(issuer.issuer)
    if case == "wrong audience":
        token = mint(issuer, audience="https://kubernetes.default.svc")
    elif case == "wrong subject":
        credential = credential_for(issuer.issuer, "system:serviceaccount:default:default")
    elif case == "issuer in upper case":
        credential = credential_for(issuer.issuer.replace("/cluster/", "/CLUSTER/"))
    else:
        credential = credential_for(issuer.issuer.removesuffix("/"))
    error = await refused(validator, token, [credential])
    assert error.code == 70021
    assert server.requests == 0


async def test_a_jku_header_pointing_elsewhere_is_not_fetched(
    servers: Servers,
    validator: FederatedAssertionValidator,
    issuer_key: bytes,
    other_key: bytes,
) -> None:
    issuer, _ = await servers.kube_issuer(issuer_key)
    attacker, attacker_server = await servers.kube_issuer(other_key)
    credential = credential_for(issuer.issuer)
    claims = jwt.decode(mint(issuer), options={"verify_signature": False})
    for name in ("jku", "x5u"):
        headers = {"typ": None, "kid": attacker.kid, name: attacker.jwks_uri}
        forged = jwt.encode(claims, attacker._key, algorithm="RS256", headers=headers)
        assert (await refused(validator, forged, [credential])).code == 50027
        headers = {"typ": None, "kid": issuer.kid, name: attacker.jwks_uri}
        honest = jwt.encode(claims, issuer._key, algorithm="RS256", headers=headers)
        assert await validator.validate(honest, CLIENT_ID, [credential], time.time())
    assert attacker_server.requests == 0


async def test_an_http_issuer_is_refused_through_the_validator_without_contact(
    servers: Servers, validator: FederatedAssertionValidator, issuer_key: bytes
) -> None:
    plain = await servers.start(tls=False)
    signer = ServiceAccountIssuer("https://placeholder.invalid/", issuer_key)
    http_issuer = plain.base + "/"
    claims = jwt.decode(mint(signer), options={"verify_signature": False})
    claims["iss"] = http_issuer
    token = jwt.encode(
        claims, signer._key, algorithm="RS256", headers={"typ": None, "kid": signer.kid}
    )
    error = await refused(validator, token, [credential_for(http_issuer)])
    assert error.code == 50027
    assert "https" in error.message
    assert plain.requests == 0


async def test_a_discovery_document_for_another_issuer_fails_signature_verification(
    servers: Servers, validator: FederatedAssertionValidator, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    alias = issuer.issuer.replace("127.0.0.1", "localhost")
    aliased = ServiceAccountIssuer(alias, issuer_key)
    error = await refused(validator, mint(aliased), [credential_for(alias)])
    assert error.code == 50027
    assert "names issuer" in error.message
    assert server.recording.count("/openid/v1/jwks") == 0


async def test_an_oversized_jwks_fails_signature_verification(
    servers: Servers, validator: FederatedAssertionValidator, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    padding = [{"kty": "oct", "k": "A" * 1000, "kid": f"pad{index}"} for index in range(300)]
    server.recording.app = json_app(
        {
            "/cluster/.well-known/openid-configuration": issuer.discovery_document(),
            "/cluster/openid/v1/jwks": {"keys": issuer.jwks()["keys"] + padding},
        }
    )
    error = await refused(validator, mint(issuer), [credential_for(issuer.issuer)])
    assert error.code == 50027
    assert "larger than" in error.message


async def test_two_unknown_kid_tokens_within_five_minutes_cause_one_refetch(
    servers: Servers,
    validator: FederatedAssertionValidator,
    clock: FakeClock,
    issuer_key: bytes,
    other_key: bytes,
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    credential = credential_for(issuer.issuer)
    assert await validator.validate(mint(issuer), CLIENT_ID, [credential], time.time())
    clock.now += 3600
    claims = jwt.decode(mint(issuer), options={"verify_signature": False})
    stranger = ServiceAccountIssuer(issuer.issuer, other_key)
    for kid in ("unknown-a", "unknown-b"):
        token = jwt.encode(
            claims, stranger._key, algorithm="RS256", headers={"typ": None, "kid": kid}
        )
        assert (await refused(validator, token, [credential])).code == 50027
        clock.now += 60
    assert server.recording.count("/openid/v1/jwks") == 2
    clock.now += UNKNOWN_KID_REFETCH_SECONDS
    assert (await refused(validator, token, [credential])).code == 50027
    assert server.recording.count("/openid/v1/jwks") == 3


async def test_an_expired_token_from_a_real_issuer_is_out_of_its_time_range(
    servers: Servers, validator: FederatedAssertionValidator, issuer_key: bytes
) -> None:
    issuer, _ = await servers.kube_issuer(issuer_key)
    token = mint(issuer, now=time.time() - 7200)
    error = await refused(validator, token, [credential_for(issuer.issuer)])
    assert (error.code, error.error) == (700024, "invalid_client")


async def test_a_token_signed_by_another_key_under_the_issuer_kid_fails_signature(
    servers: Servers, validator: FederatedAssertionValidator, issuer_key: bytes, other_key: bytes
) -> None:
    issuer, _ = await servers.kube_issuer(issuer_key)
    impostor = ServiceAccountIssuer(issuer.issuer, other_key)
    claims = jwt.decode(mint(impostor), options={"verify_signature": False})
    forged = jwt.encode(
        claims, impostor._key, algorithm="RS256", headers={"typ": None, "kid": issuer.kid}
    )
    error = await refused(validator, forged, [credential_for(issuer.issuer)])
    assert error.code == 50027
    assert "failed signature verification" in error.message
