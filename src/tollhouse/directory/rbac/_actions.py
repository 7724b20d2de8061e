"""Action strings and wildcard matching (entra.md §7.1, "Action strings").

An action is `{Company}.{Provider}/{resourceType}[/{subType}…]/{action}`. A pattern in a role's
`Actions`, `NotActions`, `DataActions` or `NotDataActions` may contain any number of `*`, each
matching any run of characters including `/` (`*/read`, `Microsoft.CostManagement/*/query/*`).
Matching is anchored and case-insensitive (built-in roles mix `…/*/Delete` and `…/delete`).

entra.md §7.1 suggests a regex (`*` → `.*`). Patterns come from custom roles that callers
write, and `a*a*a*…b` makes a backtracking regex take exponential time, so the glob is matched
directly instead: the literal pieces between the stars must appear in order, the first as a
prefix and the last as a suffix. Taking the leftmost occurrence of each middle piece is exact
for `*`-only globs and costs at most O(len(pattern) × len(action)).
"""

from __future__ import annotations

import functools
import re

from tollhouse.directory.rbac._case import fold
from tollhouse.directory.rbac._errors import invalid_definition

# Far longer than any real action; bounds the work of matching one pattern.
MAX_ACTION_LENGTH = 1024

# Split patterns are cached: matching runs on every management and configuration request.
# Built-in and custom roles together hold a few thousand distinct patterns at most.
PATTERN_CACHE_SIZE = 8192

_ACTION_SYNTAX = re.compile(r"[A-Za-z0-9./*_-]+", re.ASCII)


def check_action(field: str, value: object) -> str:
    """Validate one entry of an action list; `field` names it in the error."""
    if not isinstance(value, str):
        raise invalid_definition(field, f"must be a string, not {type(value).__name__}")
    if not value:
        raise invalid_definition(field, "must not be empty")
    if len(value) > MAX_ACTION_LENGTH:
        raise invalid_definition(field, f"is longer than {MAX_ACTION_LENGTH} characters")
    if not _ACTION_SYNTAX.fullmatch(value):
        raise invalid_definition(
            field,
            f"is '{value[:128]}', but an action may only contain letters, digits and "
            "'.', '/', '*', '_', '-'",
        )
    return value


@functools.lru_cache(maxsize=PATTERN_CACHE_SIZE)
def _pieces(pattern: str) -> tuple[str, ...]:
    return tuple(fold(pattern).split("*"))


def _glob(pieces: tuple[str, ...], folded_action: str) -> bool:
    if len(pieces) == 1:
        return folded_action == pieces[0]
    first, last = pieces[0], pieces[-1]
    end = len(folded_action) - len(last)
    if end < len(first) or not folded_action.startswith(first):
        return False
    if not folded_action.endswith(last):
        return False
    position = len(first)
    for piece in pieces[1:-1]:
        found = folded_action.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def action_matches(pattern: str, action: str) -> bool:
    """Whether `action` is one of the actions that `pattern` names.

    `*` matches any run of characters, `/` included; the whole action must match; letters
    compare case-insensitively.
    """
    return _glob(_pieces(pattern), fold(action))


def any_matches(patterns: tuple[str, ...], folded_action: str) -> bool:
    """`action_matches` over a list, for an action already passed through `fold`."""
    return any(_glob(_pieces(pattern), folded_action) for pattern in patterns)
