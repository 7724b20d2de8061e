# ruff: noqa: E501  (policy documents are kept as users write them)
"""Access, control-flow and limit policies through one running gateway: cors, ip-filter,
retry, wait, rate-limit, quota, quota-by-key and limit-concurrency.

One API carries one operation per policy under test, each with its own operation-level
policy; all of it is in the gateway's first configuration. The gateway sees its clients
from 127.0.0.1.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

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

ORIGIN = "https://app.contoso.example"
STRANGER = "https://evil.example"

CORS = f"""<policies>
  <inbound>
    <base />
    <cors allow-credentials="true" terminate-unmatched-request="false">
      <allowed-origins><origin>{ORIGIN}</origin></allowed-origins>
      <allowed-methods preflight-result-max-age="300"><method>GET</method><method>PUT</method></allowed-methods>
      <allowed-headers><header>x-custom</header><header>content-type</header></allowed-headers>
      <expose-headers><header>x-total</header></expose-headers>
    </cors>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

IP_FILTER = """<policies>
  <inbound><base /><ip-filter action="{action}"><address-range from="{low}" to="{high}" /></ip-filter></inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

# Attempts 1 and 2 call a port that refuses connections; attempt 3 reaches the echo backend.
# The counter is kept as a string: a literal set-variable value is a System.String in APIM.
RETRY = """<policies>
  <inbound>
    <base />
    <set-variable name="attempts" value="0" />
    <retry condition="@(context.Variables.GetValueOrDefault&lt;IResponse&gt;(&quot;probe&quot;) == null)" count="5" interval="1">
      <set-variable name="attempts" value="@((int.Parse((string)context.Variables[&quot;attempts&quot;]) + 1).ToString())" />
      <send-request mode="new" response-variable-name="probe" timeout="10" ignore-error="true">
        <set-url>@(int.Parse((string)context.Variables["attempts"]) &lt; 3 ? "{closed}/probe" : "{backend}/probe?attempt=" + (string)context.Variables["attempts"])</set-url>
        <set-method>GET</set-method>
      </send-request>
    </retry>
  </inbound>
  <backend><base /></backend>
  <outbound>
    <base />
    <set-header name="x-attempts" exists-action="override"><value>@((string)context.Variables["attempts"])</value></set-header>
    <set-header name="x-probe" exists-action="override">
      <value>@{{ var r = (IResponse)context.Variables["probe"]; var j = r.Body.As&lt;JObject&gt;(); return r.StatusCode + " " + (string)j["path"] + "?" + (string)j["query"]; }}</value>
    </set-header>
  </outbound>
  <on-error><base /></on-error>
</policies>"""

# APIM set-variable: an expression's value keeps its type (System.Int32 here); only a literal
# is a System.String. Retry counters are written this way in APIM's own examples.
TYPED_COUNTER = """<policies>
  <inbound>
    <base />
    <set-variable name="n" value="@(41)" />
    <set-header name="x-n" exists-action="override"><value>@(((int)context.Variables["n"] + 1).ToString())</value></set-header>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

# Each side call takes WAIT_SLEEP seconds at the backend.
WAIT_SLEEP = 2.0
WAIT = """<policies>
  <inbound>
    <base />
    <wait for="all">
      <send-request mode="new" response-variable-name="first" timeout="20">
        <set-url>{backend}/first?sleep={sleep}</set-url>
        <set-method>GET</set-method>
      </send-request>
      <send-request mode="new" response-variable-name="second" timeout="20">
        <set-url>{backend}/second?sleep={sleep}</set-url>
        <set-method>POST</set-method>
      </send-request>
    </wait>
    <set-header name="x-both" exists-action="override">
      <value>@{{ var a = ((IResponse)context.Variables["first"]).Body.As&lt;JObject&gt;(); var b = ((IResponse)context.Variables["second"]).Body.As&lt;JObject&gt;(); return (string)a["method"] + " " + (string)a["path"] + "," + (string)b["method"] + " " + (string)b["path"]; }}</value>
    </set-header>
  </inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

RATE_LIMIT = """<policies>
  <inbound><base /><rate-limit calls="2" renewal-period="60" /></inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

QUOTA = """<policies>
  <inbound><base /><quota calls="2" renewal-period="3600" /></inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

QUOTA_BY_KEY = """<policies>
  <inbound><base /><quota-by-key calls="1" renewal-period="3600" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;x-tenant&quot;, &quot;anonymous&quot;))" /></inbound>
  <backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>
</policies>"""

LIMIT_CONCURRENCY = """<policies>
  <inbound><base /></inbound>
  <backend>
    <limit-concurrency key="e2e-one-at-a-time" max-count="1">
      <forward-request timeout="30" />
    </limit-concurrency>
  </backend>
  <outbound><base /></outbound><on-error><base /></on-error>
</policies>"""


@dataclass
class Lab:
    run: GatewayRun
    api: str
    key: str
    other_key: str  # a second subscription to the same API

    def get(
        self, path: str, key: str | None = None, method: str = "GET", **headers: str
    ) -> httpx.Response:
        sent = {"Ocp-Apim-Subscription-Key": key or self.key, **headers}
        return httpx.request(method, f"{self.run.http}/{self.api}{path}", headers=sent, timeout=30)


@pytest.fixture(scope="module")
def lab(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lab]:
    cp = control_plane
    service = publish(cp, operator, backend)
    # Bound and never listening: every connection to it is refused.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    operations = [
        ("cors-preflight", "OPTIONS", "/cors", CORS),
        ("cors-get", "GET", "/cors", CORS),
        (
            "ip-allow",
            "GET",
            "/ip/allow",
            IP_FILTER.format(action="allow", low="127.0.0.0", high="127.0.0.255"),
        ),
        (
            "ip-forbid",
            "GET",
            "/ip/forbid",
            IP_FILTER.format(action="forbid", low="127.0.0.1", high="127.0.0.9"),
        ),
        (
            "ip-elsewhere",
            "GET",
            "/ip/elsewhere",
            IP_FILTER.format(action="allow", low="10.0.0.0", high="10.255.255.255"),
        ),
        ("retry", "GET", "/retry", RETRY.format(closed=closed_url, backend=backend.url)),
        ("typed-counter", "GET", "/typed-counter", TYPED_COUNTER),
        ("wait", "GET", "/wait", WAIT.format(backend=backend.url, sleep=WAIT_SLEEP)),
        ("rate-limit", "GET", "/rate-limit", RATE_LIMIT),
        ("quota", "GET", "/quota", QUOTA),
        ("quota-by-key", "GET", "/quota-by-key", QUOTA_BY_KEY),
        ("limit-concurrency", "GET", "/concurrency", LIMIT_CONCURRENCY),
    ]
    for name, method, template, policy in operations:
        path = f"apis/{service.api}/operations/{name}"
        body = {"properties": {"method": method, "urlTemplate": template, "displayName": name}}
        checked(manage(cp, operator, "PUT", path, body))
        policy_body = {"properties": {"value": policy, "format": "xml"}}
        checked(manage(cp, operator, "PUT", f"{path}/policies/policy", policy_body))
    other = f"other-{service.api}"
    checked(
        manage(
            cp,
            operator,
            "PUT",
            f"subscriptions/{other}",
            {
                "properties": {
                    "scope": f"/apis/{service.api}",
                    "displayName": other,
                    "state": "active",
                }
            },
        )
    )
    other_key = checked(manage(cp, operator, "POST", f"subscriptions/{other}/listSecrets"))[
        "primaryKey"
    ]
    run = start_gateway(
        cp,
        tmp_path_factory.mktemp("access"),
        {"config.service.auth": gateway_token(cp, operator, service.gateway)},
    )
    try:
        run.wait_ready()
        lab = Lab(run, service.api, service.key, other_key)
        # The operations' policies are applied: the loopback range is refused here.
        eventually(lambda: lab.get("/ip/forbid").status_code == 403, timeout=20)
        yield lab
    finally:
        run.stop()
        closed.close()


# --- cors ----------------------------------------------------------------------------------


def test_cors_answers_a_preflight_from_an_allowed_origin_without_the_backend(lab: Lab) -> None:
    # A browser's preflight carries no custom header: the key travels in the query.
    response = httpx.options(
        f"{lab.run.http}/{lab.api}/cors?subscription-key={lab.key}",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "X-Custom, Content-Type",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.content == b""  # the echo backend would have answered JSON
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "PUT" in response.headers["access-control-allow-methods"]
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"x-custom", "content-type"} <= allowed
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-max-age"] == "300"


def test_cors_preflight_from_another_origin_gets_no_permission(lab: Lab) -> None:
    response = httpx.options(
        f"{lab.run.http}/{lab.api}/cors?subscription-key={lab.key}",
        headers={"Origin": STRANGER, "Access-Control-Request-Method": "PUT"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.content == b""
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_cors_simple_request_from_an_allowed_origin_carries_allow_origin(lab: Lab) -> None:
    response = lab.get("/cors", Origin=ORIGIN)
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/backend/cors"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"].lower() == "x-total"


def test_cors_simple_request_from_another_origin_is_served_without_cors_headers(
    lab: Lab,
) -> None:
    # terminate-unmatched-request="false": the request goes on, with no CORS header added.
    response = lab.get("/cors", Origin=STRANGER)
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/backend/cors"
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


# --- ip-filter -----------------------------------------------------------------------------


def test_ip_filter_allows_a_caller_inside_an_allowed_range(lab: Lab) -> None:
    response = lab.get("/ip/allow")
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/backend/ip/allow"


def test_ip_filter_refuses_a_caller_inside_a_forbidden_range_with_403(lab: Lab) -> None:
    response = lab.get("/ip/forbid")
    assert response.status_code == 403
    assert response.json() == {"statusCode": 403, "message": "Forbidden"}


def test_ip_filter_refuses_a_caller_outside_every_allowed_range(lab: Lab) -> None:
    response = lab.get("/ip/elsewhere")
    assert response.status_code == 403
    assert response.json() == {"statusCode": 403, "message": "Forbidden"}


# --- retry and wait ------------------------------------------------------------------------


def test_retry_repeats_a_failing_call_until_it_succeeds_then_stops(lab: Lab) -> None:
    response = lab.get("/retry")
    assert response.status_code == 200, response.text
    # Two refused connections, then the backend: three attempts, not count + 1 = 6.
    assert response.headers["x-attempts"] == "3"
    assert response.headers["x-probe"] == "200 /probe?attempt=3"
    assert response.json()["path"] == "/backend/retry"


def test_a_counter_set_by_an_expression_keeps_its_integer_type(lab: Lab) -> None:
    response = lab.get("/typed-counter")
    assert response.status_code == 200, response.text
    assert response.json()["headers"]["x-n"] == "42"


def test_wait_runs_two_send_requests_together_and_both_results_are_used(lab: Lab) -> None:
    started = time.monotonic()
    response = lab.get("/wait")
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["headers"]["x-both"] == "GET /first,POST /second"
    # In parallel: one after the other would take at least 2 × WAIT_SLEEP.
    assert elapsed < 2 * WAIT_SLEEP - 0.3


# --- rate-limit, quota, quota-by-key -------------------------------------------------------


def test_rate_limit_refuses_calls_over_the_limit_per_subscription_with_429(lab: Lab) -> None:
    assert [lab.get("/rate-limit").status_code for _ in range(2)] == [200, 200]
    refused = lab.get("/rate-limit")
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    # A sliding window remembers a call until the end of its 1/60 bucket: at most 60 + 1 s.
    assert 0 < retry_after <= 61
    assert refused.json() == {
        "statusCode": 429,
        "message": f"Rate limit is exceeded. Try again in {retry_after} seconds.",
    }
    # Another subscription has its own counter.
    assert lab.get("/rate-limit", key=lab.other_key).status_code == 200


def test_quota_refuses_calls_over_the_quota_with_403(lab: Lab) -> None:
    assert [lab.get("/quota").status_code for _ in range(2)] == [200, 200]
    refused = lab.get("/quota")
    assert refused.status_code == 403
    body = refused.json()
    assert body["statusCode"] == 403
    found = re.fullmatch(
        r"Out of call volume quota\. Quota will be replenished in (\d\d):(\d\d):(\d\d)\.",
        body["message"],
    )
    assert found, body["message"]
    hours, minutes, seconds = (int(part) for part in found.groups())
    assert 0 < hours * 3600 + minutes * 60 + seconds <= 3600
    assert lab.get("/quota", key=lab.other_key).status_code == 200


def test_quota_by_key_counts_each_counter_key_separately(lab: Lab) -> None:
    first, second = f"tenant-a-{uuid.uuid4().hex[:6]}", f"tenant-b-{uuid.uuid4().hex[:6]}"
    assert lab.get("/quota-by-key", **{"x-tenant": first}).status_code == 200
    refused = lab.get("/quota-by-key", **{"x-tenant": first})
    assert refused.status_code == 403
    assert refused.json()["message"].startswith("Out of call volume quota.")
    # The same subscription with another key: a fresh counter, then spent as well.
    assert lab.get("/quota-by-key", **{"x-tenant": second}).status_code == 200
    assert lab.get("/quota-by-key", **{"x-tenant": second}).status_code == 403


# --- limit-concurrency ---------------------------------------------------------------------


def test_limit_concurrency_refuses_a_second_request_while_one_is_in_flight(lab: Lab) -> None:
    slow: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: slow.append(lab.get("/concurrency?sleep=4")))
    thread.start()
    try:
        time.sleep(1.0)  # the slow request is at the backend, holding the only slot
        refused = lab.get("/concurrency")
        assert refused.status_code == 429
        assert refused.json()["statusCode"] == 429
    finally:
        thread.join(30)
    assert slow and slow[0].status_code == 200, slow
    assert slow[0].json()["query"] == "sleep=4"
    # The slot is released once the slow request ends.
    assert lab.get("/concurrency").status_code == 200
