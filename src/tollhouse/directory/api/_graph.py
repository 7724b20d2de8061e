"""Graph-shaped routes (`/v1.0/...`) for applications, credentials and service principals.

Callers present a Graph token (audience `https://graph.microsoft.com`) carrying the app role
`Application.ReadWrite.All` (writes) or `Application.Read.All` (reads), as Graph requires of
app-only callers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from tollhouse.directory._errors import BadRequest, Forbidden, NotFound
from tollhouse.directory._first_party import (
    APPLICATION_READ_ALL,
    APPLICATION_READ_WRITE_ALL,
    FIRST_PARTY,
)
from tollhouse.directory._service import GRAPH_AUDIENCES, Caller, Directory
from tollhouse.directory.federation import (
    FederatedCredential,
    FederationError,
    parse_federated_credential,
)
from tollhouse.directory.store import Application, AppRole, ServicePrincipal, iso_time

_FILTER = re.compile(r"^\s*(appId|displayName)\s+eq\s+'((?:[^']|'')*)'\s*$")
MAX_DISPLAY_NAME = 256
MAX_IDENTIFIER_URIS = 50


def _parse_time(value: Any, field: str) -> float:
    if not isinstance(value, str):
        raise BadRequest(f"'{field}' must be an ISO 8601 date and time.")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"'{field}' must be an ISO 8601 date and time.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _graph_filter(request: Request) -> tuple[str, str] | None:
    text = request.query_params.get("$filter")
    if text is None:
        return None
    match = _FILTER.match(text)
    if not match:
        raise BadRequest(
            "Unsupported $filter: only \"appId eq '…'\" and \"displayName eq '…'\" are supported.",
            "Request_UnsupportedQuery",
        )
    return match.group(1), match.group(2).replace("''", "'")


def application_json(app: Application) -> dict[str, Any]:
    return {
        "id": app.id,
        "appId": app.app_id,
        "displayName": app.display_name,
        "createdDateTime": iso_time(app.created_at),
        "signInAudience": "AzureADMyOrg",
        "identifierUris": list(app.identifier_uris),
        "appRoles": [role.graph() for role in app.app_roles],
        "api": {"requestedAccessTokenVersion": app.token_version},
        "passwordCredentials": [
            {
                "keyId": p.key_id,
                "displayName": p.display_name,
                "hint": p.hint,
                "startDateTime": iso_time(p.start),
                "endDateTime": iso_time(p.end),
                "secretText": None,
            }
            for p in app.password_credentials
        ],
        "keyCredentials": [
            {
                "keyId": k.key_id,
                "displayName": k.display_name,
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
                "customKeyIdentifier": k.sha1,
                "thumbprintSha256": k.sha256,
                "startDateTime": iso_time(k.start),
                "endDateTime": iso_time(k.end),
                # Certificates are public; returning them lets clients append to the set.
                "key": base64.b64encode(k.certificate_der).decode("ascii"),
            }
            for k in app.key_credentials
        ],
    }


def principal_json(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "servicePrincipalType": "Application",
        "accountEnabled": True,
        "createdDateTime": iso_time(sp.created_at),
    }


def federated_json(fic: FederatedCredential) -> dict[str, Any]:
    return {
        "id": fic.id,
        "name": fic.name,
        "issuer": fic.issuer,
        "subject": fic.subject,
        "audiences": list(fic.audiences),
        "description": fic.description,
    }


def _app_roles(value: Any) -> list[AppRole]:
    if not isinstance(value, list):
        raise BadRequest("'appRoles' must be an array.")
    roles = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise BadRequest("Each app role needs a 'value'.")
        role_id = item.get("id")
        if not isinstance(role_id, str):
            raise BadRequest("Each app role needs an 'id' (a GUID).")
        roles.append(
            AppRole(
                id=role_id.lower(),
                value=item["value"],
                display_name=str(item.get("displayName", "")),
                description=str(item.get("description", "")),
                allowed_member_types=tuple(item.get("allowedMemberTypes") or ("Application",)),
                is_enabled=_flag(item.get("isEnabled", True), "isEnabled"),
            )
        )
    return roles


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"'{field}' must be true or false.")
    return value


def _identifier_uris(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(u, str) and u for u in value):
        raise BadRequest("'identifierUris' must be an array of strings.")
    if len(value) > MAX_IDENTIFIER_URIS:
        raise BadRequest(f"At most {MAX_IDENTIFIER_URIS} identifierUris are allowed.")
    for uri in value:
        if not re.match(r"^(api|https)://\S+$", uri) or len(uri) > 256:
            raise BadRequest(
                f"Invalid identifierUri '{uri[:256]}': use api://… or https://….",
                "InvalidIdentifierUri",
            )
    return list(value)


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_DISPLAY_NAME:
        raise BadRequest(f"'displayName' must be 1 to {MAX_DISPLAY_NAME} characters.")
    return value


def _token_version(value: Any) -> int | None:
    if value is None:
        return None
    if value not in (1, 2):
        raise BadRequest("'api.requestedAccessTokenVersion' must be 1, 2 or null.")
    return int(value)


def _certificates(value: Any) -> list[tuple[bytes, str]]:
    if not isinstance(value, list):
        raise BadRequest("'keyCredentials' must be an array.")
    result = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise BadRequest("Each key credential needs 'key': a base64 DER certificate.")
        if item.get("type", "AsymmetricX509Cert") != "AsymmetricX509Cert":
            raise BadRequest("Only AsymmetricX509Cert key credentials are supported.")
        if item.get("usage", "Verify") != "Verify":
            raise BadRequest("Only key credentials with usage 'Verify' are supported.")
        try:
            der = base64.b64decode(item["key"], validate=True)
        except binascii.Error as exc:
            raise BadRequest("A key credential's 'key' is not base64.", "InvalidKey") from exc
        result.append((der, str(item.get("displayName") or "")))
    return result


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequest("The request body is not valid JSON.", "BadRequest") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def router(directory: Directory) -> APIRouter:
    api = APIRouter(prefix="/v1.0")
    store = directory.store

    def caller(request: Request, *, write: bool) -> Caller:
        who = directory.verify_caller(request.headers.get("authorization"), GRAPH_AUDIENCES)
        allowed = {APPLICATION_READ_WRITE_ALL.value}
        if not write:
            allowed.add(APPLICATION_READ_ALL.value)
        if not who.roles & allowed:
            raise Forbidden(
                "Insufficient privileges to complete the operation.",
                "Authorization_RequestDenied",
            )
        return who

    async def run(func: Any, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))

    # --- applications ----------------------------------------------------------------------

    @api.post("/applications", status_code=201)
    async def create_application(request: Request) -> dict[str, Any]:
        who = caller(request, write=True)
        body = await _json(request)
        api_section = body.get("api") or {}
        app = await run(
            store.create_application,
            who.tenant_id,
            _display_name(body.get("displayName")),
            identifier_uris=_identifier_uris(body.get("identifierUris", [])),
            app_roles=_app_roles(body.get("appRoles", [])),
            token_version=_token_version(
                api_section.get("requestedAccessTokenVersion")
                if isinstance(api_section, dict)
                else None
            ),
            now=directory.clock(),
        )
        if body.get("keyCredentials"):
            app = await run(
                store.add_key_credentials,
                who.tenant_id,
                app.id,
                _certificates(body["keyCredentials"]),
            )
        return application_json(app)

    @api.get("/applications")
    async def list_applications(request: Request) -> dict[str, Any]:
        who = caller(request, write=False)
        found = _graph_filter(request)
        kwargs = {}
        if found is not None:
            kwargs["app_id" if found[0] == "appId" else "display_name"] = found[1]
        apps = await run(store.list_applications, who.tenant_id, **kwargs)
        return {"value": [application_json(a) for a in apps]}

    @api.get("/applications(appId='{app_id}')")
    async def get_application_by_app_id(app_id: str, request: Request) -> dict[str, Any]:
        who = caller(request, write=False)
        return application_json(await run(store.get_application, who.tenant_id, app_id=app_id))

    @api.get("/applications/{object_id}")
    async def get_application(object_id: str, request: Request) -> dict[str, Any]:
        who = caller(request, write=False)
        return application_json(
            await run(store.get_application, who.tenant_id, object_id=object_id)
        )

    @api.patch("/applications/{object_id}", status_code=204)
    async def update_application(object_id: str, request: Request) -> Response:
        who = caller(request, write=True)
        body = await _json(request)
        api_section = body.get("api")
        await run(
            store.update_application,
            who.tenant_id,
            object_id,
            display_name=_display_name(body["displayName"]) if "displayName" in body else None,
            identifier_uris=(
                _identifier_uris(body["identifierUris"]) if "identifierUris" in body else None
            ),
            app_roles=_app_roles(body["appRoles"]) if "appRoles" in body else None,
            token_version=(
                _token_version(api_section.get("requestedAccessTokenVersion"))
                if isinstance(api_section, dict)
                else None
            ),
        )
        if "keyCredentials" in body:
            await run(
                store.add_key_credentials,
                who.tenant_id,
                object_id,
                _certificates(body["keyCredentials"]),
                replace=True,
            )
        return Response(status_code=204)

    @api.delete("/applications/{object_id}", status_code=204)
    async def delete_application(object_id: str, request: Request) -> Response:
        who = caller(request, write=True)
        await run(store.delete_application, who.tenant_id, object_id)
        return Response(status_code=204)

    @api.post("/applications/{object_id}/addPassword")
    async def add_password(object_id: str, request: Request) -> dict[str, Any]:
        who = caller(request, write=True)
        body = await _json(request)
        spec = body.get("passwordCredential") or {}
        if not isinstance(spec, dict):
            raise BadRequest("'passwordCredential' must be an object.")
        end = spec.get("endDateTime")
        credential, secret = await run(
            store.add_password,
            who.tenant_id,
            object_id,
            display_name=str(spec.get("displayName") or "")[:MAX_DISPLAY_NAME],
            end=_parse_time(end, "endDateTime") if end is not None else None,
            now=directory.clock(),
        )
        return {
            "keyId": credential.key_id,
            "displayName": credential.display_name,
            "hint": credential.hint,
            "startDateTime": iso_time(credential.start),
            "endDateTime": iso_time(credential.end),
            "secretText": secret,
        }

    @api.post("/applications/{object_id}/removePassword", status_code=204)
    async def remove_password(object_id: str, request: Request) -> Response:
        who = caller(request, write=True)
        body = await _json(request)
        if not isinstance(body.get("keyId"), str):
            raise BadRequest("'keyId' is required.")
        await run(store.remove_password, who.tenant_id, object_id, body["keyId"])
        return Response(status_code=204)

    # --- federated identity credentials ----------------------------------------------------

    @api.post("/applications/{object_id}/federatedIdentityCredentials", status_code=201)
    async def create_federated(object_id: str, request: Request) -> dict[str, Any]:
        who = caller(request, write=True)
        body = await _json(request)
        try:
            credential = parse_federated_credential(body)
        except FederationError as exc:
            raise BadRequest(str(exc), "Request_BadRequest") from exc
        created = await run(store.create_federated_credential, who.tenant_id, object_id, credential)
        return federated_json(created)

    @api.get("/applications/{object_id}/federatedIdentityCredentials")
    async def list_federated(object_id: str, request: Request) -> dict[str, Any]:
        who = caller(request, write=False)
        found = await run(store.list_federated_credentials, who.tenant_id, object_id)
        return {"value": [federated_json(f) for f in found]}

    @api.get("/applications/{object_id}/federatedIdentityCredentials/{key}")
    async def get_federated(object_id: str, key: str, request: Request) -> dict[str, Any]:
        who = caller(request, write=False)
        found = await run(store.list_federated_credentials, who.tenant_id, object_id)
        for fic in found:
            if key in (fic.id, fic.name):
                return federated_json(fic)
        raise NotFound(f"No federated identity credential '{key}'.", "Request_ResourceNotFound")

    @api.delete("/applications/{object_id}/federatedIdentityCredentials/{key}", status_code=204)
    async def delete_federated(object_id: str, key: str, request: Request) -> Response:
        who = caller(request, write=True)
        await run(store.delete_federated_credential, who.tenant_id, object_id, key)
        return Response(status_code=204)

    # --- service principals ----------------------------------------------------------------

    @api.post("/servicePrincipals", status_code=201)
    async def create_principal(request: Request) -> dict[str, Any]:
        who = caller(request, write=True)
        body = await _json(request)
        if not isinstance(body.get("appId"), str):
            raise BadRequest("'appId' is required.")
        sp = await run(
            store.create_service_principal, who.tenant_id, body["appId"], now=directory.clock()
        )
        return principal_json(sp)

    @api.get("/servicePrincipals")
    async def list_principals(request: Request) -> dict[str, Any]:
        who = caller(request, write=False)
        found = _graph_filter(request)
        if found is not None and found[0] != "appId":
            raise BadRequest("Only \"appId eq '…'\" is supported here.", "Request_UnsupportedQuery")
        sps = await run(
            store.list_service_principals,
            who.tenant_id,
            app_id=found[1] if found else None,
        )
        return {"value": [principal_json(sp) for sp in sps]}

    @api.get("/servicePrincipals/{principal_id}")
    async def get_principal(principal_id: str, request: Request) -> dict[str, Any]:
        who = caller(request, write=False)
        return principal_json(
            await run(store.get_service_principal, who.tenant_id, principal_id=principal_id)
        )

    @api.delete("/servicePrincipals/{principal_id}", status_code=204)
    async def delete_principal(principal_id: str, request: Request) -> Response:
        who = caller(request, write=True)
        await run(store.delete_service_principal, who.tenant_id, principal_id)
        return Response(status_code=204)

    @api.post("/servicePrincipals/{principal_id}/appRoleAssignments", status_code=201)
    async def assign_app_role(principal_id: str, request: Request) -> dict[str, Any]:
        """Grants an app role of a resource (`resourceId`: its service principal, or a
        first-party application id) to the service principal."""
        who = caller(request, write=True)
        body = await _json(request)
        resource_id, role_id = body.get("resourceId"), body.get("appRoleId")
        if not isinstance(resource_id, str) or not isinstance(role_id, str):
            raise BadRequest("'resourceId' and 'appRoleId' are required.")
        if body.get("principalId", principal_id).lower() != principal_id.lower():
            raise BadRequest("'principalId' must be the service principal in the path.")
        principal = await run(store.get_service_principal, who.tenant_id, principal_id=principal_id)

        def resource_roles() -> tuple[str, tuple[AppRole, ...]]:
            for first in FIRST_PARTY:
                if first.app_id == resource_id.lower():
                    return first.app_id, first.app_roles
            sp = store.get_service_principal(who.tenant_id, principal_id=resource_id)
            app = store.get_application(who.tenant_id, app_id=sp.app_id)
            return app.app_id, app.app_roles

        resource_app_id, roles = await run(resource_roles)
        role = next((r for r in roles if r.id == role_id.lower() and r.is_enabled), None)
        if role is None:
            raise BadRequest(
                "Permission being assigned was not found on application.", "Request_BadRequest"
            )
        created = await run(store.assign_app_role, principal.id, resource_app_id, role)
        return {
            "id": created.id,
            "principalId": created.principal_id,
            "resourceId": resource_id,
            "appRoleId": created.app_role_id,
        }

    return api
