"""The management API: ARM paths and bodies, RBAC per verb, OpenAPI import, replicas."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import RunningDirectory
from tests.controlplane.conftest import (
    ARM,
    Roles,
    RunningControlPlane,
    assign,
    start_control_plane,
    token_for,
)
from tests.directory.helpers import make_app
from tollhouse.contracts import parse_event_page

Headers = Callable[[], dict[str, str]]
DATA = Path(__file__).parent / "model" / "data"
SERVICE_READER = "71522526-b88f-4d52-b57f-d31fc3546d0d"
SERVICE_CONTRIBUTOR = "312a565d-c81f-4fd8-895a-4e21e48d571c"


def call(
    cp: RunningControlPlane, headers: dict[str, str], method: str, path: str, body: object = None
) -> httpx.Response:
    with cp.client() as client:
        return client.request(
            method,
            f"{cp.service_id}/{path}",
            params={"api-version": "2024-05-01"},
            json=body,
            headers=headers,
        )


def test_an_api_is_created_read_listed_and_deleted_in_arm_shape(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    name = f"echo-{uuid.uuid4().hex[:6]}"
    created = call(
        control_plane,
        operator(),
        "PUT",
        f"apis/{name}",
        {"properties": {"path": name, "displayName": "Echo", "serviceUrl": "http://127.0.0.1:9"}},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == f"{control_plane.service_id}/apis/{name}"
    assert body["type"] == "Microsoft.ApiManagement/service/apis"
    assert body["properties"]["subscriptionRequired"] is True
    again = call(control_plane, operator(), "PUT", f"apis/{name}", {"properties": {"path": name}})
    assert again.status_code == 200
    listed = call(control_plane, operator(), "GET", "apis").json()["value"]
    assert name in [a["name"] for a in listed]
    assert call(control_plane, operator(), "DELETE", f"apis/{name}").status_code == 200
    assert call(control_plane, operator(), "DELETE", f"apis/{name}").status_code == 204
    assert call(control_plane, operator(), "GET", f"apis/{name}").status_code == 404


def test_importing_the_swagger_petstore_yields_its_operations(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    document = (DATA / "swagger2-petstore.json").read_text()
    expected = json.loads(document)["paths"]
    count = sum(
        1
        for item in expected.values()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    )
    response = call(
        control_plane,
        operator(),
        "PUT",
        "apis/petstore",
        {"properties": {"format": "swagger-json", "value": document, "path": "petstore"}},
    )
    assert response.status_code in (200, 201), response.text
    operations = call(control_plane, operator(), "GET", "apis/petstore/operations").json()["value"]
    assert len(operations) == count
    templates = {op["properties"]["urlTemplate"] for op in operations}
    assert "/pet/{petId}" in templates


def test_importing_the_openapi3_petstore_from_yaml(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    document = (DATA / "openapi30-petstore.yaml").read_text()
    response = call(
        control_plane,
        operator(),
        "PUT",
        "apis/petstore3",
        {"properties": {"format": "openapi", "value": document, "path": "petstore3"}},
    )
    assert response.status_code in (200, 201), response.text
    operations = call(control_plane, operator(), "GET", "apis/petstore3/operations").json()["value"]
    assert {op["properties"]["method"] for op in operations} >= {"GET", "POST"}


def test_a_policy_that_is_not_well_formed_is_refused(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    response = call(
        control_plane,
        operator(),
        "PUT",
        "policies/policy",
        {"properties": {"value": "<policies><inbound></policies>", "format": "xml"}},
    )
    assert response.status_code == 400
    response = call(
        control_plane,
        operator(),
        "PUT",
        "policies/policy",
        {"properties": {"value": "<root/>", "format": "xml"}},
    )
    assert response.status_code == 400


def test_a_subscription_to_a_missing_api_is_refused(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    response = call(
        control_plane,
        operator(),
        "PUT",
        "subscriptions/orphan",
        {"properties": {"scope": "/apis/does-not-exist", "displayName": "x"}},
    )
    assert response.status_code == 400


def test_secrets_are_readable_only_through_list_secrets(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    name = f"s-{uuid.uuid4().hex[:6]}"
    created = call(
        control_plane,
        operator(),
        "PUT",
        f"subscriptions/{name}",
        {"properties": {"scope": "/apis", "displayName": "all"}},
    ).json()
    shown = call(control_plane, operator(), "GET", f"subscriptions/{name}").json()
    keys = call(control_plane, operator(), "POST", f"subscriptions/{name}/listSecrets").json()
    assert keys["primaryKey"] and keys["secondaryKey"]
    for body in (created, shown):
        assert keys["primaryKey"] not in json.dumps(body)


def test_a_service_reader_may_read_but_not_write(
    control_plane: RunningControlPlane, directory_server: RunningDirectory
) -> None:
    reader = make_app(directory_server)
    assign(directory_server, reader.principal_id, SERVICE_READER, control_plane.service_id)
    headers = {"Authorization": f"Bearer {token_for(directory_server, reader, ARM)}"}
    assert call(control_plane, headers, "GET", "apis").status_code == 200
    refused = call(control_plane, headers, "PUT", "apis/nope", {"properties": {"path": "nope"}})
    assert refused.status_code == 403
    assert "Microsoft.ApiManagement/service/apis/write" in refused.json()["error"]["message"]


def test_a_service_contributor_may_write(
    control_plane: RunningControlPlane, directory_server: RunningDirectory
) -> None:
    contributor = make_app(directory_server)
    assign(
        directory_server, contributor.principal_id, SERVICE_CONTRIBUTOR, control_plane.service_id
    )
    headers = {"Authorization": f"Bearer {token_for(directory_server, contributor, ARM)}"}
    name = f"c-{uuid.uuid4().hex[:6]}"
    assert (
        call(
            control_plane, headers, "PUT", f"apis/{name}", {"properties": {"path": name}}
        ).status_code
        == 201
    )


def test_a_caller_without_roles_is_refused_and_without_a_token_unauthenticated(
    control_plane: RunningControlPlane, directory_server: RunningDirectory
) -> None:
    nobody = make_app(directory_server)
    headers = {"Authorization": f"Bearer {token_for(directory_server, nobody, ARM)}"}
    assert call(control_plane, headers, "GET", "apis").status_code == 403
    assert call(control_plane, {}, "GET", "apis").status_code == 401


def test_another_service_id_is_not_found(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    other = control_plane.service_id.replace("/service/contoso", "/service/fabrikam")
    with control_plane.client() as client:
        response = client.get(f"{other}/apis", headers=operator())
    assert response.status_code == 404


def test_the_openapi_description_is_served(control_plane: RunningControlPlane) -> None:
    with control_plane.client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/gateways/{gateway}/configuration" in paths
    operation = f"{control_plane.service_id}/apis/{{apiId}}/operations/{{operationId}}"
    assert set(paths[operation]) == {"get", "put", "patch", "delete"}
    assert f"{control_plane.service_id}/gateways/{{gatewayId}}/generateToken" in paths


# --- two replicas on one PostgreSQL --------------------------------------------------------


def test_a_write_on_one_replica_wakes_a_long_poll_on_another(
    directory_server: RunningDirectory,
    seed_roles: Roles,
    operator: Headers,
    postgres_database: str,
    tmp_path: Path,
) -> None:
    identity = make_app(directory_server)
    first = start_control_plane(
        directory_server,
        tmp_path / "a",
        service_name="replicated",
        validated=True,
        roles=seed_roles,
        database_url=postgres_database,
        identity=identity,
    )
    second = start_control_plane(
        directory_server,
        tmp_path / "b",
        service_name="replicated",
        validated=False,
        roles=seed_roles,
        database_url=postgres_database,
        identity=identity,
    )
    try:
        assert (
            call(
                first,
                operator(),
                "PUT",
                "gateways/edge",
                {"properties": {"locationData": {"name": "lab"}}},
            ).status_code
            == 201
        )
        expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        token = call(
            second,
            operator(),
            "POST",
            "gateways/edge/generateToken",
            {"keyType": "primary", "expiry": expiry},
        ).json()["value"]
        revision = second.service.store.revision()

        async def scenario() -> tuple[float, httpx.Response]:
            context = ssl.create_default_context(cafile=directory_server.ca_bundle)
            async with httpx.AsyncClient(base_url=second.url, verify=context, timeout=30) as client:
                waiting = asyncio.create_task(
                    client.get(
                        "/gateways/edge/events",
                        params={"$skiptoken": revision, "wait": 20},
                        headers={"Authorization": f"GatewayKey {token}"},
                    )
                )
                await asyncio.sleep(0.5)
                started = time.monotonic()
                written = await asyncio.to_thread(
                    call, first, operator(), "PUT", "apis/fresh", {"properties": {"path": "fresh"}}
                )
                assert written.status_code == 201
                response = await waiting
                return time.monotonic() - started, response

        elapsed, response = asyncio.run(scenario())
        page = parse_event_page(response.json())
        assert [e.path for e in page.events] == ["apis/fresh"]
        assert elapsed < 5
    finally:
        for cp in (first, second):
            cp.handle.stop()
            cp.service.store.close()


def test_generated_tokens_warn_ahead_of_expiry(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    name = f"gw-{uuid.uuid4().hex[:6]}"
    call(
        control_plane,
        operator(),
        "PUT",
        f"gateways/{name}",
        {"properties": {"locationData": {"name": "x"}}},
    )
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    call(
        control_plane,
        operator(),
        "POST",
        f"gateways/{name}/generateToken",
        {"keyType": "primary", "expiry": expiry},
    )
    status = call(control_plane, operator(), "GET", f"gateways/{name}/status").json()
    assert status["tokenExpiryWarning"]
    assert status["nodeCount"] == 0


def test_deleting_an_api_takes_its_revisions_links_and_subscriptions(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    name = f"gone-{uuid.uuid4().hex[:6]}"
    assert (
        call(
            control_plane, operator(), "PUT", f"apis/{name}", {"properties": {"path": name}}
        ).status_code
        == 201
    )
    assert (
        call(
            control_plane,
            operator(),
            "PUT",
            f"apis/{name};rev=2",
            {"properties": {"path": name, "apiRevision": "2", "isCurrent": False}},
        ).status_code
        == 201
    )
    call(
        control_plane,
        operator(),
        "PUT",
        f"gateways/{name}",
        {"properties": {"locationData": {"name": "x"}}},
    )
    assert call(
        control_plane, operator(), "PUT", f"gateways/{name}/apis/{name}", {}
    ).status_code in (200, 201)
    assert (
        call(
            control_plane,
            operator(),
            "PUT",
            f"subscriptions/{name}",
            {"properties": {"scope": f"/apis/{name}", "displayName": "x"}},
        ).status_code
        == 201
    )
    assert call(control_plane, operator(), "DELETE", f"apis/{name}").status_code == 200
    for path in (f"apis/{name};rev=2", f"gateways/{name}/apis/{name}", f"subscriptions/{name}"):
        assert call(control_plane, operator(), "GET", path).status_code == 404, path


def test_a_revision_of_a_missing_api_is_refused(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    response = call(
        control_plane,
        operator(),
        "PUT",
        "apis/never;rev=2",
        {"properties": {"path": "never", "apiRevision": "2"}},
    )
    assert response.status_code == 404


def test_a_gateway_named_status_is_an_ordinary_gateway(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    assert call(
        control_plane,
        operator(),
        "PUT",
        "gateways/status",
        {"properties": {"locationData": {"name": "x"}}},
    ).status_code in (200, 201)
    shown = call(control_plane, operator(), "GET", "gateways/status")
    assert shown.status_code == 200 and shown.json()["name"] == "status"
