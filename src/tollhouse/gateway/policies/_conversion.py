"""Body conversion policies: json-to-xml, xml-to-json, find-and-replace (APIM "Transformation"
policy references).

The body a policy acts on is the request's in inbound and backend, the response's in outbound
and on-error (`CompileContext.targets_response`). It is read into memory up to
`policies.conversion.maxBodySize` (default `MAX_CONVERTED_BODY_BYTES`). A body that cannot be
converted fails the step (on-error runs) with a status saying whose fault it is: a request body
that is too large, content-encoded or not what it claims answers 413, 415 or 400 — the client
can fix it; a response body answers 502, as for any backend answer the gateway cannot pass on
(the client cannot fix it, and 500 would blame the gateway).

XML bodies are untrusted: they are parsed by the policy document parser (`parse_xml`: expat,
no DOCTYPE, no entities, size, depth and element count bounded by the document limits),
never by a second parser.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re
from dataclasses import dataclass

from tollhouse.gateway.http import Body

from ._capacity import DEFAULT_POLICY_LIMITS, PolicyLimits
from ._capacity import MAX_CONVERTED_BODY_BYTES as MAX_CONVERTED_BODY_BYTES
from ._document import Element, parse_xml
from ._errors import PolicyCompileError, PolicyRuntimeError
from ._execute import (
    HeaderPairs,
    PolicyContext,
    PolicyResponse,
    apim_error,
    header_values,
    remove_header,
)
from ._registry import CompileContext, Registry
from ._values import Literal, ValueSource, is_expression

# Json.NET's default MaxDepth (64), which APIM's JSON handling inherits: deeper is refused.
MAX_JSON_DEPTH = 64

JSON_TO_XML_APPLY = ("always", "content-type-json")
XML_TO_JSON_APPLY = ("always", "content-type-xml")
XML_TO_JSON_KINDS = ("javascript-friendly", "direct")
# The root element json-to-xml wraps the JSON object in (Json.NET DeserializeXmlNode's
# root-name convention, as APIM's output shows).
DOCUMENT_ROOT = "Document"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"


# --- reading and replacing the body ----------------------------------------------------------


def _fail(
    source: str, reason: str, message: str, *, on_response: bool, request_status: int
) -> PolicyRuntimeError:
    status = 502 if on_response else request_status
    return PolicyRuntimeError(source, reason, message, response=apim_error(status, message))


def _headers(ctx: PolicyContext, on_response: bool) -> HeaderPairs:
    return ctx.response.headers if on_response else ctx.request.headers


def _media_type(headers: HeaderPairs) -> tuple[str, str | None]:
    """(media type lower-case, charset or None) of the Content-Type header."""
    values = header_values(headers, "content-type")
    if not values:
        return "", None
    media, *parameters = values[0].split(";")
    charset = None
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media.strip().lower(), charset


def _codec(charset: str, source: str, *, on_response: bool) -> str:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        raise _fail(
            source,
            "UnsupportedCharset",
            f"the {_which(on_response)} body's charset is not supported",
            on_response=on_response,
            request_status=415,
        ) from None


def _which(on_response: bool) -> str:
    return "response" if on_response else "request"


async def _read(ctx: PolicyContext, source: str, on_response: bool, limit: int) -> bytes:
    headers = _headers(ctx, on_response)
    body = ctx.response.body if on_response else ctx.request.body
    codings = [
        c.strip().lower()
        for value in header_values(headers, "content-encoding")
        for c in value.split(",")
        if c.strip().lower() not in ("", "identity")
    ]
    if codings:
        raise _fail(
            source,
            "UnsupportedContentEncoding",
            f"the {_which(on_response)} body is content-encoded ({', '.join(codings)}) "
            "and cannot be transformed",
            on_response=on_response,
            request_status=415,
        )
    try:
        return await body.read(limit=limit)
    except ValueError:
        raise _fail(
            source,
            "BodyTooLarge",
            f"the {_which(on_response)} body is larger than {limit} bytes "
            "and cannot be transformed",
            on_response=on_response,
            request_status=413,
        ) from None


def _replace(ctx: PolicyContext, on_response: bool, data: bytes, content_type: str | None) -> None:
    headers = _headers(ctx, on_response)
    # The length is written from the new body when the message is sent.
    remove_header(headers, "content-length")
    if content_type is not None:
        remove_header(headers, "content-type")
        headers.append(("Content-Type", content_type))
    if on_response:
        ctx.response.body = Body(data=data)
    else:
        ctx.request.body = Body(data=data)


def _flag(value: ValueSource, ctx: PolicyContext, source: str, name: str) -> bool:
    text = value.evaluate(ctx).strip().lower()
    if text not in ("true", "false"):
        raise PolicyRuntimeError(source, "InvalidAttribute", f"{name} must be true or false")
    return text == "true"


def _choice(
    value: ValueSource, ctx: PolicyContext, source: str, name: str, allowed: tuple[str, ...]
) -> str:
    text = value.evaluate(ctx).strip()
    if text not in allowed:
        raise PolicyRuntimeError(
            source, "InvalidAttribute", f"{name} must be one of {', '.join(allowed)}"
        )
    return text


def _accepts(ctx: PolicyContext, kind: str) -> bool:
    """Whether the request's Accept header asks for `kind` ("json" or "xml")."""
    for value in header_values(ctx.request.headers, "accept"):
        for item in value.split(","):
            media, *parameters = item.split(";")
            quality = next(
                (p.split("=", 1)[1].strip() for p in parameters if p.strip().startswith("q=")),
                "1",
            )
            if quality.strip("0.") == "":
                continue  # q=0: explicitly not acceptable (RFC 9110 §12.4.2)
            if _is(media.strip().lower(), kind):
                return True
    return False


def _is(media: str, kind: str) -> bool:
    # RFC 6839 §3: the +json and +xml structured syntax suffixes.
    return media in (f"application/{kind}", f"text/{kind}") or media.endswith(f"+{kind}")


def _check_choice(
    element: Element, cctx: CompileContext, name: str, allowed: tuple[str, ...], *, required: bool
) -> ValueSource | None:
    text = element.attributes.get(name)
    if text is None:
        if required:
            raise cctx.error(element, f"<{element.name}>: attribute '{name}' is required")
        return None
    if not is_expression(text) and text not in allowed:
        raise cctx.error(element, f"<{element.name}>: {name} must be one of {', '.join(allowed)}")
    return cctx.value(element, text)


def _check_flag(element: Element, cctx: CompileContext, name: str, default: bool) -> ValueSource:
    text = element.attributes.get(name)
    if text is None:
        return Literal("true" if default else "false")
    if not is_expression(text) and text.strip().lower() not in ("true", "false"):
        raise cctx.error(element, f"<{element.name}>: {name} must be true or false")
    return cctx.value(element, text)


# --- JSON to XML -----------------------------------------------------------------------------


class _Number(str):
    """A JSON number as written: copied to XML without reformatting."""


class _Object(list[tuple[str, object]]):
    """A JSON object as its members in order (duplicates kept, as a reader of XML expects)."""


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class _XmlOptions:
    parse_date: bool
    separator: str
    prefix: str | None
    attribute_block: str | None


_NAME_START = (
    "A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NAME_REST = _NAME_START + r"\-.0-9\u00b7\u0300-\u036f\u203f-\u2040"
# XML 1.0 §2.3 names without ":" (Namespaces in XML §3 NCName).
_NCNAME = re.compile(f"[{_NAME_START}][{_NAME_REST}]*")
_NAME_START_CHAR = re.compile(f"[{_NAME_START}]")
_NAME_CHAR = re.compile(f"[{_NAME_REST}]")
# XML 1.0 §2.2 Char: what an XML document can carry at all.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The ISO 8601 date-times Json.NET's date parsing recognises (date, time, optional fraction
# and zone).
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)


def _encode_name(name: str) -> str:
    """An XML name for a JSON property name: characters a name cannot hold become `_xHHHH_`
    (.NET XmlConvert.EncodeLocalName's escape)."""
    if _NCNAME.fullmatch(name):
        return name
    out = []
    for i, char in enumerate(name):
        allowed = _NAME_START_CHAR if i == 0 else _NAME_CHAR
        out.append(char if allowed.fullmatch(char) else f"_x{ord(char):04X}_")
    return "".join(out)


def _escape(text: str, *, attribute: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\t", "&#x9;").replace("\n", "&#xA;")
        text = text.replace("\r", "&#xD;")
    else:
        text = text.replace("\r", "&#xD;")
    return text


def _date(text: str) -> str:
    """A date-time string as .NET writes the DateTime Json.NET parsed from it (round-trip
    kind: seconds always, fraction without trailing zeros; UTC keeps `Z`, an offset is taken
    to local time, which is UTC in the gateway's container)."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return text
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        value = dt.datetime(int(year), int(month), int(day), int(hour), int(minute))
        value = value.replace(second=int(second or 0))
    except ValueError:
        return text  # not a real date: copied as text
    digits = (fraction or "").ljust(7, "0").rstrip("0")
    suffix = ""
    if zone == "Z":
        suffix = "Z"
    elif zone is not None:
        sign = 1 if zone[0] == "+" else -1
        offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        value = value - sign * offset
        suffix = "+00:00"
    stamp = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{digits}{suffix}" if digits else f"{stamp}{suffix}"


class _JsonToXmlWriter:
    def __init__(self, options: _XmlOptions) -> None:
        self.options = options
        self.out: list[str] = []

    def scalar(self, value: object) -> str:
        if isinstance(value, bool):
            return "True" if value else "False"  # as APIM writes booleans
        if isinstance(value, _Number):
            return str(value)
        assert isinstance(value, str)
        return _date(value) if self.options.parse_date else value

    def name(self, name: str, prefixes: frozenset[str]) -> str:
        if not name:
            raise ValueError("a JSON property name is empty")
        separator = self.options.separator
        if self.options.prefix is not None and separator and separator in name:
            prefix, _, local = name.partition(separator)
            if prefix in prefixes and local:
                return f"{prefix}:{_encode_name(local)}"
        return _encode_name(name)

    def element(self, name: str, value: object, prefixes: frozenset[str], depth: int) -> None:
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, list) and not isinstance(value, _Object):
            if not value:
                # APIM writes an empty array as one empty element.
                self.out.append(f"<{self.name(name, prefixes)} />")
            for item in value:
                if isinstance(item, list) and not isinstance(item, _Object):
                    # An array inside an array: an element holding the inner items.
                    tag = self.name(name, prefixes)
                    self.out.append(f"<{tag}>")
                    for inner in item:
                        self.element(name, inner, prefixes, depth + 2)
                    self.out.append(f"</{tag}>")
                else:
                    self.element(name, item, prefixes, depth + 1)
            return
        if value is None:
            # APIM writes null as xsi:nil.
            tag = self.name(name, prefixes)
            self.out.append(f'<{tag} xsi:nil="true" xmlns:xsi="{XSI_NAMESPACE}" />')
            return
        if not isinstance(value, _Object):
            tag = self.name(name, prefixes)
            self.out.append(f"<{tag}>{_escape(self.scalar(value))}</{tag}>")
            return
        self.object(name, value, prefixes, depth)

    def object(self, name: str, members: _Object, prefixes: frozenset[str], depth: int) -> None:
        options = self.options
        declarations: list[tuple[str, str]] = []
        rest: list[tuple[str, object]] = []
        for key, value in members:
            prefix = options.prefix
            if prefix is not None and isinstance(value, str):
                if key == prefix:
                    declarations.append(("xmlns", value))
                    continue
                if options.separator and key.startswith(prefix + options.separator):
                    declared = key[len(prefix) + len(options.separator) :]
                    if _NCNAME.fullmatch(declared):
                        declarations.append((f"xmlns:{declared}", value))
                        continue
            rest.append((key, value))
        prefixes = prefixes | {n.partition(":")[2] for n, _ in declarations if ":" in n}
        attributes = list(declarations)
        children: list[tuple[str, object]] = []
        text: list[str] = []
        for key, value in rest:
            if options.attribute_block is not None and key == options.attribute_block:
                if not isinstance(value, _Object):
                    raise ValueError(f"'{key}' must be an object of attributes")
                for attribute, scalar in value:
                    if isinstance(scalar, list) or scalar is None:
                        raise ValueError(f"attribute '{attribute}' must be a string or number")
                    attributes.append((self.name(attribute, prefixes), self.scalar(scalar)))
            elif key.startswith("@") and len(key) > 1 and isinstance(value, (str, _Number, bool)):
                # Json.NET's convention (and xml-to-json's output): "@name" is an attribute.
                attributes.append((self.name(key[1:], prefixes), self.scalar(value)))
            elif key == "#text" and isinstance(value, (str, _Number, bool)):
                text.append(self.scalar(value))
            else:
                children.append((key, value))
        tag = self.name(name, prefixes)
        head = tag + "".join(f' {n}="{_escape(v, attribute=True)}"' for n, v in attributes)
        if not children and not text:
            self.out.append(f"<{head} />")
            return
        self.out.append(f"<{head}>")
        self.out.extend(_escape(t) for t in text)
        for key, value in children:
            self.element(key, value, prefixes, depth + 1)
        self.out.append(f"</{tag}>")


def json_to_xml(text: str, options: _XmlOptions, *, root_from_body: bool = False) -> str:
    """The XML APIM's json-to-xml writes for `text` (raises ValueError for what it cannot).

    The object becomes the content of a `<Document>` root. With `root_from_body` (the policy
    uses namespace or attribute options, as SOAP payloads do) an object with exactly one
    member whose value is an object makes that member the root, as APIM's documented example
    shows."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_Object,
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_refuse_constant,
        )
    except RecursionError:
        raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(value, _Object):
        # As Json.NET: "XmlNodeConverter can only convert JSON that begins with an object."
        raise ValueError("only a JSON object can be converted to XML")
    writer = _JsonToXmlWriter(options)
    if root_from_body and len(value) == 1 and isinstance(value[0][1], _Object):
        writer.object(value[0][0], value[0][1], frozenset(), 1)
    else:
        writer.object(DOCUMENT_ROOT, value, frozenset(), 1)
    xml = "".join(writer.out)
    bad = _NOT_XML_CHAR.search(xml)
    if bad is not None:
        raise ValueError(f"the JSON holds U+{ord(bad.group()):04X}, which XML cannot carry")
    return xml


def _decode_json(data: bytes, charset: str | None, source: str, *, on_response: bool) -> str:
    # RFC 8259 §8.1: JSON is UTF-8; a charset parameter, if any, is honoured.
    encoding = _codec(charset, source, on_response=on_response) if charset else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise _invalid(
            source,
            f"the {_which(on_response)} body is not valid {encoding.removesuffix('-sig')}",
            on_response,
        ) from None


def _invalid(source: str, message: str, on_response: bool) -> PolicyRuntimeError:
    return _fail(source, "InvalidBody", message, on_response=on_response, request_status=400)


def _optional(value: ValueSource | None, ctx: PolicyContext) -> str | None:
    return (value.evaluate(ctx) or None) if value is not None else None


@dataclass(frozen=True)
class _JsonToXml:
    apply: ValueSource
    consider_accept_header: ValueSource
    parse_date: bool
    separator: ValueSource | None
    prefix: ValueSource | None
    attribute_block: ValueSource | None
    on_response: bool
    limit: int = MAX_CONVERTED_BODY_BYTES

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        source = "json-to-xml"
        apply = _choice(self.apply, ctx, source, "apply", JSON_TO_XML_APPLY)
        headers = _headers(ctx, self.on_response)
        media, charset = _media_type(headers)
        if apply == "content-type-json" and not _is(media, "json"):
            return None
        consider = _flag(self.consider_accept_header, ctx, source, "consider-accept-header")
        if consider and not _accepts(ctx, "xml"):
            return None
        data = await _read(ctx, source, self.on_response, self.limit)
        if not data.strip():
            return None  # nothing to convert (a GET's empty body)
        text = _decode_json(data, charset, source, on_response=self.on_response)
        options = _XmlOptions(
            parse_date=self.parse_date,
            # APIM: the namespace separator defaults to underscore.
            separator=self.separator.evaluate(ctx) if self.separator is not None else "_",
            prefix=_optional(self.prefix, ctx),
            attribute_block=_optional(self.attribute_block, ctx),
        )
        uses_options = any(
            v is not None for v in (self.separator, self.prefix, self.attribute_block)
        )
        try:
            xml = json_to_xml(text, options, root_from_body=uses_options)
        except ValueError as exc:
            raise _invalid(
                source,
                f"the {_which(self.on_response)} body cannot be converted: {exc}",
                self.on_response,
            ) from None
        _replace(ctx, self.on_response, xml.encode("utf-8"), "application/xml")
        return None


def compile_json_to_xml(element: Element, cctx: CompileContext) -> _JsonToXml:
    cctx.check_attributes(
        element,
        (
            "apply",
            "consider-accept-header",
            "parse-date",
            "namespace-separator",
            "namespace-prefix",
            "attribute-block-name",
        ),
        required=("apply",),
    )
    cctx.check_children(element, ())
    apply = _check_choice(element, cctx, "apply", JSON_TO_XML_APPLY, required=True)
    assert apply is not None  # required
    # APIM: parse-date takes no expression.
    parse_date = element.attributes.get("parse-date", "true").strip().lower()
    if parse_date not in ("true", "false"):
        raise cctx.error(element, "<json-to-xml>: parse-date must be true or false")

    def optional(name: str) -> ValueSource | None:
        text = element.attributes.get(name)
        return cctx.value(element, text) if text is not None else None

    separator = element.attributes.get("namespace-separator")
    if separator is not None and not is_expression(separator) and len(separator) != 1:
        raise cctx.error(element, "<json-to-xml>: namespace-separator must be one character")
    return _JsonToXml(
        apply=apply,
        consider_accept_header=_check_flag(element, cctx, "consider-accept-header", True),
        parse_date=parse_date == "true",
        separator=optional("namespace-separator"),
        prefix=optional("namespace-prefix"),
        attribute_block=optional("attribute-block-name"),
        on_response=cctx.targets_response,
        limit=cctx.limits.max_converted_body,
    )


# --- XML to JSON -----------------------------------------------------------------------------

# The XML declaration, read before parsing for its encoding (and, for kind="direct", its
# pseudo-attributes); the parser is then given the document without it.
_DECLARATION = re.compile(r"<\?xml(\s[^?>]*)?\?>")
_PSEUDO_ATTRIBUTE = re.compile(r"""([A-Za-z]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _declaration(head: str) -> list[tuple[str, str]]:
    match = _DECLARATION.match(head)
    if match is None:
        return []
    return [
        (m[1], m[2] if m[2] is not None else m[3]) for m in _PSEUDO_ATTRIBUTE.finditer(match[0])
    ]


def _decode_xml(data: bytes, charset: str | None, source: str, *, on_response: bool) -> str:
    """RFC 7303 §3: the charset parameter wins, then a byte order mark, then the XML
    declaration's encoding, then UTF-8."""
    if charset:
        encoding = _codec(charset, source, on_response=on_response)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        declared = dict(_declaration(data[:256].decode("latin-1")))
        encoding = _codec(declared.get("encoding", "utf-8"), source, on_response=on_response)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise _invalid(
            source,
            f"the {_which(on_response)} body is not valid {encoding.removesuffix('-sig')}",
            on_response,
        ) from None


@dataclass(frozen=True)
class _JsonOptions:
    direct: bool
    always_array: bool


def _json_name(name: str, options: _JsonOptions) -> str:
    if options.direct:
        # APIM's direct kind writes a prefixed name with "$" ("soap:Body" → "soap$Body").
        return name.replace(":", "$")
    return name.rpartition(":")[2]


def _element_json(element: Element, options: _JsonOptions) -> object:
    members: dict[str, object] = {}
    for attribute, value in element.attributes.items():
        if not options.direct and (attribute == "xmlns" or attribute.startswith("xmlns:")):
            continue  # namespace declarations are XML plumbing, not data
        members["@" + _json_name(attribute, options)] = value
    groups: dict[str, list[object]] = {}
    for child in element.children:
        groups.setdefault(_json_name(child.name, options), []).append(_element_json(child, options))
    if not groups and not members:
        return element.text if element.text else None
    text = element.text if not groups else element.text.strip()
    if text:
        members["#text"] = text
    for name, values in groups.items():
        # Repeated siblings become an array; always-array-child-elements makes every child
        # element one.
        members[name] = values if options.always_array or len(values) > 1 else values[0]
    return members


def xml_to_json(
    text: str, options: _JsonOptions, limits: PolicyLimits = DEFAULT_POLICY_LIMITS
) -> dict[str, object]:
    """The JSON object for an XML document (raises ValueError with the parser's reason);
    `limits`: the document limits the parser applies."""
    result: dict[str, object] = {}
    declaration = _declaration(text.lstrip("\ufeff"))
    if declaration:
        text = _DECLARATION.sub("", text.lstrip("\ufeff"), count=1)
        if options.direct:
            # APIM's direct kind lists the declaration's pseudo-attributes first
            # ({"version": "1.0", …}).
            result.update(declaration)
    try:
        root = parse_xml(text, limits=limits)
    except PolicyCompileError as exc:
        # The parser words its refusals for policy documents; the limits and refusals are
        # the same for a body.
        reason = exc.message.replace("the policy document", "the XML").replace(
            "a policy document", "an XML body"
        )
        where = f" (line {exc.line}, column {exc.column})" if exc.line is not None else ""
        raise ValueError(reason + where) from None
    result[_json_name(root.name, options)] = _element_json(root, options)
    return result


@dataclass(frozen=True)
class _XmlToJson:
    kind: ValueSource
    apply: ValueSource
    consider_accept_header: ValueSource
    always_array: ValueSource
    on_response: bool
    limits: PolicyLimits = DEFAULT_POLICY_LIMITS

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        source = "xml-to-json"
        apply = _choice(self.apply, ctx, source, "apply", XML_TO_JSON_APPLY)
        headers = _headers(ctx, self.on_response)
        media, charset = _media_type(headers)
        if apply == "content-type-xml" and not _is(media, "xml"):
            return None
        consider = _flag(self.consider_accept_header, ctx, source, "consider-accept-header")
        if consider and not _accepts(ctx, "json"):
            return None
        options = _JsonOptions(
            direct=_choice(self.kind, ctx, source, "kind", XML_TO_JSON_KINDS) == "direct",
            always_array=_flag(self.always_array, ctx, source, "always-array-child-elements"),
        )
        data = await _read(ctx, source, self.on_response, self.limits.max_converted_body)
        if not data.strip():
            return None
        text = _decode_xml(data, charset, source, on_response=self.on_response)
        try:
            converted = xml_to_json(text, options, self.limits)
        except ValueError as exc:
            raise _invalid(
                source,
                f"the {_which(self.on_response)} body cannot be converted: {exc}",
                self.on_response,
            ) from None
        output = json.dumps(converted, ensure_ascii=False, separators=(",", ":"))
        # A lone surrogate cannot come from expat, so UTF-8 always encodes.
        _replace(ctx, self.on_response, output.encode("utf-8"), "application/json")
        return None


def compile_xml_to_json(element: Element, cctx: CompileContext) -> _XmlToJson:
    cctx.check_attributes(
        element,
        ("kind", "apply", "consider-accept-header", "always-array-child-elements"),
        required=("kind", "apply"),
    )
    cctx.check_children(element, ())
    kind = _check_choice(element, cctx, "kind", XML_TO_JSON_KINDS, required=True)
    apply = _check_choice(element, cctx, "apply", XML_TO_JSON_APPLY, required=True)
    assert kind is not None and apply is not None  # required
    return _XmlToJson(
        kind=kind,
        apply=apply,
        consider_accept_header=_check_flag(element, cctx, "consider-accept-header", True),
        always_array=_check_flag(element, cctx, "always-array-child-elements", False),
        on_response=cctx.targets_response,
        limits=cctx.limits,
    )


# --- find-and-replace ------------------------------------------------------------------------


@dataclass(frozen=True)
class _FindAndReplace:
    find: ValueSource
    to: ValueSource
    on_response: bool
    limit: int = MAX_CONVERTED_BODY_BYTES

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        source = "find-and-replace"
        find = self.find.evaluate(ctx)
        if not find:
            raise PolicyRuntimeError(source, "InvalidAttribute", "'from' evaluated to nothing")
        to = self.to.evaluate(ctx)
        data = await _read(ctx, source, self.on_response, self.limit)
        if not data:
            return None
        _, charset = _media_type(_headers(ctx, self.on_response))
        encoding = _codec(charset, source, on_response=self.on_response) if charset else "utf-8"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise _invalid(
                source,
                f"the {_which(self.on_response)} body is not valid {encoding}",
                self.on_response,
            ) from None
        replaced = text.replace(find, to)
        if replaced == text:
            return None
        try:
            output = replaced.encode(encoding)
        except UnicodeEncodeError:
            raise PolicyRuntimeError(
                source, "InvalidAttribute", f"'to' holds characters {encoding} cannot encode"
            ) from None
        _replace(ctx, self.on_response, output, None)
        return None


def compile_find_and_replace(element: Element, cctx: CompileContext) -> _FindAndReplace:
    cctx.check_attributes(element, ("from", "to"), required=("from", "to"))
    cctx.check_children(element, ())
    if element.attributes["from"] == "":
        raise cctx.error(element, "<find-and-replace>: 'from' cannot be empty")
    return _FindAndReplace(
        cctx.value(element, element.attributes["from"]),
        cctx.value(element, element.attributes["to"]),
        cctx.targets_response,
        cctx.limits.max_converted_body,
    )


def register(registry: Registry) -> None:
    # "Usage: Policy sections" of each APIM reference page.
    registry.register("json-to-xml", compile_json_to_xml, ("inbound", "outbound", "on-error"))
    registry.register("xml-to-json", compile_xml_to_json, ("inbound", "outbound", "on-error"))
    registry.register("find-and-replace", compile_find_and_replace)
