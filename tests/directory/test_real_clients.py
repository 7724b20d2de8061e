"""The real client libraries obtain tokens from a running directory over HTTPS.

`azure-identity` (sync, over MSAL; and its aio twins, over its own AadClient) and `msal`
itself, each against a directory on loopback with a private CA, each token then verified
with PyJWT against the directory's published JWKS (entra.md §6.2 and §8).
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any

import jwt
import msal
import pytest
from azure.identity import CertificateCredential, ClientSecretCredential, WorkloadIdentityCredential
from azure.identity.aio import CertificateCredential as AsyncCertificateCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential

from tests.conftest import RunningDirectory, RunningKubeIssuer
from tests.directory.helpers import AppUnderTest, make_app

ARM_SCOPE = "https://management.azure.com/.default"
CONFIG_SCOPE = "https://azure-api.net/configuration/.default"


def verified_claims(running: RunningDirectory, token: str, audience: str) -> dict[str, Any]:
    """Verification as a resource server does it: JWKS by kid, RS256 pinned, iss and aud."""
    context = ssl.create_default_context(cafile=running.ca_bundle)
    jwks = jwt.PyJWKClient(
        f"{running.url}/{running.tenant_id}/discovery/v2.0/keys", ssl_context=context
    )
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=f"{running.url}/{running.tenant_id}/",
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )
    return claims


def assert_app_claims(claims: dict[str, Any], app: AppUnderTest, tenant: str, method: str) -> None:
    assert claims["appid"] == app.app_id
    assert claims["appidacr"] == method
    assert claims["oid"] == claims["sub"] == app.principal_id
    assert claims["tid"] == tenant
    assert claims["idtyp"] == "app"
    assert claims["ver"] == "1.0"
    assert claims["exp"] - claims["iat"] >= 3600
    assert claims["uti"]


def write_pem(tmp_path: Path, app: AppUnderTest) -> str:
    assert app.certificate is not None
    path = tmp_path / "app.pem"
    path.write_bytes(app.certificate.combined_pem)
    return str(path)


def test_client_secret_credential_gets_a_verifiable_token(
    directory_server: RunningDirectory,
) -> None:
    app = make_app(directory_server)
    credential = ClientSecretCredential(
        directory_server.tenant_id,
        app.app_id,
        app.secret,
        authority=directory_server.url,
        disable_instance_discovery=True,
        connection_verify=directory_server.ca_bundle,
    )
    token = credential.get_token(CONFIG_SCOPE)
    assert token.expires_on - time.time() >= 3500
    claims = verified_claims(directory_server, token.token, "https://azure-api.net/configuration")
    assert_app_claims(claims, app, directory_server.tenant_id, "1")


def test_client_secret_credential_with_the_tenant_domain(
    directory_server: RunningDirectory,
) -> None:
    app = make_app(directory_server)
    credential = ClientSecretCredential(
        "tollhouse.local",
        app.app_id,
        app.secret,
        authority=directory_server.url,
        disable_instance_discovery=True,
        connection_verify=directory_server.ca_bundle,
    )
    claims = verified_claims(
        directory_server,
        credential.get_token(ARM_SCOPE).token,
        "https://management.azure.com/",
    )
    assert claims["tid"] == directory_server.tenant_id


def test_certificate_credential_sync_rs256_x5t(
    directory_server: RunningDirectory, tmp_path: Path
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    credential = CertificateCredential(
        directory_server.tenant_id,
        app.app_id,
        write_pem(tmp_path, app),
        authority=directory_server.url,
        disable_instance_discovery=True,
        connection_verify=directory_server.ca_bundle,
    )
    claims = verified_claims(
        directory_server, credential.get_token(ARM_SCOPE).token, "https://management.azure.com/"
    )
    assert_app_claims(claims, app, directory_server.tenant_id, "2")


def test_certificate_credential_sync_with_the_certificate_chain(
    directory_server: RunningDirectory, tmp_path: Path
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    credential = CertificateCredential(
        directory_server.tenant_id,
        app.app_id,
        write_pem(tmp_path, app),
        authority=directory_server.url,
        disable_instance_discovery=True,
        connection_verify=directory_server.ca_bundle,
        send_certificate_chain=True,
    )
    assert credential.get_token(ARM_SCOPE).token


async def test_async_client_secret_credential_gets_a_verifiable_token(
    directory_server: RunningDirectory,
) -> None:
    app = make_app(directory_server)
    async with AsyncClientSecretCredential(
        directory_server.tenant_id,
        app.app_id,
        app.secret,
        authority=directory_server.url,
        connection_verify=directory_server.ca_bundle,
    ) as credential:
        token = await credential.get_token(CONFIG_SCOPE)
    claims = verified_claims(directory_server, token.token, "https://azure-api.net/configuration")
    assert_app_claims(claims, app, directory_server.tenant_id, "1")


async def test_async_certificate_credential_ps256_padded_x5t_s256(
    directory_server: RunningDirectory, tmp_path: Path
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    async with AsyncCertificateCredential(
        directory_server.tenant_id,
        app.app_id,
        write_pem(tmp_path, app),
        authority=directory_server.url,
        connection_verify=directory_server.ca_bundle,
    ) as credential:
        token = await credential.get_token(CONFIG_SCOPE)
    claims = verified_claims(directory_server, token.token, "https://azure-api.net/configuration")
    assert_app_claims(claims, app, directory_server.tenant_id, "2")


def test_workload_identity_credential_with_the_kube_issuer_token_file(
    directory_server: RunningDirectory,
    kube_issuer: RunningKubeIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(
        directory_server, secret=False, federated=(kube_issuer.issuer_url, kube_issuer.subject)
    )
    # What the workload identity webhook injects, with the authority pointed at us.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", directory_server.ca_bundle)
    credential = WorkloadIdentityCredential(
        tenant_id=directory_server.tenant_id,
        client_id=app.app_id,
        token_file_path=str(kube_issuer.token_file),
        authority=directory_server.url + "/",
        connection_verify=directory_server.ca_bundle,
    )
    claims = verified_claims(
        directory_server,
        credential.get_token(CONFIG_SCOPE).token,
        "https://azure-api.net/configuration",
    )
    assert_app_claims(claims, app, directory_server.tenant_id, "2")


def test_workload_identity_credential_reads_the_webhook_environment(
    directory_server: RunningDirectory,
    kube_issuer: RunningKubeIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(
        directory_server, secret=False, federated=(kube_issuer.issuer_url, kube_issuer.subject)
    )
    monkeypatch.setenv("AZURE_CLIENT_ID", app.app_id)
    monkeypatch.setenv("AZURE_TENANT_ID", directory_server.tenant_id)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(kube_issuer.token_file))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", directory_server.url + "/")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", directory_server.ca_bundle)
    token = WorkloadIdentityCredential().get_token(ARM_SCOPE)
    claims = verified_claims(directory_server, token.token, "https://management.azure.com/")
    assert claims["appid"] == app.app_id


@pytest.fixture(autouse=True)
def no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's `verify`; the
    clients must trust the directory through their own `verify` options alone."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def msal_app(running: RunningDirectory, app: AppUnderTest, credential: Any) -> Any:
    return msal.ConfidentialClientApplication(
        app.app_id,
        client_credential=credential,
        authority=f"{running.url}/{running.tenant_id}",
        instance_discovery=False,
        verify=running.ca_bundle,
    )


def test_msal_with_a_secret(directory_server: RunningDirectory) -> None:
    app = make_app(directory_server)
    result = msal_app(directory_server, app, app.secret).acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    claims = verified_claims(
        directory_server, result["access_token"], "https://management.azure.com/"
    )
    assert_app_claims(claims, app, directory_server.tenant_id, "1")
    again = msal_app(directory_server, app, app.secret)
    assert again.acquire_token_for_client([ARM_SCOPE])["access_token"]


def test_msal_with_a_certificate_and_thumbprint(directory_server: RunningDirectory) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assert app.certificate is not None
    from cryptography.hazmat.primitives import hashes

    thumbprint = app.certificate.certificate.fingerprint(hashes.SHA1()).hex()
    credential = {
        "private_key": app.certificate.private_key_pem.decode(),
        "thumbprint": thumbprint,
    }
    result = msal_app(directory_server, app, credential).acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in result, result
    claims = verified_claims(
        directory_server, result["access_token"], "https://management.azure.com/"
    )
    assert_app_claims(claims, app, directory_server.tenant_id, "2")


def test_msal_with_a_public_certificate_signs_ps256(directory_server: RunningDirectory) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assert app.certificate is not None
    credential = {
        "private_key": app.certificate.private_key_pem.decode(),
        "public_certificate": app.certificate.certificate_pem.decode(),
    }
    result = msal_app(directory_server, app, credential).acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in result, result


def test_msal_with_an_assertion_callable_reading_the_token_file(
    directory_server: RunningDirectory, kube_issuer: RunningKubeIssuer
) -> None:
    app = make_app(
        directory_server, secret=False, federated=(kube_issuer.issuer_url, kube_issuer.subject)
    )
    calls: list[int] = []

    def read_token() -> str:
        calls.append(1)
        return kube_issuer.token_file.read_text()

    result = msal_app(
        directory_server, app, {"client_assertion": read_token}
    ).acquire_token_for_client([CONFIG_SCOPE])
    assert "access_token" in result, result
    assert calls
    claims = verified_claims(
        directory_server, result["access_token"], "https://azure-api.net/configuration"
    )
    assert_app_claims(claims, app, directory_server.tenant_id, "2")


def test_msal_reports_a_wrong_secret_as_invalid_client(directory_server: RunningDirectory) -> None:
    app = make_app(directory_server)
    result = msal_app(directory_server, app, "not-the-secret").acquire_token_for_client([ARM_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: ")
