"""Scope composition: global → product → API → operation into one effective document.

apim-self-hosted-gateway.md §8: "`<base />` marks where the parent scope's section is inlined;
omitting it drops inheritance." Decisions where APIM's documentation is silent:

- A scope without a document inherits every section unchanged (as if each were `<base />`).
- A document that leaves a section out inherits that section unchanged: dropping a parent's
  policies must be written (a section without `<base />`), never implied by an omission,
  so that nothing security-relevant set at a wider scope is lost by accident.
- `<base />` is allowed once per section, directly inside it; twice is a compile error.
- Above global sits APIM's default global policy: `<backend><forward-request /></backend>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ._document import SECTIONS, Element, PolicyDocument
from ._errors import PolicyCompileError


class Scope(StrEnum):
    GLOBAL = "global"
    PRODUCT = "product"
    API = "api"
    OPERATION = "operation"


@dataclass(frozen=True)
class ScopedElement:
    """A top-level policy element and the scope whose document it came from."""

    scope: Scope
    element: Element


Sections = Mapping[str, tuple[ScopedElement, ...]]

_DEFAULT: Sections = {
    "inbound": (),
    "backend": (ScopedElement(Scope.GLOBAL, Element("forward-request", {})),),
    "outbound": (),
    "on-error": (),
}


def compose(layers: Sequence[tuple[Scope, PolicyDocument | None]]) -> Sections:
    """Each section of the effective document, outermost scope first in `layers`."""
    composed: dict[str, tuple[ScopedElement, ...]] = dict(_DEFAULT)
    for scope, document in layers:
        if document is None:
            continue
        for section in SECTIONS:
            elements = document.section(section)
            if elements is None:
                continue
            composed[section] = _place_base(scope, section, elements, composed[section])
    return composed


def _place_base(
    scope: Scope,
    section: str,
    elements: tuple[Element, ...],
    parent: tuple[ScopedElement, ...],
) -> tuple[ScopedElement, ...]:
    result: list[ScopedElement] = []
    seen: Element | None = None
    for element in elements:
        if element.name != "base":
            result.append(ScopedElement(scope, element))
            continue
        if seen is not None:
            raise PolicyCompileError(
                f"<base /> appears more than once in section {section} (first at {seen.where})",
                line=element.line,
                column=element.column,
                policy="base",
                section=section,
                scope=scope.value,
            )
        seen = element
        result.extend(parent)
    return tuple(result)
