"""Access decisions, effective permissions and assignability (entra.md §7.1–§7.5)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from tollhouse.directory.rbac import (
    BUILTIN_ROLES,
    EVERYONE,
    Decision,
    DenyAssignment,
    Permission,
    RbacError,
    RoleAssignment,
    RoleDefinition,
    check_assignable,
    effective_permissions,
    evaluate,
    parse_role_definition,
)

SUB = "/subscriptions/9d3c1b7a-0e4f-4a2b-8c6d-5e7f8a9b0c1d"
OTHER_SUB = "/subscriptions/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
RG = f"{SUB}/resourceGroups/apim-rg"
SERVICE = f"{RG}/providers/Microsoft.ApiManagement/service/contoso"
GATEWAY = f"{SERVICE}/gateways/edge"
SIBLING_SERVICE = f"{RG}/providers/Microsoft.ApiManagement/service/fabrikam"
SIBLING_GATEWAY = f"{SIBLING_SERVICE}/gateways/edge"

GATEWAY_APP = "4f8e2c1a-7b3d-4e5f-9a6b-1c2d3e4f5a6b"
CONTROL_PLANE = "7c9d0e1f-2a3b-4c5d-8e6f-7a8b9c0d1e2f"
STRANGER = "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6"
GROUP = "9a8b7c6d-5e4f-4321-8fed-cba987654321"

OWNER, CONTRIBUTOR, READER, USER_ACCESS_ADMIN, APIM_CONTRIBUTOR, APIM_READER = (
    role.id for role in BUILTIN_ROLES
)
VALIDATOR_ID = "5b0e6a41-3c2d-4e8f-9a7b-6c5d4e3f2a1b"
CONFIG_READER_ID = "6c1f7b52-4d3e-4f90-8b8c-7d6e5f4a3b2c"

GET_CONFIGURATION = "Microsoft.ApiManagement/service/gateways/getConfiguration/action"

_ids = (f"00000000-0000-4000-8000-{n:012d}" for n in itertools.count(1))


def assign(principal: str, role: str, scope: str) -> RoleAssignment:
    return RoleAssignment(
        id=next(_ids), scope=scope, principal_id=principal, role_definition_id=role
    )


def deny(
    scope: str,
    permission: Permission,
    principals: tuple[str, ...] = (EVERYONE,),
    **kwargs: Any,
) -> DenyAssignment:
    return DenyAssignment(
        id=next(_ids),
        name="deny",
        scope=scope,
        permissions=(permission,),
        principals=principals,
        **kwargs,
    )


def custom(role_id: str, *blocks: Permission) -> RoleDefinition:
    return RoleDefinition(
        id=role_id,
        role_name=f"role {role_id}",
        description="",
        role_type="CustomRole",
        permissions=blocks,
        assignable_scopes=(SUB,),
    )


@pytest.fixture
def definitions(
    validator_document: dict[str, Any], reader_document: dict[str, Any]
) -> dict[str, RoleDefinition]:
    # The seed roles are assignable at their own subscription; tests here only evaluate them.
    roles = {role.id: role for role in BUILTIN_ROLES}
    roles[VALIDATOR_ID] = parse_role_definition(validator_document, id=VALIDATOR_ID)
    roles[CONFIG_READER_ID] = parse_role_definition(reader_document, id=CONFIG_READER_ID)
    return roles


def check(
    definitions: dict[str, RoleDefinition],
    assignments: Iterable[RoleAssignment],
    action: str,
    scope: str,
    *,
    data_action: bool = False,
    principals: Iterable[str] = (GATEWAY_APP,),
    denies: Iterable[DenyAssignment] = (),
) -> Decision:
    return evaluate(
        frozenset(principals),
        action,
        data_action=data_action,
        scope=scope,
        assignments=list(assignments),
        definitions=definitions,
        deny_assignments=list(denies),
    )


# The seed roles.


@pytest.mark.parametrize(
    "action",
    [
        "Microsoft.Authorization/roleAssignments/read",
        "Microsoft.Authorization/roleDefinitions/read",
        "Microsoft.Authorization/denyAssignments/read",
    ],
)
def test_the_validator_role_grants_reading_rbac(
    definitions: dict[str, RoleDefinition], action: str
) -> None:
    assignment = assign(CONTROL_PLANE, VALIDATOR_ID, SUB)
    decision = check(definitions, [assignment], action, RG, principals=[CONTROL_PLANE])
    assert decision == Decision("Allowed", role_assignment_id=assignment.id)
    assert decision.allowed


@pytest.mark.parametrize(
    "action",
    [
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete",
        "Microsoft.ApiManagement/service/read",
    ],
)
def test_the_validator_role_grants_nothing_else(
    definitions: dict[str, RoleDefinition], action: str
) -> None:
    assignment = assign(CONTROL_PLANE, VALIDATOR_ID, SUB)
    decision = check(definitions, [assignment], action, RG, principals=[CONTROL_PLANE])
    assert decision == Decision("NotAllowed")
    assert not decision.allowed


@pytest.mark.parametrize("assigned_at", [GATEWAY, SERVICE, RG, SUB])
def test_the_reader_role_grants_get_configuration_at_the_gateway_from_the_scope_or_above(
    definitions: dict[str, RoleDefinition], assigned_at: str
) -> None:
    assignment = assign(GATEWAY_APP, CONFIG_READER_ID, assigned_at)
    decision = check(definitions, [assignment], GET_CONFIGURATION, GATEWAY, data_action=True)
    assert decision == Decision("Allowed", role_assignment_id=assignment.id)


@pytest.mark.parametrize("assigned_at", [SERVICE, GATEWAY])
def test_the_reader_role_grants_nothing_at_a_sibling_service(
    definitions: dict[str, RoleDefinition], assigned_at: str
) -> None:
    assignment = assign(GATEWAY_APP, CONFIG_READER_ID, assigned_at)
    decision = check(
        definitions, [assignment], GET_CONFIGURATION, SIBLING_GATEWAY, data_action=True
    )
    assert not decision.allowed


def test_the_reader_role_grants_get_configuration_only_as_a_data_action(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignment = assign(GATEWAY_APP, CONFIG_READER_ID, SERVICE)
    assert not check(definitions, [assignment], GET_CONFIGURATION, GATEWAY).allowed


def test_the_reader_role_grants_nothing_to_another_principal(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignment = assign(GATEWAY_APP, CONFIG_READER_ID, SERVICE)
    decision = check(
        definitions,
        [assignment],
        GET_CONFIGURATION,
        GATEWAY,
        data_action=True,
        principals=[STRANGER],
    )
    assert not decision.allowed


# Scopes.


def test_an_assignment_is_inherited_downward_only(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignment = assign(GATEWAY_APP, CONFIG_READER_ID, GATEWAY)
    assert check(definitions, [assignment], GET_CONFIGURATION, GATEWAY, data_action=True).allowed
    for above in (SERVICE, RG, SUB):
        decision = check(definitions, [assignment], GET_CONFIGURATION, above, data_action=True)
        assert not decision.allowed


def test_scopes_compare_case_insensitively(definitions: dict[str, RoleDefinition]) -> None:
    lower = assign(GATEWAY_APP, CONFIG_READER_ID, RG.replace("resourceGroups", "resourcegroups"))
    assert check(definitions, [lower], GET_CONFIGURATION, GATEWAY, data_action=True).allowed
    upper = assign(GATEWAY_APP, CONFIG_READER_ID, SERVICE.upper())
    assert check(definitions, [upper], GET_CONFIGURATION, GATEWAY, data_action=True).allowed
    request = GATEWAY.replace("resourceGroups", "RESOURCEGROUPS").replace("contoso", "CONTOSO")
    exact = assign(GATEWAY_APP, CONFIG_READER_ID, SERVICE)
    assert check(definitions, [exact], GET_CONFIGURATION, request, data_action=True).allowed


def test_an_invalid_request_scope_raises_invalid_scope(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignment = assign(GATEWAY_APP, OWNER, SUB)
    with pytest.raises(RbacError) as caught:
        check(definitions, [assignment], "Microsoft.Foo/read", f"{SUB}/resourceGroups/../x")
    assert (caught.value.status, caught.value.code) == (400, "InvalidScope")


# Actions.


def test_actions_compare_case_insensitively(definitions: dict[str, RoleDefinition]) -> None:
    contributor = assign(GATEWAY_APP, CONTRIBUTOR, SUB)
    # Contributor's NotActions say `Microsoft.Authorization/*/Delete`.
    for action in (
        "Microsoft.Authorization/roleAssignments/delete",
        "microsoft.authorization/roleassignments/DELETE",
    ):
        assert not check(definitions, [contributor], action, RG).allowed
    reader = assign(GATEWAY_APP, READER, SUB)
    assert check(definitions, [reader], "MICROSOFT.APIMANAGEMENT/SERVICE/READ", RG).allowed


def test_a_pattern_may_hold_several_wildcards() -> None:
    role = custom(VALIDATOR_ID, Permission(actions=("Microsoft.ApiManagement/*/gateways/*",)))
    assignment = assign(GATEWAY_APP, role.id, SUB)
    roles = {role.id: role}
    assert check(
        roles, [assignment], "Microsoft.ApiManagement/service/gateways/write", GATEWAY
    ).allowed
    assert check(
        roles, [assignment], "Microsoft.ApiManagement/service/gateways/apis/delete", GATEWAY
    ).allowed
    assert not check(
        roles, [assignment], "Microsoft.ApiManagement/service/apis/write", SERVICE
    ).allowed


def test_not_actions_subtract_within_a_role_but_another_role_restores() -> None:
    delete = "Microsoft.ApiManagement/service/delete"
    narrowed = custom(
        VALIDATOR_ID,
        Permission(actions=("Microsoft.ApiManagement/*",), not_actions=(delete,)),
    )
    deleter = custom(CONFIG_READER_ID, Permission(actions=(delete,)))
    roles = {narrowed.id: narrowed, deleter.id: deleter}
    first = assign(GATEWAY_APP, narrowed.id, SUB)
    assert check(roles, [first], "Microsoft.ApiManagement/service/write", SERVICE).allowed
    assert check(roles, [first], delete, SERVICE) == Decision("NotAllowed")
    second = assign(GATEWAY_APP, deleter.id, RG)
    assert check(roles, [first, second], delete, SERVICE) == Decision(
        "Allowed", role_assignment_id=second.id
    )


def test_not_actions_of_one_block_apply_to_the_whole_role() -> None:
    role = custom(
        VALIDATOR_ID,
        Permission(actions=("Microsoft.ApiManagement/*",)),
        Permission(not_actions=("Microsoft.ApiManagement/service/delete",)),
    )
    assignment = assign(GATEWAY_APP, role.id, SUB)
    roles = {role.id: role}
    assert check(roles, [assignment], "Microsoft.ApiManagement/service/write", SERVICE).allowed
    assert not check(roles, [assignment], "Microsoft.ApiManagement/service/delete", SERVICE).allowed


def test_not_data_actions_subtract_data_actions() -> None:
    role = custom(
        VALIDATOR_ID,
        Permission(
            data_actions=("Microsoft.ApiManagement/service/gateways/*",),
            not_data_actions=(GET_CONFIGURATION,),
        ),
    )
    assignment = assign(GATEWAY_APP, role.id, SUB)
    roles = {role.id: role}
    assert not check(roles, [assignment], GET_CONFIGURATION, GATEWAY, data_action=True).allowed
    assert check(
        roles,
        [assignment],
        "Microsoft.ApiManagement/service/gateways/other/action",
        GATEWAY,
        data_action=True,
    ).allowed


def test_contributor_cannot_write_role_assignments(definitions: dict[str, RoleDefinition]) -> None:
    assignment = assign(GATEWAY_APP, CONTRIBUTOR, SUB)
    assert check(definitions, [assignment], "Microsoft.ApiManagement/service/write", RG).allowed
    for action in (
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleDefinitions/write",
        "Microsoft.Authorization/elevateAccess/Action",
    ):
        assert not check(definitions, [assignment], action, RG).allowed


def test_a_decision_has_no_truth_value_so_it_cannot_be_mistaken_for_allowed() -> None:
    with pytest.raises(TypeError):
        bool(Decision("NotAllowed"))


def test_owner_grants_every_action_and_no_data_action(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignment = assign(GATEWAY_APP, OWNER, SUB)
    assert check(
        definitions, [assignment], "Microsoft.Authorization/roleAssignments/write", RG
    ).allowed
    assert check(definitions, [assignment], GET_CONFIGURATION, GATEWAY).allowed
    decision = check(definitions, [assignment], GET_CONFIGURATION, GATEWAY, data_action=True)
    assert decision == Decision("NotAllowed")


# Principals and role references.


def test_an_assignment_to_a_group_grants_its_members(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignment = assign(GROUP, CONFIG_READER_ID, SERVICE)
    assert check(
        definitions,
        [assignment],
        GET_CONFIGURATION,
        GATEWAY,
        data_action=True,
        principals=[GATEWAY_APP, GROUP],
    ).allowed
    assert not check(
        definitions, [assignment], GET_CONFIGURATION, GATEWAY, data_action=True
    ).allowed


def test_role_and_principal_ids_compare_case_insensitively(
    definitions: dict[str, RoleDefinition],
) -> None:
    by_guid = assign(GATEWAY_APP.upper(), CONFIG_READER_ID.upper(), SERVICE)
    assert check(definitions, [by_guid], GET_CONFIGURATION, GATEWAY, data_action=True).allowed
    by_resource_id = assign(
        GATEWAY_APP,
        f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{CONFIG_READER_ID.upper()}",
        SERVICE,
    )
    assert check(
        definitions, [by_resource_id], GET_CONFIGURATION, GATEWAY, data_action=True
    ).allowed


def test_an_assignment_whose_role_is_missing_grants_nothing() -> None:
    assignment = assign(GATEWAY_APP, OWNER, SUB)
    assert check({}, [assignment], "Microsoft.ApiManagement/service/read", SERVICE) == Decision(
        "NotAllowed"
    )


# Deny assignments.


def test_a_deny_assignment_wins_over_owner(definitions: dict[str, RoleDefinition]) -> None:
    owner = assign(GATEWAY_APP, OWNER, SUB)
    blocked = deny(RG, Permission(actions=("Microsoft.ApiManagement/service/gateways/*",)))
    decision = check(
        definitions,
        [owner],
        "Microsoft.ApiManagement/service/gateways/delete",
        GATEWAY,
        denies=[blocked],
    )
    assert decision == Decision("Denied", deny_assignment_id=blocked.id)
    assert not decision.allowed
    other = check(
        definitions,
        [owner],
        "Microsoft.ApiManagement/service/apis/delete",
        SERVICE,
        denies=[blocked],
    )
    assert other.allowed


def test_a_deny_assignment_for_everyone_applies_to_any_principal(
    definitions: dict[str, RoleDefinition],
) -> None:
    owner = assign(STRANGER, OWNER, SUB)
    blocked = deny(SUB, Permission(actions=("*/delete",)))
    decision = check(
        definitions,
        [owner],
        "Microsoft.ApiManagement/service/delete",
        SERVICE,
        principals=[STRANGER],
        denies=[blocked],
    )
    assert decision.access == "Denied"


def test_a_deny_assignment_for_other_principals_does_not_apply(
    definitions: dict[str, RoleDefinition],
) -> None:
    owner = assign(GATEWAY_APP, OWNER, SUB)
    blocked = deny(SUB, Permission(actions=("*",)), principals=(STRANGER,))
    assert check(definitions, [owner], "Microsoft.Foo/write", SERVICE, denies=[blocked]).allowed
    stranger = check(
        definitions, [], "Microsoft.Foo/write", SERVICE, principals=[STRANGER], denies=[blocked]
    )
    assert stranger.access == "Denied"


def test_a_deny_assignment_respects_its_exclude_principals(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignments = [assign(GATEWAY_APP, OWNER, SUB), assign(STRANGER, OWNER, SUB)]
    blocked = deny(SUB, Permission(actions=("*",)), exclude_principals=(GATEWAY_APP.upper(),))
    action = "Microsoft.ApiManagement/service/write"
    assert check(definitions, assignments, action, SERVICE, denies=[blocked]).allowed
    stranger = check(
        definitions, assignments, action, SERVICE, principals=[STRANGER], denies=[blocked]
    )
    assert stranger.access == "Denied"


def test_an_excluded_group_exempts_its_members(definitions: dict[str, RoleDefinition]) -> None:
    owner = assign(GATEWAY_APP, OWNER, SUB)
    blocked = deny(SUB, Permission(actions=("*",)), exclude_principals=(GROUP,))
    action = "Microsoft.ApiManagement/service/write"
    assert check(
        definitions, [owner], action, SERVICE, principals=[GATEWAY_APP, GROUP], denies=[blocked]
    ).allowed
    assert not check(definitions, [owner], action, SERVICE, denies=[blocked]).allowed


def test_a_deny_assignment_not_applying_to_child_scopes_denies_at_its_scope_only(
    definitions: dict[str, RoleDefinition],
) -> None:
    owner = assign(GATEWAY_APP, OWNER, SUB)
    action = "Microsoft.ApiManagement/service/gateways/write"
    only_here = deny(SERVICE, Permission(actions=("*",)), do_not_apply_to_child_scopes=True)
    assert check(definitions, [owner], action, SERVICE, denies=[only_here]).access == "Denied"
    assert check(
        definitions, [owner], action, SERVICE.upper() + "/", denies=[only_here]
    ).access == ("Denied")
    assert check(definitions, [owner], action, GATEWAY, denies=[only_here]).allowed
    inherited = deny(SERVICE, Permission(actions=("*",)))
    assert check(definitions, [owner], action, GATEWAY, denies=[inherited]).access == "Denied"


def test_a_deny_assignment_does_not_apply_above_or_beside_its_scope(
    definitions: dict[str, RoleDefinition],
) -> None:
    owner = assign(GATEWAY_APP, OWNER, SUB)
    blocked = deny(SERVICE, Permission(actions=("*",)))
    assert check(definitions, [owner], "Microsoft.Foo/write", RG, denies=[blocked]).allowed
    assert check(
        definitions, [owner], "Microsoft.Foo/write", SIBLING_SERVICE, denies=[blocked]
    ).allowed


def test_a_deny_assignment_honours_its_own_not_actions(
    definitions: dict[str, RoleDefinition],
) -> None:
    owner = assign(GATEWAY_APP, OWNER, SUB)
    blocked = deny(SUB, Permission(actions=("*",), not_actions=("*/read",)))
    read = check(
        definitions, [owner], "Microsoft.ApiManagement/service/read", SERVICE, denies=[blocked]
    )
    assert read.allowed
    write = check(
        definitions, [owner], "Microsoft.ApiManagement/service/write", SERVICE, denies=[blocked]
    )
    assert write.access == "Denied"


def test_a_deny_assignment_of_data_actions_denies_only_data_actions(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignments = [
        assign(GATEWAY_APP, CONFIG_READER_ID, SERVICE),
        assign(GATEWAY_APP, OWNER, SUB),
    ]
    data_deny = deny(SUB, Permission(data_actions=(GET_CONFIGURATION,)))
    decision = check(
        definitions, assignments, GET_CONFIGURATION, GATEWAY, data_action=True, denies=[data_deny]
    )
    assert decision.access == "Denied"
    assert check(definitions, assignments, GET_CONFIGURATION, GATEWAY, denies=[data_deny]).allowed
    action_deny = deny(SUB, Permission(actions=("*",)))
    assert check(
        definitions,
        assignments,
        GET_CONFIGURATION,
        GATEWAY,
        data_action=True,
        denies=[action_deny],
    ).allowed


def test_a_matching_deny_assignment_reports_denied_even_without_any_role(
    definitions: dict[str, RoleDefinition],
) -> None:
    blocked = deny(SUB, Permission(actions=("*",)))
    decision = check(definitions, [], "Microsoft.Foo/read", SERVICE, denies=[blocked])
    assert decision == Decision("Denied", deny_assignment_id=blocked.id)


# Effective permissions (the ARM permissions API).


def test_effective_permissions_list_one_block_per_granting_role(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignments = [
        assign(GATEWAY_APP, CONFIG_READER_ID, SERVICE),
        assign(GATEWAY_APP, CONFIG_READER_ID, SUB),
        assign(GATEWAY_APP, READER, RG),
        assign(GATEWAY_APP, OWNER, SIBLING_SERVICE),
        assign(GATEWAY_APP, CONTRIBUTOR, GATEWAY),
        assign(STRANGER, USER_ACCESS_ADMIN, SUB),
    ]
    blocks = effective_permissions(frozenset({GATEWAY_APP}), SERVICE, assignments, definitions)
    assert blocks == [
        Permission(data_actions=(GET_CONFIGURATION,)),
        Permission(actions=("*/read",)),
    ]


def test_effective_permissions_include_every_block_of_a_role() -> None:
    role = custom(
        VALIDATOR_ID,
        Permission(actions=("Microsoft.ApiManagement/*",)),
        Permission(data_actions=(GET_CONFIGURATION,)),
    )
    assignments = [assign(GATEWAY_APP, role.id, SUB)]
    blocks = effective_permissions(frozenset({GATEWAY_APP}), GATEWAY, assignments, {role.id: role})
    assert blocks == list(role.permissions)


def test_effective_permissions_are_empty_without_a_granting_role(
    definitions: dict[str, RoleDefinition],
) -> None:
    assignments = [assign(GATEWAY_APP, CONFIG_READER_ID, GATEWAY)]
    assert effective_permissions(frozenset({GATEWAY_APP}), SERVICE, assignments, definitions) == []


# Assignability.


def test_a_role_is_assignable_within_its_assignable_scopes(
    definitions: dict[str, RoleDefinition], seed_scope: str
) -> None:
    reader = definitions[CONFIG_READER_ID]
    for scope in (seed_scope, f"{seed_scope}/resourceGroups/rg", f"{seed_scope.upper()}/"):
        check_assignable(reader, scope)


@pytest.mark.parametrize(
    "scope", ["/", OTHER_SUB, "/providers/Microsoft.Management/managementGroups/mg"]
)
def test_a_role_is_not_assignable_outside_its_assignable_scopes(
    definitions: dict[str, RoleDefinition], scope: str
) -> None:
    with pytest.raises(RbacError) as caught:
        check_assignable(definitions[CONFIG_READER_ID], scope)
    assert (caught.value.status, caught.value.code) == (400, "RoleDefinitionNotAssignable")
    assert "API Management Gateway Configuration Reader Role" in caught.value.message


def test_a_builtin_role_is_assignable_anywhere(definitions: dict[str, RoleDefinition]) -> None:
    for scope in ("/", SUB, GATEWAY, "/providers/Microsoft.Management/managementGroups/mg"):
        check_assignable(definitions[OWNER], scope)


def test_a_management_group_assignable_scope_does_not_reach_its_subscriptions() -> None:
    group = "/providers/Microsoft.Management/managementGroups/platform"
    role = RoleDefinition(
        id=VALIDATOR_ID,
        role_name="Platform role",
        description="",
        role_type="CustomRole",
        permissions=(),
        assignable_scopes=(group,),
    )
    check_assignable(role, group)
    with pytest.raises(RbacError):
        check_assignable(role, SUB)


def test_check_assignable_rejects_an_invalid_scope(definitions: dict[str, RoleDefinition]) -> None:
    with pytest.raises(RbacError) as caught:
        check_assignable(definitions[OWNER], "subscriptions/x")
    assert caught.value.code == "InvalidScope"
