"""The comparison key of everything RBAC compares case-insensitively.

Scopes, actions, role ids and principal ids compare without regard to case (entra.md §7.1,
§7.2). Only ASCII letters fold: `K` (U+212A KELVIN SIGN) is not `k`, so a crafted name cannot
alias another through Unicode case mapping.
"""

from __future__ import annotations

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
