# ruff: noqa: E501  (policy documents are kept as users write them)
"""Policies through a running gateway: scopes and <base />, expressions reading context,
on-error, and a policy that cannot run affecting only its operations."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.controlplane.conftest import RunningControlPlane
from tests.e2e.conftest import Backend, GatewayRun, Headers, checked, manage
from tests.e2e.test_gateway import call, eventually, serve

GLOBAL = """<policies>
  <inbound><set-header name="x-scope-global" exists-action="override"><value>g</value></set-header></inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>"""

API = """<policies>
  <inbound>
    <base />
    <set-header name="x-api" exists-action="override">
      <value>@(context.Api.Name + ":" + context.Request.Method + ":" + context.Request.MatchedParameters.GetValueOrDefault("id", "none"))</value>
    </set-header>
    <set-header name="x-gateway" exists-action="override"><value>@(context.Deployment.GatewayId)</value></set-header>
    <check-header name="x-required" failed-check-httpcode="418" failed-check-error-message="teapot needed" ignore-case="true" />
  </inbound>
  <backend><base /></backend>
  <outbound><base /><set-header name="x-out" exists-action="override"><value>@(context.Response.StatusCode.ToString())</value></set-header></outbound>
  <on-error><base /></on-error>
</policies>"""

UNSUPPORTED = """<policies>
  <inbound><base /><some-policy-nobody-implements /></inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""


def test_policies_compose_across_scopes_and_read_context(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"apis/{service.api}/operations/get-item",
            {"properties": {"method": "GET", "urlTemplate": "/items/{id}", "displayName": "item"}},
        )
    )
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            "policies/policy",
            {"properties": {"value": GLOBAL, "format": "xml"}},
        )
    )
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"apis/{service.api}/policies/policy",
            {"properties": {"value": API, "format": "xml"}},
        )
    )

    def answered() -> bool:
        response = call(run, service.api, service.key, "/items/7")
        return response.status_code == 418

    eventually(answered, timeout=20)
    refused = call(run, service.api, service.key, "/items/7")
    assert "teapot needed" in refused.text

    response = run.get(
        f"/{service.api}/items/7",
        headers={"Ocp-Apim-Subscription-Key": service.key, "x-required": "yes"},
    )
    assert response.status_code == 200, response.text
    seen = response.json()["headers"]
    assert seen["x-scope-global"] == "g"
    assert seen["x-api"] == f"{service.api}:GET:7"
    assert seen["x-gateway"] == service.gateway
    assert response.headers["x-out"] == "200"


def test_an_unsupported_policy_fails_only_its_operations(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"apis/{service.api}/operations/get-any/policies/policy",
            {"properties": {"value": UNSUPPORTED, "format": "xml"}},
        )
    )

    def failing() -> bool:
        return call(run, service.api, service.key).status_code == 500

    eventually(failing, timeout=20)
    assert "some-policy-nobody-implements" in call(run, service.api, service.key).text

    def reported() -> bool:
        status = checked(
            manage(control_plane, operator, "GET", f"gateways/{service.gateway}/status")
        )
        return any(
            "some-policy-nobody-implements" in " ".join(i["status"]["unsupported"])
            for i in status["instances"]
        )

    eventually(reported, timeout=20)
    posted = run.get(f"/{service.api}/x")  # still served: GET fails, POST is another operation
    assert posted.status_code in (401, 500)

    other = httpx.post(
        f"{run.http}/{service.api}/x", headers={"Ocp-Apim-Subscription-Key": service.key}
    )
    assert other.status_code == 200


RATE_LIMITED = """<policies>
  <inbound><base /><rate-limit-by-key calls="2" renewal-period="60" counter-key="@(context.Request.IpAddress)" remaining-calls-header-name="x-remaining" /></inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""


def test_rate_limit_by_key_through_a_running_gateway(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"apis/{service.api}/policies/policy",
            {"properties": {"value": RATE_LIMITED, "format": "xml"}},
        )
    )

    def limited() -> bool:
        return call(run, service.api, service.key).headers.get("x-remaining") is not None

    eventually(limited, timeout=20)
    statuses = [call(run, service.api, service.key) for _ in range(3)]
    refused = statuses[-1]
    assert refused.status_code == 429
    assert "Rate limit is exceeded" in refused.json()["message"]
    assert int(refused.headers["retry-after"]) > 0
