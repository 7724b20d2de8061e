"""The package exports exactly its public API."""

from __future__ import annotations

import tollhouse.directory.rbac as rbac


def test_the_public_api_is_what_it_should_be() -> None:
    assert sorted(rbac.__all__) == [
        "BUILTIN_ROLES",
        "Decision",
        "DenyAssignment",
        "EVERYONE",
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
    for name in rbac.__all__:
        assert getattr(rbac, name) is not None


def test_everyone_is_the_zero_guid() -> None:
    assert rbac.EVERYONE == "00000000-0000-0000-0000-000000000000"
