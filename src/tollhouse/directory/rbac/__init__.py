"""Azure-style RBAC, sans I/O: role definitions, assignments, scopes and access decisions.

Values in, values out (entra.md §7). The store keeps definitions and assignments; the API
layer turns `RbacError` into ARM error bodies; the control plane asks `evaluate` whether a
caller holds `Microsoft.ApiManagement/service/gateways/getConfiguration/action` at a gateway.
"""

from tollhouse.directory.rbac._actions import action_matches
from tollhouse.directory.rbac._builtin import BUILTIN_ROLES
from tollhouse.directory.rbac._documents import (
    deny_assignment_to_arm,
    parse_role_definition,
    role_assignment_to_arm,
    role_definition_to_arm,
)
from tollhouse.directory.rbac._errors import RbacError
from tollhouse.directory.rbac._evaluate import (
    Decision,
    check_assignable,
    effective_permissions,
    evaluate,
)
from tollhouse.directory.rbac._model import (
    EVERYONE,
    DenyAssignment,
    Permission,
    RoleAssignment,
    RoleDefinition,
)
from tollhouse.directory.rbac._scopes import parse_scope, scope_contains

__all__ = [
    "BUILTIN_ROLES",
    "EVERYONE",
    "Decision",
    "DenyAssignment",
    "Permission",
    "RbacError",
    "RoleAssignment",
    "RoleDefinition",
    "action_matches",
    "check_assignable",
    "deny_assignment_to_arm",
    "effective_permissions",
    "evaluate",
    "parse_role_definition",
    "parse_scope",
    "role_assignment_to_arm",
    "role_definition_to_arm",
    "scope_contains",
]
