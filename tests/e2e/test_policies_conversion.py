# ruff: noqa: E501  (policy documents are kept as users write them)
"""Conversion and diagnostics policies through a running gateway: json-to-xml on the echo
backend's JSON, xml-to-json on a client's XML, find-and-replace, a trace record in the
gateway's log and an emit-metric value on its Prometheus port."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx

from tests.controlplane.conftest import RunningControlPlane
from tests.e2e.conftest import Backend, GatewayRun, Headers, Service, checked, manage
from tests.e2e.test_gateway import eventually, serve
from tollhouse.serving._server import free_port

TO_XML = """<policies>
  <inbound><base /></inbound><backend><base /></backend>
  <outbound><base /><json-to-xml apply="content-type-json" consider-accept-header="false" parse-date="false" /></outbound>
  <on-error><base /></on-error>
</policies>"""

TO_JSON = """<policies>
  <inbound><base /><xml-to-json kind="direct" apply="content-type-xml" consider-accept-header="false" /></inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

REPLACE = """<policies>
  <inbound><base /></inbound><backend><base /></backend>
  <outbound><base /><find-and-replace from="@(&quot;/backend/&quot;)" to="/hidden/" /></outbound>
  <on-error><base /></on-error>
</policies>"""

DIAGNOSTICS = """<policies>
  <inbound>
    <base />
    <trace source="e2e-orders" severity="information">
      <message>@("seen " + context.Request.Method + " " + context.Request.Url.Path)</message>
      <metadata name="marker" value="trace-e2e" />
    </trace>
    <emit-metric name="Orders" value="@(2.5)" namespace="e2e">
      <dimension name="API ID" />
      <dimension name="Client" value="@(context.Request.Headers.GetValueOrDefault(&quot;x-client&quot;, &quot;none&quot;))" />
    </emit-metric>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""


def operation(
    cp: RunningControlPlane,
    headers: Headers,
    service: Service,
    name: str,
    method: str,
    template: str,
    policy: str,
) -> None:
    path = f"apis/{service.api}/operations/{name}"
    body = {"properties": {"method": method, "urlTemplate": template, "displayName": name}}
    checked(manage(cp, headers, "PUT", path, body))
    policy_body = {"properties": {"value": policy, "format": "xml"}}
    checked(manage(cp, headers, "PUT", f"{path}/policies/policy", policy_body))


def test_json_to_xml_xml_to_json_and_find_and_replace(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    operation(control_plane, operator, service, "to-xml", "GET", "/xml", TO_XML)
    operation(control_plane, operator, service, "to-json", "POST", "/json", TO_JSON)
    operation(control_plane, operator, service, "replace", "GET", "/replace", REPLACE)
    key = {"Ocp-Apim-Subscription-Key": service.key}

    def xml_answer() -> httpx.Response | None:
        response = run.get(f"/{service.api}/xml?x=1", headers=key)
        return response if response.headers.get("content-type") == "application/xml" else None

    eventually(xml_answer, timeout=20)
    response = xml_answer()
    assert response is not None and response.status_code == 200
    # The echo backend's JSON object, as APIM writes it: inside <Document>.
    root = ET.fromstring(response.content)
    assert root.tag == "Document"
    assert root.findtext("method") == "GET"
    assert root.findtext("path") == "/backend/xml"
    assert root.findtext("query") == "x=1"
    assert int(response.headers["content-length"]) == len(response.content)

    def json_answer() -> httpx.Response:
        return httpx.post(
            f"{run.http}/{service.api}/json",
            headers={**key, "Content-Type": "application/xml"},
            content='<order id="7"><item>a</item><item>b</item><note>ü</note></order>'.encode(),
            timeout=30,
        )

    eventually(lambda: json_answer().json()["path"] == "/backend/json", timeout=20)
    echoed = json_answer().json()
    assert echoed["headers"]["content-type"] == "application/json"
    assert json.loads(echoed["body"]) == {"order": {"@id": "7", "item": ["a", "b"], "note": "ü"}}

    # A DOCTYPE in the client's XML is refused before it reaches the backend: the client's 400.
    refused = httpx.post(
        f"{run.http}/{service.api}/json",
        headers={**key, "Content-Type": "application/xml"},
        content=b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
        timeout=30,
    )
    assert refused.status_code == 400
    assert "DOCTYPE" in refused.json()["message"]

    def replaced() -> bool:
        response = run.get(f"/{service.api}/replace", headers=key)
        return response.status_code == 200 and response.json()["path"] == "/hidden/replace"

    eventually(replaced, timeout=20)


def test_trace_reaches_the_log_and_emit_metric_the_prometheus_port(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    port = free_port()
    service, run = serve(
        control_plane, operator, backend, gateways, tmp_path, {"telemetry.metrics.port": str(port)}
    )
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"apis/{service.api}/operations/get-any/policies/policy",
            {"properties": {"value": DIAGNOSTICS, "format": "xml"}},
        )
    )
    headers = {"Ocp-Apim-Subscription-Key": service.key, "x-client": 'web "1"'}

    def traced() -> bool:
        assert run.get(f"/{service.api}/orders", headers=headers).status_code == 200
        return "trace-e2e" in run.log.read_text()

    eventually(traced, timeout=20)
    line = next(line for line in run.log.read_text().splitlines() if "trace-e2e" in line)
    assert "INFO tollhouse.gateway.trace " in line
    record = json.loads(line.split("tollhouse.gateway.trace ", 1)[1])
    assert record["source"] == "e2e-orders"
    assert record["message"] == "seen GET /orders"
    assert record["api"] == service.api
    assert record["operation"] == "get-any"
    assert record["requestId"]

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    labels = f'namespace="e2e",name="Orders",dimension_API_ID="{service.api}",dimension_Client="web \\"1\\""'
    [count] = [
        line
        for line in text.splitlines()
        if line.startswith(f"tollhouse_policy_metric_count{{{labels}}}")
    ]
    calls = int(count.rsplit(" ", 1)[1])
    assert calls >= 1
    assert f"tollhouse_policy_metric_sum{{{labels}}} {2.5 * calls}" in text
