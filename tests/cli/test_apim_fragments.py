"""`tollhouse apim policy-fragment`: create, show, list and delete policy fragments, and a
policy that includes one reaching the gateway's configuration."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Tollhouse, unique
from tests.cli.test_apim import configuration, failed, make_api, make_gateway
from tests.controlplane.conftest import RunningControlPlane
from tollhouse.contracts import parse_configuration

FRAGMENT = """<fragment>
  <set-header name="X-Shared" exists-action="override">
    <value>@(context.Request.Headers.GetValueOrDefault("x", "none"))</value>
  </set-header>
</fragment>
"""


def write(tmp_path: Path, text: str, name: str = "fragment.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_fragment_is_created_shown_listed_and_deleted(apim: Tollhouse, tmp_path: Path) -> None:
    name = unique("frag")
    document = write(tmp_path, FRAGMENT)
    created = apim(
        "policy-fragment", "create", "--fragment-id", name, "--xml-file", str(document),
        "--format", "rawxml", "--description", "shared header",
    ).json()  # fmt: skip
    assert (created["name"], created["format"], created["description"]) == (
        name,
        "rawxml",
        "shared header",
    )
    assert created["value"] == FRAGMENT
    assert created["id"].endswith(f"/policyFragments/{name}")
    shown = apim("policy-fragment", "show", "--fragment-id", name).json()
    assert shown["value"] == FRAGMENT
    listed = apim("policy-fragment", "list").json()
    assert name in [f["name"] for f in listed]
    table = apim("policy-fragment", "list", "--output", "table").out
    assert "Description" in table and "shared header" in table
    assert apim("policy-fragment", "delete", "--fragment-id", name, "--yes").status == 0
    assert "was not found" in failed(apim("policy-fragment", "show", "--fragment-id", name))


def test_a_fragment_with_base_fails_with_the_servers_message(
    apim: Tollhouse, tmp_path: Path
) -> None:
    name = unique("frag")
    document = write(tmp_path, "<fragment><base /></fragment>")
    err = failed(
        apim("policy-fragment", "create", "--fragment-id", name, "--xml-file", str(document))
    )
    assert err.startswith("ERROR: Property 'properties.value' ")
    assert "<base />" in err


def test_deleting_a_missing_fragment_warns(apim: Tollhouse) -> None:
    outcome = apim("policy-fragment", "delete", "--fragment-id", unique("absent"))
    assert outcome.status == 0
    assert "was not found" in outcome.err


def test_an_included_fragment_travels_in_the_gateway_configuration(
    apim: Tollhouse, control_plane: RunningControlPlane, tmp_path: Path
) -> None:
    gateway, api, name = make_gateway(apim), make_api(apim), unique("frag")
    apim("gateway", "api", "add", "--gateway-id", gateway, "--api-id", api).json()
    apim(
        "policy-fragment", "create", "--fragment-id", name, "--format", "rawxml",
        "--xml-file", str(write(tmp_path, FRAGMENT)),
    ).json()  # fmt: skip
    policy = (
        f'<policies><inbound><base /><include-fragment fragment-id="{name}" /></inbound></policies>'
    )
    apim(
        "policy", "set", "--api-id", api, "--xml-file", str(write(tmp_path, policy, "p.xml"))
    ).json()
    token = apim("gateway", "token", "generate", "--gateway-id", gateway).json()["value"]
    response = configuration(control_plane, gateway, token)
    assert response.status_code == 200, response.text
    served = parse_configuration(response.json())
    fragment = next(f for f in served.fragments if f.name == name)
    assert "GetValueOrDefault(&quot;x&quot;, &quot;none&quot;)" in fragment.policy
