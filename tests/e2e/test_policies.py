# ruff: noqa: E501  (policy documents are kept as users write them)
"""Policies through a running gateway: scopes and <base />, expressions reading context,
on-error, and a policy that cannot run affecting only its operations."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt

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


CONTEXT_READER = """<policies>
  <inbound>
    <base />
    <set-variable name="started-by" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-caller&quot;, &quot;?&quot;))" />
    <choose>
      <when condition="@(context.Request.Headers.ContainsKey(&quot;x-fail&quot;))">
        <set-variable name="boom" value="@(int.Parse(&quot;not a number&quot;))" />
      </when>
    </choose>
    <set-header name="x-request" exists-action="override">
      <value>@(context.Request.Method + " " + context.Request.Url.Path + " q=" + context.Request.Url.Query.GetValueOrDefault("q", "") + " host=" + context.Request.Url.Host + " ip=" + context.Request.IpAddress + " id=" + context.Request.MatchedParameters["id"])</value>
    </set-header>
    <set-header name="x-body" exists-action="override">
      <value>@(context.Request.Body.As&lt;JObject&gt;(preserveContent: true)["order"]["tier"].ToString())</value>
    </set-header>
    <set-header name="x-who" exists-action="override">
      <value>@(context.Subscription.Id + "|" + context.Subscription.Name + "|" + (context.Subscription.Key.Length &gt; 8) + "|" + context.Product.Id + "|" + context.Product.Name + "|" + (context.User?.Email ?? "no user"))</value>
    </set-header>
    <set-header name="x-what" exists-action="override">
      <value>@(context.Api.Id + "|" + context.Api.Path + "|" + context.Operation.Id + "|" + context.Operation.Method + "|" + context.Operation.UrlTemplate + "|" + context.Deployment.GatewayId)</value>
    </set-header>
    <set-header name="x-when" exists-action="override">
      <value>@(context.RequestId.ToString().Length + "|" + (DateTime.UtcNow - context.Timestamp).TotalMinutes.ToString("0") + "|" + (context.Elapsed.TotalSeconds &lt; 60) + "|" + (string)context.Variables["started-by"])</value>
    </set-header>
  </inbound>
  <backend><base /></backend>
  <outbound>
    <base />
    <set-header name="x-response" exists-action="override">
      <value>@(context.Response.StatusCode + "|" + context.Response.Headers.GetValueOrDefault("content-type", "") + "|" + context.Response.Body.As&lt;JObject&gt;(preserveContent: true)["method"].ToString())</value>
    </set-header>
  </outbound>
  <on-error>
    <base />
    <return-response>
      <set-status code="599" reason="expression failed" />
      <set-header name="x-error" exists-action="override"><value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Section + "|" + context.LastError.Scope)</value></set-header>
    </return-response>
  </on-error>
</policies>"""


def test_expressions_read_every_part_of_context_through_a_running_gateway(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    product = f"prod-{service.api}"
    for method, path, body in [
        (
            "PUT",
            f"products/{product}",
            {
                "properties": {
                    "displayName": "Gold tier",
                    "state": "published",
                    "subscriptionRequired": True,
                }
            },
        ),
        ("PUT", f"products/{product}/apis/{service.api}", {}),
        (
            "PUT",
            f"subscriptions/{product}-sub",
            {
                "properties": {
                    "scope": f"/products/{product}",
                    "displayName": "Contoso gold",
                    "state": "active",
                }
            },
        ),
        (
            "PUT",
            f"apis/{service.api}/operations/post-order",
            {
                "properties": {
                    "method": "POST",
                    "urlTemplate": "/orders/{id}",
                    "displayName": "order",
                }
            },
        ),
        (
            "PUT",
            f"apis/{service.api}/policies/policy",
            {"properties": {"value": CONTEXT_READER, "format": "xml"}},
        ),
    ]:
        checked(manage(control_plane, operator, method, path, body))
    key = checked(
        manage(control_plane, operator, "POST", f"subscriptions/{product}-sub/listSecrets")
    )["primaryKey"]
    headers = {"Ocp-Apim-Subscription-Key": key, "x-caller": "tester"}
    order = {"order": {"tier": "platinum"}}

    def post(**extra: str) -> httpx.Response:
        return httpx.post(
            f"{run.http}/{service.api}/orders/42?q=search", json=order, headers={**headers, **extra}
        )

    eventually(lambda: "x-response" in post().headers, timeout=20)
    response = post()
    assert response.status_code == 200, response.text
    sent = response.json()["headers"]
    assert sent["x-request"] == "POST /orders/42 q=search host=127.0.0.1 ip=127.0.0.1 id=42"
    assert sent["x-body"] == "platinum"
    assert sent["x-who"] == f"{product}-sub|Contoso gold|True|{product}|Gold tier|no user"
    assert (
        sent["x-what"]
        == f"{service.api}|{service.api}|post-order|POST|/orders/{{id}}|{service.gateway}"
    )
    assert sent["x-when"] == "36|0|True|tester"
    assert response.json()["body"] == '{"order":{"tier":"platinum"}}'  # preserved for the backend
    assert response.headers["x-response"] == "200|application/json|POST"
    assert response.json()["method"] == "POST"  # preserved for the caller

    failed = post(**{"x-fail": "1"})
    assert failed.status_code == 599
    assert failed.headers["x-error"] == "expression|ExpressionValueEvaluationFailure|inbound|api"


def test_token_policies_verify_directory_tokens_with_the_gateways_trust_and_authority(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    directory = control_plane.directory
    service, run = serve(
        control_plane,
        operator,
        backend,
        gateways,
        tmp_path,
        {"config.service.auth.azureAd.authority": directory.url},
    )
    token = operator()["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    tenant, audience, app = directory.tenant_id, claims["aud"], claims["appid"]
    policy = f"""<policies>
  <inbound>
    <base />
    <choose>
      <when condition="@(context.Request.Url.Path.EndsWith(&quot;/aad&quot;))">
        <validate-azure-ad-token tenant-id="{tenant}" output-token-variable-name="t">
          <client-application-ids><application-id>{app}</application-id></client-application-ids>
          <audiences><audience>{audience}</audience></audiences>
        </validate-azure-ad-token>
      </when>
      <otherwise>
        <validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-httpcode="403" output-token-variable-name="t">
          <openid-config url="{directory.url}/{tenant}/v2.0/.well-known/openid-configuration" />
          <audiences><audience>{audience}</audience></audiences>
          <issuers><issuer>{claims["iss"]}</issuer></issuers>
        </validate-jwt>
      </otherwise>
    </choose>
    <set-header name="x-caller-app" exists-action="override"><value>@(((Jwt)context.Variables["t"]).Claims.GetValueOrDefault("appid", "?"))</value></set-header>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"apis/{service.api}/policies/policy",
            {"properties": {"value": policy, "format": "xml"}},
        )
    )

    def get(path: str, bearer: str | None) -> httpx.Response:
        headers = {"Ocp-Apim-Subscription-Key": service.key}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return run.get(f"/{service.api}{path}", headers=headers)

    eventually(lambda: get("/jwt", None).status_code == 403, timeout=20)
    for path in ("/jwt", "/aad"):
        accepted = get(path, token)
        assert accepted.status_code == 200, (path, accepted.text)
        assert accepted.json()["headers"]["x-caller-app"] == app
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert get("/jwt", tampered).status_code == 403
    assert get("/aad", tampered).status_code == 401
    assert get("/aad", None).status_code == 401
