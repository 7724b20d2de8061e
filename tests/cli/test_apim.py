"""`tollhouse apim`: a service's resources managed as az manages them, against a real control
plane over TLS whose managed identity asks the real directory about every call."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Outcome, Tollhouse, unique
from tests.controlplane.conftest import RESOURCE_GROUP, SUBSCRIPTION, RunningControlPlane
from tollhouse.cli._apim_gateways import CLOCK_SKEW_ALLOWANCE, MAX_TOKEN_DAYS, token_expiry
from tollhouse.contracts import hash_key, parse_configuration

PETSTORE = Path(__file__).parents[1] / "controlplane" / "model" / "data" / "swagger2-petstore.json"
POLICY = """<policies>
  <inbound>
    <base />
    <set-header name="X-Tollhouse" exists-action="override">
      <value>cli</value>
    </set-header>
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
"""


def failed(outcome: Outcome) -> str:
    """The error line of a command that failed as az fails: exit 1, nothing on stdout."""
    assert (outcome.status, outcome.out) == (1, ""), outcome
    assert outcome.err.startswith("ERROR: "), outcome.err
    return outcome.err


def make_gateway(apim: Tollhouse) -> str:
    name = unique("gw")
    apim("gateway", "create", "--gateway-id", name, "--location-name", "lab").json()
    return name


def make_api(apim: Tollhouse) -> str:
    name = unique("echo")
    apim(
        "api", "create", "--api-id", name, "--path", name, "--display-name", "Echo",
        "--service-url", "https://echo.example/v1",
    ).json()  # fmt: skip
    return name


def configuration(cp: RunningControlPlane, gateway: str, authorization: str) -> httpx.Response:
    with cp.client() as client:
        return client.get(
            f"/gateways/{gateway}/configuration", headers={"Authorization": authorization}
        )


# --- gateways ------------------------------------------------------------------------------


def test_a_gateway_is_created_listed_shown_with_its_instances_and_deleted(apim: Tollhouse) -> None:
    name = unique("gw")
    created = apim(
        "gateway", "create", "--gateway-id", name, "--location-name", "lab", "--city", "Oslo",
        "--description", "edge of the lab",
    ).json()  # fmt: skip
    assert created["name"] == name
    assert created["locationData"] == {"name": "lab", "city": "Oslo"}
    assert created["resourceGroup"] == RESOURCE_GROUP
    assert created["type"] == "Microsoft.ApiManagement/service/gateways"
    assert name in [g["name"] for g in apim("gateway", "list").json()]

    shown = apim("gateway", "show", "--gateway-id", name).json()
    assert shown["description"] == "edge of the lab"
    assert (shown["nodeCount"], shown["instances"], shown["tokenExpiryWarning"]) == (0, [], None)
    # Keys are secrets: never in a GET.
    assert "primary" not in json.dumps(shown)

    assert apim("gateway", "delete", "--gateway-id", name, "--yes").status == 0
    assert "was not found" in failed(apim("gateway", "show", "--gateway-id", name))
    again = apim("gateway", "delete", "--gateway-id", name)
    assert (again.status, again.out) == (0, "")
    assert again.err.startswith("WARNING: Gateway")


def test_a_generated_token_is_the_gateway_key_setting_and_fetches_the_configuration(
    apim: Tollhouse, control_plane: RunningControlPlane
) -> None:
    gateway = make_gateway(apim)
    token = apim("gateway", "token", "generate", "--gateway-id", gateway, "--days", "2").json()
    assert token["value"].startswith(f"GatewayKey {gateway}&")
    assert token["keyType"] == "primary"
    response = configuration(control_plane, gateway, token["value"])
    assert response.status_code == 200, response.text
    assert parse_configuration(response.json()).gateway == gateway
    # Two days ahead is within the warning window: `show` says so, on stderr and in the result.
    shown = apim("gateway", "show", "--gateway-id", gateway)
    assert shown.json()["tokenExpiryWarning"]
    assert shown.err.startswith(f"WARNING: Gateway '{gateway}': the latest gateway token")


def test_a_token_signed_by_a_regenerated_key_no_longer_fetches_the_configuration(
    apim: Tollhouse, control_plane: RunningControlPlane
) -> None:
    gateway = make_gateway(apim)
    keys = apim("gateway", "key", "list", "--gateway-id", gateway).json()
    secondary = apim(
        "gateway", "token", "generate", "--gateway-id", gateway, "--key-type", "secondary"
    ).json()["value"]
    assert configuration(control_plane, gateway, secondary).status_code == 200

    renewed = apim(
        "gateway", "key", "regenerate", "--gateway-id", gateway, "--key-type", "secondary"
    ).json()
    assert renewed["primary"] == keys["primary"]
    assert renewed["secondary"] != keys["secondary"]
    assert configuration(control_plane, gateway, secondary).status_code == 401


def test_a_token_beyond_thirty_days_is_refused_by_the_control_plane(apim: Tollhouse) -> None:
    gateway = make_gateway(apim)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=31)).isoformat()
    err = failed(apim("gateway", "token", "generate", "--gateway-id", gateway, "--expiry", later))
    assert "30 days" in err


@pytest.mark.parametrize("days", ["0", "31", "many"])
def test_token_days_outside_one_to_thirty_are_a_usage_error(apim: Tollhouse, days: str) -> None:
    refused = apim("gateway", "token", "generate", "--gateway-id", "gw", "--days", days)
    assert refused.status == 2
    assert "from 1 to 30" in refused.err


def test_a_full_term_token_stays_clear_of_the_thirty_day_limit() -> None:
    now = dt.datetime(2030, 1, 31, 12, 0, 42, 5, tzinfo=dt.UTC)
    full = token_expiry(MAX_TOKEN_DAYS, now)
    assert full == dt.datetime(2030, 3, 2, 11, 55, tzinfo=dt.UTC)
    assert now + dt.timedelta(days=MAX_TOKEN_DAYS) - full >= CLOCK_SKEW_ALLOWANCE
    assert token_expiry(1, now) == dt.datetime(2030, 2, 1, 12, 0, tzinfo=dt.UTC)


# --- APIs and gateways ---------------------------------------------------------------------


def test_importing_the_swagger_petstore_lists_its_operations(apim: Tollhouse) -> None:
    name = unique("petstore")
    imported = apim(
        "api", "import", "--api-id", name, "--path", name, "--specification-format", "Swagger",
        "--specification-path", str(PETSTORE),
    ).json()  # fmt: skip
    assert imported["displayName"] == "Swagger Petstore"
    assert imported["serviceUrl"] == "http://petstore.swagger.io/v2"
    assert (imported["path"], imported["apiType"]) == (name, "http")

    operations = apim("api", "operation", "list", "--api-id", name).json()
    spec = json.loads(PETSTORE.read_text())["paths"]
    assert len(operations) == sum(len(item) for item in spec.values())
    by_name = {op["name"]: op for op in operations}
    assert (by_name["getPetById"]["method"], by_name["getPetById"]["urlTemplate"]) == (
        "GET",
        "/pet/{petId}",
    )


def test_an_api_assigned_to_a_gateway_is_in_its_configuration_with_its_policy(
    apim: Tollhouse, control_plane: RunningControlPlane, tmp_path: Path
) -> None:
    gateway, api = make_gateway(apim), make_api(apim)
    assigned = apim("gateway", "api", "add", "--gateway-id", gateway, "--api-id", api).json()
    assert (assigned["name"], assigned["path"]) == (api, api)
    listed = apim("gateway", "api", "list", "--gateway-id", gateway).json()
    assert [(a["name"], a["displayName"]) for a in listed] == [(api, "Echo")]

    policy = tmp_path / "policy.xml"
    policy.write_text(POLICY)
    apim("policy", "set", "--api-id", api, "--xml-file", str(policy)).json()

    token = apim("gateway", "token", "generate", "--gateway-id", gateway).json()["value"]
    snapshot = parse_configuration(configuration(control_plane, gateway, token).json())
    (served,) = snapshot.apis
    assert (served.name, served.service_url) == (api, "https://echo.example/v1")
    assert served.policy is not None and 'name="X-Tollhouse"' in served.policy

    apim("gateway", "api", "remove", "--gateway-id", gateway, "--api-id", api)
    assert apim("gateway", "api", "list", "--gateway-id", gateway).json() == []


def test_an_api_is_created_shown_and_deleted_with_its_operations(apim: Tollhouse) -> None:
    name = unique("orders")
    created = apim(
        "api", "create", "--api-id", name, "--path", f"shop/{name}", "--display-name", "Orders",
        "--protocols", "https", "http", "--subscription-required", "false",
        "--subscription-key-header-name", "X-Key",
    ).json()  # fmt: skip
    assert created["protocols"] == ["http", "https"]
    assert created["subscriptionRequired"] is False
    assert created["subscriptionKeyParameterNames"]["header"] == "X-Key"

    operation = apim(
        "api", "operation", "create", "--api-id", name, "--operation-id", "get-order",
        "--method", "get", "--url-template", "/orders/{id}", "--display-name", "Get an order",
    ).json()  # fmt: skip
    assert operation["method"] == "GET"
    assert [p["name"] for p in operation["templateParameters"]] == ["id"]
    shown = apim("api", "operation", "show", "--api-id", name, "--operation-id", "get-order")
    assert shown.json()["displayName"] == "Get an order"
    apim("api", "operation", "delete", "--api-id", name, "--operation-id", "get-order")
    assert apim("api", "operation", "list", "--api-id", name).json() == []

    assert apim("api", "show", "--api-id", name).json()["displayName"] == "Orders"
    found = apim("api", "list", "--filter-display-name", "ORDERS").json()
    assert name in [a["name"] for a in found]
    assert apim("api", "delete", "--api-id", name, "-y").status == 0
    assert name not in [a["name"] for a in apim("api", "list").json()]


def test_a_malformed_url_template_fails_with_the_servers_message(apim: Tollhouse) -> None:
    api = make_api(apim)
    outcome = apim(
        "api", "operation", "create", "--api-id", api, "--method", "GET", "--url-template",
        "orders", "--display-name", "No slash",
    )  # fmt: skip
    err = failed(outcome)
    assert "Property 'properties.urlTemplate' must start with '/'" in err


def test_a_description_that_is_not_openapi_fails_with_the_servers_message(
    apim: Tollhouse, tmp_path: Path
) -> None:
    document = tmp_path / "notes.json"
    document.write_text('{"title": "not a description"}')
    outcome = apim(
        "api", "import", "--api-id", unique("bad"), "--path", "bad", "--specification-format",
        "openapijson", "--specification-path", str(document),
    )  # fmt: skip
    err = failed(outcome)
    assert "is not an OpenAPI 3.0, 3.1 or Swagger 2.0 description" in err


def test_importing_from_a_url_is_refused_by_the_control_plane_which_fetches_nothing(
    apim: Tollhouse,
) -> None:
    outcome = apim(
        "api", "import", "--api-id", unique("linked"), "--path", "linked",
        "--specification-format", "OpenApi", "--specification-url", "https://example.com/o.yaml",
    )  # fmt: skip
    assert "'openapi-link' is not supported" in failed(outcome)


# --- products and subscriptions ------------------------------------------------------------


def test_a_product_publishes_an_api_and_its_subscription_keys_are_listed_and_replaced(
    apim: Tollhouse, control_plane: RunningControlPlane
) -> None:
    api, product, sid = make_api(apim), unique("starter"), unique("sub")
    created = apim(
        "product", "create", "--product-id", product, "--product-name", "Starter",
        "--state", "published", "--subscription-required", "true",
    ).json()  # fmt: skip
    assert (created["displayName"], created["state"]) == ("Starter", "published")
    apim("product", "api", "add", "--product-id", product, "--api-id", api).json()
    listed = apim("product", "api", "list", "--product-id", product).json()
    assert [a["name"] for a in listed] == [api]

    subscription = apim(
        "subscription", "create", "--sid", sid, "--scope", f"/products/{product}",
        "--display-name", "Tester",
    ).json()  # fmt: skip
    assert subscription["state"] == "active"
    assert subscription["scope"] == f"{control_plane.service_id}/products/{product}"
    assert "primaryKey" not in apim("subscription", "show", "--sid", sid).json()

    keys = apim("subscription", "keys", "list", "--sid", sid).json()
    assert re.fullmatch(r"[0-9a-f]{32}", keys["primaryKey"])
    renewed = apim("subscription", "keys", "regenerate", "--sid", sid, "--key-kind", "primary")
    assert renewed.json()["primaryKey"] != keys["primaryKey"]
    assert renewed.json()["secondaryKey"] == keys["secondaryKey"]

    gateway = make_gateway(apim)
    apim("gateway", "api", "add", "--gateway-id", gateway, "--api-id", api)
    token = apim("gateway", "token", "generate", "--gateway-id", gateway).json()["value"]
    snapshot = parse_configuration(configuration(control_plane, gateway, token).json())
    (served,) = [s for s in snapshot.subscriptions if s.name == sid]
    assert served.primary_key_hash == hash_key(renewed.json()["primaryKey"])

    apim("product", "api", "remove", "--product-id", product, "--api-id", api)
    assert apim("product", "api", "list", "--product-id", product).json() == []
    apim("subscription", "delete", "--sid", sid)
    assert sid not in [s["name"] for s in apim("subscription", "list").json()]


def test_a_subscription_to_a_missing_product_fails_with_the_servers_message(
    apim: Tollhouse,
) -> None:
    outcome = apim(
        "subscription", "create", "--sid", unique("sub"), "--scope", "/products/nowhere",
        "--display-name", "Nobody",
    )  # fmt: skip
    err = failed(outcome)
    assert "'products/nowhere', which does not exist" in err


def test_a_subscription_is_created_with_start_and_expiration_dates(apim: Tollhouse) -> None:
    sid = unique("sub")
    subscription = apim(
        "subscription", "create", "--sid", sid, "--scope", "/apis", "--display-name", "Dated",
        "--start-date", "2026-01-31T02:00:00+02:00", "--expiration-date", "2027-01-31",
    ).json()  # fmt: skip
    assert subscription["startDate"] == "2026-01-31T00:00:00Z"
    assert subscription["expirationDate"] == "2027-01-31T00:00:00Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", subscription["createdDate"])
    outcome = apim(
        "subscription", "create", "--sid", unique("sub"), "--scope", "/apis",
        "--display-name", "Bad", "--start-date", "next tuesday",
    )  # fmt: skip
    assert "properties.startDate" in failed(outcome)


def test_a_product_is_listed_shown_and_deleted(apim: Tollhouse) -> None:
    product = apim("product", "create", "--product-name", "Generated id").json()
    assert re.fullmatch(r"[0-9a-f]{32}", product["name"])
    assert product["state"] == "notPublished"
    assert product["name"] in [p["name"] for p in apim("product", "list").json()]
    shown = apim("product", "show", "--product-id", product["name"]).json()
    assert shown["displayName"] == "Generated id"
    apim("product", "delete", "--product-id", product["name"])
    failed(apim("product", "show", "--product-id", product["name"]))


# --- named values and policies -------------------------------------------------------------


def test_a_secret_named_value_is_shown_only_by_show_secret(apim: Tollhouse) -> None:
    name = unique("nv")
    created = apim(
        "nv", "create", "--named-value-id", name, "--display-name", "backend-key",
        "--value", "s3cr3t-value", "--secret", "true", "--tags", "cli", "test",
    ).json()  # fmt: skip
    assert (created["secret"], created["tags"]) == (True, ["cli", "test"])
    assert "s3cr3t-value" not in json.dumps(created)
    assert "s3cr3t-value" not in apim("nv", "show", "--named-value-id", name).out
    assert "s3cr3t-value" not in apim("nv", "list").out
    shown = apim("nv", "show-secret", "--named-value-id", name).json()
    assert shown == {"value": "s3cr3t-value"}
    apim("nv", "delete", "--named-value-id", name)
    failed(apim("nv", "show", "--named-value-id", name))


def test_a_policy_set_from_an_xml_file_is_shown_and_deleted_at_operation_scope(
    apim: Tollhouse, tmp_path: Path
) -> None:
    api = make_api(apim)
    apim(
        "api", "operation", "create", "--api-id", api, "--operation-id", "ping", "--method",
        "GET", "--url-template", "/ping", "--display-name", "Ping",
    ).json()  # fmt: skip
    document = tmp_path / "policy.xml"
    document.write_text(POLICY)
    scope = ("--api-id", api, "--operation-id", "ping")
    written = apim("policy", "set", "--xml-file", str(document), *scope).json()
    assert written["value"] == POLICY
    assert written["id"].endswith(f"/apis/{api}/operations/ping/policies/policy")
    shown = apim("policy", "show", *scope).json()
    assert (shown["value"], shown["format"]) == (POLICY, "xml")
    apim("policy", "delete", *scope)
    assert "was not found" in failed(apim("policy", "show", *scope))


def test_a_policy_that_is_not_well_formed_fails_with_the_servers_message(
    apim: Tollhouse, tmp_path: Path
) -> None:
    api = make_api(apim)
    document = tmp_path / "broken.xml"
    document.write_text("<policies><inbound></policies>")
    err = failed(apim("policy", "set", "--api-id", api, "--xml-file", str(document)))
    assert err.startswith("ERROR: Property 'properties.value' ")
    assert apim("policy", "show", "--api-id", api).status == 1


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (("--operation-id", "op"), "--operation-id needs --api-id"),
        (("--api-id", "a", "--product-id", "p"), "not both"),
    ],
)
def test_a_policy_scope_is_one_of_global_product_api_or_operation(
    apim: Tollhouse, scope: tuple[str, ...], message: str
) -> None:
    assert message in failed(apim("policy", "show", *scope))


def test_an_unreadable_xml_file_is_named(apim: Tollhouse, tmp_path: Path) -> None:
    missing = tmp_path / "absent.xml"
    err = failed(apim("policy", "set", "--xml-file", str(missing)))
    assert err == f"ERROR: --xml-file: cannot read '{missing}': No such file or directory.\n"


# --- output and the service's address ------------------------------------------------------


def test_table_output_has_headers_and_the_useful_columns(apim: Tollhouse) -> None:
    api = make_api(apim)
    table = apim("api", "list", "-o", "table")
    lines = table.out.splitlines()
    assert lines[0].split() == [
        "Name", "DisplayName", "Path", "ServiceUrl", "Protocols", "SubscriptionRequired",
    ]  # fmt: skip
    assert set(lines[1]) <= {"-", " "}
    (row,) = [line for line in lines[2:] if line.startswith(api)]
    assert row.split() == [api, "Echo", api, "https://echo.example/v1", "https", "True"]

    gateway = make_gateway(apim)
    shown = apim("gateway", "show", "--gateway-id", gateway, "-o", "table").out.splitlines()
    assert shown[0].split() == ["Name", "Location", "NodeCount", "TokenExpiryWarning"]
    assert shown[2].split() == [gateway, "lab", "0"]


def test_the_service_id_is_built_from_subscription_group_and_name(
    tollhouse: Tollhouse, control_plane: RunningControlPlane
) -> None:
    target = ["--control-plane", control_plane.url, "--subscription", SUBSCRIPTION]
    target += ["-g", RESOURCE_GROUP, "-n", "contoso"]
    api = make_api(lambda *args: tollhouse("apim", *args, *target))
    shown = tollhouse(
        "apim", "api", "show", "--api-id", api, "--control-plane", control_plane.url,
        "--service-id", control_plane.service_id, "-n", "elsewhere",
    )  # fmt: skip
    assert "does not exist here" in failed(shown)


def test_the_control_plane_and_service_come_from_the_environment(
    tollhouse: Tollhouse, control_plane: RunningControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOLLHOUSE_CONTROL_PLANE", control_plane.url)
    monkeypatch.setenv("TOLLHOUSE_SERVICE_ID", control_plane.service_id)
    assert isinstance(tollhouse("apim", "gateway", "list").json(), list)
    monkeypatch.setenv("TOLLHOUSE_SERVICE_ID", "/subscriptions/x")
    assert "TOLLHOUSE_SERVICE_ID" in failed(tollhouse("apim", "gateway", "list"))


def test_the_default_service_is_the_control_planes_default() -> None:
    from tollhouse.cli._management import DEFAULT_CONTROL_PLANE, DEFAULT_SERVICE_ID
    from tollhouse.controlplane import ControlPlaneConfig
    from tollhouse.identity import ClientCredentials

    config = ControlPlaneConfig(identity=ClientCredentials("t", "c", client_secret="s"))
    assert str(DEFAULT_SERVICE_ID) == config.service_id
    assert f"https://{config.host}:{config.port}" == DEFAULT_CONTROL_PLANE


def test_an_unreachable_control_plane_is_named(tollhouse: Tollhouse) -> None:
    from tollhouse.serving._server import free_port

    url = f"https://127.0.0.1:{free_port()}"
    err = failed(tollhouse("apim", "api", "list", "--control-plane", url))
    assert err.startswith(f"ERROR: Cannot reach the control plane at {url}: ")


@pytest.mark.parametrize(
    "option",
    [
        ("--control-plane", "http://127.0.0.1:9443"),
        ("--service-id", "/subscriptions/s/resourceGroups/g"),
    ],
)
def test_a_malformed_address_is_a_usage_error(
    tollhouse: Tollhouse, option: tuple[str, str]
) -> None:
    refused = tollhouse("apim", "api", "list", *option)
    assert refused.status == 2
    assert option[0] in refused.err
