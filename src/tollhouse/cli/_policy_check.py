"""The offline policy checker behind `tollhouse policy check` (see `_policy`).

Each document goes through the gateway's own compile path — `parse_policy_document`,
`compose`, `Registry.compile_section` with the gateway's expression compiler — so that what
passes here compiles there. To report every problem of a document rather than the first, each
section is composed on its own and each top-level policy element compiled on its own (a bad
element inside `<choose>` still hides the ones after it in the same `<choose>`).

Named values: when given, a `{{name}}` they do not define is a problem at its position and is
then checked with a placeholder; when not given, every `{{name}}` is a placeholder. A named
value marked secret is always checked with a placeholder, so its value never reaches the
compiler nor a message. A document containing placeholders is compiled once per candidate in
`PLACEHOLDERS`; an element passes when it compiles with any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tollhouse.contracts import FragmentConfig, NamedValueConfig
from tollhouse.gateway.policies import (
    MAX_DOCUMENT_BYTES,
    Element,
    PolicyCompileError,
    PolicyDocument,
    PolicyFragment,
    Registry,
    Scope,
    ScopedElement,
    compose,
    default_registry,
    parse_fragments,
    parse_policy_document,
    parse_policy_fragment,
    substitute_named_values,
)
from tollhouse.gateway.policies._bridge import expression_compiler
from tollhouse.gateway.policies._document import SECTIONS, parse_xml

# Values a `{{name}}` without a known value is checked with: a number (calls, periods), a
# boolean (flags) and an absolute URL (backend base-url), the kinds attributes insist on.
PLACEHOLDERS = ("1", "true", "https://named-value.placeholder.invalid/")
# The scope a checked document is compiled at: the operation's, with nothing above it but
# APIM's default global policy (`<backend><forward-request /></backend>`).
CHECK_SCOPE = Scope.OPERATION
FRAGMENT_ROOT = "fragment"
# Shorter named values (numbers, flags, words) are not secrets, and replacing them in a
# message would mangle it.
MIN_REDACTED_LENGTH = 6

# Section → its top-level elements, and the error composing it (a repeated <base />).
_Sections = dict[str, tuple[tuple[ScopedElement, ...], PolicyCompileError | None]]


@dataclass(frozen=True)
class Problem:
    message: str
    line: int | None = None
    column: int | None = None
    policy: str | None = None
    section: str | None = None

    @classmethod
    def of(cls, error: PolicyCompileError, policy: str | None = None) -> Problem:
        return cls(error.message, error.line, error.column, policy or error.policy, error.section)

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "policy": self.policy,
            "section": self.section,
            "message": self.message,
        }


@dataclass(frozen=True)
class Report:
    file: str
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": self.ok,
            "problems": [p.to_json() for p in self.problems],
        }


def check_files(
    files: Sequence[Path],
    named_values: Sequence[NamedValueConfig] | None,
    registry: Registry | None = None,
) -> list[Report]:
    """One report per file, in the order given."""
    registry = registry or default_registry()
    texts: dict[Path, str | Problem] = {path: read_policy_file(path) for path in files}
    fragments = [
        FragmentConfig(path.stem, text)
        for path, text in texts.items()
        if isinstance(text, str) and _root_name(text) == FRAGMENT_ROOT
    ]
    checker = _Checker(registry, named_values, fragments)
    reports = []
    for path, text in texts.items():
        if isinstance(text, Problem):
            problems: tuple[Problem, ...] = (text,)
        else:
            problems = checker.check(text)
        reports.append(Report(str(path), problems))
    return reports


def read_policy_file(path: Path) -> str | Problem:
    """The file's text, or why it cannot be checked (a problem of that file)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        return Problem(f"cannot read the file: {exc.strerror}")
    if len(data) > MAX_DOCUMENT_BYTES:
        return Problem(
            f"the file is larger than {MAX_DOCUMENT_BYTES} bytes, APIM's policy document limit"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Problem(f"the file is not UTF-8 text (byte {exc.start})")


def _root_name(text: str) -> str | None:
    try:
        return parse_xml(text).name
    except PolicyCompileError:
        return None


class _Checker:
    def __init__(
        self,
        registry: Registry,
        named_values: Sequence[NamedValueConfig] | None,
        fragments: Sequence[FragmentConfig],
    ) -> None:
        self.registry = registry
        self.named_values = named_values
        self.expressions = expression_compiler()
        # What include-fragment may name: the fragment files, parsed as the gateway parses a
        # configuration's fragments, each `{{name}}` they do not define a placeholder (the
        # fragment's own check reports it).
        named = self._substitutions(
            [u for f in fragments for u in self._unknown_named_values(f.policy)], PLACEHOLDERS[0]
        )
        self.fragments: Mapping[str, PolicyFragment] = parse_fragments(fragments, named)

    def check(self, text: str) -> tuple[Problem, ...]:
        problems: list[Problem] = []
        unknown = self._unknown_named_values(text)
        if self.named_values is not None:
            problems.extend(Problem.of(error) for _, error in unknown)
        # One parse per placeholder value; their elements line up one to one.
        variants = []
        for placeholder in PLACEHOLDERS if unknown or self._has_secrets(text) else PLACEHOLDERS[:1]:
            named = self._substitutions(unknown, placeholder)
            try:
                variants.append(self._sections(text, named))
            except PolicyCompileError as exc:
                if not variants:
                    problems.append(Problem.of(exc))
                    return _unique(problems)
        for section, (elements, composing) in variants[0].items():
            if composing is not None:
                problems.append(Problem.of(composing))
            for index, scoped in enumerate(elements):
                alternatives = []
                for variant in variants[1:]:
                    other = variant[section][0]
                    if len(other) == len(elements):
                        alternatives.append(other[index])
                error = self._compile(section, [scoped, *alternatives])
                if error is not None:
                    policy = error.policy or self._policy_at(scoped.element, error)
                    problems.append(Problem.of(error, policy))
        return self._redacted(_unique(problems))

    def _unknown_named_values(self, text: str) -> list[tuple[str, PolicyCompileError]]:
        """Each `{{name}}` the named values do not define, at its first occurrence, found by
        the gateway's own substitution: each round defines the name it stopped at."""
        known = list(self.named_values or ())
        unknown: list[tuple[str, PolicyCompileError]] = []
        # Every round defines one more name, so there are at most as many as `{{` in the text.
        for _ in range(text.count("{{") + 1):
            try:
                substitute_named_values(text, known)
            except PolicyCompileError as exc:
                name = _name_at(text, exc.line, exc.column)
                if exc.reason != "NamedValue" or name is None:
                    break
                unknown.append((name, exc))
                known.append(NamedValueConfig(name, name, "", secret=True))
                continue
            break
        return unknown

    def _has_secrets(self, text: str) -> bool:
        return "{{" in text and any(n.secret for n in self.named_values or ())

    def _substitutions(
        self, unknown: Iterable[tuple[str, PolicyCompileError]], placeholder: str
    ) -> list[NamedValueConfig]:
        named = [
            NamedValueConfig(n.name, n.display_name, placeholder, secret=True) if n.secret else n
            for n in self.named_values or ()
        ]
        for name, _ in unknown:
            named.append(NamedValueConfig(name, name, placeholder, secret=True))
        return named

    def _sections(self, text: str, named: Sequence[NamedValueConfig]) -> _Sections:
        """Each section's top-level elements as the gateway composes them, with the error
        composing it if any; raises for a document that cannot be parsed at all."""
        if _root_name(text) == FRAGMENT_ROOT:
            policies = parse_policy_fragment(text, named)
            return {"inbound": (tuple(ScopedElement(CHECK_SCOPE, e) for e in policies), None)}
        document = parse_policy_document(text, named)
        sections: _Sections = {}
        for name in SECTIONS:
            # Composed one section at a time: a repeated <base /> in one hides no other.
            elements = document.section(name)
            try:
                sections[name] = (
                    compose([(CHECK_SCOPE, PolicyDocument({name: elements}))])[name],
                    None,
                )
            except PolicyCompileError as exc:
                # The section's policies are still checked, its <base /> left out.
                rest = tuple(
                    ScopedElement(CHECK_SCOPE, e) for e in elements or () if e.name != "base"
                )
                sections[name] = (rest, exc)
        return sections

    def _policy_at(self, element: Element, error: PolicyCompileError) -> str | None:
        """The innermost policy around the element an error (an expression's) points at."""
        found: str | None = None

        def visit(node: Element, policy: str | None) -> None:
            nonlocal found
            if node.name in self.registry.names:
                policy = node.name
            if (node.line, node.column) == (error.line, error.column):
                found = policy
            for child in node.children:
                visit(child, policy)

        visit(element, None)
        return found

    def _redacted(self, problems: tuple[Problem, ...]) -> tuple[Problem, ...]:
        """A named value's value in a message is shown as its `{{name}}` (the object form of
        `--named-values` cannot say which are secrets)."""
        values = sorted(
            (n for n in self.named_values or () if len(n.value) >= MIN_REDACTED_LENGTH),
            key=lambda n: -len(n.value),
        )
        if not values:
            return problems
        result = []
        for problem in problems:
            message = problem.message
            for named in values:
                message = message.replace(named.value, "{{" + named.display_name + "}}")
            result.append(replace(problem, message=message))
        return tuple(result)

    def _compile(
        self, section: str, candidates: Sequence[ScopedElement]
    ) -> PolicyCompileError | None:
        """None when any candidate compiles, else the first candidate's error."""
        first: PolicyCompileError | None = None
        for scoped in candidates:
            try:
                self.registry.compile_section(
                    section, (scoped,), expressions=self.expressions, fragments=self.fragments
                )
            except PolicyCompileError as exc:
                first = first or exc
                continue
            return None
        return first


def _name_at(text: str, line: int | None, column: int | None) -> str | None:
    """The name of the `{{name}}` starting at (line, column), both 1-based."""
    if line is None or column is None:
        return None
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    if not 1 <= line <= len(starts):
        return None
    offset = starts[line - 1] + column - 1
    end = text.find("}}", offset + 2)
    if not text.startswith("{{", offset) or end < 0:
        return None
    return text[offset + 2 : end].strip()


def _unique(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Each problem once, in document order (those without a position first)."""
    unique = dict.fromkeys(problems)
    return tuple(sorted(unique, key=lambda p: (p.line or 0, p.column or 0)))
