# ruff: noqa: E501  (policy documents are kept as users write them)
"""Transformation and routing policies through one running gateway: set-query-parameter,
set-method, set-body, rewrite-uri, set-backend-service, forward-request, mock-response,
authentication-basic and set-status, each on an operation of its own in one API."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.controlplane.conftest import RunningControlPlane
from tests.e2e.conftest import (
    Backend,
    GatewayRun,
    Headers,
    checked,
    gateway_token,
    manage,
    publish,
    start_gateway,
)
from tests.e2e.test_gateway import eventually


def policy(inbound: str = "", backend: str = "<base />", outbound: str = "") -> str:
    return f"""<policies>
  <inbound><base />{inbound}</inbound>
  <backend>{backend}</backend>
  <outbound><base />{outbound}</outbound>
  <on-error><base /></on-error>
</policies>"""


QUERY = policy(
    """
    <set-query-parameter name="added" exists-action="override"><value>new</value></set-query-parameter>
    <set-query-parameter name="over" exists-action="override"><value>replaced</value></set-query-parameter>
    <set-query-parameter name="multi" exists-action="override"><value>1</value><value>2</value></set-query-parameter>
    <set-query-parameter name="gone" exists-action="delete" />
    <set-query-parameter name="kept" exists-action="skip"><value>ignored</value></set-query-parameter>
    <set-query-parameter name="absent" exists-action="skip"><value>filled</value></set-query-parameter>
    <set-query-parameter name="Case" exists-action="delete" />"""
)

METHOD = policy("<set-method>PUT</set-method>")

REQUEST_BODY = policy(
    '<set-body>@("sent by " + context.Request.Method + " to " + context.Request.Url.Path)</set-body>'
)

RESPONSE_BODY = policy(
    outbound='<set-body>@("backend saw " + context.Response.Body.As&lt;JObject&gt;()["path"].ToString())</set-body>'
)

REWRITE = policy('<rewrite-uri template="/v2/things/{id}?source=rewrite" />')

REWRITE_STRICT = policy(
    '<rewrite-uri template="/v2/things/{id}?source=rewrite" copy-unmatched-params="false" />'
)

SLOW = policy(backend='<forward-request timeout="1" />')

BUFFERED = policy(backend='<forward-request buffer-request-body="true" />')

MOCK = policy('<mock-response status-code="201" content-type="application/json" />')

BASIC = policy(
    """
    <authentication-basic username="alice" password="s3cret:ü" />
    <set-header name="x-authorization-seen" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("Authorization", "none"))</value></set-header>"""
)

STATUS = policy(
    outbound="""
    <set-status code="202" reason="Queued for later" />
    <set-header name="x-status-seen" exists-action="override"><value>@(context.Response.StatusCode + " " + context.Response.StatusReason)</value></set-header>"""
)

EXAMPLE = {"id": 7, "name": "from the example"}


@dataclass
class Rig:
    run: GatewayRun
    api: str
    key: str
    backend: Backend

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.run.get(
            f"/{self.api}{path}", headers={"Ocp-Apim-Subscription-Key": self.key, **(headers or {})}
        )

    def post(
        self, path: str, content: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return httpx.post(
            f"{self.run.http}/{self.api}{path}",
            content=content,
            headers={"Ocp-Apim-Subscription-Key": self.key, **(headers or {})},
            timeout=30,
        )


@pytest.fixture(scope="module")
def rig(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rig]:
    """One gateway serving one API whose operations each carry one policy under test."""
    service = publish(control_plane, operator, backend)
    operations: list[tuple[str, str, str, str, list[Any]]] = [
        ("query", "GET", "/query", QUERY, []),
        ("method", "GET", "/method", METHOD, []),
        ("request-body", "POST", "/request-body", REQUEST_BODY, []),
        ("response-body", "GET", "/response-body", RESPONSE_BODY, []),
        ("rewrite", "GET", "/items/{id}", REWRITE, []),
        ("rewrite-strict", "GET", "/strict/{id}", REWRITE_STRICT, []),
        (
            "elsewhere",
            "GET",
            "/elsewhere",
            policy(f'<set-backend-service base-url="{backend.url}/other-prefix" />'),
            [],
        ),
        ("slow", "GET", "/slow", SLOW, []),
        ("buffered", "POST", "/buffered", BUFFERED, []),
        ("basic", "GET", "/basic", BASIC, []),
        ("status", "GET", "/status", STATUS, []),
        (
            "mock-example",
            "GET",
            "/mock-example",
            MOCK.replace('status-code="201"', 'status-code="200"'),
            [
                {
                    "statusCode": 200,
                    "description": "an item",
                    "representations": [
                        {
                            "contentType": "application/json",
                            "examples": {"default": {"value": EXAMPLE}},
                        }
                    ],
                }
            ],
        ),
        # Last: once it answers, the gateway has the whole configuration.
        ("mock", "GET", "/mock", MOCK, []),
    ]
    for name, method, template, document, responses in operations:
        path = f"apis/{service.api}/operations/{name}"
        properties: dict[str, Any] = {
            "method": method,
            "urlTemplate": template,
            "displayName": name,
        }
        if responses:
            properties["responses"] = responses
        checked(manage(control_plane, operator, "PUT", path, {"properties": properties}))
        body = {"properties": {"value": document, "format": "xml"}}
        checked(manage(control_plane, operator, "PUT", f"{path}/policies/policy", body))
    run = start_gateway(
        control_plane,
        tmp_path_factory.mktemp("transform"),
        {"config.service.auth": gateway_token(control_plane, operator, service.gateway)},
    )
    try:
        run.wait_ready()
        rig = Rig(run, service.api, service.key, backend)
        eventually(lambda: rig.get("/mock").status_code == 201, timeout=20)
        yield rig
    finally:
        run.stop()


def seen(response: httpx.Response) -> dict[str, Any]:
    """What the echo backend received."""
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# --- set-query-parameter ------------------------------------------------------------------


def test_set_query_parameter_adds_overrides_deletes_and_skips(rig: Rig) -> None:
    echoed = seen(rig.get("/query?over=old&gone=1&kept=mine&multi=0&case=lower&Case=upper"))
    query = parse_qs(echoed["query"], keep_blank_values=True)
    assert query["added"] == ["new"]
    assert query["over"] == ["replaced"]
    # override with several <value>s: the parameter once per value, only those values.
    assert query["multi"] == ["1", "2"]
    assert "gone" not in query
    assert query["kept"] == ["mine"]  # skip leaves a present parameter alone
    assert query["absent"] == ["filled"]  # and adds a missing one
    # Query parameter names are case-sensitive: deleting "Case" keeps "case".
    assert query["case"] == ["lower"] and "Case" not in query


# --- set-method, set-body ------------------------------------------------------------------


def test_set_method_changes_the_method_the_backend_sees(rig: Rig) -> None:
    echoed = seen(rig.get("/method"))
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/backend/method"


def test_set_body_in_inbound_replaces_the_request_body_with_an_expression(rig: Rig) -> None:
    echoed = seen(rig.post("/request-body", b"the client's own body"))
    assert echoed["body"] == "sent by POST to /request-body"
    # The framing follows the new body, not the client's.
    assert echoed["headers"]["content-length"] == str(len(echoed["body"]))


def test_set_body_in_outbound_replaces_the_response_body_from_the_backends(rig: Rig) -> None:
    response = rig.get("/response-body")
    assert response.status_code == 200
    assert response.text == "backend saw /backend/response-body"
    assert response.headers["content-length"] == str(len(response.content))


# --- rewrite-uri, set-backend-service ------------------------------------------------------


def test_rewrite_uri_fills_matched_parameters_and_copies_unmatched_query_parameters(
    rig: Rig,
) -> None:
    echoed = seen(rig.get("/items/7?x=1&y=two"))
    assert echoed["path"] == "/backend/v2/things/7"
    assert parse_qs(echoed["query"]) == {"source": ["rewrite"], "x": ["1"], "y": ["two"]}


def test_rewrite_uri_without_copy_unmatched_params_drops_the_clients_query(rig: Rig) -> None:
    echoed = seen(rig.get("/strict/7?x=1&y=two"))
    assert echoed["path"] == "/backend/v2/things/7"
    assert echoed["query"] == "source=rewrite"


def test_set_backend_service_sends_the_request_to_another_base_url(rig: Rig) -> None:
    echoed = seen(rig.get("/elsewhere?x=1"))
    # The operation's path below the API travels onto the new base URL.
    assert echoed["path"] == "/other-prefix/elsewhere"
    assert echoed["query"] == "x=1"


# --- forward-request -----------------------------------------------------------------------


def test_forward_request_answers_504_when_the_backend_exceeds_its_timeout(rig: Rig) -> None:
    assert rig.get("/slow?sleep=0").status_code == 200  # the operation forwards when in time
    started = time.monotonic()
    response = rig.get("/slow?sleep=3")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"statusCode", "message"}  # APIM's error body shape
    assert body["statusCode"] == 504 and body["message"]
    assert elapsed < 2.5  # gave up after its timeout="1", not after the backend's 3 s


def test_forward_request_with_buffer_request_body_forwards_a_chunked_body_intact(
    rig: Rig,
) -> None:
    chunks = [f"chunk {i:05d} ".encode() * 200 for i in range(40)]
    echoed = seen(rig.post("/buffered", iter(chunks), {"content-type": "text/plain"}))
    assert echoed["method"] == "POST"
    assert echoed["body"].encode() == b"".join(chunks)
    assert echoed["headers"]["content-type"] == "text/plain"


# --- mock-response -------------------------------------------------------------------------


def test_mock_response_answers_without_reaching_the_backend(rig: Rig) -> None:
    response = rig.get("/mock?x=1")
    assert response.status_code == 201  # the echo backend only ever answers 200
    # No example or schema for 201 on the operation: APIM answers with no content.
    assert response.content == b""


def test_mock_response_answers_the_operations_example_for_its_status_and_content_type(
    rig: Rig,
) -> None:
    response = rig.get("/mock-example")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == EXAMPLE


# --- authentication-basic, set-status ------------------------------------------------------


def test_authentication_basic_replaces_the_clients_authorization(rig: Rig) -> None:
    echoed = seen(rig.get("/basic", {"Authorization": "Bearer client-token"}))
    expected = "Basic " + base64.b64encode("alice:s3cret:ü".encode()).decode()
    assert echoed["headers"]["authorization"] == expected
    # The only Authorization the request carries on: the client's is gone, not kept beside it.
    assert echoed["headers"]["x-authorization-seen"] == expected


def test_set_status_in_outbound_changes_the_status_the_client_gets(rig: Rig) -> None:
    response = rig.get("/status")
    assert response.status_code == 202
    assert response.headers["x-status-seen"] == "202 Queued for later"
    assert response.json()["path"] == "/backend/status"  # the backend's body is kept
