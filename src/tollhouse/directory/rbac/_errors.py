"""Errors of the RBAC core, in Azure Resource Manager's wire shape.

Every failure of this package is an `RbacError`: an ARM error `code`, the HTTP `status` the
API layer answers with, and a message that names the offending field or value. ARM error
bodies are `{"error": {"code": ..., "message": ...}}` (`body()`). Anything else escaping from
`tollhouse.directory.rbac` is a bug.

The codes:

* `InvalidRoleDefinition` (400): a role definition document is malformed or breaks a rule of
  entra.md §7.1; the message names the field, e.g. `AssignableScopes[0]`.
* `InvalidScope` (400): a scope is not a valid ARM scope (entra.md §7.2).
* `RoleDefinitionNotAssignable` (400): a role is assigned at a scope outside its
  `AssignableScopes`.
"""

from __future__ import annotations

from typing import Any

INVALID_ROLE_DEFINITION = "InvalidRoleDefinition"
INVALID_SCOPE = "InvalidScope"
ROLE_DEFINITION_NOT_ASSIGNABLE = "RoleDefinitionNotAssignable"


class RbacError(Exception):
    """A failure of the RBAC core that becomes an ARM-shaped error response."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message, status)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def invalid_definition(field: str, problem: str) -> RbacError:
    """`field` is the path of the offending field (`Permissions[0].Actions[2]`), or ''."""
    subject = f"Role definition field '{field}'" if field else "The role definition"
    return RbacError(INVALID_ROLE_DEFINITION, f"{subject} {problem}.")


def invalid_scope(scope: str, problem: str) -> RbacError:
    # The scope is echoed truncated: it may be arbitrary caller input.
    return RbacError(INVALID_SCOPE, f"The scope '{scope[:256]}' is not valid: {problem}.")


def not_assignable(role_name: str, role_id: str, scope: str) -> RbacError:
    return RbacError(
        ROLE_DEFINITION_NOT_ASSIGNABLE,
        f"The role definition '{role_name}' ({role_id}) cannot be assigned at scope "
        f"'{scope}': the scope is not within any of its AssignableScopes.",
    )
