"""Policy documents: checking that one is a well-formed `<policies>` document, safely.

apim-self-hosted-gateway.md §8: a policy document is
`<policies><inbound/><backend/><outbound/><on-error/></policies>`. A policy fragment is a
`<fragment>` holding policies directly: APIM's "Reuse policy configurations" article says a
fragment "can't include a policy section identifier (`<inbound>`, `<outbound>`, etc.) or the
`<base/>` element". This module checks the document's shape, not the policies inside the
sections (the gateway's policy parser does).

The parser is expat driven directly, with handlers that refuse any document type declaration
and any entity (no DTD, no entity expansion: the billion-laughs and external-entity attacks
need one or the other) and that count depth as elements open, so a document is refused as
soon as it breaks a limit, before any tree is built.

Two formats (Azure REST `PolicyContentFormat`):

* `xml`: the value is an XML document; policy expressions inside it are XML-escaped
  (`@(context.Variables.GetValueOrDefault&lt;string&gt;(&quot;x&quot;))`).
* `rawxml`: "a non XML encoded policy document": expressions `@(…)` and `@{…}` are written
  as C#, unescaped, as APIOps extracts them. `rawxml_to_xml` escapes them, giving the `xml`
  form that is then checked, and that a gateway can parse.
"""

from __future__ import annotations

import re
from xml.parsers import expat

from tollhouse.controlplane.model._errors import invalid

# APIM's limit on one policy document (Azure subscription and service limits: "Maximum size
# of policy document 256 KiB").
MAX_POLICY_BYTES = 256 * 1024
# Real policies nest a few levels (`choose` in `when` in a section); 64 is far beyond them and
# keeps any later recursive walk of the tree shallow.
MAX_POLICY_DEPTH = 64

ROOT = "policies"
FRAGMENT_ROOT = "fragment"
SECTIONS = ("inbound", "backend", "outbound", "on-error")

_SPECIAL = re.compile(r"<!--|<!\[CDATA\[|@[({]")
_SKIPPED = {"<!--": "-->", "<![CDATA[": "]]>"}
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


class _Refused(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def check_policy_size(document: str, path: str) -> None:
    """The size limit applies to the document as written (escaping `rawxml` may grow it)."""
    if len(document.encode("utf-8")) > MAX_POLICY_BYTES:
        raise invalid(path, f"must be at most {MAX_POLICY_BYTES // 1024} KiB")


def check_policy_xml(document: str, path: str) -> None:
    """Raise `ModelError` `ValidationError` unless `document` is a well-formed `<policies>`
    document nested at most `MAX_POLICY_DEPTH` deep. `path` names the property in errors."""
    _check(document, path, _Checker())


def check_fragment_xml(document: str, path: str) -> None:
    """Raise `ModelError` `ValidationError` unless `document` is a well-formed `<fragment>`
    holding at least one policy ("one or more policy configurations"), no section element
    and no `<base />` anywhere, nested at most `MAX_POLICY_DEPTH` deep."""
    checker = _FragmentChecker()
    _check(document, path, checker)
    if not checker.policies:
        raise invalid(path, f"must hold at least one policy inside <{FRAGMENT_ROOT}>")


def _check(document: str, path: str, checker: _Checker) -> None:
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = checker.doctype
    parser.EntityDeclHandler = checker.entity
    parser.UnparsedEntityDeclHandler = checker.entity
    parser.ExternalEntityRefHandler = checker.entity
    parser.StartElementHandler = checker.start
    parser.EndElementHandler = checker.end
    parser.CharacterDataHandler = checker.text
    try:
        parser.Parse(document, True)
    except _Refused as refused:
        raise invalid(path, f"{refused.problem} (line {parser.CurrentLineNumber})") from None
    except expat.ExpatError as error:
        problem = expat.errors.messages[error.code]
        raise invalid(
            path,
            f"is not well-formed XML: {problem} at line {error.lineno}, column {error.offset}"
            " (with format 'xml' policy expressions must be XML-escaped; 'rawxml' takes "
            "them unescaped)",
        ) from None


class _Checker:
    root = ROOT

    def __init__(self) -> None:
        self.depth = 0
        self.sections: set[str] = set()

    def doctype(self, *args: object) -> None:
        raise _Refused("must not have a document type declaration (<!DOCTYPE>)")

    def entity(self, *args: object) -> int:
        raise _Refused("must not declare or use entities")

    def start(self, name: str, attributes: object) -> None:
        self.depth += 1
        if self.depth > MAX_POLICY_DEPTH:
            raise _Refused(f"nests elements deeper than {MAX_POLICY_DEPTH} levels")
        if self.depth == 1 and name != self.root:
            raise _Refused(f"must have <{self.root}> as its root element, not <{name}>")
        self.child(name)

    def child(self, name: str) -> None:
        if self.depth == 2:
            if name not in SECTIONS:
                allowed = ", ".join(f"<{s}>" for s in SECTIONS)
                raise _Refused(f"has the section <{name}>; <{ROOT}> may hold only {allowed}")
            if name in self.sections:
                raise _Refused(f"has the section <{name}> twice")
            self.sections.add(name)

    def end(self, name: str) -> None:
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.depth == 1 and data.strip():
            raise _Refused(f"has text directly inside <{self.root}>")


class _FragmentChecker(_Checker):
    root = FRAGMENT_ROOT

    def __init__(self) -> None:
        super().__init__()
        self.policies = 0

    def child(self, name: str) -> None:
        if name == "base":
            raise _Refused("is a policy fragment, which may not contain <base />")
        if self.depth == 2:
            if name in SECTIONS:
                raise _Refused(
                    f"is a policy fragment, which may not contain the section <{name}>: "
                    "its policies are written directly inside <fragment>"
                )
            self.policies += 1


def rawxml_to_xml(document: str) -> str:
    """The `xml` form of a `rawxml` document: each policy expression, `@(…)` or `@{…}`,
    XML-escaped. Comments and CDATA sections are left alone. From an expression whose
    brackets do not close, the rest is left as written (the well-formedness check then
    reports it); stopping there keeps the work linear in the document's length."""
    out: list[str] = []
    position = 0
    while True:
        match = _SPECIAL.search(document, position)
        if match is None:
            out.append(document[position:])
            return "".join(out)
        out.append(document[position : match.start()])
        token = match.group()
        if token in _SKIPPED:
            closer = _SKIPPED[token]
            end = document.find(closer, match.end())
            end = len(document) if end < 0 else end + len(closer)
            out.append(document[match.start() : end])
            position = end
            continue
        expression_end = _expression_end(document, match.start() + 1)
        if expression_end is None:
            out.append(document[match.start() :])
            return "".join(out)
        out.append("@" + _escape(document[match.start() + 1 : expression_end]))
        position = expression_end


def _expression_end(text: str, start: int) -> int | None:
    """The index after the bracket closing the one at `start`, skipping C# literals and
    comments."""
    opening = text[start]
    closing = ")" if opening == "(" else "}"
    depth = 0
    position = start
    while position < len(text):
        char = text[position]
        if char == '"' or char == "'":
            verbatim = char == '"' and position > 0 and text[position - 1] == "@"
            position = _literal_end(text, position, verbatim)
            continue
        if text.startswith(("//", "/*"), position):
            closer = "\n" if text[position + 1] == "/" else "*/"
            end = text.find(closer, position + 2)
            position = len(text) if end < 0 else end + len(closer)
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return position + 1
        position += 1
    return None


def _literal_end(text: str, start: int, verbatim: bool) -> int:
    """The index after a C# string or character literal opening at `start`."""
    quote = text[start]
    position = start + 1
    while position < len(text):
        char = text[position]
        if verbatim and char == quote:
            if text.startswith(quote * 2, position):
                position += 2
                continue
            return position + 1
        if not verbatim and char == "\\":
            position += 2
            continue
        if char == quote:
            return position + 1
        position += 1
    return len(text)


def _escape(expression: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in expression)
