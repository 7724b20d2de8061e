"""run(config) serves the issuer over real TLS and keeps the token file fresh."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from tollhouse.kubeissuer import KubeIssuerConfig, run

from .conftest import Pki


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_config(pki: Pki, tmp_path: Path, **changes: object) -> KubeIssuerConfig:
    port = free_port()
    config = KubeIssuerConfig(
        host="127.0.0.1",
        port=port,
        issuer_url=f"https://127.0.0.1:{port}/cluster/",
        tls_cert_path=pki.cert_path,
        tls_key_path=pki.key_path,
        signing_key_path=tmp_path / "keys" / "sa-signer.key",
        token_file=tmp_path / "tokens" / "azure-identity-token",
        namespace="apim-gateway-wi",
        service_account="apim-gateway-workload-identity",
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(config: KubeIssuerConfig) -> AsyncIterator[asyncio.Task[None]]:
    ready = asyncio.Event()
    task = asyncio.create_task(run(config, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
    assert waiter in done, "the kube issuer did not start"
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def client(pki: Pki) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(pki.ca_path)))


async def test_the_discovery_document_and_jwks_are_served_under_the_issuer_path(
    pki: Pki, tmp_path: Path
) -> None:
    config = make_config(pki, tmp_path)
    async with running(config), client(pki) as http:
        discovery = await http.get(config.issuer_url + ".well-known/openid-configuration")
        assert discovery.status_code == 200
        assert discovery.headers["content-type"] == "application/json"
        assert discovery.json()["issuer"] == config.issuer_url
        jwks_uri = discovery.json()["jwks_uri"]
        assert jwks_uri == config.issuer_url + "openid/v1/jwks"
        jwks = await http.get(jwks_uri)
        assert jwks.status_code == 200
        assert jwks.headers["content-type"] == "application/jwk-set+json"
        assert jwks.json()["keys"][0]["alg"] == "RS256"
        root = await http.get(f"https://127.0.0.1:{config.port}/.well-known/openid-configuration")
        assert root.status_code == 404


async def test_the_server_refuses_clients_that_do_not_trust_its_ca(
    pki: Pki, tmp_path: Path
) -> None:
    config = make_config(pki, tmp_path)
    async with running(config), httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(config.issuer_url + ".well-known/openid-configuration")


async def test_the_token_file_holds_a_token_verifiable_with_the_served_jwks_when_ready(
    pki: Pki, tmp_path: Path
) -> None:
    config = make_config(pki, tmp_path)
    async with running(config), client(pki) as http:
        token = config.token_file.read_text()
        jwks = (await http.get(config.issuer_url + "openid/v1/jwks")).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience="api://AzureADTokenExchange",
        issuer=config.issuer_url,
    )
    assert claims["sub"] == "system:serviceaccount:apim-gateway-wi:apim-gateway-workload-identity"
    assert claims["exp"] - claims["iat"] == 3600
    assert stat.S_IMODE(config.token_file.stat().st_mode) == 0o644


async def test_the_token_file_is_rewritten_when_the_rewrite_interval_elapses(
    pki: Pki, tmp_path: Path
) -> None:
    config = make_config(pki, tmp_path, rewrite_after_seconds=0.3)
    async with running(config):
        first = config.token_file.read_text()
        await asyncio.sleep(0.6)
        second = config.token_file.read_text()
    assert first != second
    assert jwt.get_unverified_header(second)["kid"] == jwt.get_unverified_header(first)["kid"]


async def test_the_signing_key_is_created_0600_once_and_kept_across_restarts(
    pki: Pki, tmp_path: Path
) -> None:
    config = make_config(pki, tmp_path)
    async with running(config):
        kid = jwt.get_unverified_header(config.token_file.read_text())["kid"]
    assert stat.S_IMODE(config.signing_key_path.stat().st_mode) == 0o600
    key_pem = config.signing_key_path.read_bytes()
    restarted = make_config(pki, tmp_path)
    async with running(restarted):
        assert jwt.get_unverified_header(restarted.token_file.read_text())["kid"] == kid
    assert restarted.signing_key_path.read_bytes() == key_pem
    assert [p.name for p in config.signing_key_path.parent.iterdir()] == ["sa-signer.key"]


async def test_a_port_in_use_is_reported_as_an_os_error(pki: Pki, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = make_config(pki, tmp_path, port=port)
        with pytest.raises(OSError):
            await asyncio.wait_for(run(config), timeout=10)


async def test_cancelling_run_stops_the_server(pki: Pki, tmp_path: Path) -> None:
    config = make_config(pki, tmp_path)
    async with running(config) as task:
        assert not task.done()
    assert task.cancelled()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", config.port)) != 0
