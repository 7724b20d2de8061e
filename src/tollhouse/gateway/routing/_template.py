"""APIM URL templates, parsed once: `/users/{id}/orders/{orderId}`, `/files/{*path}`, `/*`,
`/items({id})`, `/search?q={query}&format=json`.

The grammar is the one the control plane accepts (`controlplane/model/_operations.py`): a
template starts with `/`; `{name}` is a parameter (`[A-Za-z_][A-Za-z0-9_.-]*`, unique
case-insensitively across the whole template); `{*name}` — or a bare `*` — as the last path
segment matches the rest of the path; after `?`, `name={param}` pairs are query parameters
(APIM: "Required parameters across both path and query must have unique names", and
operations may be told apart by them), `name=value` pairs require that value and a bare `name`
requires the parameter to be present.

A path segment is one of, by precedence when several could match: a literal (compared
case-insensitively), a pattern mixing literal text and parameters (`{name}.{ext}`), a whole
parameter, or the trailing wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

# Far more than any real template has (the control plane's own limit); bounds the work of
# matching one template.
MAX_TEMPLATE_PARAMETERS = 64

_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_.\-]*)\}", re.ASCII)
# RFC 3986 §2.3: unreserved characters; the HTTP layer decodes their percent-encodings in the
# request path (`gateway/http/_messages.py`), so literals are compared in the same form.
_UNRESERVED_ESCAPE = re.compile(r"%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)", re.I)


class TemplateError(ValueError):
    """A URL template that cannot be parsed; the message says why."""


class SegmentKind(IntEnum):
    """One path segment of a template; the order is the matching precedence."""

    LITERAL = 0
    PATTERN = 1
    PARAMETER = 2
    WILDCARD = 3


@dataclass(frozen=True, slots=True)
class Segment:
    kind: SegmentKind
    # LITERAL: the text, lower-case. PATTERN: its shape (`{}.{}`, lower-case), which identifies
    # it among its siblings. PARAMETER and WILDCARD: "".
    text: str
    # The template parameters this segment captures, in order (none for a literal or `*`).
    names: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class QueryRule:
    """One `name=…` of the template's query part."""

    name: str  # as written in the template
    key: str  # lower-case: how request parameters are compared
    parameter: str | None  # the template parameter it fills, or None
    value: str | None  # the value a literal pair requires; None: any value (or a parameter)
    required: bool
    default: str | None  # templateParameters' defaultValue, for an optional parameter


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    segments: tuple[Segment, ...]
    trailing_slash: bool
    query: tuple[QueryRule, ...]

    @property
    def shape(self) -> str:
        """What two operations with the same method may not share: the template with parameter
        names blanked, literals lower-cased and query pairs sorted."""
        parts = []
        for segment in self.segments:
            if segment.kind is SegmentKind.PARAMETER:
                parts.append("{}")
            elif segment.kind is SegmentKind.WILDCARD:
                parts.append("{*}")
            else:
                parts.append(segment.text)
        path = "/" + "/".join(parts) + ("/" if self.trailing_slash and parts else "")
        pairs = sorted(
            f"{rule.key}={'{}' if rule.parameter else (rule.value or '')}" for rule in self.query
        )
        return path + ("?" + "&".join(pairs) if pairs else "")


def _literal(text: str) -> str:
    return _UNRESERVED_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).lower()


def _starts(matches: list[re.Match[str]]) -> list[tuple[int, re.Match[str]]]:
    """Each parameter with where the literal text before it starts."""
    return [(matches[i - 1].end() if i else 0, m) for i, m in enumerate(matches)]


def _segment(text: str, names: list[str], is_last: bool) -> Segment:
    matches = list(_PARAMETER.finditer(text))
    leftover = _PARAMETER.sub("", text)
    if "{" in leftover or "}" in leftover:
        raise TemplateError(f"segment '{text}' has unbalanced braces or a malformed parameter")
    if not matches:
        if is_last and text == "*":
            return Segment(SegmentKind.WILDCARD, "")
        return Segment(SegmentKind.LITERAL, _literal(text))
    for match in matches:
        if match.group(1) and not (is_last and match.group(0) == text):
            raise TemplateError(f"'{{*{match.group(2)}}}' may only be the whole last segment")
        names.append(match.group(2))
    if len(matches) == 1 and matches[0].group(0) == text:
        name = matches[0].group(2)
        kind = SegmentKind.WILDCARD if matches[0].group(1) else SegmentKind.PARAMETER
        return Segment(kind, "", (name,))
    # Literal text around parameters. A parameter followed by literal text ends where that text
    # first occurs (`{name}.{ext}` splits `a.b.c` as "a", "b.c"); the last one takes the rest
    # up to the tail. Written with a lookahead rather than a lazy `(.+?)`, which backtracks
    # in polynomial time on a long segment that almost matches (`{a}-{b}-{c}.json` against
    # `a-a-a-…`): here each parameter has one place to end, and matching is linear.
    pieces: list[str] = []
    shape: list[str] = []
    literals = [_literal(text[position : m.start()]) for position, m in _starts(matches)]
    tail = _literal(text[matches[-1].end() :])
    for index, literal in enumerate(literals):
        pieces.append(re.escape(literal))
        shape.append(literal)
        if index == len(matches) - 1:
            pieces.append("(.+)")
        else:
            following = literals[index + 1]
            pieces.append(f"((?:(?!{re.escape(following)}).)+)" if following else "(.+?)")
        shape.append("{}")
    pieces.append(re.escape(tail))
    shape.append(tail)
    regex = re.compile("".join(pieces), re.IGNORECASE | re.DOTALL)
    return Segment(SegmentKind.PATTERN, "".join(shape), tuple(m.group(2) for m in matches), regex)


def _query(
    text: str, names: list[str], described: Mapping[str, Mapping[str, Any]]
) -> tuple[QueryRule, ...]:
    rules: list[QueryRule] = []
    seen: set[str] = set()
    for pair in text.split("&"):
        if not pair:
            continue
        name, has_value, value = pair.partition("=")
        if not name or _PARAMETER.search(name) or "{" in name or "}" in name:
            raise TemplateError(f"query part '{pair}' must be name={{parameter}} or name=value")
        key = name.lower()
        if key in seen:
            raise TemplateError(f"query parameter '{name}' appears twice")
        seen.add(key)
        match = _PARAMETER.fullmatch(value) if has_value else None
        if match is not None:
            if match.group(1):
                raise TemplateError(f"'{{*{match.group(2)}}}' may not be a query parameter")
            parameter = match.group(2)
            names.append(parameter)
            spec = described.get(parameter.lower(), {})
            required = spec.get("required", True) is not False
            default = spec.get("defaultValue")
            rules.append(
                QueryRule(
                    name,
                    key,
                    parameter,
                    None,
                    required,
                    default if isinstance(default, str) else None,
                )
            )
        elif "{" in value or "}" in value:
            raise TemplateError(f"query part '{pair}' must be name={{parameter}} or name=value")
        else:
            rules.append(QueryRule(name, key, None, value if has_value else None, True, None))
    return tuple(rules)


def parse_template(text: str, parameters: Sequence[Mapping[str, Any]] = ()) -> Template:
    """Parse an operation's URL template; `parameters` are its `templateParameters` (for
    `required` and `defaultValue` of query parameters). Raises TemplateError."""
    if not text.startswith("/"):
        raise TemplateError(f"'{text}' must start with '/'")
    if any(char.isspace() or not char.isprintable() or char == "#" for char in text):
        raise TemplateError("must not contain whitespace, control characters or '#'")
    route, _, query_text = text.partition("?")
    body = route[1:]
    trailing = body.endswith("/")
    if trailing:
        body = body[:-1]
        if not body:
            raise TemplateError(f"'{text}' has an empty path segment")
    raw_segments = body.split("/") if body else []
    names: list[str] = []
    segments = []
    for index, raw in enumerate(raw_segments):
        if not raw:
            raise TemplateError(f"'{text}' has an empty path segment")
        is_last = index == len(raw_segments) - 1 and not trailing
        segments.append(_segment(raw, names, is_last))
    described = {str(p["name"]).lower(): p for p in parameters if isinstance(p.get("name"), str)}
    query = _query(query_text, names, described)
    if len(names) > MAX_TEMPLATE_PARAMETERS:
        raise TemplateError(f"has more than {MAX_TEMPLATE_PARAMETERS} parameters")
    folded = [name.lower() for name in names]
    for name in names:
        if folded.count(name.lower()) > 1:
            raise TemplateError(f"names the parameter '{name}' twice")
    return Template(text, tuple(segments), trailing, query)
