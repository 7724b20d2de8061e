"""Policy documents: named-value substitution, then a hardened XML parse into elements.

A document is `<policies>` with at most one each of `<inbound>`, `<backend>`, `<outbound>` and
`<on-error>` (apim-self-hosted-gateway.md §8). The parser is expat with every declaration
handler refusing: no DOCTYPE, no entity (internal or external), no processing of anything but
elements, attributes and text. Every element keeps its line and column for error messages.
A policy fragment is `<fragment>` holding policies directly, parsed by the same parser; it
"can't include a policy section identifier … or the `<base/>` element" (APIM, "Reuse policy
configurations").

Named values are substituted textually *before* parsing, as APIM does ("`{{DisplayName}}` is
substituted inside policy text", §8), matched by display name case-insensitively. Their values
never appear in an error message or a log line: only their names do.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tollhouse.contracts import NamedValueConfig

from ._capacity import DEFAULT_POLICY_LIMITS, PolicyLimits

# The defaults of the document limits (`PolicyLimits`, `policies.document.*`), re-exported.
from ._capacity import MAX_DEPTH as MAX_DEPTH
from ._capacity import MAX_DOCUMENT_BYTES as MAX_DOCUMENT_BYTES
from ._capacity import MAX_ELEMENTS as MAX_ELEMENTS
from ._errors import PolicyCompileError

SECTIONS = ("inbound", "backend", "outbound", "on-error")
FRAGMENT_ROOT = "fragment"
_NAMED_VALUE = re.compile(r"\{\{([^{}]*)\}\}")


@dataclass(frozen=True)
class Element:
    """One XML element: name, attributes in document order, children, text and position."""

    name: str
    attributes: Mapping[str, str]
    children: tuple[Element, ...] = ()
    # Concatenated character data directly inside the element (not its children's).
    text: str = ""
    line: int = 0
    column: int = 0

    def attribute(self, name: str) -> str | None:
        return self.attributes.get(name)

    def children_named(self, name: str) -> tuple[Element, ...]:
        return tuple(c for c in self.children if c.name == name)

    @property
    def where(self) -> str:
        return f"line {self.line}, column {self.column}"


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed document: each section's top-level elements, None when the section is absent."""

    sections: Mapping[str, tuple[Element, ...] | None] = field(default_factory=dict)

    def section(self, name: str) -> tuple[Element, ...] | None:
        return self.sections.get(name)


@dataclass(frozen=True)
class PolicyFragment:
    """A policy fragment as parsed for one configuration: its policies, or the error that
    every document including it reports (an unused broken fragment harms nothing)."""

    name: str
    policies: tuple[Element, ...] = ()
    error: PolicyCompileError | None = None


def substitute_named_values(text: str, named_values: Iterable[NamedValueConfig]) -> str:
    """Replace each `{{name}}` by the named value whose display name (or name) matches
    case-insensitively; an unknown name is a compile error naming it (never a value)."""
    return _substitute(text, named_values)[0]


# (start, end) in the substituted text → (start, end) of the `{{name}}` it replaced.
_Span = tuple[int, int, int, int]


def _substitute(text: str, named_values: Iterable[NamedValueConfig]) -> tuple[str, list[_Span]]:
    named_values = tuple(named_values)
    table: dict[str, str] = {}
    for named in named_values:
        table.setdefault(named.name.casefold(), named.value)
    for named in named_values:
        # The display name is what users write; it wins over the resource name.
        table[named.display_name.casefold()] = named.value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        value = table.get(name.casefold())
        if value is None:
            line, column = _position(text, match.start())
            raise PolicyCompileError(
                f"unknown named value '{name}'", line=line, column=column + 1, reason="NamedValue"
            )
        # Named values cannot nest (§8): the substituted text is not scanned again.
        return value

    parts: list[str] = []
    spans: list[_Span] = []
    done = size = 0
    for match in _NAMED_VALUE.finditer(text):
        value = replace(match)
        parts.append(text[done : match.start()])
        size += match.start() - done
        spans.append((size, size + len(value), match.start(), match.end()))
        parts.append(value)
        size += len(value)
        done = match.end()
    parts.append(text[done:])
    return "".join(parts), spans


class _Positions:
    """Maps a (line, column) of the substituted text back to the document as written: an
    error inside a substituted value points at its `{{name}}`."""

    def __init__(self, original: str, substituted: str, spans: list[_Span]) -> None:
        self.original = original
        self.spans = spans
        self.line_starts = [0] + [i + 1 for i, c in enumerate(substituted) if c == "\n"]

    def __call__(self, line: int, column: int) -> tuple[int, int]:
        if not self.spans or not 1 <= line <= len(self.line_starts):
            return line, column
        offset = self.line_starts[line - 1] + column - 1
        before = [s for s in self.spans if s[0] <= offset]
        if before:
            _, end, orig_start, orig_end = before[-1]
            offset = orig_start if offset < end else orig_end + offset - end
        line, column0 = _position(self.original, offset)
        return line, column0 + 1


def _position(text: str, offset: int) -> tuple[int, int]:
    """Line (1-based) and column (0-based) of `offset`."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def _parse_root(
    text: str, named_values: Iterable[NamedValueConfig] | None, limits: PolicyLimits
) -> Element:
    positions = None
    if named_values is not None:
        substituted, spans = _substitute(text, named_values)
        positions = _Positions(text, substituted, spans)
        text = substituted
    return parse_xml(text, positions, limits=limits)


def parse_policy_fragment(
    text: str,
    named_values: Iterable[NamedValueConfig] | None = None,
    *,
    limits: PolicyLimits = DEFAULT_POLICY_LIMITS,
) -> tuple[Element, ...]:
    """Substitute named values (when given), parse, check the `<fragment>` shape, and
    return its policies."""
    root = _parse_root(text, named_values, limits)
    if root.name != FRAGMENT_ROOT:
        raise PolicyCompileError(
            f"the root element of a policy fragment must be <{FRAGMENT_ROOT}>, not <{root.name}>",
            line=root.line,
            column=root.column,
        )
    if root.text.strip():
        raise PolicyCompileError(
            f"text is not allowed directly inside <{FRAGMENT_ROOT}>",
            line=root.line,
            column=root.column,
        )
    for child in root.children:
        if child.name in SECTIONS:
            raise PolicyCompileError(
                f"a policy fragment cannot contain the section <{child.name}>",
                line=child.line,
                column=child.column,
            )
    base = _find(root.children, "base")
    if base is not None:
        raise PolicyCompileError(
            "a policy fragment cannot contain <base />",
            line=base.line,
            column=base.column,
            policy="base",
        )
    return root.children


def _find(elements: tuple[Element, ...], name: str) -> Element | None:
    """The first element named `name` at any depth (bounded by the depth limit at parse)."""
    for element in elements:
        if element.name == name:
            return element
        found = _find(element.children, name)
        if found is not None:
            return found
    return None


def parse_policy_document(
    text: str,
    named_values: Iterable[NamedValueConfig] | None = None,
    *,
    limits: PolicyLimits = DEFAULT_POLICY_LIMITS,
) -> PolicyDocument:
    """Substitute named values (when given), parse, and check the `<policies>` shape.
    `limits`: the size, depth and element count allowed (`policies.document.*`)."""
    root = _parse_root(text, named_values, limits)
    if root.name != "policies":
        raise PolicyCompileError(
            f"the root element must be <policies>, not <{root.name}>",
            line=root.line,
            column=root.column,
        )
    sections: dict[str, tuple[Element, ...] | None] = dict.fromkeys(SECTIONS)
    for container in (root, *root.children):
        if container.text.strip():
            # Stray text is a mistake (often a policy written without its tags): refused.
            raise PolicyCompileError(
                f"text is not allowed directly inside <{container.name}>",
                line=container.line,
                column=container.column,
            )
    for child in root.children:
        if child.name not in SECTIONS:
            raise PolicyCompileError(
                f"<{child.name}> is not a section of <policies> "
                "(expected inbound, backend, outbound or on-error)",
                line=child.line,
                column=child.column,
            )
        if sections[child.name] is not None:
            raise PolicyCompileError(
                f"section <{child.name}> appears more than once",
                line=child.line,
                column=child.column,
                section=child.name,
            )
        sections[child.name] = child.children
    return PolicyDocument(sections)


class _Builder:
    def __init__(self) -> None:
        self.stack: list[tuple[str, dict[str, str], list[Element], list[str], int, int]] = []
        self.root: Element | None = None
        self.count = 0


def parse_xml(
    text: str,
    positions: Callable[[int, int], tuple[int, int]] | None = None,
    *,
    limits: PolicyLimits = DEFAULT_POLICY_LIMITS,
) -> Element:
    """Parse one XML document into elements; any refusal is a `PolicyCompileError`.
    `positions` maps each (line, column) reported, for text that was rewritten before;
    `limits` bounds its size, depth and element count."""
    max_bytes = limits.max_document_size
    max_depth = limits.max_document_depth
    max_elements = limits.max_document_elements
    where = positions or (lambda line, column: (line, column))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
        raise PolicyCompileError("the policy document is not valid Unicode") from None
    if len(data) > max_bytes:
        raise PolicyCompileError(
            f"the policy document is {len(data)} bytes, more than the limit of {max_bytes}"
        )
    parser = xml.parsers.expat.ParserCreate()
    # Entities that are declared can never be expanded: declaring one is already refused.
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = _Builder()

    def refuse(what: str) -> None:
        line, column = where(parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        raise PolicyCompileError(
            f"{what} is not allowed in a policy document", line=line, column=column
        )

    def start(name: str, attributes: dict[str, str]) -> None:
        builder.count += 1
        if builder.count > max_elements:
            refuse(f"more than {max_elements} elements")
        if len(builder.stack) >= max_depth:
            refuse(f"nesting deeper than {max_depth} elements")
        line, column = where(parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        builder.stack.append((name, attributes, [], [], line, column))

    def end(name: str) -> None:
        tag, attributes, children, text_parts, line, column = builder.stack.pop()
        element = Element(tag, attributes, tuple(children), "".join(text_parts), line, column)
        if builder.stack:
            builder.stack[-1][2].append(element)
        else:
            builder.root = element

    def characters(data: str) -> None:
        if builder.stack:
            builder.stack[-1][3].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.StartDoctypeDeclHandler = lambda *_: refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = lambda *_: refuse("an ENTITY declaration")
    parser.UnparsedEntityDeclHandler = lambda *_: refuse("an ENTITY declaration")
    parser.NotationDeclHandler = lambda *_: refuse("a NOTATION declaration")
    parser.ExternalEntityRefHandler = lambda *_: refuse("an external entity")  # type: ignore[assignment]
    parser.SkippedEntityHandler = lambda *_: refuse("an entity reference")
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        line, column = where(exc.lineno, exc.offset + 1)
        raise PolicyCompileError(
            f"malformed XML: {xml.parsers.expat.ErrorString(exc.code)}", line=line, column=column
        ) from None
    assert builder.root is not None  # expat refuses a document without a root element
    return builder.root
