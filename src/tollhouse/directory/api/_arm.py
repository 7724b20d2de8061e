"""ARM-shaped RBAC routes under any scope: `{scope}/providers/Microsoft.Authorization/...`.

Reading and writing RBAC is itself governed by RBAC: each route names the action it needs
(`Microsoft.Authorization/roleAssignments/write`, …) and the caller must hold it at the scope.
ARM paths are case-insensitive, so routing is done here rather than by path templates.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tollhouse.directory._errors import BadRequest, Forbidden, NotFound
from tollhouse.directory._service import ARM_AUDIENCES, Caller, Directory
from tollhouse.directory.rbac import (
    BUILTIN_ROLES,
    DenyAssignment,
    RoleAssignment,
    RoleDefinition,
    check_assignable,
    deny_assignment_to_arm,
    effective_permissions,
    evaluate,
    parse_role_definition,
    parse_scope,
    role_assignment_to_arm,
    role_definition_to_arm,
    scope_contains,
)

_AUTHZ = re.compile(r"/providers/microsoft\.authorization/", re.IGNORECASE)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_FILTER_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
# checkAccess answers at most this many actions per call, like ARM's batch limits.
MAX_CHECK_ACCESS_ACTIONS = 100
PRINCIPAL_TYPES = frozenset({"ServicePrincipal", "User", "Group", "ForeignGroup", "Device"})


@dataclass(frozen=True)
class RbacView:
    """One tenant's RBAC state, read once per request."""

    assignments: list[RoleAssignment]
    definitions: dict[str, RoleDefinition]
    denies: list[DenyAssignment]


def _split(path: str) -> tuple[str, str, str | None]:
    """(scope, collection, name) from `{scope}/providers/Microsoft.Authorization/{c}[/{n}]`."""
    matches = list(_AUTHZ.finditer(path))
    if not matches:
        raise NotFound("The requested resource does not exist.", "ResourceNotFound")
    last = matches[-1]
    scope = path[: last.start()] or "/"
    rest = path[last.end() :].strip("/").split("/")
    if len(rest) > 2 or not rest[0]:
        raise NotFound("The requested resource does not exist.", "ResourceNotFound")
    return scope, rest[0].lower(), rest[1] if len(rest) == 2 else None


def _guid_of(reference: str, what: str) -> str:
    guid = reference.rstrip("/").rsplit("/", 1)[-1]
    if not _GUID.match(guid):
        raise BadRequest(f"The {what} '{reference[:200]}' is not a valid GUID.", "InvalidRequest")
    return guid.lower()


def router(directory: Directory) -> APIRouter:
    api = APIRouter()
    store = directory.store

    def view(tenant_id: str) -> RbacView:
        definitions = {r.id.lower(): r for r in BUILTIN_ROLES}
        definitions.update({d.id.lower(): d for d in store.list_role_definitions(tenant_id)})
        return RbacView(
            store.list_role_assignments(tenant_id),
            definitions,
            store.list_deny_assignments(tenant_id),
        )

    def require(rbac: RbacView, who: Caller, action: str, scope: str) -> None:
        decision = evaluate(
            {who.object_id},
            action,
            data_action=False,
            scope=scope,
            assignments=rbac.assignments,
            definitions=rbac.definitions,
            deny_assignments=rbac.denies,
        )
        if not decision.allowed:
            denied = " because of a deny assignment" if decision.access == "Denied" else ""
            raise Forbidden(
                f"The client '{who.app_id}' with object id '{who.object_id}' does not have "
                f"authorization to perform action '{action}' over scope '{scope}'{denied} or "
                "the scope is invalid. If access was recently granted, please refresh your "
                "credentials."
            )

    def handle(method: str, path: str, who: Caller, query: dict[str, str], body: Any) -> Any:
        scope_text, collection, name = _split(path)
        scope = parse_scope(scope_text)
        rbac = view(who.tenant_id)
        if collection == "permissions" and method == "GET" and name is None:
            blocks = effective_permissions(
                {who.object_id}, scope, rbac.assignments, rbac.definitions
            )
            return {
                "value": [
                    {
                        "actions": list(b.actions),
                        "notActions": list(b.not_actions),
                        "dataActions": list(b.data_actions),
                        "notDataActions": list(b.not_data_actions),
                    }
                    for b in blocks
                ]
            }
        if collection == "checkaccess" and method == "POST" and name is None:
            return check_access(rbac, who, scope, body)
        if collection == "roledefinitions":
            return role_definitions(method, rbac, who, scope, name, query, body)
        if collection == "roleassignments":
            return role_assignments(method, rbac, who, scope, name, query, body)
        if collection == "denyassignments" and method == "GET":
            require(rbac, who, "Microsoft.Authorization/denyAssignments/read", scope)
            found = [
                d
                for d in rbac.denies
                if scope_contains(d.scope, scope) or scope_contains(scope, d.scope)
            ]
            if name is not None:
                for deny in found:
                    if deny.id.lower() == name.lower():
                        return deny_assignment_to_arm(deny)
                raise NotFound(f"Deny assignment '{name}' not found.", "DenyAssignmentNotFound")
            return {"value": [deny_assignment_to_arm(d) for d in found]}
        raise NotFound("The requested resource does not exist.", "ResourceNotFound")

    def check_access(rbac: RbacView, who: Caller, scope: str, body: Any) -> dict[str, Any]:
        """Whether a named principal may perform actions at the scope: what a service's
        managed identity asks on behalf of its callers (DESIGN §2)."""
        for action in (
            "Microsoft.Authorization/roleAssignments/read",
            "Microsoft.Authorization/roleDefinitions/read",
            "Microsoft.Authorization/denyAssignments/read",
        ):
            require(rbac, who, action, scope)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.", "InvalidRequestContent")
        subject = body.get("subject")
        principal = subject.get("principalId") if isinstance(subject, dict) else None
        actions = body.get("actions")
        if not isinstance(principal, str) or not _GUID.match(principal):
            raise BadRequest("'subject.principalId' must be a GUID.", "InvalidRequestContent")
        if not isinstance(actions, list) or not 0 < len(actions) <= MAX_CHECK_ACCESS_ACTIONS:
            raise BadRequest(
                f"'actions' must list 1 to {MAX_CHECK_ACCESS_ACTIONS} actions.",
                "InvalidRequestContent",
            )
        results = []
        for item in actions:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise BadRequest("Each action needs an 'id'.", "InvalidRequestContent")
            data = bool(item.get("isDataAction", False))
            decision = evaluate(
                {principal},
                item["id"],
                data_action=data,
                scope=scope,
                assignments=rbac.assignments,
                definitions=rbac.definitions,
                deny_assignments=rbac.denies,
            )
            results.append(
                {
                    "actionId": item["id"],
                    "isDataAction": data,
                    "accessDecision": decision.access,
                    "roleAssignmentId": decision.role_assignment_id,
                    "denyAssignmentId": decision.deny_assignment_id,
                }
            )
        return {"value": results}

    def role_definitions(
        method: str,
        rbac: RbacView,
        who: Caller,
        scope: str,
        name: str | None,
        query: dict[str, str],
        body: Any,
    ) -> Any:
        if method == "GET":
            require(rbac, who, "Microsoft.Authorization/roleDefinitions/read", scope)
            if name is not None:
                found = rbac.definitions.get(_guid_of(name, "role definition id"))
                if found is None:
                    raise NotFound(
                        f"The role definition '{name}' could not be found.",
                        "RoleDefinitionDoesNotExist",
                    )
                return role_definition_to_arm(found, at_scope=_at(scope))
            items = [
                d
                for d in rbac.definitions.values()
                if any(
                    scope_contains(s, scope) or scope_contains(scope, s)
                    for s in d.assignable_scopes
                )
            ]
            wanted = _filter(query, {"rolename", "type"})
            if wanted is not None:
                key, value = wanted
                items = [
                    d
                    for d in items
                    if (d.role_name if key == "rolename" else d.role_type).lower() == value.lower()
                ]
            return {"value": [role_definition_to_arm(d, at_scope=_at(scope)) for d in items]}
        if name is None:
            raise NotFound("The requested resource does not exist.", "ResourceNotFound")
        guid = _guid_of(name, "role definition id")
        if guid in {r.id.lower() for r in BUILTIN_ROLES}:
            raise Forbidden("Built-in roles cannot be changed.", "BuiltInRoleCannotBeModified")
        if method == "PUT":
            if not isinstance(body, dict):
                raise BadRequest("The request body must be a JSON object.", "InvalidRequestContent")
            definition = parse_role_definition(body, id=guid)
            if definition.role_type != "CustomRole":
                raise BadRequest(
                    "Only custom roles can be created; built-in roles are fixed.",
                    "InvalidRoleDefinition",
                )
            for assignable in definition.assignable_scopes:
                require(rbac, who, "Microsoft.Authorization/roleDefinitions/write", assignable)
            saved = store.put_role_definition(who.tenant_id, definition)
            return role_definition_to_arm(saved, at_scope=_at(scope))
        if method == "DELETE":
            found = rbac.definitions.get(guid)
            if found is None:
                raise NotFound(
                    f"The role definition '{name}' could not be found.",
                    "RoleDefinitionDoesNotExist",
                )
            for assignable in found.assignable_scopes:
                require(rbac, who, "Microsoft.Authorization/roleDefinitions/delete", assignable)
            store.delete_role_definition(who.tenant_id, guid)
            return role_definition_to_arm(found, at_scope=_at(scope))
        raise NotFound("The requested resource does not exist.", "ResourceNotFound")

    def role_assignments(
        method: str,
        rbac: RbacView,
        who: Caller,
        scope: str,
        name: str | None,
        query: dict[str, str],
        body: Any,
    ) -> Any:
        if method == "GET":
            require(rbac, who, "Microsoft.Authorization/roleAssignments/read", scope)
            if name is not None:
                found = store.get_role_assignment(
                    who.tenant_id, _guid_of(name, "role assignment id")
                )
                return role_assignment_to_arm(found)
            flt = query.get("$filter", "").strip()
            items = rbac.assignments
            if flt.lower() == "atscope()":
                items = [a for a in items if scope_contains(a.scope, scope)]
            else:
                items = [
                    a
                    for a in items
                    if scope_contains(a.scope, scope) or scope_contains(scope, a.scope)
                ]
                wanted = _filter(query, {"principalid", "assignedto"})
                if wanted is not None:
                    items = [a for a in items if a.principal_id.lower() == wanted[1].lower()]
            return {"value": [role_assignment_to_arm(a) for a in items]}
        if name is None:
            raise NotFound("The requested resource does not exist.", "ResourceNotFound")
        guid = _guid_of(name, "role assignment id")
        if method == "PUT":
            require(rbac, who, "Microsoft.Authorization/roleAssignments/write", scope)
            properties = body.get("properties") if isinstance(body, dict) else None
            if not isinstance(properties, dict):
                raise BadRequest("The request body needs 'properties'.", "InvalidRequestContent")
            role_ref, principal = properties.get("roleDefinitionId"), properties.get("principalId")
            if not isinstance(role_ref, str) or not isinstance(principal, str):
                raise BadRequest(
                    "'properties.roleDefinitionId' and 'properties.principalId' are required.",
                    "InvalidRequestContent",
                )
            principal_type = str(properties.get("principalType") or "ServicePrincipal")
            if principal_type not in PRINCIPAL_TYPES:
                raise BadRequest(
                    f"Unknown principalType '{principal_type[:64]}'.", "InvalidPrincipalType"
                )
            definition = rbac.definitions.get(_guid_of(role_ref, "role definition id"))
            if definition is None:
                raise BadRequest(
                    f"The role definition '{role_ref[:200]}' does not exist.",
                    "RoleDefinitionDoesNotExist",
                )
            check_assignable(definition, scope)
            principal_id = _guid_of(principal, "principal id")
            try:
                store.get_service_principal(who.tenant_id, principal_id=principal_id)
            except NotFound as exc:
                raise BadRequest(
                    f"Principal {principal_id} does not exist in the directory {who.tenant_id}.",
                    "PrincipalNotFound",
                ) from exc
            created = store.create_role_assignment(
                who.tenant_id,
                RoleAssignment(
                    id=guid,
                    scope=scope,
                    principal_id=principal_id,
                    role_definition_id=definition.id.lower(),
                    principal_type=principal_type,
                ),
                now=directory.clock(),
            )
            return role_assignment_to_arm(created)
        if method == "DELETE":
            found = store.get_role_assignment(who.tenant_id, guid)
            require(rbac, who, "Microsoft.Authorization/roleAssignments/delete", found.scope)
            store.delete_role_assignment(who.tenant_id, guid)
            return role_assignment_to_arm(found)
        raise NotFound("The requested resource does not exist.", "ResourceNotFound")

    async def endpoint(request: Request, path: str) -> JSONResponse:
        who = directory.verify_caller(request.headers.get("authorization"), ARM_AUDIENCES)
        body: Any = None
        if request.method in ("PUT", "POST"):
            try:
                body = await request.json()
            except ValueError as exc:
                raise BadRequest(
                    "The request body is not valid JSON.", "InvalidRequestContent"
                ) from exc
        query = dict(request.query_params)
        result = await anyio.to_thread.run_sync(
            lambda: handle(request.method, "/" + path, who, query, body)
        )
        status = 201 if request.method == "PUT" and "roleassignments" in path.lower() else 200
        return JSONResponse(result, status_code=status)

    methods = ["GET", "PUT", "DELETE", "POST"]
    api.add_api_route(
        "/subscriptions/{path:path}", _prefixed(endpoint, "subscriptions/"), methods=methods
    )
    api.add_api_route("/providers/{path:path}", _prefixed(endpoint, "providers/"), methods=methods)
    return api


def _prefixed(endpoint: Any, prefix: str) -> Any:
    async def route(request: Request, path: str) -> JSONResponse:
        result: JSONResponse = await endpoint(request, prefix + path)
        return result

    return route


def _at(scope: str) -> str:
    return "" if scope == "/" else scope


def _filter(query: dict[str, str], keys: Sequence[str] | set[str]) -> tuple[str, str] | None:
    text = query.get("$filter")
    if not text:
        return None
    match = _FILTER_EQ.match(text)
    if not match or match.group(1).lower() not in keys:
        raise BadRequest(f"Unsupported $filter '{text[:200]}'.", "UnsupportedFilter")
    return match.group(1).lower(), match.group(2).replace("''", "'")


def new_assignment_name() -> str:
    return str(uuid.uuid4())
