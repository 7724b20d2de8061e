"""Policy fragments: stored as written, refused unless a well-formed `<fragment>` of policies."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest

from tollhouse.controlplane.model import (
    MAX_FRAGMENT_BYTES,
    ModelError,
    Resource,
    kind_of,
    normalize_resource,
    parse_resource_path,
    policy_xml,
    to_arm,
)
from tollhouse.controlplane.model._policy_fragments import MAX_FRAGMENT_DESCRIPTION_LENGTH

SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"

FRAGMENT = """<!-- shared headers -->
<fragment>
    <set-header name="X-Api-Key" exists-action="override">
        <value>{{backend-api-key}}</value>
    </set-header>
    <choose>
        <when condition="@(context.Request.Headers.ContainsKey(&quot;x&quot;))">
            <return-response><set-status code="400" /></return-response>
        </when>
    </choose>
    <include-fragment fragment-id="other" />
</fragment>
"""

RAW = """<fragment>
    <set-variable name="n" value="@(context.Variables.GetValueOrDefault<int>("n") + 1)" />
</fragment>"""


def put(properties: dict[str, Any], name: str = "headers") -> Resource:
    return normalize_resource(parse_resource_path(f"policyFragments/{name}"), properties)


def refused(properties: dict[str, Any]) -> ModelError:
    with pytest.raises(ModelError) as raised:
        put(properties)
    return raised.value


def test_a_well_formed_fragment_is_stored_verbatim_with_its_description() -> None:
    fragment = put({"value": FRAGMENT, "description": "Adds the backend key"})
    assert fragment.properties == {
        "value": FRAGMENT,
        "format": "xml",
        "description": "Adds the backend key",
    }
    assert policy_xml(fragment.properties) == FRAGMENT
    again = normalize_resource(fragment.path, dict(fragment.properties), fragment)
    assert again == fragment


def test_the_description_is_optional_and_bounded() -> None:
    assert "description" not in put({"value": FRAGMENT}).properties
    error = refused({"value": FRAGMENT, "description": "d" * (MAX_FRAGMENT_DESCRIPTION_LENGTH + 1)})
    assert error.target == "properties.description"
    assert refused({"value": FRAGMENT, "description": 7}).target == "properties.description"


def test_rawxml_takes_expressions_unescaped_and_is_served_escaped() -> None:
    fragment = put({"value": RAW, "format": "RawXml"})
    assert fragment.properties["format"] == "rawxml"
    variable = ElementTree.fromstring(policy_xml(fragment.properties)).find("set-variable")
    assert variable is not None
    assert variable.get("value") == '@(context.Variables.GetValueOrDefault<int>("n") + 1)'
    assert "not well-formed" in refused({"value": RAW}).message


def test_the_kind_is_arm_shaped_with_rbac_actions() -> None:
    kind = kind_of("policyfragments")
    assert kind.arm_type == "Microsoft.ApiManagement/service/policyFragments"
    assert kind.rbac_action("PUT") == "Microsoft.ApiManagement/service/policyFragments/write"
    assert kind.max_name_length == 80
    rendered = to_arm(put({"value": FRAGMENT}), SERVICE)
    assert rendered["id"] == f"{SERVICE}/policyFragments/headers"
    assert rendered["type"] == "Microsoft.ApiManagement/service/policyFragments"


def test_a_name_longer_than_eighty_characters_is_refused() -> None:
    with pytest.raises(ModelError) as raised:
        parse_resource_path("policyFragments/" + "f" * 81)
    assert raised.value.code == "InvalidResourceName"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("<fragment><base /></fragment>", "may not contain <base />"),
        (
            '<fragment><choose><when condition="true"><base /></when></choose></fragment>',
            "may not contain <base />",
        ),
        (
            "<fragment><inbound><cors /></inbound></fragment>",
            "may not contain the section <inbound>",
        ),
        ("<fragment><on-error /></fragment>", "may not contain the section <on-error>"),
        ("<policies><inbound /></policies>", "must have <fragment> as its root element"),
        ("<fragment>text</fragment>", "has text directly inside <fragment>"),
        ("<fragment></fragment>", "must hold at least one policy"),
        ("<fragment><cors></fragment>", "is not well-formed XML"),
        (
            '<!DOCTYPE fragment [<!ENTITY x "y">]><fragment><cors /></fragment>',
            "document type declaration",
        ),
    ],
)
def test_anything_but_a_fragment_of_policies_is_refused(document: str, problem: str) -> None:
    error = refused({"value": document})
    assert (error.code, error.status, error.target) == (
        "ValidationError",
        400,
        "properties.value",
    )
    assert problem in error.message


def test_size_format_and_presence_are_checked() -> None:
    # Two bytes a character: within the character bound, beyond the byte limit.
    padding = "<!--" + "é" * (MAX_FRAGMENT_BYTES // 2) + "-->"
    assert "32 KiB" in refused({"value": f"<fragment><cors />{padding}</fragment>"}).message
    long = "<!--" + "x" * MAX_FRAGMENT_BYTES + "-->"
    assert refused({"value": f"<fragment><cors />{long}</fragment>"}).target == "properties.value"
    assert refused({}).target == "properties.value"
    assert refused({"value": FRAGMENT, "format": "json"}).target == "properties.format"
    linked = refused({"value": "https://example/f.xml", "format": "xml-link"})
    assert linked.code == "UnsupportedFeature"
