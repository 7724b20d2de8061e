"""The configuration API as the seeds set it up: every refusal distinct and actionable.

A real directory and a real control plane over TLS; the control plane's managed identity
asks the directory whether callers hold getConfiguration at the gateway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningDirectory
from tests.controlplane.conftest import (
    ARM,
    CONFIGURATION,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    Roles,
    RunningControlPlane,
    assign,
    start_control_plane,
    token_for,
)
from tests.directory.helpers import make_app
from tollhouse.contracts import hash_key, parse_configuration, parse_event_page
from tollhouse.controlplane.model import ResourcePath
from tollhouse.directory.tokens import Resource, mint_app_token

Headers = Callable[[], dict[str, str]]


def manage(
    cp: RunningControlPlane, operator: Headers, method: str, path: str, body: object = None
) -> httpx.Response:
    with cp.client() as client:
        return client.request(
            method,
            f"{cp.service_id}/{path}?api-version=2024-05-01",
            json=body,
            headers=operator(),
        )


def ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, object] = response.json()
    return body


def make_gateway(cp: RunningControlPlane, operator: Headers, name: str | None = None) -> str:
    name = name or f"gw-{uuid.uuid4().hex[:8]}"
    ok(
        manage(
            cp,
            operator,
            "PUT",
            f"gateways/{name}",
            {"properties": {"locationData": {"name": "lab"}}},
        )
    )
    return name


def get_configuration(
    cp: RunningControlPlane, gateway: str, authorization: str | None
) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization else {}
    with cp.client() as client:
        return client.get(f"/gateways/{gateway}/configuration", headers=headers)


def bearer(running: RunningDirectory, app: object, scope: str = CONFIGURATION) -> str:
    return f"Bearer {token_for(running, app, scope)}"  # type: ignore[arg-type]


# --- the table of refusals -----------------------------------------------------------------


def test_no_credential_is_401(control_plane: RunningControlPlane, operator: Headers) -> None:
    gateway = make_gateway(control_plane, operator)
    response = get_configuration(control_plane, gateway, None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


@pytest.mark.parametrize(
    "credential", ["Bearer", "Bearer not.a.jwt", "Basic abc", "Bearer a.b.c.d"]
)
def test_a_malformed_credential_is_401(
    control_plane: RunningControlPlane, operator: Headers, credential: str
) -> None:
    gateway = make_gateway(control_plane, operator)
    assert get_configuration(control_plane, gateway, credential).status_code == 401


def test_a_bad_signature_is_401(
    control_plane: RunningControlPlane, operator: Headers, directory_server: RunningDirectory
) -> None:
    gateway = make_gateway(control_plane, operator)
    app = make_app(directory_server)
    token = token_for(directory_server, app, CONFIGURATION)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert get_configuration(control_plane, gateway, f"Bearer {forged}").status_code == 401


def test_a_token_for_another_audience_is_401(
    control_plane: RunningControlPlane, operator: Headers, directory_server: RunningDirectory
) -> None:
    gateway = make_gateway(control_plane, operator)
    app = make_app(directory_server)
    response = get_configuration(control_plane, gateway, bearer(directory_server, app, ARM))
    assert response.status_code == 401
    assert "audience" in response.json()["error"]["message"]


def test_an_expired_token_is_401(
    control_plane: RunningControlPlane, operator: Headers, directory_server: RunningDirectory
) -> None:
    gateway = make_gateway(control_plane, operator)
    app = make_app(directory_server)
    directory = directory_server.directory
    then = time.time() - 3 * 3600
    expired = mint_app_token(
        directory.keys().signing_key(time.time()),
        authority=directory.config.authority,
        tenant_id=directory_server.tenant_id,
        resource=Resource(str(uuid.uuid4()), "https://azure-api.net/configuration", 1),
        client_app_id=app.app_id,
        service_principal_id=app.principal_id,
        auth_method="1",
        now=then,
    ).access_token
    response = get_configuration(control_plane, gateway, f"Bearer {expired}")
    assert response.status_code == 401


def test_a_caller_without_the_data_action_gets_403_naming_the_reader_role(
    control_plane: RunningControlPlane, operator: Headers, directory_server: RunningDirectory
) -> None:
    gateway = make_gateway(control_plane, operator)
    app = make_app(directory_server)
    response = get_configuration(control_plane, gateway, bearer(directory_server, app))
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "API Management Gateway Configuration Reader Role" in message
    assert app.principal_id in message


def test_a_managed_identity_without_rbac_read_gets_403_naming_the_validator_role(
    directory_server: RunningDirectory,
    seed_roles: Roles,
    operator: Headers,
    tmp_path: Path,
) -> None:
    cp = start_control_plane(
        directory_server, tmp_path, service_name="unvalidated", validated=False, roles=seed_roles
    )
    try:
        # Management calls need the same RBAC reads: create the gateway behind the API.
        gateway = "lonely"
        cp.service.put(ResourcePath("gateways", (gateway,)), {"locationData": {"name": "lab"}})
        app = make_app(directory_server)
        assign(directory_server, app.principal_id, seed_roles.reader, cp.service_id)
        response = get_configuration(cp, gateway, bearer(directory_server, app))
        assert response.status_code == 403
        message = response.json()["error"]["message"]
        assert "API Management Configuration API Access Validator Service Role" in message
        assert cp.identity.principal_id in message
    finally:
        cp.handle.stop()
        cp.service.store.close()


def test_a_gateway_key_for_another_gateway_is_403(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    mine, other = make_gateway(control_plane, operator), make_gateway(control_plane, operator)
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = ok(
        manage(
            control_plane,
            operator,
            "POST",
            f"gateways/{other}/generateToken",
            {"keyType": "primary", "expiry": expiry},
        )
    )["value"]
    response = get_configuration(control_plane, mine, f"GatewayKey {token}")
    assert response.status_code == 403


def test_an_unknown_gateway_is_404(
    control_plane: RunningControlPlane, directory_server: RunningDirectory, seed_roles: Roles
) -> None:
    app = make_app(directory_server)
    assign(directory_server, app.principal_id, seed_roles.reader, control_plane.service_id)
    response = get_configuration(control_plane, "no-such-gateway", bearer(directory_server, app))
    assert response.status_code == 404


# --- granting access -----------------------------------------------------------------------


@pytest.mark.parametrize("level", ["subscription", "resource group", "service"])
def test_the_reader_role_grants_access_at_each_scope(
    control_plane: RunningControlPlane,
    operator: Headers,
    directory_server: RunningDirectory,
    seed_roles: Roles,
    level: str,
) -> None:
    scope = {
        "subscription": f"/subscriptions/{SUBSCRIPTION}",
        "resource group": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}",
        "service": control_plane.service_id,
    }[level]
    gateway = make_gateway(control_plane, operator)
    app = make_app(directory_server)
    assign(directory_server, app.principal_id, seed_roles.reader, scope)
    response = get_configuration(control_plane, gateway, bearer(directory_server, app))
    assert response.status_code == 200, response.text
    assert response.headers["etag"].strip('"').isdigit()
    assert parse_configuration(response.json()).gateway == gateway


def test_gateway_key_tokens_of_both_keys_work_until_the_key_is_regenerated(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    gateway = make_gateway(control_plane, operator)
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tokens = {
        key: ok(
            manage(
                control_plane,
                operator,
                "POST",
                f"gateways/{gateway}/generateToken",
                {"keyType": key, "expiry": expiry},
            )
        )["value"]
        for key in ("primary", "secondary")
    }
    for token in tokens.values():
        assert get_configuration(control_plane, gateway, f"GatewayKey {token}").status_code == 200
    response = manage(
        control_plane, operator, "POST", f"gateways/{gateway}/regenerateKey", {"keyType": "primary"}
    )
    assert response.status_code == 204
    assert (
        get_configuration(control_plane, gateway, f"GatewayKey {tokens['primary']}").status_code
        == 401
    )
    assert (
        get_configuration(control_plane, gateway, f"GatewayKey {tokens['secondary']}").status_code
        == 200
    )


def test_a_gateway_token_beyond_thirty_days_cannot_be_generated(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    gateway = make_gateway(control_plane, operator)
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = manage(
        control_plane,
        operator,
        "POST",
        f"gateways/{gateway}/generateToken",
        {"keyType": "primary", "expiry": expiry},
    )
    assert response.status_code == 400


# --- the snapshot and the feed -------------------------------------------------------------


def gateway_token(cp: RunningControlPlane, operator: Headers, gateway: str) -> str:
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    value = ok(
        manage(
            cp,
            operator,
            "POST",
            f"gateways/{gateway}/generateToken",
            {"keyType": "primary", "expiry": expiry},
        )
    )["value"]
    return f"GatewayKey {value}"


def test_the_snapshot_holds_only_assigned_apis_and_no_plain_subscription_key(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    gateway = make_gateway(control_plane, operator)
    suffix = uuid.uuid4().hex[:6]
    for api in (f"served-{suffix}", f"elsewhere-{suffix}"):
        ok(
            manage(
                control_plane,
                operator,
                "PUT",
                f"apis/{api}",
                {"properties": {"path": api, "serviceUrl": "http://127.0.0.1:9"}},
            )
        )
        ok(
            manage(
                control_plane,
                operator,
                "PUT",
                f"apis/{api}/operations/get",
                {"properties": {"method": "GET", "urlTemplate": "/", "displayName": "get"}},
            )
        )
    ok(manage(control_plane, operator, "PUT", f"gateways/{gateway}/apis/served-{suffix}", {}))
    sub = ok(
        manage(
            control_plane,
            operator,
            "PUT",
            f"subscriptions/s-{suffix}",
            {"properties": {"scope": f"/apis/served-{suffix}", "displayName": "s"}},
        )
    )
    keys = ok(manage(control_plane, operator, "POST", f"subscriptions/s-{suffix}/listSecrets"))
    assert "primaryKey" not in str(sub)

    response = get_configuration(
        control_plane, gateway, gateway_token(control_plane, operator, gateway)
    )
    config = parse_configuration(response.json())
    assert [a.name for a in config.apis] == [f"served-{suffix}"]
    (subscription,) = [s for s in config.subscriptions if s.name == f"s-{suffix}"]
    assert subscription.primary_key_hash == hash_key(str(keys["primaryKey"]))
    assert str(keys["primaryKey"]) not in response.text
    assert str(keys["secondaryKey"]) not in response.text


def test_a_management_change_reaches_a_long_polling_gateway(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    gateway = make_gateway(control_plane, operator)
    authorization = gateway_token(control_plane, operator, gateway)
    with control_plane.client() as client:
        first = client.get(
            f"/gateways/{gateway}/events",
            params={"$skiptoken": 0, "$top": 1},
            headers={"Authorization": authorization},
        )
        current = parse_event_page(first.json()).revision

    async def poll() -> tuple[float, httpx.Response]:
        context = ssl.create_default_context(cafile=control_plane.directory.ca_bundle)
        async with httpx.AsyncClient(
            base_url=control_plane.url, verify=context, timeout=30
        ) as client:
            response = await client.get(
                f"/gateways/{gateway}/events",
                params={"$skiptoken": current, "wait": 20},
                headers={"Authorization": authorization},
            )
            return time.monotonic(), response

    async def scenario() -> tuple[float, float, httpx.Response]:
        waiting = asyncio.create_task(poll())
        await asyncio.sleep(0.5)
        changed_at = time.monotonic()
        await asyncio.to_thread(
            manage,
            control_plane,
            operator,
            "PUT",
            f"apis/poll-{gateway}",
            {"properties": {"path": f"poll-{gateway}"}},
        )
        arrived_at, response = await waiting
        return changed_at, arrived_at, response

    changed_at, arrived_at, response = asyncio.run(scenario())
    page = parse_event_page(response.json())
    assert any(e.path == f"apis/poll-{gateway}" for e in page.events)
    assert arrived_at - changed_at < 5


def test_a_compacted_position_is_410(control_plane: RunningControlPlane, operator: Headers) -> None:
    gateway = make_gateway(control_plane, operator)
    for index in range(3):
        ok(
            manage(
                control_plane,
                operator,
                "PUT",
                f"namedValues/nv-{gateway}-{index}",
                {"properties": {"displayName": f"nv-{gateway}-{index}", "value": "v"}},
            )
        )
    through = control_plane.service.store.compact(keep=1)
    with control_plane.client() as client:
        response = client.get(
            f"/gateways/{gateway}/events",
            params={"$skiptoken": through - 1},
            headers={"Authorization": gateway_token(control_plane, operator, gateway)},
        )
    assert response.status_code == 410


def test_heartbeats_show_instances_and_node_count(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    gateway = make_gateway(control_plane, operator)
    authorization = gateway_token(control_plane, operator, gateway)
    with control_plane.client() as client:
        for instance in ("a", "b"):
            reply = client.post(
                f"/gateways/{gateway}/heartbeat",
                json={
                    "instanceId": instance,
                    "hostname": f"host-{instance}",
                    "version": "0.1.0",
                    "appliedRevision": 1,
                    "deployment": {"runtime.deployment.artifact.source": "helm"},
                },
                headers={"Authorization": authorization},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["heartbeatIntervalSeconds"] == 60
        bad = client.post(
            f"/gateways/{gateway}/heartbeat",
            json={"instanceId": ""},
            headers={"Authorization": authorization},
        )
        assert bad.status_code == 400
    status = ok(manage(control_plane, operator, "GET", f"gateways/{gateway}/status"))
    assert status["nodeCount"] == 2
    assert {i["hostname"] for i in status["instances"]} == {"host-a", "host-b"}  # type: ignore[union-attr,index]
