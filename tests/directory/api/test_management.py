"""Graph and ARM routes: who may read and write directory objects and RBAC.

Reading and writing RBAC is itself governed by RBAC; Graph writes need the app role
Application.ReadWrite.All. The seed roles load verbatim through the ARM route.
"""

from __future__ import annotations

import json
import ssl
import uuid
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import RunningDirectory
from tests.directory.helpers import AppUnderTest, make_app
from tests.seed_roles import reader_role_json, validator_role_json
from tollhouse.directory.rbac import DenyAssignment, Permission

ARM = "https://management.azure.com/.default"
GRAPH = "https://graph.microsoft.com/.default"
SUBSCRIPTION = f"/subscriptions/{uuid.UUID(int=7)}"
SERVICE = f"{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"
GATEWAY = f"{SERVICE}/gateways/mygw"
GET_CONFIGURATION = "Microsoft.ApiManagement/service/gateways/getConfiguration/action"

VALIDATOR_ROLE: dict[str, Any] = json.loads(validator_role_json(SUBSCRIPTION.split("/")[-1]))
READER_ROLE: dict[str, Any] = json.loads(reader_role_json(SUBSCRIPTION.split("/")[-1]))


@pytest.fixture(scope="module")
def http(directory_server: RunningDirectory) -> Any:
    context = ssl.create_default_context(cafile=directory_server.ca_bundle)
    with httpx.Client(base_url=directory_server.url, verify=context, timeout=30) as client:
        yield client


def token(
    http: httpx.Client, running: RunningDirectory, client_id: str, secret: str, scope: str
) -> str:
    response = http.post(
        f"/{running.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def admin(http: httpx.Client, running: RunningDirectory, scope: str) -> dict[str, str]:
    profile = running.profile
    bearer = token(http, running, profile["clientId"], profile["clientSecret"], scope)
    return {"Authorization": f"Bearer {bearer}"}


def as_app(
    http: httpx.Client, running: RunningDirectory, app: AppUnderTest, scope: str
) -> dict[str, str]:
    assert app.secret is not None
    return {"Authorization": f"Bearer {token(http, running, app.app_id, app.secret, scope)}"}


def put_role(
    http: httpx.Client, headers: dict[str, str], document: dict[str, Any]
) -> httpx.Response:
    # az role definition create sends the az shape to the first assignable scope.
    guid = str(uuid.uuid4())
    return http.put(
        f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        json=document,
        headers=headers,
    )


def assign(
    http: httpx.Client, headers: dict[str, str], scope: str, role_id: str, principal: str
) -> httpx.Response:
    return http.put(
        f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
        json={
            "properties": {
                "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{role_id}",
                "principalId": principal,
                "principalType": "ServicePrincipal",
            }
        },
        headers=headers,
    )


@pytest.fixture(scope="module")
def seed_roles(http: httpx.Client, directory_server: RunningDirectory) -> dict[str, str]:
    """The two roles of the APIM include, created verbatim; name → GUID."""
    headers = admin(http, directory_server, ARM)
    ids = {}
    for document in (VALIDATOR_ROLE, READER_ROLE):
        response = put_role(http, headers, document)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["properties"]["roleName"] == document["Name"]
        assert body["properties"]["type"] == "CustomRole"
        ids[str(document["Name"])] = str(body["name"])
    return ids


# --- Graph ---------------------------------------------------------------------------------


def test_graph_refuses_a_call_without_a_token(http: httpx.Client) -> None:
    response = http.get("/v1.0/applications")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_graph_refuses_an_arm_token(http: httpx.Client, directory_server: RunningDirectory) -> None:
    response = http.get("/v1.0/applications", headers=admin(http, directory_server, ARM))
    assert response.status_code == 401


def test_graph_refuses_a_tampered_token(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    headers = admin(http, directory_server, GRAPH)
    tampered = headers["Authorization"][:-4] + "AAAA"
    response = http.get("/v1.0/applications", headers={"Authorization": tampered})
    assert response.status_code == 401


def test_graph_needs_the_application_app_role(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = http.get("/v1.0/applications", headers=as_app(http, directory_server, app, GRAPH))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_an_application_is_created_and_its_secret_shown_once(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    headers = admin(http, directory_server, GRAPH)
    created = http.post("/v1.0/applications", json={"displayName": "gw app"}, headers=headers)
    assert created.status_code == 201, created.text
    app = created.json()
    password = http.post(
        f"/v1.0/applications/{app['id']}/addPassword",
        json={"passwordCredential": {"displayName": "gw"}},
        headers=headers,
    ).json()
    secret = password["secretText"]
    assert secret.startswith(password["hint"])
    shown = http.get(f"/v1.0/applications(appId='{app['appId']}')", headers=headers)
    assert shown.status_code == 200
    assert secret not in shown.text
    assert shown.json()["passwordCredentials"][0]["secretText"] is None
    listed = http.get(
        "/v1.0/applications", params={"$filter": f"appId eq '{app['appId']}'"}, headers=headers
    ).json()["value"]
    assert [a["id"] for a in listed] == [app["id"]]


def test_a_federated_credential_with_two_audiences_is_refused(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    headers = admin(http, directory_server, GRAPH)
    app = http.post("/v1.0/applications", json={"displayName": "fic app"}, headers=headers).json()
    response = http.post(
        f"/v1.0/applications/{app['id']}/federatedIdentityCredentials",
        json={
            "name": "k8s",
            "issuer": "https://issuer.example/",
            "subject": "system:serviceaccount:a:b",
            "audiences": ["api://AzureADTokenExchange", "api://other"],
        },
        headers=headers,
    )
    assert response.status_code == 400
    assert "audiences" in response.json()["error"]["message"]


def test_the_federated_audience_defaults_to_the_token_exchange(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    headers = admin(http, directory_server, GRAPH)
    app = http.post("/v1.0/applications", json={"displayName": "fic app"}, headers=headers).json()
    response = http.post(
        f"/v1.0/applications/{app['id']}/federatedIdentityCredentials",
        json={
            "name": "k8s",
            "issuer": "https://issuer.example/",
            "subject": "system:serviceaccount:a:b",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["audiences"] == ["api://AzureADTokenExchange"]


# --- ARM RBAC ------------------------------------------------------------------------------


def test_the_seed_roles_load_verbatim(seed_roles: dict[str, str]) -> None:
    assert set(seed_roles) == {VALIDATOR_ROLE["Name"], READER_ROLE["Name"]}


def test_role_definitions_are_listed_by_name(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    response = http.get(
        f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions",
        params={"$filter": f"roleName eq '{READER_ROLE['Name']}'"},
        headers=admin(http, directory_server, ARM),
    )
    assert response.status_code == 200
    names = [d["properties"]["roleName"] for d in response.json()["value"]]
    assert names == [READER_ROLE["Name"]]


def test_builtin_roles_are_listed(http: httpx.Client, directory_server: RunningDirectory) -> None:
    response = http.get(
        "/providers/Microsoft.Authorization/roleDefinitions",
        params={"$filter": "roleName eq 'Owner'"},
        headers=admin(http, directory_server, ARM),
    )
    (owner,) = response.json()["value"]
    assert owner["name"] == "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
    assert owner["properties"]["type"] == "BuiltInRole"


def test_a_custom_role_assignable_at_the_root_is_refused(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    document = dict(READER_ROLE, Name="root role", AssignableScopes=["/"])
    response = put_role(http, admin(http, directory_server, ARM), document)
    assert response.status_code == 400


def test_an_app_without_roles_cannot_write_rbac(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    app = make_app(directory_server)
    headers = as_app(http, directory_server, app, ARM)
    response = assign(
        http, headers, SERVICE, seed_roles[str(READER_ROLE["Name"])], app.principal_id
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "AuthorizationFailed"
    assert "Microsoft.Authorization/roleAssignments/write" in error["message"]


def test_user_access_administrator_at_a_resource_group_writes_rbac_only_there(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    owner = admin(http, directory_server, ARM)
    delegate, target = make_app(directory_server), make_app(directory_server)
    group = f"{SUBSCRIPTION}/resourceGroups/delegated"
    granted = assign(
        http, owner, group, "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", delegate.principal_id
    )
    assert granted.status_code == 201, granted.text
    headers = as_app(http, directory_server, delegate, ARM)
    reader = seed_roles[str(READER_ROLE["Name"])]
    inside = assign(
        http,
        headers,
        f"{group}/providers/Microsoft.ApiManagement/service/s1",
        reader,
        target.principal_id,
    )
    assert inside.status_code == 201, inside.text
    outside = assign(http, headers, SERVICE, reader, target.principal_id)
    assert outside.status_code == 403


def test_assigning_to_an_unknown_principal_is_refused(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    response = assign(
        http,
        admin(http, directory_server, ARM),
        SERVICE,
        seed_roles[str(READER_ROLE["Name"])],
        str(uuid.uuid4()),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "PrincipalNotFound"


def test_assigning_outside_the_roles_assignable_scopes_is_refused(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    app = make_app(directory_server)
    response = assign(
        http,
        admin(http, directory_server, ARM),
        f"/subscriptions/{uuid.uuid4()}",
        seed_roles[str(READER_ROLE["Name"])],
        app.principal_id,
    )
    assert response.status_code == 400


def test_the_permissions_api_lists_the_callers_role_blocks(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    app = make_app(directory_server)
    owner = admin(http, directory_server, ARM)
    assert (
        assign(
            http, owner, SERVICE, seed_roles[str(READER_ROLE["Name"])], app.principal_id
        ).status_code
        == 201
    )
    response = http.get(
        f"{GATEWAY}/providers/Microsoft.Authorization/permissions",
        headers=as_app(http, directory_server, app, ARM),
    )
    assert response.status_code == 200
    assert response.json()["value"] == [
        {"actions": [], "notActions": [], "dataActions": [GET_CONFIGURATION], "notDataActions": []}
    ]
    elsewhere = http.get(
        f"{SUBSCRIPTION}/providers/Microsoft.Authorization/permissions",
        headers=as_app(http, directory_server, app, ARM),
    )
    assert elsewhere.json()["value"] == []


def check_access(
    http: httpx.Client, headers: dict[str, str], scope: str, principal: str
) -> httpx.Response:
    return http.post(
        f"{scope}/providers/Microsoft.Authorization/checkAccess",
        json={
            "subject": {"principalId": principal},
            "actions": [{"id": GET_CONFIGURATION, "isDataAction": True}],
        },
        headers=headers,
    )


def test_the_managed_identity_checks_a_gateway_readers_access(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    """The seed walk-through: validator role to the managed identity, reader role to the app."""
    owner = admin(http, directory_server, ARM)
    identity, gateway_app, stranger = (make_app(directory_server) for _ in range(3))
    validator = seed_roles[str(VALIDATOR_ROLE["Name"])]
    reader = seed_roles[str(READER_ROLE["Name"])]
    assert assign(http, owner, SUBSCRIPTION, validator, identity.principal_id).status_code == 201
    assert assign(http, owner, SERVICE, reader, gateway_app.principal_id).status_code == 201

    headers = as_app(http, directory_server, identity, ARM)
    allowed = check_access(http, headers, GATEWAY, gateway_app.principal_id)
    assert allowed.status_code == 200, allowed.text
    (result,) = allowed.json()["value"]
    assert result["accessDecision"] == "Allowed"
    assert result["roleAssignmentId"]
    refused = check_access(http, headers, GATEWAY, stranger.principal_id).json()["value"][0]
    assert refused["accessDecision"] == "NotAllowed"
    sibling = SERVICE.replace("/service/svc", "/service/other") + "/gateways/mygw"
    assert (
        check_access(http, headers, sibling, gateway_app.principal_id).json()["value"][0][
            "accessDecision"
        ]
        == "NotAllowed"
    )


def test_checking_access_needs_authorization_read(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    caller, subject = make_app(directory_server), make_app(directory_server)
    response = check_access(
        http, as_app(http, directory_server, caller, ARM), GATEWAY, subject.principal_id
    )
    assert response.status_code == 403
    assert "Microsoft.Authorization/roleAssignments/read" in response.json()["error"]["message"]


def test_a_deny_assignment_wins_over_an_allowing_role(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    owner = admin(http, directory_server, ARM)
    identity, gateway_app = make_app(directory_server), make_app(directory_server)
    assert (
        assign(
            http,
            owner,
            SUBSCRIPTION,
            seed_roles[str(VALIDATOR_ROLE["Name"])],
            identity.principal_id,
        ).status_code
        == 201
    )
    assert (
        assign(
            http, owner, SERVICE, seed_roles[str(READER_ROLE["Name"])], gateway_app.principal_id
        ).status_code
        == 201
    )
    deny_scope = f"{SERVICE}/gateways/locked"
    directory_server.directory.store.put_deny_assignment(
        directory_server.tenant_id,
        DenyAssignment(
            id=str(uuid.uuid4()),
            name="locked gateway",
            scope=deny_scope,
            permissions=(Permission(data_actions=("Microsoft.ApiManagement/*",)),),
            principals=(gateway_app.principal_id,),
        ),
    )
    headers = as_app(http, directory_server, identity, ARM)
    result = check_access(http, headers, deny_scope, gateway_app.principal_id).json()["value"][0]
    assert result["accessDecision"] == "Denied"
    assert result["denyAssignmentId"]
    still = check_access(http, headers, GATEWAY, gateway_app.principal_id).json()["value"][0]
    assert still["accessDecision"] == "Allowed"


def test_role_assignments_are_listed_and_deleted(
    http: httpx.Client, directory_server: RunningDirectory, seed_roles: dict[str, str]
) -> None:
    owner = admin(http, directory_server, ARM)
    app = make_app(directory_server)
    created = assign(
        http, owner, SERVICE, seed_roles[str(READER_ROLE["Name"])], app.principal_id
    ).json()
    listed = http.get(
        f"{SERVICE}/providers/Microsoft.Authorization/roleAssignments",
        params={"$filter": f"principalId eq '{app.principal_id}'"},
        headers=owner,
    ).json()["value"]
    assert [a["name"] for a in listed] == [created["name"]]
    deleted = http.delete(created["id"], headers=owner)
    assert deleted.status_code == 200
    assert http.get(created["id"], headers=owner).status_code == 404


def test_arm_paths_are_case_insensitive(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    response = http.get(
        f"{SUBSCRIPTION}/resourcegroups/rg/PROVIDERS/microsoft.authorization/permissions",
        headers=admin(http, directory_server, ARM),
    )
    assert response.status_code == 200


def test_an_invalid_scope_is_a_400(http: httpx.Client, directory_server: RunningDirectory) -> None:
    response = http.get(
        "/subscriptions/s/resourceGroups/a%20b/providers/Microsoft.Authorization/permissions",
        headers=admin(http, directory_server, ARM),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidScope"


def test_a_graph_token_carries_the_app_roles_assigned_to_the_caller(
    http: httpx.Client, directory_server: RunningDirectory
) -> None:
    admin_token = admin(http, directory_server, GRAPH)["Authorization"].split()[1]
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    assert claims["roles"] == ["Application.ReadWrite.All"]
    app = make_app(directory_server)
    plain = as_app(http, directory_server, app, GRAPH)["Authorization"].split()[1]
    assert "roles" not in jwt.decode(plain, options={"verify_signature": False})
