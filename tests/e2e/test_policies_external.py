# ruff: noqa: E501  (policy documents are kept as users write them)
"""send-request and send-one-way-request through a running gateway: a call whose answer an
expression reads, and a one-way call that reaches its service while the client's answer does
not wait for it (nor does stopping the gateway)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.controlplane.conftest import RunningControlPlane
from tests.e2e.conftest import Backend, GatewayRun, Headers, checked, manage
from tests.e2e.test_gateway import call, eventually, serve

# How long the one-way target takes to answer: far longer than the client may wait.
SLOW_SECONDS = 30.0

SEND_REQUEST = """<policies>
  <inbound>
    <base />
    <send-request mode="new" response-variable-name="lookup" timeout="10">
      <set-url>{url}/lookup?who=me</set-url>
      <set-method>POST</set-method>
      <set-header name="x-probe" exists-action="override"><value>@(context.Request.Method)</value></set-header>
      <set-body>hello</set-body>
    </send-request>
  </inbound>
  <backend><base /></backend>
  <outbound>
    <base />
    <set-header name="x-lookup" exists-action="override">
      <value>@{{ var r = (IResponse)context.Variables["lookup"]; var j = r.Body.As&lt;JObject&gt;(); return r.StatusCode + ":" + (string)j["method"] + ":" + (string)j["path"] + ":" + (string)j["headers"]["x-probe"] + ":" + (string)j["body"]; }}</value>
    </set-header>
    <set-header name="x-missing" exists-action="override">
      <value>@((context.Variables.GetValueOrDefault&lt;IResponse&gt;("nothing") == null).ToString())</value>
    </set-header>
  </outbound>
  <on-error><base /></on-error>
</policies>"""

ONE_WAY = """<policies>
  <inbound>
    <base />
    <send-one-way-request mode="new" timeout="60">
      <set-url>{url}/notify?token=one-way-secret</set-url>
      <set-method>POST</set-method>
      <set-header name="x-note" exists-action="override"><value>@(context.Api.Name)</value></set-header>
      <set-body>@(context.Request.Method + " " + context.Request.Url.Path)</set-body>
    </send-one-way-request>
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>"""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class SlowService:
    """A second backend: records each request as it arrives, answers only after a while."""

    url: str
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
def slow_service() -> Iterator[SlowService]:
    service = SlowService("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            service.seen.append(
                Seen(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
            )
            time.sleep(SLOW_SECONDS)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Not logged: the test reads what arrived from `service.seen`."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


def put_api_policy(cp: RunningControlPlane, headers: Headers, api: str, xml: str) -> None:
    checked(
        manage(
            cp,
            headers,
            "PUT",
            f"apis/{api}/policies/policy",
            {"properties": {"value": xml, "format": "xml"}},
        )
    )


def test_send_request_stores_a_response_that_expressions_read(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    put_api_policy(control_plane, operator, service.api, SEND_REQUEST.format(url=backend.url))

    eventually(lambda: "x-lookup" in call(run, service.api, service.key).headers, timeout=20)
    response = call(run, service.api, service.key)
    assert response.status_code == 200, response.text
    # The echo backend answered the side call: its status, and what it received.
    assert response.headers["x-lookup"] == "200:POST:/lookup:GET:hello"
    assert response.headers["x-missing"] == "True"
    # The client's own request still reached the backend.
    assert response.json()["path"] == "/backend/hello"


def test_send_one_way_request_reaches_its_service_without_holding_the_client(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
    slow_service: SlowService,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    put_api_policy(control_plane, operator, service.api, ONE_WAY.format(url=slow_service.url))

    # Once the policy is applied, every call makes one.
    eventually(
        lambda: call(run, service.api, service.key).status_code == 200 and bool(slow_service.seen),
        timeout=20,
    )

    started = time.monotonic()
    response = call(run, service.api, service.key, "/orders?x=1")
    answered_in = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/backend/orders"
    # The target takes SLOW_SECONDS to answer; the client did not wait for it.
    assert answered_in < SLOW_SECONDS / 3

    def ours() -> list[Seen]:
        return [s for s in slow_service.seen if s.body.endswith(b"/orders")]

    eventually(lambda: len(ours()) == 1, timeout=10)
    (seen,) = ours()
    assert seen.path == "/notify?token=one-way-secret"
    assert seen.headers["x-note"] == service.api
    assert seen.body.startswith(b"GET ")

    # Stopping the gateway does not wait for the call still in flight.
    started = time.monotonic()
    assert run.stop() in (0, -15)
    assert time.monotonic() - started < SLOW_SECONDS / 2
    # Nothing about the call's URL query reached the log.
    assert "one-way-secret" not in run.log.read_text()
