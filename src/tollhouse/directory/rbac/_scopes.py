"""ARM scopes: syntax, canonical form and containment (entra.md §7.2).

A scope is an ARM resource id or one of its ancestors:

    /                                                        the root (built-in roles only)
    /providers/Microsoft.Management/managementGroups/{mg}
    /subscriptions/{sub}
    /subscriptions/{sub}/resourceGroups/{rg}
    {any of the above}/providers/{Namespace}/{type}/{name}[/{type}/{name}…]

and a resource id may continue with further `/providers/{Namespace}/{type}/{name}…` tails
(extension resources). Containment is a segment prefix, compared case-insensitively.

Management-group ancestry is a tree, not a prefix (entra.md §7.2): in Azure a management group
contains the subscriptions placed under it. Tollhouse does not model which subscriptions belong
to which management group, so here a management group contains only itself and the scopes
whose path starts with its own (its extension resources). An assignment at a management group
therefore grants nothing on a subscription.
"""

from __future__ import annotations

import functools
import re

from tollhouse.directory.rbac._case import fold
from tollhouse.directory.rbac._errors import invalid_scope

ROOT = "/"

# Far longer than any real resource id; bounds the work and the cache entry of one scope.
MAX_SCOPE_LENGTH = 2048

# Parsed scopes are cached: the same few gateway and service scopes are checked on every
# configuration request. Bounded so that a stream of distinct valid scopes cannot grow memory.
SCOPE_CACHE_SIZE = 4096

# `{Company}.{Provider}` (entra.md §7.1, action strings), e.g. `Microsoft.ApiManagement`.
_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+", re.ASCII)
# A resource type segment, e.g. `service`, `gateways`, `managementGroups`.
_RESOURCE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*", re.ASCII)
# Characters that would change the meaning of a scope embedded in a URL path.
_URL_SYNTAX = frozenset("?#%\\")


def parse_scope(text: str) -> str:
    """Validate an ARM scope and return its canonical form.

    The canonical form has no trailing slash (the root is `/`) and spells the fixed keywords
    `subscriptions`, `resourceGroups`, `providers`, `Microsoft.Management` and
    `managementGroups` in ARM's usual case; names are kept as given. One trailing slash is
    tolerated. Anything else that is not a valid scope raises `RbacError` 400 `InvalidScope`.
    """
    if not isinstance(text, str):
        raise invalid_scope(repr(text), "a scope is a string")
    if len(text) > MAX_SCOPE_LENGTH:
        raise invalid_scope(text, f"it is longer than {MAX_SCOPE_LENGTH} characters")
    return _parse_scope(text)


@functools.lru_cache(maxsize=SCOPE_CACHE_SIZE)
def _parse_scope(text: str) -> str:
    if text == ROOT:
        return ROOT
    if not text.startswith("/"):
        raise invalid_scope(text, "it must start with '/'")
    segments = text[1:].removesuffix("/").split("/")
    for position, segment in enumerate(segments, start=1):
        _check_segment(text, position, segment)
    return "/" + "/".join(_canonical_segments(text, segments))


def _check_segment(text: str, position: int, segment: str) -> None:
    if not segment:
        raise invalid_scope(text, f"segment {position} is empty")
    if segment in (".", ".."):
        raise invalid_scope(text, f"segment {position} is '{segment}'")
    for char in segment:
        if char.isspace() or not char.isprintable():
            raise invalid_scope(
                text, f"segment {position} contains whitespace or a control character"
            )
        if char in _URL_SYNTAX:
            raise invalid_scope(text, f"segment {position} contains '{char}'")


def _canonical_segments(text: str, segments: list[str]) -> list[str]:
    count = len(segments)
    first = fold(segments[0])
    if first == "subscriptions":
        if count < 2:
            raise invalid_scope(text, "'subscriptions' must be followed by a subscription id")
        out = ["subscriptions", segments[1]]
        position = 2
        if position < count and fold(segments[position]) == "resourcegroups":
            if position + 1 >= count:
                raise invalid_scope(text, "'resourceGroups' must be followed by a name")
            out += ["resourceGroups", segments[position + 1]]
            position += 2
    elif first == "providers":
        if (
            count < 4
            or fold(segments[1]) != "microsoft.management"
            or fold(segments[2]) != "managementgroups"
        ):
            raise invalid_scope(
                text,
                "a scope under '/providers' must be "
                "'/providers/Microsoft.Management/managementGroups/{name}'",
            )
        out = ["providers", "Microsoft.Management", "managementGroups", segments[3]]
        position = 4
    else:
        raise invalid_scope(
            text,
            "it must be '/', '/subscriptions/…' or "
            "'/providers/Microsoft.Management/managementGroups/…'",
        )
    while position < count:
        position = _provider_tail(text, segments, position, out)
    return out


def _provider_tail(text: str, segments: list[str], position: int, out: list[str]) -> int:
    """Consume `providers/{Namespace}/{type}/{name}[/{type}/{name}…]`; return the next index."""
    count = len(segments)
    if fold(segments[position]) != "providers":
        raise invalid_scope(text, f"segment {position + 1} must be 'providers'")
    if position + 1 >= count or not _NAMESPACE.fullmatch(segments[position + 1]):
        raise invalid_scope(
            text,
            f"segment {position + 2} must be a resource provider namespace like 'Company.Provider'",
        )
    out += ["providers", segments[position + 1]]
    position += 2
    pairs = 0
    while position < count and fold(segments[position]) != "providers":
        if not _RESOURCE_TYPE.fullmatch(segments[position]):
            raise invalid_scope(text, f"segment {position + 1} is not a resource type")
        if position + 1 >= count:
            raise invalid_scope(text, f"resource type '{segments[position]}' has no name")
        out += [segments[position], segments[position + 1]]
        position += 2
        pairs += 1
    if pairs == 0:
        raise invalid_scope(
            text, "a resource provider namespace must be followed by a type and a name"
        )
    return position


def scope_contains(ancestor: str, scope: str) -> bool:
    """Whether an assignment at `ancestor` applies at `scope` (entra.md §7.2).

    Segment prefix, case-insensitive; `/` contains everything. Both arguments should be
    canonical (as `parse_scope` returns them): no validation is done here, this runs for every
    assignment on every check. A trailing slash is ignored.
    """
    ancestor_key = fold(ancestor).rstrip("/")
    if not ancestor_key:
        return True
    scope_key = fold(scope).rstrip("/")
    return scope_key == ancestor_key or scope_key.startswith(ancestor_key + "/")


def same_scope(left: str, right: str) -> bool:
    return fold(left).rstrip("/") == fold(right).rstrip("/")


def is_management_group(scope: str) -> bool:
    """Whether a canonical scope is a management group itself."""
    return scope.count("/") == 4 and fold(scope).startswith(
        "/providers/microsoft.management/managementgroups/"
    )
