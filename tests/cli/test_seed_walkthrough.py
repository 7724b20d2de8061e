"""The seed walk-through (DESIGN.md), step by step, with nothing but `tollhouse` commands.

1. Create the two custom roles from the APIM include's JSON, verbatim
   (apim-self-hosted-gateway.md §2; only `{subscriptionID}` replaced).
2. Grant the Access Validator role to the instance's managed identity.
3. Register an app, give it a secret, and the secret signs in with azure-identity.
4. Create its service principal and assign it the Gateway Configuration Reader role at the
   service: the directory then allows it `getConfiguration` on the service's gateways.
5. Federate a Kubernetes service account with the app.

The walk-through runs against a directory of its own: role names are unique in a tenant and
these are verbatim, so they would collide with any other test that loads the seed roles
into the session's directory.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.identity import ClientSecretCredential

from tests.cli.conftest import Tollhouse, unique
from tests.conftest import RunningDirectory, start_directory
from tests.seed_roles import reader_role_json, validator_role_json

SUBSCRIPTION = str(uuid.uuid4())
RESOURCE_GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg"
SERVICE = f"{RESOURCE_GROUP}/providers/Microsoft.ApiManagement/service/svc"
GATEWAY = f"{SERVICE}/gateways/gw"
VALIDATOR_ROLE = "API Management Configuration API Access Validator Service Role"
READER_ROLE = "API Management Gateway Configuration Reader Role"
GET_CONFIGURATION = "Microsoft.ApiManagement/service/gateways/getConfiguration/action"
ARM_SCOPE = "https://management.azure.com/.default"

VALIDATOR_ROLE_JSON = validator_role_json(SUBSCRIPTION)
READER_ROLE_JSON = reader_role_json(SUBSCRIPTION)


@pytest.fixture(scope="module")
def seed_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDirectory]:
    running, handle = start_directory(tmp_path_factory.mktemp("seed-directory"))
    yield running
    handle.stop()
    running.directory.store.close()


@pytest.fixture
def profile(seed_directory: RunningDirectory) -> Path:
    """`tollhouse` signs in to the walk-through's own directory."""
    return seed_directory.data_dir / "admin.json"


def credential(directory: RunningDirectory, client_id: str, secret: str) -> ClientSecretCredential:
    return ClientSecretCredential(
        directory.tenant_id,
        client_id,
        secret,
        authority=directory.url,
        disable_instance_discovery=True,
        connection_verify=directory.ca_bundle,
    )


def check_access(directory: RunningDirectory, principal_id: str, scope: str) -> str:
    """The directory's decision for `getConfiguration` (asked as the administrator)."""
    admin = credential(directory, directory.profile["clientId"], directory.profile["clientSecret"])
    token = admin.get_token(ARM_SCOPE).token
    response = httpx.post(
        f"{directory.url}{scope}/providers/Microsoft.Authorization/checkAccess",
        json={
            "subject": {"principalId": principal_id},
            "actions": [{"id": GET_CONFIGURATION, "isDataAction": True}],
        },
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=directory.ca_bundle),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["value"][0]["accessDecision"])


def test_the_seed_walkthrough_end_to_end(
    tollhouse: Tollhouse, seed_directory: RunningDirectory, tmp_path: Path
) -> None:
    directory = seed_directory
    # 1. The two custom roles: one from a file, one inline, both verbatim.
    (tmp_path / "validator.json").write_text(VALIDATOR_ROLE_JSON)
    validator = tollhouse(
        "role", "definition", "create", "--role-definition", f"@{tmp_path / 'validator.json'}"
    ).json()
    reader = tollhouse("role", "definition", "create", "--role-definition", READER_ROLE_JSON).json()
    assert validator["roleName"] == VALIDATOR_ROLE
    assert validator["roleType"] == "CustomRole"
    assert validator["assignableScopes"] == [f"/subscriptions/{SUBSCRIPTION}"]
    assert validator["permissions"][0]["actions"] == ["Microsoft.Authorization/*/read"]
    assert reader["roleName"] == READER_ROLE
    assert reader["permissions"][0]["dataActions"] == [GET_CONFIGURATION]
    listed = tollhouse("role", "definition", "list", "--name", READER_ROLE).json()
    assert [d["name"] for d in listed] == [reader["name"]]

    # 2. The instance's managed identity (here an app of its own) gets the validator role.
    identity = tollhouse("ad", "app", "create", "--display-name", unique("apim-identity")).json()
    identity_sp = tollhouse("ad", "sp", "create", "--id", identity["appId"]).json()
    granted = tollhouse(
        "role", "assignment", "create",
        "--assignee-object-id", identity_sp["id"],
        "--assignee-principal-type", "ServicePrincipal",
        "--role", VALIDATOR_ROLE,
        "--scope", RESOURCE_GROUP,
    ).json()  # fmt: skip
    assert granted["principalId"] == identity_sp["id"]
    assert granted["roleDefinitionId"].endswith(validator["name"])

    # 3. The gateway's app and its secret; the secret signs in.
    name = unique("gateway-app")
    app = tollhouse("ad", "app", "create", "--display-name", name).json()
    assert app["displayName"] == name
    reset = tollhouse("ad", "app", "credential", "reset", "--id", app["appId"]).json()
    assert set(reset) == {"appId", "password", "tenant"}
    assert reset["appId"] == app["appId"]
    assert reset["tenant"] == directory.tenant_id
    sp = tollhouse("ad", "sp", "create", "--id", app["appId"]).json()
    assert sp["appId"] == app["appId"]
    token = credential(directory, app["appId"], reset["password"]).get_token(ARM_SCOPE)
    assert token.token.count(".") == 2

    # 4. Gateway Configuration Reader at the service, found again by assignee.
    assert check_access(directory, sp["id"], GATEWAY) == "NotAllowed"
    assignment = tollhouse(
        "role", "assignment", "create",
        "--assignee", app["appId"],
        "--role", READER_ROLE,
        "--scope", SERVICE,
    ).json()  # fmt: skip
    assert assignment["principalId"] == sp["id"]
    assert assignment["principalType"] == "ServicePrincipal"
    assert assignment["scope"] == SERVICE
    assert assignment["roleDefinitionId"].endswith(reader["name"])
    assert check_access(directory, sp["id"], GATEWAY) == "Allowed"

    mine = tollhouse("role", "assignment", "list", "--assignee", app["appId"]).json()
    assert [(a["roleDefinitionName"], a["scope"], a["principalName"]) for a in mine] == [
        (READER_ROLE, SERVICE, app["appId"])
    ]
    assert [a["id"] for a in mine] == [assignment["id"]]

    # 5. Workload identity: the service account's token is accepted in place of a secret.
    fic = tollhouse(
        "ad", "app", "federated-credential", "create",
        "--id", app["appId"],
        "--parameters",
        '{"name": "gateway-sa", "issuer": "https://kubernetes.example/issuer", '
        '"subject": "system:serviceaccount:apim:gateway", '
        '"audiences": ["api://AzureADTokenExchange"], "description": "self-hosted gateway"}',
    ).json()  # fmt: skip
    assert fic["name"] == "gateway-sa"
    listed_fics = tollhouse(
        "ad", "app", "federated-credential", "list", "--id", app["appId"]
    ).json()
    assert [(f["id"], f["issuer"], f["subject"], f["audiences"]) for f in listed_fics] == [
        (
            fic["id"],
            "https://kubernetes.example/issuer",
            "system:serviceaccount:apim:gateway",
            ["api://AzureADTokenExchange"],
        )
    ]
