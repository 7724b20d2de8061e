"""Role definition documents: the three input shapes, validation, and the ARM shapes out."""

from __future__ import annotations

import copy
import json
import random
import uuid
from typing import Any

import pytest

from tollhouse.directory.rbac import (
    BUILTIN_ROLES,
    EVERYONE,
    DenyAssignment,
    Permission,
    RbacError,
    RoleAssignment,
    RoleDefinition,
    deny_assignment_to_arm,
    parse_role_definition,
    role_assignment_to_arm,
    role_definition_to_arm,
)

SUBSCRIPTION_SCOPE = "/subscriptions/9d3c1b7a-0e4f-4a2b-8c6d-5e7f8a9b0c1d"
GET_CONFIGURATION = "Microsoft.ApiManagement/service/gateways/getConfiguration/action"


def invalid(document: object, **kwargs: Any) -> RbacError:
    with pytest.raises(RbacError) as caught:
        parse_role_definition(document, **kwargs)  # type: ignore[arg-type]
    assert caught.value.status == 400
    assert caught.value.code == "InvalidRoleDefinition"
    return caught.value


def az_role(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "Name": "Gateway Operator",
        "IsCustom": True,
        "Description": "Operates gateways.",
        "Actions": ["Microsoft.ApiManagement/service/gateways/*"],
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": [SUBSCRIPTION_SCOPE],
    }
    document.update(overrides)
    return document


# The seed roles, verbatim.


def test_the_validator_seed_role_parses_verbatim(
    validator_document: dict[str, Any], seed_scope: str
) -> None:
    role = parse_role_definition(validator_document)
    assert role.role_name == "API Management Configuration API Access Validator Service Role"
    assert role.description == (
        "Can access RBAC permissions on the API Management resource to authorize requests in "
        "Configuration API."
    )
    assert role.role_type == "CustomRole"
    assert role.permissions == (Permission(actions=("Microsoft.Authorization/*/read",)),)
    assert role.assignable_scopes == (seed_scope,)


def test_the_reader_seed_role_parses_verbatim(
    reader_document: dict[str, Any], seed_scope: str
) -> None:
    role = parse_role_definition(reader_document)
    assert role.role_name == "API Management Gateway Configuration Reader Role"
    assert role.role_type == "CustomRole"
    assert role.permissions == (Permission(data_actions=(GET_CONFIGURATION,)),)
    assert role.assignable_scopes == (seed_scope,)


def test_a_role_without_an_id_gets_a_new_random_guid(reader_document: dict[str, Any]) -> None:
    first = parse_role_definition(reader_document)
    second = parse_role_definition(reader_document)
    assert uuid.UUID(first.id).version == 4
    assert first.id != second.id


def test_the_id_argument_wins_over_the_document_and_is_lower_cased() -> None:
    document = az_role(Id="11111111-2222-3333-4444-555555555555")
    role = parse_role_definition(document, id="AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE")
    assert role.id == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert parse_role_definition(document).id == "11111111-2222-3333-4444-555555555555"


# Shapes.


def test_az_keys_are_case_insensitive() -> None:
    document = {
        "name": "Lower Case",
        "assignablescopes": [SUBSCRIPTION_SCOPE],
        "ACTIONS": ["*/read"],
        "notactions": ["Microsoft.Authorization/*/read"],
    }
    role = parse_role_definition(document)
    assert role.role_name == "Lower Case"
    assert role.permissions == (
        Permission(actions=("*/read",), not_actions=("Microsoft.Authorization/*/read",)),
    )


def test_top_level_lists_are_added_to_the_permission_blocks_when_not_empty() -> None:
    document = az_role(
        Permissions=[{"Actions": ["Microsoft.Authorization/*/read"]}],
        Actions=[],
        NotDataActions=["Microsoft.ApiManagement/service/gateways/*"],
    )
    role = parse_role_definition(document)
    assert role.permissions == (
        Permission(actions=("Microsoft.Authorization/*/read",)),
        Permission(not_data_actions=("Microsoft.ApiManagement/service/gateways/*",)),
    )


def test_is_custom_false_makes_a_built_in_role_that_may_use_the_root_scope() -> None:
    role = parse_role_definition(az_role(IsCustom=False, AssignableScopes=["/"]))
    assert role.role_type == "BuiltInRole"
    assert role.assignable_scopes == ("/",)


def test_the_arm_shape_parses() -> None:
    guid = "0b6a2a3e-66a3-4bd1-9c8b-3e0c6f86c0a4"
    document = {
        "id": f"{SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "name": guid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": "Gateway Reader",
            "description": "Reads gateways.",
            "type": "CustomRole",
            "permissions": [
                {"actions": ["Microsoft.ApiManagement/service/gateways/read"], "notActions": []},
                {"dataActions": [GET_CONFIGURATION]},
            ],
            "assignableScopes": [f"{SUBSCRIPTION_SCOPE}/resourcegroups/rg/"],
        },
    }
    role = parse_role_definition(document)
    assert role == RoleDefinition(
        id=guid,
        role_name="Gateway Reader",
        description="Reads gateways.",
        role_type="CustomRole",
        permissions=(
            Permission(actions=("Microsoft.ApiManagement/service/gateways/read",)),
            Permission(data_actions=(GET_CONFIGURATION,)),
        ),
        assignable_scopes=(f"{SUBSCRIPTION_SCOPE}/resourceGroups/rg",),
    )


def test_the_arm_shape_takes_its_guid_from_the_resource_id_when_name_is_absent() -> None:
    guid = "0b6a2a3e-66a3-4bd1-9c8b-3e0c6f86c0a4"
    document = {
        "id": f"/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "properties": {"roleName": "R", "assignableScopes": [SUBSCRIPTION_SCOPE]},
    }
    assert parse_role_definition(document).id == guid


def test_az_flattened_output_takes_the_role_name_from_role_name_not_name() -> None:
    guid = "0b6a2a3e-66a3-4bd1-9c8b-3e0c6f86c0a4"
    document = {
        "assignableScopes": [SUBSCRIPTION_SCOPE],
        "description": "",
        "id": f"{SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "name": guid,
        "permissions": [{"actions": ["*/read"], "notActions": []}],
        "roleName": "Everything Reader",
        "roleType": "CustomRole",
        "type": "Microsoft.Authorization/roleDefinitions",
    }
    role = parse_role_definition(document)
    assert role.id == guid
    assert role.role_name == "Everything Reader"
    assert role.permissions == (Permission(actions=("*/read",)),)


def test_every_builtin_role_round_trips_through_the_arm_shape() -> None:
    for role in BUILTIN_ROLES:
        assert parse_role_definition(role_definition_to_arm(role)) == role


# Validation.


@pytest.mark.parametrize("name", [None, "", "   ", 7, "x" * 513])
def test_a_role_name_is_required_and_at_most_512_characters(name: object) -> None:
    error = invalid(az_role(Name=name))
    assert "'Name'" in error.message


def test_a_role_name_of_512_characters_is_accepted() -> None:
    assert parse_role_definition(az_role(Name="x" * 512)).role_name == "x" * 512


@pytest.mark.parametrize("scopes", [None, [], "/subscriptions/x", [None]])
def test_at_least_one_assignable_scope_is_required(scopes: object) -> None:
    error = invalid(az_role(AssignableScopes=scopes))
    assert "AssignableScopes" in error.message


def test_an_invalid_assignable_scope_names_its_index() -> None:
    error = invalid(az_role(AssignableScopes=[SUBSCRIPTION_SCOPE, "/subscriptions//x"]))
    assert "'AssignableScopes[1]'" in error.message


def test_the_root_assignable_scope_is_rejected_for_a_custom_role() -> None:
    error = invalid(az_role(AssignableScopes=["/"]))
    assert "'AssignableScopes[0]'" in error.message
    invalid(az_role(IsCustom=True, AssignableScopes=[SUBSCRIPTION_SCOPE, "/"]))


def test_at_most_one_management_group_may_be_an_assignable_scope() -> None:
    group = "/providers/Microsoft.Management/managementGroups/"
    parse_role_definition(az_role(AssignableScopes=[group + "a", SUBSCRIPTION_SCOPE]))
    invalid(az_role(AssignableScopes=[group + "a", group + "b"]))


@pytest.mark.parametrize(
    "action",
    ["", "x" * 1025, "Microsoft.Foo/bar read", "Microsoft.Foo/bär/read", "Microsoft.Foo/?", 3],
)
def test_an_invalid_action_string_is_rejected_naming_its_field(action: object) -> None:
    error = invalid(az_role(NotActions=["Microsoft.Foo/read", action]))
    assert "'NotActions[1]'" in error.message


def test_an_action_of_1024_characters_is_accepted() -> None:
    action = "Microsoft.Foo/" + "a" * 1010
    assert len(action) == 1024
    assert parse_role_definition(az_role(Actions=[action])).permissions[0].actions == (action,)


def test_an_invalid_action_inside_a_permission_block_names_the_block() -> None:
    error = invalid(az_role(Permissions=[{"Actions": ["*/read"]}, {"DataActions": [""]}]))
    assert "'Permissions[1].DataActions[0]'" in error.message


def test_an_invalid_action_in_the_arm_shape_names_the_arm_field() -> None:
    document = {
        "properties": {
            "roleName": "R",
            "permissions": [{"actions": ["no spaces"]}],
            "assignableScopes": [SUBSCRIPTION_SCOPE],
        }
    }
    error = invalid(document)
    assert "'properties.permissions[0].actions[0]'" in error.message


def test_an_action_list_must_be_an_array_not_a_string() -> None:
    invalid(az_role(Actions="*/read"))


def test_keys_differing_only_in_case_are_ambiguous() -> None:
    invalid(az_role(name="Another Name"))


def test_an_id_that_is_not_a_guid_is_rejected() -> None:
    error = invalid(az_role(Id="not-a-guid"))
    assert "'Id'" in error.message
    invalid(az_role(), id="{11111111-2222-3333-4444-555555555555}")


def test_an_unknown_role_type_is_rejected() -> None:
    invalid(
        {"properties": {"roleName": "R", "type": "Other", "assignableScopes": [SUBSCRIPTION_SCOPE]}}
    )
    invalid(az_role(IsCustom="yes"))


@pytest.mark.parametrize("document", [None, [], "role", 1, {"properties": []}, {1: "x"}])
def test_a_document_that_is_not_an_object_is_rejected(document: object) -> None:
    invalid(document)


def test_any_mangled_document_either_parses_or_raises_rbac_error(
    validator_document: dict[str, Any], reader_document: dict[str, Any]
) -> None:
    # h11's fuzz invariant, applied to role definitions.
    generator = random.Random(20240611)
    junk: list[object] = [None, 0, -1, 1.5, True, "", "x", "/", [], {}, [None], ["*"], {"a": 1}]
    seeds = [
        validator_document,
        reader_document,
        az_role(),
        role_definition_to_arm(BUILTIN_ROLES[0]),
    ]
    for _ in range(3000):
        document = copy.deepcopy(generator.choice(seeds))
        for _ in range(generator.randint(1, 3)):
            target: Any = document
            while True:
                keys = list(target.keys()) if isinstance(target, dict) else range(len(target))
                if not keys:
                    break
                key = generator.choice(list(keys))
                if isinstance(target[key], dict | list) and generator.random() < 0.6:
                    target = target[key]
                    continue
                target[key] = generator.choice(junk)
                break
        try:
            parse_role_definition(document)
        except RbacError as error:
            assert error.status == 400


# ARM shapes out.


def test_a_role_definition_renders_in_the_arm_shape(
    reader_document: dict[str, Any], seed_scope: str
) -> None:
    role = parse_role_definition(reader_document, id="0b6a2a3e-66a3-4bd1-9c8b-3e0c6f86c0a4")
    rendered = role_definition_to_arm(role, at_scope=seed_scope)
    assert rendered == {
        "id": f"{seed_scope}/providers/Microsoft.Authorization/roleDefinitions/"
        "0b6a2a3e-66a3-4bd1-9c8b-3e0c6f86c0a4",
        "name": "0b6a2a3e-66a3-4bd1-9c8b-3e0c6f86c0a4",
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": "API Management Gateway Configuration Reader Role",
            "description": "Can read self-hosted gateway configuration from Configuration API",
            "type": "CustomRole",
            "permissions": [
                {
                    "actions": [],
                    "notActions": [],
                    "dataActions": [GET_CONFIGURATION],
                    "notDataActions": [],
                }
            ],
            "assignableScopes": [seed_scope],
        },
    }
    json.dumps(rendered)


def test_a_role_definition_at_the_root_has_a_tenant_level_id() -> None:
    owner = BUILTIN_ROLES[0]
    expected = f"/providers/Microsoft.Authorization/roleDefinitions/{owner.id}"
    assert role_definition_to_arm(owner)["id"] == expected
    assert role_definition_to_arm(owner, at_scope="/")["id"] == expected


def test_a_role_assignment_renders_in_the_arm_shape() -> None:
    scope = f"{SUBSCRIPTION_SCOPE}/resourceGroups/rg"
    assignment = RoleAssignment(
        id="2d6a9c1f-4e7b-4d5a-8a3c-1f0e9b7c6d5e",
        scope=scope,
        principal_id="c0ffee00-0000-4000-8000-000000000001",
        role_definition_id="acdd72a7-3385-48ef-bd42-f606fba81ae7",
    )
    assert role_assignment_to_arm(assignment) == {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/"
        "2d6a9c1f-4e7b-4d5a-8a3c-1f0e9b7c6d5e",
        "name": "2d6a9c1f-4e7b-4d5a-8a3c-1f0e9b7c6d5e",
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "principalId": "c0ffee00-0000-4000-8000-000000000001",
            "principalType": "ServicePrincipal",
            "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
            "acdd72a7-3385-48ef-bd42-f606fba81ae7",
            "scope": scope,
        },
    }


def test_a_role_assignment_given_a_role_resource_id_renders_the_tenant_level_role_id() -> None:
    assignment = RoleAssignment(
        id="2d6a9c1f-4e7b-4d5a-8a3c-1f0e9b7c6d5e",
        scope="/",
        principal_id="c0ffee00-0000-4000-8000-000000000001",
        role_definition_id=f"{SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/"
        "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
    )
    rendered = role_assignment_to_arm(assignment)
    assert rendered["id"] == (
        "/providers/Microsoft.Authorization/roleAssignments/2d6a9c1f-4e7b-4d5a-8a3c-1f0e9b7c6d5e"
    )
    assert rendered["properties"]["roleDefinitionId"] == (
        "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    )


def test_a_deny_assignment_renders_in_the_arm_shape() -> None:
    deny = DenyAssignment(
        id="3e7b0d2a-5f8c-4e6b-9b4d-2a1f0c8d7e6f",
        name="Protect gateways",
        scope=SUBSCRIPTION_SCOPE,
        permissions=(Permission(actions=("*/delete",)),),
        principals=(EVERYONE,),
        exclude_principals=("c0ffee00-0000-4000-8000-000000000001",),
        do_not_apply_to_child_scopes=True,
        description="Nobody deletes anything.",
    )
    assert deny_assignment_to_arm(deny) == {
        "id": f"{SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/denyAssignments/"
        "3e7b0d2a-5f8c-4e6b-9b4d-2a1f0c8d7e6f",
        "name": "3e7b0d2a-5f8c-4e6b-9b4d-2a1f0c8d7e6f",
        "type": "Microsoft.Authorization/denyAssignments",
        "properties": {
            "denyAssignmentName": "Protect gateways",
            "description": "Nobody deletes anything.",
            "permissions": [
                {
                    "actions": ["*/delete"],
                    "notActions": [],
                    "dataActions": [],
                    "notDataActions": [],
                }
            ],
            "scope": SUBSCRIPTION_SCOPE,
            "doNotApplyToChildScopes": True,
            "principals": [{"id": EVERYONE, "type": "SystemDefined"}],
            "excludePrincipals": [
                {"id": "c0ffee00-0000-4000-8000-000000000001", "type": "ServicePrincipal"}
            ],
            "isSystemProtected": True,
        },
    }


def test_rbac_error_renders_an_arm_error_body() -> None:
    error = invalid(az_role(Name=""))
    assert error.body() == {"error": {"code": "InvalidRoleDefinition", "message": error.message}}
    assert str(error).startswith("InvalidRoleDefinition: ")
