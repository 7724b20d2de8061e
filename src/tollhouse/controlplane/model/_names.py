"""ARM resource names: what a name may be, and how two names compare.

ARM keeps a name as it was written and compares names without regard to case. Only ASCII
letters fold, so a crafted name cannot alias another through Unicode case mapping.

Azure's rule for most API Management names is looser (`^[^*#&+:<>?]+$`); Tollhouse keeps the
portable subset ARM templates and APIOps artifacts use in practice: a letter or digit, then
letters, digits, `-`, `_` and `.`, not ending in `.`. An API revision is named
`{api};rev={n}` (APIM's revision syntax), and only API names may carry that suffix.
"""

from __future__ import annotations

import re

from tollhouse.controlplane.model._errors import INVALID_RESOURCE_NAME, ModelError, echo

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?", re.ASCII)
_REVISION = re.compile(r";rev=([1-9][0-9]{0,9})", re.ASCII)


def fold(text: str) -> str:
    """The comparison key of a name or collection segment."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def check_name(name: str, *, max_length: int, revisions: bool = False) -> str:
    """Return `name` unchanged if it is a valid resource name; raise `InvalidResourceName`."""
    base = name
    if revisions:
        base, _ = split_revision(name)
    if not 1 <= len(name) <= max_length or _NAME.fullmatch(base) is None:
        rule = (
            f"1 to {max_length} characters: a letter or digit, then letters, digits, "
            "'-', '_' or '.', not ending in '.'"
        )
        if revisions:
            rule += ", optionally followed by ';rev={n}'"
        raise ModelError(
            INVALID_RESOURCE_NAME, f"The resource name {echo(name)} is not valid: {rule}."
        )
    return name


def split_revision(name: str) -> tuple[str, str | None]:
    """`("echo", "3")` for `echo;rev=3`, `("echo", None)` for `echo`."""
    base, separator, tail = name.partition(";")
    if not separator:
        return name, None
    match = _REVISION.fullmatch(";" + tail)
    if match is None:
        raise ModelError(
            INVALID_RESOURCE_NAME,
            f"The resource name {echo(name)} is not valid: a revision is written "
            "'{api};rev={n}' with n a positive number.",
        )
    return base, match.group(1)
