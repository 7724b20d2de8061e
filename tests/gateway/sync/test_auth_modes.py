"""Each way to authenticate obtains the configuration from a real control plane, the Entra ones
through azure-identity against the running directory (apim-self-hosted-gateway.md §4; entra.md
§5–§6): a GatewayKey literal, `key`, an app's secret, its certificate (PEM and PFX), and
workload identity with the stand-in Kubernetes issuer's token file."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from tests.conftest import RunningDirectory, RunningKubeIssuer
from tests.controlplane.conftest import Roles, RunningControlPlane, assign
from tests.directory.helpers import AppUnderTest, make_app
from tests.gateway.sync.helpers import Headers, Recorder, agent_for, connect, new_gateway
from tests.gateway.sync.helpers import settings_for as settings_with
from tollhouse.gateway._settings import AuthMode, GatewaySettings
from tollhouse.gateway.sync import AccessDenied, ConfigClient, CredentialError


async def obtain(settings: GatewaySettings) -> tuple[str, ConfigClient]:
    client = connect(settings)
    try:
        config, _ = await client.snapshot()
    except BaseException:
        await client.aclose()
        await client.credentials.close()
        raise
    assert config is not None
    return config.gateway, client


async def close(client: ConfigClient) -> None:
    await client.aclose()
    await client.credentials.close()


def settings_for(cp: RunningControlPlane, auth: dict[str, str], tmp: Path) -> GatewaySettings:
    return settings_with(cp.url, cp.directory.ca_bundle, auth, tmp)


def reader(
    running: RunningDirectory, cp: RunningControlPlane, roles: Roles, app: AppUnderTest
) -> None:
    assign(running, app.principal_id, roles.reader, cp.service_id)


async def test_a_gateway_key_literal(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(control_plane, {"config.service.auth": token}, tmp_path)
    obtained, client = await obtain(settings)
    assert obtained == gateway
    assert client.credentials.expires_at() == settings.credential_expires_at
    await close(client)


async def test_key_mode_with_the_token_as_arm_answers_it(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    bare = token.removeprefix("GatewayKey ")
    settings = settings_for(
        control_plane, {"config.service.auth": "key", "config.service.auth.key": bare}, tmp_path
    )
    obtained, client = await obtain(settings)
    assert obtained == gateway
    await close(client)


def entra_auth(running: RunningDirectory, gateway: str, app: AppUnderTest) -> dict[str, str]:
    return {
        "config.service.auth": "azureAdApp",
        "gateway.name": gateway,
        "config.service.auth.azureAd.tenantId": running.tenant_id,
        "config.service.auth.azureAd.clientId": app.app_id,
        "config.service.auth.azureAd.authority": running.url,
    }


async def test_an_entra_app_with_a_client_secret(
    control_plane: RunningControlPlane,
    operator: Headers,
    directory_server: RunningDirectory,
    seed_roles: Roles,
    tmp_path: Path,
) -> None:
    gateway, _ = await asyncio.to_thread(new_gateway, control_plane, operator)
    app = make_app(directory_server)
    reader(directory_server, control_plane, seed_roles, app)
    assert app.secret is not None
    auth = entra_auth(directory_server, gateway, app)
    auth["config.service.auth.azureAd.clientSecret"] = app.secret
    settings = settings_for(control_plane, auth, tmp_path)
    assert settings.auth is AuthMode.AZURE_AD_APP
    obtained, client = await obtain(settings)
    assert obtained == gateway
    assert client.credentials.expires_at() is None  # a secret's end date is not visible
    await close(client)


@pytest.mark.parametrize("form", ["pem", "pfx", "pfx with a password"])
async def test_an_entra_app_with_a_certificate(
    control_plane: RunningControlPlane,
    operator: Headers,
    directory_server: RunningDirectory,
    seed_roles: Roles,
    tmp_path: Path,
    form: str,
) -> None:
    gateway, _ = await asyncio.to_thread(new_gateway, control_plane, operator)
    app = make_app(directory_server, secret=False, certificate=True)
    reader(directory_server, control_plane, seed_roles, app)
    assert app.certificate is not None
    auth = entra_auth(directory_server, gateway, app)
    if form == "pem":
        path = tmp_path / "app.pem"
        path.write_bytes(app.certificate.combined_pem)
    else:
        password = b"pfx-secret" if "password" in form else None
        path = tmp_path / "app.pfx"
        path.write_bytes(app.certificate.pfx(password))
        if password:
            auth["config.service.auth.azureAd.certificatePassword"] = password.decode()
    auth["config.service.auth.azureAd.certificatePath"] = str(path)
    settings = settings_for(control_plane, auth, tmp_path)
    obtained, client = await obtain(settings)
    assert obtained == gateway
    assert client.credentials.expires_at() == app.certificate.certificate.not_valid_after_utc
    await close(client)


async def test_workload_identity_with_the_projected_token_file(
    control_plane: RunningControlPlane,
    operator: Headers,
    directory_server: RunningDirectory,
    kube_issuer: RunningKubeIssuer,
    seed_roles: Roles,
    tmp_path: Path,
) -> None:
    gateway, _ = await asyncio.to_thread(new_gateway, control_plane, operator)
    app = make_app(
        directory_server, secret=False, federated=(kube_issuer.issuer_url, kube_issuer.subject)
    )
    reader(directory_server, control_plane, seed_roles, app)
    # What the workload identity webhook injects, the authority pointed at the directory.
    auth = {
        "config.service.auth": "workloadIdentity",
        "gateway.name": gateway,
        "AZURE_CLIENT_ID": app.app_id,
        "AZURE_TENANT_ID": directory_server.tenant_id,
        "AZURE_FEDERATED_TOKEN_FILE": str(kube_issuer.token_file),
        "AZURE_AUTHORITY_HOST": directory_server.url + "/",
    }
    settings = settings_for(control_plane, auth, tmp_path)
    assert settings.auth is AuthMode.WORKLOAD_IDENTITY
    obtained, client = await obtain(settings)
    assert obtained == gateway
    expiry = client.credentials.expires_at()
    assert expiry is not None and expiry > dt.datetime.now(dt.UTC)
    await close(client)


async def test_an_agent_on_workload_identity_becomes_ready(
    control_plane: RunningControlPlane,
    operator: Headers,
    directory_server: RunningDirectory,
    kube_issuer: RunningKubeIssuer,
    seed_roles: Roles,
    tmp_path: Path,
) -> None:
    gateway, _ = await asyncio.to_thread(new_gateway, control_plane, operator)
    app = make_app(
        directory_server, secret=False, federated=(kube_issuer.issuer_url, kube_issuer.subject)
    )
    reader(directory_server, control_plane, seed_roles, app)
    settings = settings_for(
        control_plane,
        {
            "config.service.auth": "WORKLOADIDENTITY",
            "gateway.name": gateway,
            "AZURE_CLIENT_ID": app.app_id,
            "AZURE_TENANT_ID": directory_server.tenant_id,
            "AZURE_FEDERATED_TOKEN_FILE": str(kube_issuer.token_file),
            "AZURE_AUTHORITY_HOST": directory_server.url,
        },
        tmp_path,
    )
    apply = Recorder()
    agent, client, _ = agent_for(settings, apply)
    await agent.start()
    try:
        assert await agent.wait_ready(20)
        assert apply.current is not None and apply.current.gateway == gateway
    finally:
        await agent.stop()
        await close(client)


# --- refusals keep what the server or the token service said ---------------------------------


async def test_an_app_without_the_reader_role_is_told_which_role_to_assign(
    control_plane: RunningControlPlane,
    operator: Headers,
    directory_server: RunningDirectory,
    tmp_path: Path,
) -> None:
    gateway, _ = await asyncio.to_thread(new_gateway, control_plane, operator)
    app = make_app(directory_server)
    assert app.secret is not None
    auth = entra_auth(directory_server, gateway, app)
    auth["config.service.auth.azureAd.clientSecret"] = app.secret
    client = connect(settings_for(control_plane, auth, tmp_path))
    try:
        with pytest.raises(AccessDenied) as denied:
            await client.snapshot()
        assert denied.value.status == 403
        assert "API Management Gateway Configuration Reader Role" in denied.value.message
    finally:
        await close(client)


async def test_a_wrong_secret_is_a_credential_error_without_the_secret(
    control_plane: RunningControlPlane,
    operator: Headers,
    directory_server: RunningDirectory,
    tmp_path: Path,
) -> None:
    gateway, _ = await asyncio.to_thread(new_gateway, control_plane, operator)
    app = make_app(directory_server)
    wrong = "not-the-secret-0123456789"
    auth = entra_auth(directory_server, gateway, app)
    auth["config.service.auth.azureAd.clientSecret"] = wrong
    client = connect(settings_for(control_plane, auth, tmp_path))
    try:
        with pytest.raises(CredentialError) as refused:
            await client.snapshot()
        assert "AADSTS" in str(refused.value)
        assert wrong not in str(refused.value)
    finally:
        await close(client)
