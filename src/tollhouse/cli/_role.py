"""`tollhouse role`: role definitions and assignments, as `az role` manages Azure RBAC.

The ARM calls are az's: `{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}`
and `…/roleAssignments/{guid}`. Results are printed flattened as az prints them (the
`properties` lifted to the top; a definition's `type` becomes `roleType`).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tollhouse.cli._command import Subparsers, add_command, add_group
from tollhouse.cli._errors import CliError, RequestError
from tollhouse.cli._graph import find_service_principal, is_guid, odata_string
from tollhouse.cli._http import AUTHORIZATION_PROVIDER, DirectoryClient
from tollhouse.cli._input import read_json_object
from tollhouse.cli._output import field, warn
from tollhouse.cli._session import Session

if TYPE_CHECKING:
    from tollhouse.directory.rbac import RoleDefinition

# Where a command without --scope looks. az uses the current subscription; the directory
# has none, so the whole tenant.
ROOT_SCOPE = "/"
PRINCIPAL_TYPES = ("ServicePrincipal", "User", "Group", "ForeignGroup", "Device")
_ASSIGNMENT_ID = re.compile(
    r"^(?P<scope>.*)/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)

DEFINITION_COLUMNS = (
    field("RoleName"),
    field("Name"),
    field("RoleType"),
    field("Description"),
)
ASSIGNMENT_COLUMNS = (
    field("Principal", "principalName"),
    field("Role", "roleDefinitionName"),
    field("Scope"),
)


def register(subparsers: Subparsers) -> None:
    role = add_group(subparsers, "role", "Manage role definitions and role assignments.")
    _register_definition(add_group(role, "definition", "Manage role definitions."))
    _register_assignment(add_group(role, "assignment", "Manage role assignments."))


def _scope_option(parser: argparse.ArgumentParser, summary: str, *, required: bool = False) -> None:
    parser.add_argument("--scope", required=required, type=_scope, help=summary)


def _scope(text: str) -> str:
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a scope: it starts with '/', as in /subscriptions/<id>"
        )
    return text.rstrip("/") or ROOT_SCOPE


# --- role definitions ------------------------------------------------------------------------


def _register_definition(definition: Subparsers) -> None:
    create = add_command(
        definition,
        "create",
        _definition_create,
        "Create a custom role.",
        columns=DEFINITION_COLUMNS,
    )
    create.add_argument(
        "--role-definition",
        required=True,
        metavar="JSON",
        help="the role as az takes it (Name, Description, Actions… or Permissions, "
        "AssignableScopes): JSON, @file or a file path",
    )

    update = add_command(
        definition,
        "update",
        _definition_update,
        "Update a custom role.",
        columns=DEFINITION_COLUMNS,
    )
    update.add_argument(
        "--role-definition",
        required=True,
        metavar="JSON",
        help="the role, found by its Id, else by its Name: JSON, @file or a file path",
    )

    listing = add_command(
        definition, "list", _definition_list, "List role definitions.", columns=DEFINITION_COLUMNS
    )
    listing.add_argument("--name", help="a role's name or GUID")
    listing.add_argument(
        "--custom-role-only", action="store_true", help="only custom roles, not built-in ones"
    )
    _scope_option(listing, "only roles assignable at or below this scope (default: all)")

    delete = add_command(definition, "delete", _definition_delete, "Delete a custom role.")
    delete.add_argument("--name", required=True, help="the role's name or GUID")
    delete.add_argument(
        "--custom-role-only", action="store_true", help="only if it is a custom role"
    )
    _scope_option(delete, "where to look for the role (default: the whole tenant)")


def flatten_definition(arm: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in arm.items() if k != "properties"}
    properties = dict(arm.get("properties") or {})
    flat["roleType"] = properties.pop("type", None)
    return {**properties, **flat}


def _parse_definition(document: dict[str, Any], role_id: str | None = None) -> RoleDefinition:
    """The document as a `RoleDefinition`, checked by the same rules the directory applies,
    so a mistake is named before anything is sent."""
    # Imported here: the directory package is heavy to import, and only this needs it.
    from tollhouse.directory.rbac import RbacError, parse_role_definition

    try:
        definition = parse_role_definition(document, id=role_id)
    except RbacError as exc:
        raise CliError(exc.message) from None
    # az sends every role it creates as a custom role, whatever IsCustom says.
    return dataclasses.replace(definition, role_type="CustomRole")


def _put_definition(session: Session, definition: RoleDefinition) -> dict[str, Any]:
    from tollhouse.directory.rbac import role_definition_to_arm

    # ARM: a role definition is written at (the first of) its assignable scopes.
    scope = definition.assignable_scopes[0]
    body = role_definition_to_arm(definition, at_scope=scope)
    created = session.client.arm("PUT", scope, f"/roleDefinitions/{definition.id}", body=body)
    return flatten_definition(created)


def _definition_create(args: argparse.Namespace, session: Session) -> Any:
    document = read_json_object("--role-definition", args.role_definition)
    return _put_definition(session, _parse_definition(document))


def _has_id(document: dict[str, Any]) -> bool:
    keys = {key.lower() for key in document}
    # az's own output fed back: `name` is the GUID, `roleName` the name.
    return "id" in keys or ("rolename" in keys and "name" in keys)


def _definition_update(args: argparse.Namespace, session: Session) -> Any:
    document = read_json_object("--role-definition", args.role_definition)
    definition = _parse_definition(document)
    if not _has_id(document):
        scope = definition.assignable_scopes[0]
        matched = find_definitions(session.client, definition.role_name, scope)
        if not matched:
            raise CliError(f'No definition was found with the name of "{definition.role_name}".')
        if len(matched) > 1:
            raise CliError(f'More than one definition has the name "{definition.role_name}".')
        definition = _parse_definition(document, role_id=matched[0]["name"])
    return _put_definition(session, definition)


def find_definitions(
    client: DirectoryClient, name: str | None, scope: str, *, custom_only: bool = False
) -> list[dict[str, Any]]:
    """Role definitions visible at `scope` whose GUID or name is `name` (all if None)."""
    if name is not None and is_guid(name):
        try:
            found = [client.arm("GET", scope, f"/roleDefinitions/{name}")]
        except RequestError as exc:
            if exc.status != 404:
                raise
            found = []
    else:
        params = {"$filter": f"roleName eq {odata_string(name)}"} if name is not None else None
        found = list(client.arm("GET", scope, "/roleDefinitions", params=params)["value"])
    if custom_only:
        found = [d for d in found if d.get("properties", {}).get("type") == "CustomRole"]
    return found


def _definition_list(args: argparse.Namespace, session: Session) -> Any:
    found = find_definitions(
        session.client, args.name, args.scope or ROOT_SCOPE, custom_only=args.custom_role_only
    )
    return [flatten_definition(d) for d in found]


def _definition_delete(args: argparse.Namespace, session: Session) -> Any:
    scope = args.scope or ROOT_SCOPE
    found = find_definitions(session.client, args.name, scope, custom_only=args.custom_role_only)
    if not found:
        # az deletes nothing and says nothing; a warning at least tells a typo apart.
        warn(f"No role definition '{args.name}' is visible at scope '{scope}'.")
    for definition in found:
        session.client.arm("DELETE", scope, f"/roleDefinitions/{definition['name']}")
    return None


# --- role assignments ------------------------------------------------------------------------


def _register_assignment(assignment: Subparsers) -> None:
    create = add_command(
        assignment, "create", _assignment_create, "Assign a role.", columns=ASSIGNMENT_COLUMNS
    )
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--assignee", help="a service principal's appId or object id")
    who.add_argument(
        "--assignee-object-id",
        help="a principal's object id, used as given (no directory lookup)",
    )
    create.add_argument(
        "--assignee-principal-type",
        choices=PRINCIPAL_TYPES,
        help="the principal's type (default ServicePrincipal)",
    )
    create.add_argument("--role", required=True, help="the role's name or GUID")
    _scope_option(create, "where the role applies, e.g. /subscriptions/<id>", required=True)

    listing = add_command(
        assignment, "list", _assignment_list, "List role assignments.", columns=ASSIGNMENT_COLUMNS
    )
    _search_options(listing)
    listing.add_argument(
        "--all", action="store_true", help="at every scope (the default without --scope)"
    )

    delete = add_command(assignment, "delete", _assignment_delete, "Delete role assignments.")
    delete.add_argument(
        "--ids", nargs="+", metavar="ID", help="assignment resource ids (other options ignored)"
    )
    _search_options(delete)
    delete.add_argument(
        "--yes", "-y", action="store_true", help="with no filter, delete every assignment"
    )


def _search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignee", help="a service principal's appId or object id")
    parser.add_argument("--role", help="the role's name or GUID")
    _scope_option(parser, "only assignments at exactly this scope")
    parser.add_argument(
        "--include-inherited",
        action="store_true",
        help="with --scope, also assignments at the scopes above it",
    )


def flatten_assignment(arm: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in arm.items() if k != "properties"}
    return {**dict(arm.get("properties") or {}), **flat}


def resolve_assignee(client: DirectoryClient, assignee: str) -> str:
    """az's order: a service principal by appId, else by object id."""
    principal = find_service_principal(client, assignee)
    if principal is None:
        raise CliError(
            f"Cannot find user or service principal in graph database for '{assignee}'. "
            "If the assignee is an appId, make sure the corresponding service principal is "
            f"created with 'tollhouse ad sp create --id {assignee}'."
        )
    return str(principal["id"])


def resolve_role(client: DirectoryClient, role: str, scope: str) -> str:
    """The role definition id of a role given by resource id, GUID or name (at `scope`)."""
    if role.startswith("/"):
        return role
    if is_guid(role):
        return f"{AUTHORIZATION_PROVIDER}/roleDefinitions/{role}"
    found = find_definitions(client, role, scope)
    if not found:
        raise CliError(f"Role '{role}' doesn't exist.")
    if len(found) > 1:
        ids = ", ".join(str(d["id"]) for d in found)
        raise CliError(f"More than one role matches the given name '{role}'. Pick one of: {ids}")
    return str(found[0]["id"])


def _guid_of(reference: str) -> str:
    return reference.rstrip("/").rsplit("/", 1)[-1].lower()


def _assignment_create(args: argparse.Namespace, session: Session) -> Any:
    client = session.client
    if args.assignee_object_id is not None:
        principal_id = args.assignee_object_id
    else:
        principal_id = resolve_assignee(client, args.assignee)
    role_id = resolve_role(client, args.role, args.scope)
    body = {
        "properties": {
            "roleDefinitionId": role_id,
            "principalId": principal_id,
            "principalType": args.assignee_principal_type or "ServicePrincipal",
        }
    }
    try:
        created = client.arm("PUT", args.scope, f"/roleAssignments/{uuid.uuid4()}", body=body)
    except RequestError as exc:
        if exc.status != 409 or exc.code != "RoleAssignmentExists":
            raise
        # As az: assigning what is already assigned answers the existing assignment.
        existing = _search(client, args.scope, principal_id, role_id, include_inherited=False)
        if not existing:
            raise
        return existing[0]
    return flatten_assignment(created)


def _search(
    client: DirectoryClient,
    scope: str | None,
    principal_id: str | None,
    role_id: str | None,
    *,
    include_inherited: bool,
) -> list[dict[str, Any]]:
    """az's `_search_role_assignments`: at a scope, those exactly there (and above it with
    `include_inherited`); without one, all of them, by principal if given."""
    if scope is not None:
        found = client.arm("GET", scope, "/roleAssignments", params={"$filter": "atScope()"})
    elif principal_id is not None:
        found = client.arm(
            "GET",
            ROOT_SCOPE,
            "/roleAssignments",
            params={"$filter": f"principalId eq {odata_string(principal_id)}"},
        )
    else:
        found = client.arm("GET", ROOT_SCOPE, "/roleAssignments")
    items = [flatten_assignment(a) for a in found["value"]]
    if scope is not None and not include_inherited:
        items = [a for a in items if str(a.get("scope", "")).lower() == scope.lower()]
    if principal_id is not None:
        items = [a for a in items if str(a.get("principalId", "")).lower() == principal_id.lower()]
    if role_id is not None:
        wanted = _guid_of(role_id)
        items = [a for a in items if _guid_of(str(a.get("roleDefinitionId", ""))) == wanted]
    return items


def _search_arguments(args: argparse.Namespace, session: Session) -> list[dict[str, Any]]:
    client = session.client
    principal_id = resolve_assignee(client, args.assignee) if args.assignee else None
    role_id = resolve_role(client, args.role, args.scope or ROOT_SCOPE) if args.role else None
    return _search(
        client, args.scope, principal_id, role_id, include_inherited=args.include_inherited
    )


def _assignment_list(args: argparse.Namespace, session: Session) -> Any:
    if args.all and args.scope:
        raise CliError("--scope is not needed when --all is used.")
    items = _search_arguments(args, session)
    _add_names(session.client, items)
    return items


def _add_names(client: DirectoryClient, items: list[dict[str, Any]]) -> None:
    """az fills in `roleDefinitionName` and `principalName` (a service principal's first
    name: its appId); one that cannot be read is left empty, as az leaves it."""
    try:
        definitions = client.arm("GET", ROOT_SCOPE, "/roleDefinitions")["value"]
    except RequestError:
        definitions = []
    roles = {d["name"].lower(): d.get("properties", {}).get("roleName") for d in definitions}
    principals: dict[str, str] = {}
    for item in items:
        item["roleDefinitionName"] = roles.get(_guid_of(str(item.get("roleDefinitionId", ""))))
        principal_id = str(item.get("principalId", ""))
        if principal_id not in principals:
            principals[principal_id] = _principal_name(client, principal_id)
        item["principalName"] = principals[principal_id]


def _principal_name(client: DirectoryClient, principal_id: str) -> str:
    if not is_guid(principal_id):
        return ""
    try:
        return str(client.graph("GET", f"/servicePrincipals/{principal_id}").get("appId", ""))
    except RequestError:
        return ""


def _assignment_delete(args: argparse.Namespace, session: Session) -> Any:
    client = session.client
    if args.ids:
        for option in ("assignee", "role", "scope"):
            if getattr(args, option):
                warn(f"option '--{option}' will be ignored due to use of '--ids'.")
        for assignment_id in args.ids:
            match = _ASSIGNMENT_ID.match(assignment_id)
            if match:
                scope, name = match["scope"] or ROOT_SCOPE, match["name"]
            else:
                # A bare GUID: the directory finds an assignment by its GUID at any scope.
                scope, name = ROOT_SCOPE, assignment_id
            client.arm("DELETE", scope, f"/roleAssignments/{quote(name, safe='')}")
        return None
    if not (args.assignee or args.role or args.scope or args.yes):
        raise CliError(
            "This would delete every role assignment: give --ids, --assignee, --role or "
            "--scope, or --yes to confirm."
        )
    found = _search_arguments(args, session)
    if not found:
        raise CliError("No matched assignments were found to delete")
    for assignment in found:
        client.arm("DELETE", assignment["scope"], f"/roleAssignments/{assignment['name']}")
    return None
