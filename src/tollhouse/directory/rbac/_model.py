"""The values of Azure RBAC: permissions, role definitions, role and deny assignments.

Ids are kept as given; every comparison folds case (entra.md §7.1, §7.2). Role definition ids
are bare GUIDs (the `name` of the ARM resource); a role assignment may refer to its role by
GUID or by a full role definition resource id, whose last segment is the GUID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RoleType = Literal["BuiltInRole", "CustomRole"]
BUILT_IN_ROLE: RoleType = "BuiltInRole"
CUSTOM_ROLE: RoleType = "CustomRole"

# entra.md §7.3: a deny assignment whose principal is the zero GUID applies to everyone.
EVERYONE = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class Permission:
    """One permission block of a role (or of a deny assignment)."""

    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    """A role: its GUID, name, permission blocks and where it may be assigned."""

    id: str
    role_name: str
    description: str
    role_type: RoleType
    permissions: tuple[Permission, ...]
    assignable_scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """A role granted to a principal at a scope and everything below it (entra.md §7.2)."""

    id: str
    scope: str
    principal_id: str
    role_definition_id: str
    principal_type: str = "ServicePrincipal"


@dataclass(frozen=True, slots=True)
class DenyAssignment:
    """Actions denied to principals at a scope; wins over every role (entra.md §7.3).

    `principals` containing `EVERYONE` (the zero GUID) matches every principal;
    `exclude_principals` exempts principals even then. With `do_not_apply_to_child_scopes` the
    deny applies at exactly its scope and nowhere below.
    """

    id: str
    name: str
    scope: str
    permissions: tuple[Permission, ...]
    principals: tuple[str, ...]
    exclude_principals: tuple[str, ...] = ()
    do_not_apply_to_child_scopes: bool = False
    description: str = ""


def role_guid(reference: str) -> str:
    """The GUID of a role definition given by GUID or by resource id (its last segment)."""
    return reference.rstrip("/").rpartition("/")[2]
