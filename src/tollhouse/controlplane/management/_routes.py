"""ARM-shaped management routes: `{service id}/{relative path}` with `api-version` ignored.

Each request is authorised by RBAC on the action its path and verb name
(`Microsoft.ApiManagement/service/apis/write`, `…/gateways/generateToken/action`), at the
resource's id, so assignments at the service or above apply by inheritance.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from tollhouse.controlplane import model
from tollhouse.controlplane._auth import Authorizer
from tollhouse.controlplane._errors import BadRequest, NotFound
from tollhouse.controlplane._service import ControlPlane


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The request body is not valid JSON.", "InvalidRequestContent") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", "InvalidRequestContent")
    return body


def _properties(body: dict[str, Any]) -> dict[str, Any] | None:
    properties = body.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise BadRequest("'properties' must be an object.", "InvalidRequestContent")
    return properties


def router(service: ControlPlane, authorizer: Authorizer) -> APIRouter:
    api = APIRouter()
    service_id = service.service_id

    def relative(path: str) -> str:
        full = "/" + path
        if not full.lower().startswith(service_id.lower()):
            raise NotFound(f"The service '{full[:300]}' does not exist here.", "ResourceNotFound")
        return full[len(service_id) :].strip("/")

    async def authorize(request: Request, action: str, scope: str) -> None:
        caller = await authorizer.verify(
            authorizer.management, request.headers.get("authorization")
        )
        await authorizer.require(caller, action, scope, data_action=False)

    async def run(func: Any, *args: Any) -> Any:
        return await asyncio.to_thread(func, *args)

    async def handle(request: Request, path: str) -> Response:
        rest = relative(path)
        method = request.method
        if not rest:
            await authorize(request, "Microsoft.ApiManagement/service/read", service_id)
            return JSONResponse(
                {
                    "id": service_id,
                    "name": service.config.service_name,
                    "type": "Microsoft.ApiManagement/service",
                    "properties": {},
                }
            )
        segments = rest.split("/")
        if (
            method == "GET"
            and len(segments) == 3
            and segments[0].lower() == "gateways"
            and segments[2].lower() == "status"
        ):
            gateway = model.parse_resource_path(rest[: -len("/status")])
            await authorize(
                request, gateway.resource_kind.rbac_action("GET"), gateway.resource_id(service_id)
            )
            status = await run(service.status, gateway.name)
            return JSONResponse(
                {
                    "name": status.name,
                    "nodeCount": status.node_count,
                    "instances": status.instances,
                    "tokenExpiryWarning": status.token_expiry_warning,
                }
            )
        target = model.parse_path(rest)
        if isinstance(target, model.CollectionPath):
            if method != "GET":
                raise NotFound("Only GET is defined on a collection.", "MethodNotAllowed")
            scope = target.parent.resource_id(service_id) if target.parent else service_id
            await authorize(request, target.rbac_action("GET"), scope)
            found = await run(service.list_collection, target)
            return JSONResponse(
                {"value": [model.to_arm(r, service_id) for r in found], "nextLink": None}
            )
        if isinstance(target, model.ActionPath):
            if method != "POST":
                raise NotFound(f"'{target.action}' is a POST action.", "MethodNotAllowed")
            await authorize(request, target.rbac_action, target.resource.resource_id(service_id))
            return await action(target, await _json(request))
        resource_id = target.resource_id(service_id)
        if method == "GET":
            await authorize(request, target.resource_kind.rbac_action("GET"), resource_id)
            return JSONResponse(model.to_arm(await run(service.get, target), service_id))
        if method in ("PUT", "PATCH"):
            await authorize(request, target.resource_kind.rbac_action(method), resource_id)
            properties = _properties(await _json(request))
            if method == "PATCH":
                resource = await run(service.patch, target, properties)
                return JSONResponse(model.to_arm(resource, service_id))
            resource, created = await run(service.put, target, properties)
            return JSONResponse(
                model.to_arm(resource, service_id), status_code=201 if created else 200
            )
        if method == "DELETE":
            await authorize(request, target.resource_kind.rbac_action("DELETE"), resource_id)
            deleted = await run(service.delete, target)
            return Response(status_code=200 if deleted else 204)
        raise NotFound(f"{method} is not defined here.", "MethodNotAllowed")

    async def action(target: model.ActionPath, body: dict[str, Any]) -> Response:
        name = target.action.lower()
        resource = await run(service.get, target.resource)
        if name == "generatetoken":
            token = await run(service.generate_token, resource.name, body)
            return JSONResponse({"value": token})
        if name in ("listkeys", "listsecrets", "listvalue"):
            return JSONResponse(model.list_secrets(resource))
        if name == "regeneratekey":
            await run(
                service.replace,
                model.regenerate_gateway_key(resource, str(body.get("keyType", ""))),
            )
            return Response(status_code=204)
        if name in ("regenerateprimarykey", "regeneratesecondarykey"):
            key = "primaryKey" if name == "regenerateprimarykey" else "secondaryKey"
            await run(service.replace, model.regenerate_subscription_key(resource, key))
            return Response(status_code=204)
        raise NotFound(f"Action '{target.action}' is not defined.", "ActionNotFound")

    methods = ["GET", "PUT", "PATCH", "DELETE", "POST"]
    api.add_api_route(
        "/subscriptions/{path:path}", _prefixed(handle), methods=methods, include_in_schema=False
    )
    return api


def _prefixed(handle: Any) -> Any:
    async def route(request: Request, path: str) -> Response:
        result: Response = await handle(request, "subscriptions/" + path)
        return result

    return route
