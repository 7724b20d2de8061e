"""json-to-xml, xml-to-json, find-and-replace."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest

from tollhouse.gateway.http import Body
from tollhouse.gateway.policies import CompiledPolicies, PolicyContext, PolicyResponse
from tollhouse.gateway.policies._conversion import MAX_CONVERTED_BODY_BYTES, MAX_JSON_DEPTH

from .support import context, doc, error, policies, with_expressions


def request(
    payload: bytes | Body, content_type: str = "application/json", accept: str | None = None
) -> PolicyContext:
    headers = [("Content-Type", content_type), ("Content-Length", "99")]
    if accept is not None:
        headers.append(("Accept", accept))
    ctx = context(method="POST", headers=headers)
    ctx.request.body = payload if isinstance(payload, Body) else Body(data=payload)
    return ctx


class ScriptedBackend:
    def __init__(self, payload: bytes, content_type: str, encoding: str | None = None) -> None:
        self.payload = payload
        self.headers = [("Content-Type", content_type)]
        if encoding:
            self.headers.append(("Content-Encoding", encoding))

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse:
        async def stream() -> AsyncIterator[bytes]:
            # Streamed one byte at a time, as a backend's body arrives.
            for i in range(len(self.payload)):
                yield self.payload[i : i + 1]

        return PolicyResponse(200, headers=list(self.headers), body=Body(stream()))


async def inbound(xml: str, ctx: PolicyContext) -> tuple[PolicyResponse, PolicyContext]:
    compiled = policies(operation_policy=doc(xml))
    response = await compiled.execute(ctx, ScriptedBackend(b"", "text/plain"))
    return response, ctx


async def outbound(
    xml: str | CompiledPolicies,
    payload: bytes,
    content_type: str = "application/json",
    *,
    ctx: PolicyContext | None = None,
    encoding: str | None = None,
) -> PolicyResponse:
    compiled = policies(operation_policy=doc(outbound=xml)) if isinstance(xml, str) else xml
    return await compiled.execute(
        ctx or context(), ScriptedBackend(payload, content_type, encoding)
    )


def header(response_or_ctx: PolicyResponse | PolicyContext, name: str) -> list[str]:
    headers = (
        response_or_ctx.headers
        if isinstance(response_or_ctx, PolicyResponse)
        else response_or_ctx.request.headers
    )
    return [v for k, v in headers if k.lower() == name]


def failure(response: PolicyResponse) -> tuple[int, str]:
    assert response.body.buffered is not None
    return response.status, json.loads(response.body.buffered)["message"]


JSON_TO_XML = '<json-to-xml apply="always" consider-accept-header="false" parse-date="false" />'


# --- json-to-xml -----------------------------------------------------------------------------


async def test_json_to_xml_reproduces_apims_documented_soap_example() -> None:
    # The example of APIM's json-to-xml reference, namespace and attribute options.
    policy = (
        '<json-to-xml apply="always" consider-accept-header="false" parse-date="false" '
        'namespace-separator=":" namespace-prefix="xmlns" attribute-block-name="#attrs" />'
    )
    payload = {
        "soapenv:Envelope": {
            "xmlns:soapenv": "http://schemas.xmlsoap.org/soap/envelope/",
            "xmlns:v1": "http://localdomain.com/core/v1",
            "soapenv:Header": {},
            "soapenv:Body": {
                "v1:QueryList": {
                    "#attrs": {"queryName": "test"},
                    "v1:QueryItem": {"name": "dummy text"},
                }
            },
        }
    }
    response = await outbound(policy, json.dumps(payload).encode())
    # The documented output, with the v1:QueryItem element that the page's sample drops
    # although its input has it.
    assert await response.body.read() == (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:v1="http://localdomain.com/core/v1">'
        b"<soapenv:Header />"
        b"<soapenv:Body>"
        b'<v1:QueryList queryName="test"><v1:QueryItem><name>dummy text</name></v1:QueryItem>'
        b"</v1:QueryList>"
        b"</soapenv:Body>"
        b"</soapenv:Envelope>"
    )
    assert header(response, "content-type") == ["application/xml"]


async def test_json_to_xml_wraps_an_object_in_document_as_apim_does() -> None:
    payload = (
        b'{"firstName": "John", "isAlive": true, "age": 25, "price": 1.50,'
        b' "address": {"city": "New York"},'
        b' "phoneNumbers": [{"type": "home"}, {"type": "mobile"}],'
        b' "children": [], "spouse": null}'
    )
    response = await outbound(JSON_TO_XML, payload)
    assert await response.body.read() == (
        b"<Document><firstName>John</firstName><isAlive>True</isAlive><age>25</age>"
        b"<price>1.50</price><address><city>New York</city></address>"
        b"<phoneNumbers><type>home</type></phoneNumbers>"
        b"<phoneNumbers><type>mobile</type></phoneNumbers>"
        b"<children />"
        b'<spouse xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" />'
        b"</Document>"
    )


async def test_json_to_xml_nested_arrays_empty_objects_attributes_and_unicode() -> None:
    payload = json.dumps(
        {"grid": [[1, 2], [3]], "empty": {}, "@id": "7", "name": "Zoë <&> 🦊", "a b": "x"},
        ensure_ascii=True,
    ).encode()
    response = await outbound(JSON_TO_XML, payload)
    text = (await response.body.read()).decode()
    assert text == (
        '<Document id="7"><grid><grid>1</grid><grid>2</grid></grid><grid><grid>3</grid></grid>'
        "<empty /><name>Zoë &lt;&amp;&gt; 🦊</name><a_x0020_b>x</a_x0020_b></Document>"
    )
    ET.fromstring(text)  # well-formed


async def test_json_to_xml_parses_dates_unless_told_not_to() -> None:
    payload = b'{"at": "2012-03-21T05:40Z", "off": "2012-03-21T05:40:01.1200+02:00"}'
    parsed = await outbound(JSON_TO_XML.replace('parse-date="false"', ""), payload)
    assert await parsed.body.read() == (
        b"<Document><at>2012-03-21T05:40:00Z</at><off>2012-03-21T03:40:01.12+00:00</off></Document>"
    )
    copied = await outbound(JSON_TO_XML, payload)
    assert b"<at>2012-03-21T05:40Z</at>" in await copied.body.read()


async def test_json_to_xml_converts_the_request_body_in_inbound() -> None:
    ctx = request(b'{"a": 1}')
    _, ctx = await inbound(JSON_TO_XML, ctx)
    assert ctx.request.body.buffered == b"<Document><a>1</a></Document>"
    assert header(ctx, "content-type") == ["application/xml"]
    assert header(ctx, "content-length") == []  # rewritten from the new body when sent


async def test_json_to_xml_content_type_json_leaves_other_bodies_alone() -> None:
    policy = '<json-to-xml apply="content-type-json" consider-accept-header="false" />'
    untouched = await outbound(policy, b"not json", "text/plain")
    assert await untouched.body.read() == b"not json"
    converted = await outbound(policy, b'{"a": "b"}', "application/problem+json")
    assert await converted.body.read() == b"<Document><a>b</a></Document>"


async def test_json_to_xml_considers_the_accept_header_by_default() -> None:
    policy = '<json-to-xml apply="always" />'
    wanted = context(headers=[("Accept", "text/html, application/xml;q=0.9")])
    assert b"<Document>" in await (await outbound(policy, b'{"a":1}', ctx=wanted)).body.read()
    refused = context(headers=[("Accept", "application/xml;q=0")])
    assert await (await outbound(policy, b'{"a":1}', ctx=refused)).body.read() == b'{"a":1}'
    assert await (await outbound(policy, b'{"a":1}')).body.read() == b'{"a":1}'


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"a": ', "Expecting value"),
        (b"[1, 2]", "only a JSON object"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": "\\u0001"}', "U+0001"),
        (b'{"": 1}', "property name is empty"),
        (b"\xff\xfe{}", "not valid utf-8"),
        (b'{"a": ' * (MAX_JSON_DEPTH + 2) + b"1" + b"}" * (MAX_JSON_DEPTH + 2), "deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "deeper"),
    ],
)
async def test_json_to_xml_refuses_what_is_not_convertible_json(
    payload: bytes, reason: str
) -> None:
    response = await outbound(JSON_TO_XML, payload)
    status, message = failure(response)
    assert status == 502  # the backend's answer cannot be passed on
    assert reason in message


async def test_a_malformed_request_body_is_the_clients_400_through_on_error() -> None:
    compiled = policies(
        operation_policy=doc(
            JSON_TO_XML,
            on_error='<set-header name="x-error" exists-action="override">'
            "<value>seen</value></set-header>",
        )
    )
    ctx = request(b"{oops")
    response = await compiled.execute(ctx, ScriptedBackend(b"", "text/plain"))
    assert failure(response)[0] == 400
    assert header(response, "x-error") == ["seen"]
    assert ctx.last_error is not None
    assert (ctx.last_error.source, ctx.last_error.reason) == ("json-to-xml", "InvalidBody")


async def test_a_request_body_over_the_limit_is_413_and_a_response_one_502() -> None:
    async def big() -> AsyncIterator[bytes]:
        chunk = b" " * 65536
        for _ in range(MAX_CONVERTED_BODY_BYTES // len(chunk) + 1):
            yield chunk

    response, _ = await inbound(JSON_TO_XML, request(Body(big())))
    assert failure(response)[0] == 413
    payload = b" " * (MAX_CONVERTED_BODY_BYTES + 1)
    assert failure(await outbound(JSON_TO_XML, payload))[0] == 502


async def test_a_content_encoded_body_is_refused_not_mangled() -> None:
    response = await outbound(JSON_TO_XML, b"\x1f\x8b...", encoding="gzip")
    status, message = failure(response)
    assert status == 502
    assert "content-encoded (gzip)" in message


def test_json_to_xml_compile_errors() -> None:
    assert "'apply' is required" in str(error(operation_policy=doc("<json-to-xml />")))
    assert "apply must be one of" in str(
        error(operation_policy=doc('<json-to-xml apply="sometimes" />'))
    )
    assert "unknown attribute 'indent'" in str(
        error(operation_policy=doc('<json-to-xml apply="always" indent="true" />'))
    )
    assert "parse-date must be" in str(
        error(operation_policy=doc('<json-to-xml apply="always" parse-date="@(true)" />'))
    )
    assert "not allowed in section backend" in str(
        error(operation_policy=doc(backend='<json-to-xml apply="always" />'))
    )


async def test_json_to_xml_attributes_may_be_expressions() -> None:
    compiled = with_expressions(
        "false",
        operation_policy=doc(
            outbound='<json-to-xml apply="always" consider-accept-header="@(false)" />'
        ),
    )
    response = await outbound(compiled, b'{"a": 1}')
    assert await response.body.read() == b"<Document><a>1</a></Document>"


# --- xml-to-json -----------------------------------------------------------------------------

XML_TO_JSON = '<xml-to-json kind="direct" apply="always" consider-accept-header="false" />'
SOAP = b"""<?xml version="1.0"?>
<soap:Envelope xmlns="http://fyicenter.com/"
    xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
    <soap:Body>
        <GetOrders>
            <Customer>1234567</Customer>
        </GetOrders>
    </soap:Body>
</soap:Envelope>"""


async def test_xml_to_json_direct_keeps_the_documents_structure() -> None:
    response = await outbound(XML_TO_JSON, SOAP, "text/xml")
    assert json.loads(await response.body.read()) == {
        "version": "1.0",
        "soap$Envelope": {
            "@xmlns": "http://fyicenter.com/",
            "@xmlns$soap": "http://schemas.xmlsoap.org/soap/envelope/",
            "soap$Body": {"GetOrders": {"Customer": "1234567"}},
        },
    }
    assert header(response, "content-type") == ["application/json"]


async def test_xml_to_json_javascript_friendly_drops_namespaces() -> None:
    policy = XML_TO_JSON.replace("direct", "javascript-friendly")
    response = await outbound(policy, SOAP, "text/xml")
    assert json.loads(await response.body.read()) == {
        "Envelope": {"Body": {"GetOrders": {"Customer": "1234567"}}}
    }


async def test_xml_to_json_arrays_attributes_text_and_empty_elements() -> None:
    payload = (
        '<list kind="k"><item id="1">one</item><item>two</item><note/><only>ü 🦊</only>mixed</list>'
    ).encode()
    response = await outbound(XML_TO_JSON, payload, "application/xml")
    assert json.loads(await response.body.read()) == {
        "list": {
            "@kind": "k",
            "#text": "mixed",
            "item": [{"@id": "1", "#text": "one"}, "two"],
            "note": None,
            "only": "ü 🦊",
        }
    }
    always = XML_TO_JSON.replace("/>", 'always-array-child-elements="true" />')
    response = await outbound(always, b"<a><b>1</b><c><d>2</d></c></a>", "application/xml")
    assert json.loads(await response.body.read()) == {"a": {"b": ["1"], "c": [{"d": ["2"]}]}}


async def test_xml_to_json_honours_the_declared_encoding() -> None:
    payload = '<?xml version="1.0" encoding="ISO-8859-1"?><a>café</a>'.encode("latin-1")
    response = await outbound(XML_TO_JSON, payload, "application/xml")
    assert json.loads(await response.body.read())["a"] == "café"
    utf16 = "<a>ü</a>".encode("utf-16")
    response = await outbound(XML_TO_JSON, utf16, "application/xml")
    assert json.loads(await response.body.read()) == {"a": "ü"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'<!DOCTYPE a [<!ENTITY e "boom">]><a>&e;</a>', "DOCTYPE declaration is not allowed"),
        (
            b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
            "DOCTYPE declaration is not allowed",
        ),
        (b"<a>&ext;</a>", "undefined entity"),
        (b"<a><b></a>", "mismatched tag"),
        (b"<a>" * 40 + b"</a>" * 40, "nesting deeper than"),
        (b"<a>\xff</a>", "not valid utf-8"),
        (b"not xml", "syntax error"),
    ],
)
async def test_xml_to_json_refuses_dtds_entities_and_malformed_xml(
    payload: bytes, reason: str
) -> None:
    status, message = failure(await outbound(XML_TO_JSON, payload, "application/xml"))
    assert status == 502
    assert reason in message


async def test_xml_to_json_apply_and_accept_header() -> None:
    policy = '<xml-to-json kind="direct" apply="content-type-xml" />'
    json_wanted = context(headers=[("Accept", "application/json")])
    converted = await outbound(policy, b"<a>1</a>", "application/soap+xml", ctx=json_wanted)
    assert json.loads(await converted.body.read()) == {"a": "1"}
    other_type = await outbound(policy, b"<a>1</a>", "text/plain", ctx=json_wanted)
    assert await other_type.body.read() == b"<a>1</a>"
    not_asked = await outbound(policy, b"<a>1</a>", "application/xml")
    assert await not_asked.body.read() == b"<a>1</a>"


async def test_xml_to_json_converts_the_request_body_in_inbound() -> None:
    ctx = request(b"<order><id>7</id></order>", "application/xml")
    _, ctx = await inbound(XML_TO_JSON, ctx)
    assert ctx.request.body.buffered == b'{"order":{"id":"7"}}'
    assert header(ctx, "content-type") == ["application/json"]


def test_xml_to_json_compile_errors() -> None:
    assert "'kind' is required" in str(
        error(operation_policy=doc('<xml-to-json apply="always" />'))
    )
    assert "kind must be one of" in str(
        error(operation_policy=doc('<xml-to-json kind="badgerfish" apply="always" />'))
    )
    assert "always-array-child-elements must be" in str(
        error(
            operation_policy=doc(
                '<xml-to-json kind="direct" apply="always" always-array-child-elements="yes" />'
            )
        )
    )


# --- find-and-replace ------------------------------------------------------------------------


async def test_find_and_replace_replaces_every_occurrence_in_the_response() -> None:
    response = await outbound(
        '<find-and-replace from="notebook" to="laptop" />',
        b"notebook, notebook and a Notebook",
        "text/plain",
    )
    assert await response.body.read() == b"laptop, laptop and a Notebook"


async def test_find_and_replace_acts_on_the_request_in_inbound_and_backend() -> None:
    ctx = request(b"color: grey", "text/plain")
    _, ctx = await inbound('<find-and-replace from="grey" to="gray" />', ctx)
    assert ctx.request.body.buffered == b"color: gray"
    compiled = policies(
        operation_policy=doc(backend='<find-and-replace from="a" to="" /><forward-request />')
    )
    ctx = request(b"banana", "text/plain")
    await compiled.execute(ctx, ScriptedBackend(b"", "text/plain"))
    assert ctx.request.body.buffered == b"bnn"


async def test_find_and_replace_keeps_the_bodys_charset() -> None:
    response = await outbound(
        '<find-and-replace from="é" to="è" />',
        "café".encode("latin-1"),
        "text/plain; charset=iso-8859-1",
    )
    assert await response.body.read() == "cafè".encode("latin-1")
    status, message = failure(
        await outbound('<find-and-replace from="a" to="b" />', b"\xffa", "text/plain")
    )
    assert (status, message) == (502, "the response body is not valid utf-8")


async def test_find_and_replace_values_may_be_expressions() -> None:
    compiled = with_expressions(
        "X", operation_policy=doc(outbound='<find-and-replace from="@(&quot;X&quot;)" to="y" />')
    )
    response = await outbound(compiled, b"XbX", "text/plain")
    assert await response.body.read() == b"yby"


def test_find_and_replace_compile_errors() -> None:
    assert "'to' is required" in str(error(operation_policy=doc('<find-and-replace from="a" />')))
    assert "'from' cannot be empty" in str(
        error(operation_policy=doc('<find-and-replace from="" to="b" />'))
    )
