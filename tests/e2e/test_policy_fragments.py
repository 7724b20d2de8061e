"""Policy fragments through a running gateway: created with the management API, included by
an API's policy, applied by the gateway, and changed behaviour served once the fragment
changes."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.controlplane.conftest import RunningControlPlane
from tests.e2e.conftest import Backend, GatewayRun, Headers, checked, manage
from tests.e2e.test_gateway import call, eventually, serve


def fragment(header: str, value: str) -> str:
    return (
        f'<fragment>\n  <set-header name="{header}" exists-action="override">'
        f"<value>{value}</value></set-header>\n</fragment>"
    )


def put_fragment(cp: RunningControlPlane, operator: Headers, name: str, document: str) -> None:
    body = {"properties": {"value": document, "format": "xml", "description": "e2e"}}
    checked(manage(cp, operator, "PUT", f"policyFragments/{name}", body))


def test_an_included_fragment_is_applied_and_its_changes_are_served(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    # Fragments are service-wide: names unique to this test.
    inbound, outbound = f"in-{uuid.uuid4().hex[:8]}", f"out-{uuid.uuid4().hex[:8]}"
    put_fragment(control_plane, operator, inbound, fragment("x-from-fragment", "v1"))
    put_fragment(control_plane, operator, outbound, fragment("x-stamped", "out"))
    policy = (
        f'<policies><inbound><base /><include-fragment fragment-id="{inbound}" /></inbound>'
        "<backend><base /></backend>"
        f'<outbound><base /><include-fragment fragment-id="{outbound}" /></outbound>'
        "<on-error><base /></on-error></policies>"
    )
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"apis/{service.api}/policies/policy",
            {"properties": {"value": policy, "format": "xml"}},
        )
    )

    def seen(value: str) -> bool:
        response = call(run, service.api, service.key)
        return response.status_code == 200 and (
            response.json()["headers"].get("x-from-fragment") == value
        )

    eventually(lambda: seen("v1"), timeout=20)
    response = call(run, service.api, service.key)
    assert response.headers["x-stamped"] == "out"

    put_fragment(control_plane, operator, inbound, fragment("x-from-fragment", "v2"))
    eventually(lambda: seen("v2"), timeout=20)


def test_the_management_api_refuses_a_fragment_with_base_or_sections(
    control_plane: RunningControlPlane, operator: Headers
) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    for document in ("<fragment><base /></fragment>", "<fragment><inbound /></fragment>"):
        body = {"properties": {"value": document}}
        response = manage(control_plane, operator, "PUT", f"policyFragments/{name}", body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["target"]) == ("ValidationError", "properties.value")
    assert manage(control_plane, operator, "GET", f"policyFragments/{name}").status_code == 404


def test_the_management_api_describes_policy_fragments(control_plane: RunningControlPlane) -> None:
    with control_plane.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    fragment = f"{control_plane.service_id}/policyFragments/{{policyFragmentId}}"
    assert set(paths[fragment]) == {"get", "put", "patch", "delete"}
