"""Policies: include-fragment, and the parsing of a configuration's policy fragments.

APIM include-fragment "inserts the policy fragment as-is at the location you select in the
policy definition": a fragment's policies compile in the including section and scope exactly
as if written there (set-header in an outbound fragment acts on the response; on-error runs
as usual). Fragments are parsed once per configuration with its named values; a fragment that
cannot be parsed is an error only for the documents that include it. Fragments may include
fragments, to a bounded depth and never in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from tollhouse.contracts import FragmentConfig, NamedValueConfig

from ._capacity import DEFAULT_POLICY_LIMITS, MAX_ELEMENTS, PolicyLimits
from ._capacity import MAX_FRAGMENT_NESTING as MAX_FRAGMENT_NESTING
from ._document import Element, PolicyFragment, parse_policy_fragment
from ._errors import PolicyCompileError
from ._execute import PolicyContext, PolicyResponse, Step, run_steps
from ._registry import CompileContext, Registry

# A fragment compiles in place each time it is included, so one that includes another many
# times multiplies: what fragments insert into a section is bounded like one document (by
# `policies.document.maxElements`; this is its default).
MAX_INCLUDED_ELEMENTS = MAX_ELEMENTS


def parse_fragments(
    fragments: Iterable[FragmentConfig],
    named_values: Iterable[NamedValueConfig] | None = None,
    *,
    limits: PolicyLimits = DEFAULT_POLICY_LIMITS,
) -> dict[str, PolicyFragment]:
    """Each fragment parsed (named values substituted when given) within the document
    `limits`, by lower-cased name."""
    values = None if named_values is None else tuple(named_values)
    parsed: dict[str, PolicyFragment] = {}
    for fragment in fragments:
        try:
            policies = parse_policy_fragment(fragment.policy, values, limits=limits)
        except PolicyCompileError as exc:
            parsed[fragment.name.lower()] = PolicyFragment(fragment.name, error=exc)
        else:
            parsed[fragment.name.lower()] = PolicyFragment(fragment.name, policies)
    return parsed


@dataclass(frozen=True)
class _Include:
    steps: tuple[Step, ...]

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        return await run_steps(self.steps, ctx)


def _inside(
    element: Element, cctx: CompileContext, name: str, exc: PolicyCompileError
) -> PolicyCompileError:
    """An error in fragment `name`, placed at the include-fragment of the including
    document, with its position inside the fragment in the message."""
    where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
    return PolicyCompileError(
        f"in policy fragment '{name}'{where}: {exc.message}",
        line=element.line,
        column=element.column,
        policy=exc.policy or element.name,
        section=cctx.section,
        scope=cctx.scope.value,
        reason=exc.reason,
    )


def compile_include_fragment(element: Element, cctx: CompileContext) -> _Include:
    cctx.check_attributes(element, ("fragment-id",), required=("fragment-id",))
    cctx.check_children(element, ())
    # APIM: fragment-id is "the identifier (name) of a policy fragment … Policy expressions
    # aren't allowed."
    fragment_id = element.attributes["fragment-id"]
    fragment = cctx.fragments.get(fragment_id.lower())
    if fragment is None:
        raise cctx.error(element, f"<include-fragment>: no policy fragment '{fragment_id}'")
    chain = cctx.fragment_chain
    if fragment.name.lower() in (name.lower() for name in chain):
        cycle = " → ".join((*chain, fragment.name))
        raise cctx.error(
            element, f"<include-fragment>: policy fragments include each other ({cycle})"
        )
    nesting = cctx.limits.max_fragment_nesting
    if len(chain) >= nesting:
        raise cctx.error(
            element,
            f"<include-fragment>: policy fragments nest deeper than {nesting} "
            f"levels ({' → '.join((*chain, fragment.name))})",
        )
    if fragment.error is not None:
        raise _inside(element, cctx, fragment.name, fragment.error)
    cctx.fragment_budget.used += _count(fragment.policies)
    budget = cctx.limits.max_document_elements
    if cctx.fragment_budget.used > budget:
        raise cctx.error(
            element,
            f"<include-fragment>: policy fragments insert more than {budget} "
            "elements into this section",
        )
    nested = replace(cctx, fragment_chain=(*chain, fragment.name))
    try:
        return _Include(nested.steps(fragment.policies, cctx.path))
    except PolicyCompileError as exc:
        raise _inside(element, cctx, fragment.name, exc) from None


def _count(elements: tuple[Element, ...]) -> int:
    return sum(1 + _count(e.children) for e in elements)


def register(registry: Registry) -> None:
    # APIM include-fragment, "Policy sections: inbound, outbound, backend, on-error".
    registry.register("include-fragment", compile_include_fragment)
