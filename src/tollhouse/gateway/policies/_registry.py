"""Which policy element compiles to which step, and how a section is compiled.

An element with no implementation is a `PolicyCompileError` naming the policy, its section
and position: an unimplemented policy (often a security one) is never skipped. Each compile
function checks its attributes: an attribute we do not know is refused too, for the same
reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ._body_reads import with_body_reads
from ._capacity import DEFAULT_POLICY_LIMITS, PolicyLimits
from ._compose import Scope, ScopedElement
from ._document import SECTIONS as SECTION_ORDER
from ._document import Element, PolicyFragment
from ._errors import PolicyCompileError
from ._execute import LocatedStep, Step, StepLocation
from ._values import (
    ConditionSource,
    ExpressionCompiler,
    ValueSource,
    compile_condition,
    compile_value,
    refuse_expressions,
)

CompileFunction = Callable[[Element, "CompileContext"], Step]


@dataclass
class FragmentBudget:
    """How many elements include-fragment has inserted while compiling one section."""

    used: int = 0


@dataclass(frozen=True)
class CompileContext:
    registry: Registry
    section: str
    scope: Scope = Scope.GLOBAL
    path: str = ""
    expressions: ExpressionCompiler = refuse_expressions
    # (status, content type) → example body of the operation (mock-response); empty when
    # unknown.
    samples: Mapping[tuple[int, str], bytes] = field(default_factory=dict)
    # Whether set-header/set-body act on the response: outbound and on-error do, inbound and
    # backend act on the request; return-response's children act on the response it returns.
    on_response: bool | None = None
    # The configuration's policy fragments by lower-cased name (include-fragment), and the
    # fragments being included around this element, outermost first (cycles, nesting depth).
    fragments: Mapping[str, PolicyFragment] = field(default_factory=dict)
    fragment_chain: tuple[str, ...] = ()
    fragment_budget: FragmentBudget = field(default_factory=FragmentBudget)
    # The operator's limits (the registry's); compile functions capture what their steps need.
    limits: PolicyLimits = DEFAULT_POLICY_LIMITS

    @property
    def targets_response(self) -> bool:
        if self.on_response is not None:
            return self.on_response
        return self.section in ("outbound", "on-error")

    def error(self, element: Element, message: str) -> PolicyCompileError:
        return PolicyCompileError(
            message,
            line=element.line,
            column=element.column,
            policy=element.name,
            section=self.section,
            scope=self.scope.value,
        )

    def check_attributes(
        self, element: Element, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> None:
        known = {*allowed, "id"}
        for name in element.attributes:
            if name not in known:
                raise self.error(element, f"<{element.name}>: unknown attribute '{name}'")
        for name in required:
            if name not in element.attributes:
                raise self.error(element, f"<{element.name}>: attribute '{name}' is required")

    def check_children(self, element: Element, allowed: Iterable[str]) -> None:
        known = set(allowed)
        for child in element.children:
            if child.name not in known:
                raise self.error(child, f"<{element.name}> cannot contain <{child.name}>")

    def value(self, element: Element, text: str) -> ValueSource:
        try:
            return compile_value(text, self.expressions, element.line, element.column)
        except PolicyCompileError as exc:
            raise exc.located(scope=self.scope.value, section=self.section) from None

    def condition(self, element: Element, text: str) -> ConditionSource:
        try:
            return compile_condition(text, self.expressions, element.line, element.column)
        except PolicyCompileError as exc:
            raise exc.located(scope=self.scope.value, section=self.section) from None

    def steps(self, elements: Sequence[Element], path: str) -> tuple[Step, ...]:
        """Compile nested policies (inside choose/when, …) at `path`."""
        nested = replace(self, path=path)
        return tuple(
            self.registry.compile_element(e, nested, f"{path}/{e.name}[{i}]")
            for i, e in enumerate(elements)
        )


ALL_SECTIONS = frozenset({"inbound", "backend", "outbound", "on-error"})


class Registry:
    """`limits`: the operator's limits every section compiled here is held to."""

    def __init__(self, limits: PolicyLimits = DEFAULT_POLICY_LIMITS) -> None:
        self.limits = limits
        self._functions: dict[str, tuple[CompileFunction, frozenset[str]]] = {}

    def register(
        self, name: str, function: CompileFunction, sections: Iterable[str] = ALL_SECTIONS
    ) -> None:
        """`sections`: where APIM's reference ("Usage: Policy sections") allows the policy."""
        self._functions[name] = (function, frozenset(sections))

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._functions)

    def compile_element(self, element: Element, cctx: CompileContext, path: str) -> Step:
        if element.name == "base":
            raise cctx.error(element, "<base /> is only allowed directly inside a section")
        entry = self._functions.get(element.name)
        if entry is None:
            raise cctx.error(element, f"policy '{element.name}' is not supported")
        function, sections = entry
        if cctx.section not in sections:
            raise cctx.error(
                element,
                f"policy '{element.name}' is not allowed in section {cctx.section} "
                f"(only in {', '.join(s for s in SECTION_ORDER if s in sections)})",
            )
        step = with_body_reads(
            function(element, replace(cctx, path=path)), element, cctx.limits.max_expression_body
        )
        where = StepLocation(
            source=element.name,
            scope=cctx.scope.value,
            section=cctx.section,
            path=path,
            policy_id=element.attributes.get("id", ""),
        )
        return LocatedStep(step, where)

    def compile_section(
        self,
        section: str,
        elements: Sequence[ScopedElement],
        *,
        expressions: ExpressionCompiler = refuse_expressions,
        samples: Mapping[tuple[int, str], bytes] | None = None,
        fragments: Mapping[str, PolicyFragment] | None = None,
    ) -> tuple[Step, ...]:
        """`fragments`: what include-fragment may name, by name (case-insensitive)."""
        by_name = {name.lower(): f for name, f in (fragments or {}).items()}
        budget = FragmentBudget()
        steps = []
        for i, scoped in enumerate(elements):
            cctx = CompileContext(
                registry=self,
                section=section,
                scope=scoped.scope,
                expressions=expressions,
                samples=samples or {},
                fragments=by_name,
                fragment_budget=budget,
                limits=self.limits,
            )
            path = f"{section}/{scoped.element.name}[{i}]"
            steps.append(self.compile_element(scoped.element, cctx, path))
        return tuple(steps)
