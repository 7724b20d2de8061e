"""Built-in roles carry Azure's GUIDs and grant what Azure's do."""

from __future__ import annotations

import pytest

from tollhouse.directory.rbac import BUILTIN_ROLES, RoleAssignment, evaluate

SUB = "/subscriptions/9d3c1b7a-0e4f-4a2b-8c6d-5e7f8a9b0c1d"
SERVICE = f"{SUB}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/contoso"
PRINCIPAL = "4f8e2c1a-7b3d-4e5f-9a6b-1c2d3e4f5a6b"
ROLES = {role.role_name: role for role in BUILTIN_ROLES}


def test_builtin_roles_have_azures_names_and_guids() -> None:
    assert {role.role_name: role.id for role in BUILTIN_ROLES} == {
        "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "API Management Service Contributor": "312a565d-c81f-4fd8-895a-4e21e48d571c",
        "API Management Service Reader Role": "71522526-b88f-4d52-b57f-d31fc3546d0d",
    }


def test_builtin_roles_are_built_in_and_assignable_at_the_root() -> None:
    for role in BUILTIN_ROLES:
        assert role.role_type == "BuiltInRole"
        assert role.assignable_scopes == ("/",)


def allowed(role_name: str, action: str, *, data_action: bool = False) -> bool:
    role = ROLES[role_name]
    assignment = RoleAssignment(
        id="2d6a9c1f-4e7b-4d5a-8a3c-1f0e9b7c6d5e",
        scope=SUB,
        principal_id=PRINCIPAL,
        role_definition_id=role.id,
    )
    return evaluate(
        frozenset({PRINCIPAL}),
        action,
        data_action=data_action,
        scope=SERVICE,
        assignments=[assignment],
        definitions={role.id: role},
    ).allowed


@pytest.mark.parametrize(
    ("role_name", "action", "expected"),
    [
        ("Reader", "Microsoft.ApiManagement/service/read", True),
        ("Reader", "Microsoft.ApiManagement/service/write", False),
        ("User Access Administrator", "Microsoft.Authorization/roleAssignments/write", True),
        ("User Access Administrator", "Microsoft.ApiManagement/service/write", False),
        ("API Management Service Contributor", "Microsoft.ApiManagement/service/write", True),
        (
            "API Management Service Contributor",
            "Microsoft.ApiManagement/service/gateways/listKeys/action",
            True,
        ),
        (
            "API Management Service Contributor",
            "Microsoft.Authorization/roleAssignments/write",
            False,
        ),
        ("API Management Service Contributor", "Microsoft.Compute/virtualMachines/read", False),
        ("API Management Service Reader Role", "Microsoft.ApiManagement/service/read", True),
        ("API Management Service Reader Role", "Microsoft.ApiManagement/service/apis/read", True),
        ("API Management Service Reader Role", "Microsoft.ApiManagement/service/apis/write", False),
        (
            "API Management Service Reader Role",
            "Microsoft.ApiManagement/service/users/keys/read",
            False,
        ),
    ],
)
def test_builtin_roles_grant_what_azures_grant(role_name: str, action: str, expected: bool) -> None:
    assert allowed(role_name, action) is expected


@pytest.mark.parametrize("role_name", sorted(ROLES))
def test_no_builtin_role_here_grants_a_data_action(role_name: str) -> None:
    action = "Microsoft.ApiManagement/service/gateways/getConfiguration/action"
    assert not allowed(role_name, action, data_action=True)
