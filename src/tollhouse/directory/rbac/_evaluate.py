"""Access decisions, effective permissions and assignability (entra.md §7.1–§7.5).

The algorithm of entra.md §7.4 ("How Azure RBAC determines if a user has access"):

1. the caller is a set of principal ids (its object id, plus its groups for users);
2. role and deny assignments at the scope or above apply;
3. an applicable deny assignment that matches the action, after its own NotActions, wins;
4. otherwise each role assigned to one of the principals grants `Actions − NotActions` (or
   `DataActions − NotDataActions` for a data action), computed per role and unioned across
   roles: NotActions is not a deny, another role granting the action wins;
5. no role grants it: not allowed.

ABAC conditions (step 6) are not modelled: no assignment here carries one.

A role's blocks are taken together: the role grants an action if one of its blocks' Actions
matches and none of its blocks' NotActions does. For a role with a single block (every role
Azure ships) this is the same as block by block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal

from tollhouse.directory.rbac._actions import any_matches
from tollhouse.directory.rbac._case import fold
from tollhouse.directory.rbac._errors import not_assignable
from tollhouse.directory.rbac._model import (
    EVERYONE,
    DenyAssignment,
    Permission,
    RoleAssignment,
    RoleDefinition,
    role_guid,
)
from tollhouse.directory.rbac._scopes import parse_scope, same_scope, scope_contains

Access = Literal["Allowed", "NotAllowed", "Denied"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one access check, naming the assignment that decided it."""

    access: Access
    role_assignment_id: str | None = None
    deny_assignment_id: str | None = None

    @property
    def allowed(self) -> bool:
        return self.access == "Allowed"

    def __bool__(self) -> bool:
        # A dataclass instance is always truthy: `if evaluate(...):` would allow everything.
        raise TypeError("a Decision has no truth value; use Decision.allowed")


_NOT_ALLOWED = Decision("NotAllowed")


def evaluate(
    principal_ids: AbstractSet[str],
    action: str,
    *,
    data_action: bool,
    scope: str,
    assignments: Iterable[RoleAssignment],
    definitions: Mapping[str, RoleDefinition],
    deny_assignments: Iterable[DenyAssignment] = (),
) -> Decision:
    """Whether any of `principal_ids` may perform `action` at `scope`.

    `data_action` says which lists apply: a data action is granted only by `DataActions`
    (entra.md §7.1: `Actions: ["*"]` grants no data action). `definitions` maps role GUIDs to
    roles and must include the built-in roles that assignments use. An assignment whose role
    is missing grants nothing. `scope` is validated (`RbacError` 400 `InvalidScope`).
    """
    target = parse_scope(scope)
    principals = frozenset(fold(principal) for principal in principal_ids)
    folded_action = fold(action)
    # entra.md §7.4 step 3 (and §7.3): deny assignments take precedence.
    for deny in deny_assignments:
        if _deny_applies(deny, principals, target) and _grants(
            deny.permissions, folded_action, data_action
        ):
            return Decision("Denied", deny_assignment_id=deny.id)
    roles = _Roles(definitions)
    for assignment in _applicable(assignments, principals, target):
        role = roles.get(assignment.role_definition_id)
        if role is not None and _grants(role.permissions, folded_action, data_action):
            return Decision("Allowed", role_assignment_id=assignment.id)
    return _NOT_ALLOWED


def effective_permissions(
    principal_ids: AbstractSet[str],
    scope: str,
    assignments: Iterable[RoleAssignment],
    definitions: Mapping[str, RoleDefinition],
) -> list[Permission]:
    """The permission blocks of every role assigned to the principals at `scope` or above.

    This is the body of ARM's `…/providers/Microsoft.Authorization/permissions` (entra.md §7.5):
    one entry per permission block of each granting role (a role assigned twice is listed
    once), wildcards and NotActions left for the client to apply. Deny assignments are not
    folded in; whether ARM does is undocumented (entra.md §10).
    """
    target = parse_scope(scope)
    principals = frozenset(fold(principal) for principal in principal_ids)
    roles = _Roles(definitions)
    listed: set[str] = set()
    blocks: list[Permission] = []
    for assignment in _applicable(assignments, principals, target):
        role = roles.get(assignment.role_definition_id)
        if role is not None and fold(role.id) not in listed:
            listed.add(fold(role.id))
            blocks.extend(role.permissions)
    return blocks


def check_assignable(defn: RoleDefinition, scope: str) -> None:
    """Raise `RbacError` 400 `RoleDefinitionNotAssignable` unless `scope` lies within one of
    the role's AssignableScopes (`InvalidScope` if `scope` is not a scope at all).

    A management group among the AssignableScopes covers only its own path, not the
    subscriptions under it (see `scope_contains`).
    """
    target = parse_scope(scope)
    if not any(scope_contains(allowed, target) for allowed in defn.assignable_scopes):
        raise not_assignable(defn.role_name, defn.id, target)


def _applicable(
    assignments: Iterable[RoleAssignment], principals: frozenset[str], target: str
) -> Iterable[RoleAssignment]:
    # entra.md §7.2: an assignment at scope S applies to every descendant of S.
    for assignment in assignments:
        if fold(assignment.principal_id) in principals and scope_contains(assignment.scope, target):
            yield assignment


def _deny_applies(deny: DenyAssignment, principals: frozenset[str], target: str) -> bool:
    if deny.do_not_apply_to_child_scopes:
        if not same_scope(deny.scope, target):
            return False
    elif not scope_contains(deny.scope, target):
        return False
    members = {fold(principal) for principal in deny.principals}
    # entra.md §7.3: the zero GUID (SystemDefined) means everyone.
    if EVERYONE not in members and members.isdisjoint(principals):
        return False
    return all(fold(excluded) not in principals for excluded in deny.exclude_principals)


def _grants(blocks: tuple[Permission, ...], folded_action: str, data_action: bool) -> bool:
    """`Actions − NotActions` (or the data lists) over one role's blocks (entra.md §7.1)."""
    if data_action:
        return any(any_matches(block.data_actions, folded_action) for block in blocks) and not any(
            any_matches(block.not_data_actions, folded_action) for block in blocks
        )
    return any(any_matches(block.actions, folded_action) for block in blocks) and not any(
        any_matches(block.not_actions, folded_action) for block in blocks
    )


class _Roles:
    """Role lookup by GUID or resource id, ignoring case (entra.md §7.1: ids are GUIDs)."""

    def __init__(self, definitions: Mapping[str, RoleDefinition]) -> None:
        self._definitions = definitions
        self._folded: dict[str, RoleDefinition] | None = None

    def get(self, reference: str) -> RoleDefinition | None:
        guid = role_guid(reference)
        found = self._definitions.get(guid)
        if found is not None:
            return found
        if self._folded is None:
            self._folded = {fold(role_guid(key)): role for key, role in self._definitions.items()}
        return self._folded.get(fold(guid))
