"""HTTPS backends: certificates from a private CA are verified (chain and name), SNI carries
the URL's host, and connections with different TLS settings are never shared."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tollhouse.gateway.http import (
    UpstreamConnectError,
    UpstreamPool,
    UpstreamRequestError,
    error_response,
)
from tollhouse.pki import CertificateAuthority, KeyPair

from .upstream_backends import Runner, backend, get, ok, run

__all__ = ["run"]


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Tollhouse test backend CA")


@pytest.fixture(scope="module")
def localhost_pair(ca: CertificateAuthority) -> KeyPair:
    return ca.issue_server(["localhost"])


def server_context(pair: KeyPair, tmp_path: Path, server_names: list[str]) -> ssl.SSLContext:
    pair.write(tmp_path / "server.pem", tmp_path / "server.key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")

    def record(_: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        server_names.append(name or "")

    context.sni_callback = record
    return context


def test_a_backend_with_a_trusted_private_ca_is_reached_with_sni_and_kept_alive(
    run: Runner[None], ca: CertificateAuthority, localhost_pair: KeyPair, tmp_path: Path
) -> None:
    names: list[str] = []

    async def scenario() -> None:
        tls = server_context(localhost_pair, tmp_path, names)
        async with backend(ok(b"secure"), tls=tls) as server:
            pool = UpstreamPool()
            for _ in range(3):
                request = get(server.url(host="localhost"), ca_certificates=[ca.certificate_pem])
                response = await pool.request(request)
                assert (response.status, await response.body.read()) == (200, b"secure")
            assert server.connections == 1
            assert names == ["localhost"]
            assert server.requests[0].header("host") == f"localhost:{server.port}"
            await pool.close()

    run(scenario())


def test_a_backend_whose_ca_is_not_trusted_is_refused_with_502(
    run: Runner[None], localhost_pair: KeyPair, tmp_path: Path
) -> None:
    async def scenario() -> None:
        tls = server_context(localhost_pair, tmp_path, [])
        async with backend(ok(), tls=tls) as server:
            pool = UpstreamPool()
            with pytest.raises(UpstreamConnectError) as caught:
                await pool.request(get(server.url(host="localhost")))
            assert error_response(caught.value).status == 502
            assert server.requests == []
            await pool.close()

    run(scenario())


def test_a_certificate_for_another_name_is_refused(
    run: Runner[None], ca: CertificateAuthority, localhost_pair: KeyPair, tmp_path: Path
) -> None:
    async def scenario() -> None:
        tls = server_context(localhost_pair, tmp_path, [])
        async with backend(ok(), tls=tls) as server:
            pool = UpstreamPool()
            request = get(server.url(host="127.0.0.1"), ca_certificates=[ca.certificate_pem])
            with pytest.raises(UpstreamConnectError):
                await pool.request(request)
            assert server.requests == []
            await pool.close()

    run(scenario())


def test_verification_off_reaches_the_backend_on_its_own_connection(
    run: Runner[None], ca: CertificateAuthority, localhost_pair: KeyPair, tmp_path: Path
) -> None:
    async def scenario() -> None:
        tls = server_context(localhost_pair, tmp_path, [])
        async with backend(ok(), tls=tls) as server:
            pool = UpstreamPool()
            unverified = get(server.url(host="localhost"), verify_tls=False)
            verified = get(server.url(host="localhost"), ca_certificates=[ca.certificate_pem])
            for request in (unverified, verified, unverified, verified):
                response = await pool.request(request)
                assert (response.status, await response.body.read()) == (200, b"ok")
            assert server.connections == 2
            await pool.close()

    run(scenario())


def test_a_ca_certificate_that_is_not_pem_is_a_request_error(
    run: Runner[None], localhost_pair: KeyPair, tmp_path: Path
) -> None:
    async def scenario() -> None:
        tls = server_context(localhost_pair, tmp_path, [])
        async with backend(ok(), tls=tls) as server:
            pool = UpstreamPool()
            request = get(server.url(host="localhost"), ca_certificates=[b"not a certificate"])
            with pytest.raises(UpstreamRequestError):
                await pool.request(request)
            await pool.close()

    run(scenario())
