"""A control plane over real TLS, its managed identity a service principal of the running
directory, set up as the seeds describe."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningDirectory
from tests.directory.helpers import AppUnderTest, make_app
from tests.seed_roles import reader_role_json, validator_role_json
from tollhouse.controlplane import ControlPlane, ControlPlaneConfig, build_control_plane_server
from tollhouse.directory.rbac import RoleAssignment, parse_role_definition
from tollhouse.identity import ClientCredentials
from tollhouse.serving import ServerHandle, start_in_thread
from tollhouse.serving._server import free_port

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
RESOURCE_GROUP = "apim-rg"
ARM = "https://management.azure.com/.default"
CONFIGURATION = "https://azure-api.net/configuration/.default"


@dataclass
class Roles:
    validator: str
    reader: str


@dataclass
class RunningControlPlane:
    service: ControlPlane
    handle: ServerHandle
    url: str
    identity: AppUnderTest
    directory: RunningDirectory

    @property
    def service_id(self) -> str:
        return self.service.service_id

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=self.directory.ca_bundle)
        return httpx.Client(base_url=self.url, verify=context, timeout=30)


def assign(running: RunningDirectory, principal: str, role: str, scope: str) -> None:
    running.directory.store.create_role_assignment(
        running.tenant_id,
        RoleAssignment(str(uuid.uuid4()), scope, principal, role),
        now=time.time(),
    )


@pytest.fixture(scope="session")
def seed_roles(directory_server: RunningDirectory) -> Roles:
    """The two custom roles of the seeds, defined in the directory's tenant."""
    store = directory_server.directory.store
    ids = []
    for text in (validator_role_json(SUBSCRIPTION), reader_role_json(SUBSCRIPTION)):
        definition = parse_role_definition(json.loads(text))
        existing = {
            d.role_name: d.id for d in store.list_role_definitions(directory_server.tenant_id)
        }
        if definition.role_name in existing:
            ids.append(existing[definition.role_name])
        else:
            ids.append(store.put_role_definition(directory_server.tenant_id, definition).id)
    return Roles(*ids)


def start_control_plane(
    running: RunningDirectory,
    tmp: Path,
    *,
    service_name: str,
    validated: bool,
    roles: Roles,
    database_url: str = "",
    identity: AppUnderTest | None = None,
    **overrides: Any,
) -> RunningControlPlane:
    identity = identity or make_app(running)
    if validated:
        assign(running, identity.principal_id, roles.validator, f"/subscriptions/{SUBSCRIPTION}")
    assert identity.secret is not None
    config = ControlPlaneConfig(
        identity=ClientCredentials(
            tenant_id=running.tenant_id,
            client_id=identity.app_id,
            client_secret=identity.secret,
            authority=running.url,
            ca_bundle=Path(running.ca_bundle),
        ),
        port=free_port(),
        data_dir=tmp / service_name,
        database_url=database_url,
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        service_name=service_name,
        **overrides,
    )
    service, server = build_control_plane_server(config, Path(running.ca_bundle).parent)
    handle = start_in_thread(server)
    return RunningControlPlane(
        service, handle, f"https://127.0.0.1:{handle.port}", identity, running
    )


@pytest.fixture(scope="session")
def control_plane(
    directory_server: RunningDirectory, seed_roles: Roles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningControlPlane]:
    running = start_control_plane(
        directory_server,
        tmp_path_factory.mktemp("control-plane"),
        service_name="contoso",
        validated=True,
        roles=seed_roles,
    )
    yield running
    running.handle.stop()
    running.service.store.close()


def token_for(running: RunningDirectory, app: AppUnderTest, scope: str) -> str:
    context = ssl.create_default_context(cafile=running.ca_bundle)
    response = httpx.post(
        running.token_url(),
        data={
            "grant_type": "client_credentials",
            "client_id": app.app_id,
            "client_secret": app.secret,
            "scope": scope,
        },
        verify=context,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="session")
def operator(directory_server: RunningDirectory) -> Callable[[], dict[str, str]]:
    """Headers of a management caller: the directory's administrator (Owner at /)."""
    profile = directory_server.profile
    admin = AppUnderTest(
        object_id="", app_id=profile["clientId"], principal_id="", secret=profile["clientSecret"]
    )

    def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(directory_server, admin, ARM)}"}

    return headers
