"""Role definition documents in; ARM-shaped role definitions and assignments out.

Three input shapes, keys compared case-insensitively (azure-cli camel-cases whatever it is
given before sending it, so `Actions` and `actions` are the same key):

1. az / PowerShell (entra.md §7.1): `Name`, `Id`, `IsCustom`, `Description`, `Actions`,
   `NotActions`, `DataActions`, `NotDataActions`, `AssignableScopes`, and optionally a
   `Permissions` array of `{Actions, NotActions, DataActions, NotDataActions}` blocks. The two
   roles of the APIM include (apim-self-hosted-gateway.md §2) have both the array and a stray
   top-level `NotDataActions`; the role gets the array's blocks plus, if any top-level list
   is non-empty, one more block made of the top-level lists.
2. az's flattened output (`az role definition list`, fed back to `az role definition
   update`): as 1, but `roleName` is the role name, `name` the GUID and `roleType` the type.
3. ARM REST (entra.md §7.1): `{"name", "id", "properties": {"roleName", "description",
   "type", "permissions": [...], "assignableScopes"}}`.

Any input either parses or raises `RbacError` 400 `InvalidRoleDefinition` naming the field.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from tollhouse.directory.rbac._actions import check_action
from tollhouse.directory.rbac._case import fold
from tollhouse.directory.rbac._errors import RbacError, invalid_definition
from tollhouse.directory.rbac._model import (
    BUILT_IN_ROLE,
    CUSTOM_ROLE,
    EVERYONE,
    DenyAssignment,
    Permission,
    RoleAssignment,
    RoleDefinition,
    RoleType,
    role_guid,
)
from tollhouse.directory.rbac._scopes import ROOT, is_management_group, parse_scope

# Azure's limit on a custom role's name (custom-roles.md, "Name").
MAX_ROLE_NAME_LENGTH = 512

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)

_AZ_LISTS = ("Actions", "NotActions", "DataActions", "NotDataActions")
_ARM_LISTS = ("actions", "notActions", "dataActions", "notDataActions")

_AUTHORIZATION = "/providers/Microsoft.Authorization"


def parse_role_definition(doc: Mapping[str, Any], *, id: str | None = None) -> RoleDefinition:
    """Parse and validate a role definition in any of the three shapes.

    The GUID is `id` if given, else the document's (`Id`, or ARM `name`/`id`), else a new
    random one.
    """
    fields = _object("", doc)
    if "properties" in fields:
        return _parse_arm(fields, id)
    return _parse_az(fields, id)


def _parse_arm(fields: dict[str, Any], given_id: str | None) -> RoleDefinition:
    properties = _object("properties", fields["properties"])
    return _definition(
        given_id=given_id,
        document_id=fields.get("name") or fields.get("id"),
        id_field="name",
        role_name=properties.get("rolename"),
        name_field="properties.roleName",
        description=properties.get("description"),
        description_field="properties.description",
        role_type=_role_type_name("properties.type", properties.get("type")),
        permissions=_blocks("properties.permissions", properties.get("permissions"), _ARM_LISTS),
        scopes=properties.get("assignablescopes"),
        scopes_field="properties.assignableScopes",
    )


def _parse_az(fields: dict[str, Any], given_id: str | None) -> RoleDefinition:
    if "rolename" in fields:
        role_name, name_field = fields["rolename"], "roleName"
        document_id, id_field = fields.get("name") or fields.get("id"), "name"
        role_type = _role_type_name("roleType", fields.get("roletype"))
    else:
        role_name, name_field = fields.get("name"), "Name"
        document_id, id_field = fields.get("id"), "Id"
        role_type = _role_type_flag("IsCustom", fields.get("iscustom"))
    permissions = _blocks("Permissions", fields.get("permissions"), _AZ_LISTS)
    top_level = _block("", fields, _AZ_LISTS)
    if top_level != Permission():
        permissions.append(top_level)
    return _definition(
        given_id=given_id,
        document_id=document_id,
        id_field=id_field,
        role_name=role_name,
        name_field=name_field,
        description=fields.get("description"),
        description_field="Description",
        role_type=role_type,
        permissions=permissions,
        scopes=fields.get("assignablescopes"),
        scopes_field="AssignableScopes",
    )


def _definition(
    *,
    given_id: str | None,
    document_id: object,
    id_field: str,
    role_name: object,
    name_field: str,
    description: object,
    description_field: str,
    role_type: RoleType,
    permissions: list[Permission],
    scopes: object,
    scopes_field: str,
) -> RoleDefinition:
    if given_id is not None:
        guid = _guid("id", given_id)
    elif document_id is not None and document_id != "":
        guid = _guid(id_field, document_id)
    else:
        guid = str(uuid.uuid4())
    return RoleDefinition(
        id=guid,
        role_name=_role_name(name_field, role_name),
        description=_description(description_field, description),
        role_type=role_type,
        permissions=tuple(permissions),
        assignable_scopes=_assignable_scopes(scopes_field, scopes, role_type),
    )


def _object(field: str, value: object) -> dict[str, Any]:
    """A JSON object with its keys folded; two keys differing only in case are an error."""
    if not isinstance(value, Mapping):
        raise invalid_definition(field, f"must be a JSON object, not {type(value).__name__}")
    folded: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise invalid_definition(field, "must have string keys")
        if fold(key) in folded:
            path = f"{field}.{key}" if field else key
            raise invalid_definition(path, "is given twice (keys ignore case)")
        folded[fold(key)] = item
    return folded


def _guid(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise invalid_definition(field, f"must be a string, not {type(value).__name__}")
    # An ARM `id` is a resource id ending in the GUID.
    guid = fold(role_guid(value))
    if not _GUID.fullmatch(guid):
        raise invalid_definition(field, f"'{value[:128]}' is not a GUID")
    return guid


def _role_name(field: str, value: object) -> str:
    if value is None:
        raise invalid_definition(field, "is required")
    if not isinstance(value, str):
        raise invalid_definition(field, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise invalid_definition(field, "must not be empty")
    if len(value) > MAX_ROLE_NAME_LENGTH:
        raise invalid_definition(field, f"is longer than {MAX_ROLE_NAME_LENGTH} characters")
    return value


def _description(field: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_definition(field, f"must be a string, not {type(value).__name__}")
    return value


def _role_type_name(field: str, value: object) -> RoleType:
    if value is None:
        return CUSTOM_ROLE
    if isinstance(value, str):
        if fold(value) == fold(CUSTOM_ROLE):
            return CUSTOM_ROLE
        if fold(value) == fold(BUILT_IN_ROLE):
            return BUILT_IN_ROLE
    raise invalid_definition(field, f"must be '{CUSTOM_ROLE}' or '{BUILT_IN_ROLE}'")


def _role_type_flag(field: str, value: object) -> RoleType:
    if value is None:
        return CUSTOM_ROLE
    if not isinstance(value, bool):
        raise invalid_definition(field, "must be true or false")
    return CUSTOM_ROLE if value else BUILT_IN_ROLE


def _blocks(field: str, value: object, names: tuple[str, ...]) -> list[Permission]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_definition(field, f"must be an array, not {type(value).__name__}")
    return [
        _block(f"{field}[{index}]", _object(f"{field}[{index}]", item), names)
        for index, item in enumerate(value)
    ]


def _block(field: str, fields: dict[str, Any], names: tuple[str, ...]) -> Permission:
    prefix = f"{field}." if field else ""
    actions, not_actions, data_actions, not_data_actions = (
        _action_list(prefix + name, fields.get(fold(name))) for name in names
    )
    return Permission(actions, not_actions, data_actions, not_data_actions)


def _action_list(field: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_definition(field, f"must be an array, not {type(value).__name__}")
    return tuple(check_action(f"{field}[{index}]", item) for index, item in enumerate(value))


def _assignable_scopes(field: str, value: object, role_type: RoleType) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise invalid_definition(field, "must be an array of at least one scope")
    scopes = []
    for index, item in enumerate(value):
        try:
            scope = parse_scope(item)
        except RbacError as error:
            raise invalid_definition(
                f"{field}[{index}]", f"is not valid. {error.message.removesuffix('.')}"
            ) from None
        # entra.md §7.1: "`"/"` is for built-in roles only."
        if scope == ROOT and role_type != BUILT_IN_ROLE:
            raise invalid_definition(
                f"{field}[{index}]", "is '/', which only built-in roles may use"
            )
        scopes.append(scope)
    # entra.md §7.1: AssignableScopes may list management groups "(only one)".
    if sum(1 for scope in scopes if is_management_group(scope)) > 1:
        raise invalid_definition(field, "may list at most one management group")
    return tuple(scopes)


def _permission_to_arm(permission: Permission) -> dict[str, list[str]]:
    return {
        "actions": list(permission.actions),
        "notActions": list(permission.not_actions),
        "dataActions": list(permission.data_actions),
        "notDataActions": list(permission.not_data_actions),
    }


def _under(scope: str) -> str:
    """The prefix of an extension resource id under `scope` (the root adds nothing)."""
    return scope.rstrip("/")


def role_definition_id(guid: str, *, at_scope: str = "") -> str:
    return f"{_under(at_scope)}{_AUTHORIZATION}/roleDefinitions/{role_guid(guid)}"


def role_definition_to_arm(defn: RoleDefinition, *, at_scope: str = "") -> dict[str, Any]:
    """The ARM REST shape of a role definition, its id under `at_scope` (default: the root)."""
    return {
        "id": role_definition_id(defn.id, at_scope=at_scope),
        "name": defn.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": defn.role_name,
            "description": defn.description,
            "type": defn.role_type,
            "permissions": [_permission_to_arm(block) for block in defn.permissions],
            "assignableScopes": list(defn.assignable_scopes),
        },
    }


def role_assignment_to_arm(assignment: RoleAssignment) -> dict[str, Any]:
    """The ARM REST shape of a role assignment.

    `roleDefinitionId` is always the tenant-level form
    `/providers/Microsoft.Authorization/roleDefinitions/{guid}`, for built-in and custom roles
    alike: the GUID identifies the role, and clients take the last segment.
    """
    return {
        "id": f"{_under(assignment.scope)}{_AUTHORIZATION}/roleAssignments/{assignment.id}",
        "name": assignment.id,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "principalId": assignment.principal_id,
            "principalType": assignment.principal_type,
            "roleDefinitionId": role_definition_id(assignment.role_definition_id),
            "scope": assignment.scope,
        },
    }


def deny_assignment_to_arm(deny: DenyAssignment) -> dict[str, Any]:
    """The ARM REST shape of a deny assignment (entra.md §7.3).

    The zero GUID is typed `SystemDefined` (everyone); other principals are typed
    `ServicePrincipal`, the only kind of principal the directory holds. Deny assignments are
    created by the system only, hence `isSystemProtected`.
    """
    return {
        "id": f"{_under(deny.scope)}{_AUTHORIZATION}/denyAssignments/{deny.id}",
        "name": deny.id,
        "type": "Microsoft.Authorization/denyAssignments",
        "properties": {
            "denyAssignmentName": deny.name,
            "description": deny.description,
            "permissions": [_permission_to_arm(block) for block in deny.permissions],
            "scope": deny.scope,
            "doNotApplyToChildScopes": deny.do_not_apply_to_child_scopes,
            "principals": [_principal_to_arm(principal) for principal in deny.principals],
            "excludePrincipals": [
                _principal_to_arm(principal) for principal in deny.exclude_principals
            ],
            "isSystemProtected": True,
        },
    }


def _principal_to_arm(principal_id: str) -> dict[str, str]:
    kind = "SystemDefined" if principal_id == EVERYONE else "ServicePrincipal"
    return {"id": principal_id, "type": kind}
