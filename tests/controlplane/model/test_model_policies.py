"""Policy documents: stored as written, refused unless a well-formed `<policies>` document."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest

from tollhouse.controlplane.model import (
    MAX_POLICY_BYTES,
    MAX_POLICY_DEPTH,
    ModelError,
    Resource,
    normalize_resource,
    parse_resource_path,
    policy_xml,
)

SCOPES = [
    "policies/policy",
    "products/starter/policies/policy",
    "apis/echo/policies/policy",
    "apis/echo/operations/get/policies/policy",
]

DOCUMENT = """<!-- Rate limit, then forward -->
<policies>
    <inbound>
        <base />
        <rate-limit-by-key calls="10" renewal-period="60"
            counter-key="@(context.Request.IpAddress)" />
        <set-header name="X-Api-Key" exists-action="override">
            <value>{{backend-api-key}}</value>
        </set-header>
        <choose>
      <when condition="@(context.Variables.GetValueOrDefault&lt;int&gt;(&quot;n&quot;) &gt; 3)">
                <return-response><set-status code="429" /></return-response>
            </when>
        </choose>
    </inbound>
    <backend><forward-request /></backend>
    <outbound><base /></outbound>
    <on-error><base /></on-error>
</policies>
"""

RAW = """<policies>
    <inbound>
<set-variable name="t" value="@(context.Request.Headers.GetValueOrDefault("A","").Split(' ')[1])"/>
        <choose>
      <when condition="@(context.Variables.GetValueOrDefault<string>("token") == null && 1 < 2)">
                <return-response><set-status code="401" /></return-response>
            </when>
        </choose>
        <set-body>@{
            // don't touch "quotes" or (parentheses) in comments
            var body = context.Request.Body.As<JObject>(preserveContent: true);
            body["seen"] = @"verbatim ""quoted"" }";
            return body.ToString();
        }</set-body>
    </inbound>
    <backend><base /></backend>
</policies>"""


def put(path: str, properties: dict[str, Any]) -> Resource:
    return normalize_resource(parse_resource_path(path), properties)


def refused(properties: dict[str, Any], path: str = "policies/policy") -> ModelError:
    with pytest.raises(ModelError) as raised:
        put(path, properties)
    return raised.value


@pytest.mark.parametrize("scope", SCOPES)
def test_a_well_formed_policy_is_stored_verbatim_at_every_scope(scope: str) -> None:
    policy = put(scope, {"value": DOCUMENT})
    assert policy.properties == {"value": DOCUMENT, "format": "xml"}
    assert policy_xml(policy.properties) == DOCUMENT


def test_the_smallest_policy_documents_are_accepted() -> None:
    assert put("policies/policy", {"value": "<policies/>"}).properties["value"] == "<policies/>"
    xml_declared = '<?xml version="1.0" encoding="utf-8"?><policies><inbound/></policies>'
    assert put("policies/policy", {"value": xml_declared, "format": "XML"}).properties == {
        "value": xml_declared,
        "format": "xml",
    }


def test_rawxml_takes_policy_expressions_unescaped() -> None:
    policy = put("apis/echo/policies/policy", {"value": RAW, "format": "rawxml"})
    assert policy.properties == {"value": RAW, "format": "rawxml"}
    escaped = policy_xml(policy.properties)
    root = ElementTree.fromstring(escaped)
    variable = root.find("inbound/set-variable")
    assert variable is not None
    assert variable.get("value") == (
        '@(context.Request.Headers.GetValueOrDefault("A","").Split(\' \')[1])'
    )
    when = root.find("inbound/choose/when")
    assert when is not None
    assert when.get("condition") == (
        '@(context.Variables.GetValueOrDefault<string>("token") == null && 1 < 2)'
    )
    body = root.find("inbound/set-body")
    assert body is not None and body.text is not None
    assert 'body["seen"] = @"verbatim ""quoted"" }";' in body.text


def test_unescaped_expressions_are_refused_in_the_xml_format() -> None:
    error = refused({"value": RAW})
    assert error.target == "properties.value"
    assert "not well-formed" in error.message
    assert "rawxml" in error.message


def test_rawxml_leaves_comments_and_cdata_alone() -> None:
    value = (
        "<policies><!-- @(a<b) --><inbound><set-body><![CDATA[@(x<y)]]></set-body>"
        "</inbound></policies>"
    )
    policy = put("policies/policy", {"value": value, "format": "rawxml"})
    assert policy_xml(policy.properties) == value


def test_an_unclosed_rawxml_expression_is_reported_not_looped_on() -> None:
    # Each unclosed `@(` would rescan the rest of the document if scanning did not stop there.
    opened = "@(" * 100_000
    value = f"<policies><inbound><set-body>{opened} a < b</set-body></inbound></policies>"
    assert "not well-formed" in refused({"value": value, "format": "rawxml"}).message


@pytest.mark.parametrize(
    "value",
    [
        "",
        "policies",
        "<policies>",
        "<policies><inbound></policies>",
        "<policies><inbound/></policies><policies/>",
        "<policies a='1' a='2'/>",
        "<policies>&amp</policies>",
    ],
)
def test_documents_that_are_not_well_formed_are_refused(value: str) -> None:
    error = refused({"value": value})
    assert (error.code, error.status, error.target) == ("ValidationError", 400, "properties.value")


def test_a_document_type_declaration_is_refused() -> None:
    error = refused({"value": "<!DOCTYPE policies><policies/>"})
    assert "DOCTYPE" in error.message


def test_entity_expansion_is_refused() -> None:
    laughs = """<?xml version="1.0"?>
<!DOCTYPE policies [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<policies><inbound>&lol3;</inbound></policies>"""
    error = refused({"value": laughs})
    assert error.target == "properties.value"


def test_external_entities_are_refused() -> None:
    external = (
        '<!DOCTYPE policies [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<policies><inbound>&xxe;</inbound></policies>"
    )
    assert refused({"value": external}).target == "properties.value"


def test_an_undeclared_entity_is_refused() -> None:
    assert refused({"value": "<policies><inbound>&xxe;</inbound></policies>"})


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("<policy><inbound/></policy>", "root element"),
        ("<Policies/>", "root element"),
        ("<policies><inbound/><outbound/><inbound/></policies>", "twice"),
        ("<policies><on-error/><finally/></policies>", "<finally>"),
        ("<policies><Inbound/></policies>", "<Inbound>"),
        ("<policies>text<inbound/></policies>", "text directly inside"),
    ],
)
def test_a_document_that_is_not_a_policies_document_is_refused(value: str, says: str) -> None:
    assert says in refused({"value": value}).message


def test_nesting_is_limited() -> None:
    def nested(depth: int) -> str:
        inner = "<a>" * (depth - 2) + "</a>" * (depth - 2)
        return f"<policies><inbound>{inner}</inbound></policies>"

    assert put("policies/policy", {"value": nested(MAX_POLICY_DEPTH)})
    error = refused({"value": nested(MAX_POLICY_DEPTH + 1)})
    assert f"deeper than {MAX_POLICY_DEPTH}" in error.message


def test_size_is_limited_in_bytes() -> None:
    shell = "<policies><inbound><!----></inbound></policies>"
    filler = "x" * (MAX_POLICY_BYTES - len(shell))
    fits = shell.replace("<!---->", f"<!--{filler[:-7]}-->")
    assert len(fits.encode()) <= MAX_POLICY_BYTES
    assert put("policies/policy", {"value": fits})
    too_big = shell.replace("<!---->", f"<!--{'é' * (MAX_POLICY_BYTES // 2)}-->")
    assert len(too_big) < MAX_POLICY_BYTES < len(too_big.encode())
    assert "KiB" in refused({"value": too_big}).message


@pytest.mark.parametrize("link", ["xml-link", "rawxml-link"])
def test_linked_policies_are_not_fetched(link: str) -> None:
    error = refused({"value": "https://example.com/policy.xml", "format": link})
    assert (error.code, error.target) == ("UnsupportedFeature", "properties.format")


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({}, "properties.value"),
        ({"value": 3}, "properties.value"),
        ({"value": "<policies/>", "format": "json"}, "properties.format"),
    ],
)
def test_invalid_policy_properties_are_refused(properties: dict[str, Any], target: str) -> None:
    assert refused(properties).target == target


def test_the_size_limit_applies_to_rawxml_as_written() -> None:
    # Escaping `"` as `&quot;` grows this document six-fold; it is stored as written.
    body = '@("' + '"' * (MAX_POLICY_BYTES // 2) + '")'
    value = f"<policies><inbound><set-body>{body}</set-body></inbound></policies>"
    assert len(value.encode()) <= MAX_POLICY_BYTES
    assert put("policies/policy", {"value": value, "format": "rawxml"})


def test_a_declared_encoding_does_not_change_how_the_text_is_read() -> None:
    value = '<?xml version="1.0" encoding="utf-16"?><policies><inbound/></policies>'
    assert put("policies/policy", {"value": value}).properties["value"] == value
