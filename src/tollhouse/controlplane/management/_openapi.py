"""The management API's OpenAPI description, derived from the resource kinds.

The routes themselves are one catch-all (ARM paths are case-insensitive and nest); the
description lists every resource path, verb and POST action as Azure's REST reference does.
"""

from __future__ import annotations

from typing import Any

from tollhouse.controlplane.model import KINDS, ResourceKind

_ERROR = {"description": 'ARM error: {"error": {"code", "message"}}'}
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"properties": {"type": "object"}}}
        }
    },
}


def _parameters(kind: ResourceKind) -> tuple[str, list[dict[str, Any]]]:
    segments, parameters = [], []
    for collection in kind.collections:
        singular = collection[:-3] + "y" if collection.endswith("ies") else collection[:-1]
        name = f"{singular}Id"
        segments.append(f"{collection}/{{{name}}}")
        parameters.append(
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        )
    return "/".join(segments), parameters


def management_paths(service_id: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    version = {
        "name": "api-version",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Accepted and ignored.",
    }
    for kind in KINDS.values():
        relative, parameters = _parameters(kind)
        item_parameters = [*parameters, version]
        tag = kind.collections[-1]
        paths[f"{service_id}/{relative}"] = {
            "get": {
                "tags": [tag],
                "summary": f"Get a {kind.arm_type}",
                "parameters": item_parameters,
                "responses": {"200": {"description": "The resource"}, "404": _ERROR},
            },
            "put": {
                "tags": [tag],
                "summary": f"Create or replace a {kind.arm_type}",
                "parameters": item_parameters,
                "requestBody": _BODY,
                "responses": {
                    "200": {"description": "Replaced"},
                    "201": {"description": "Created"},
                    "400": _ERROR,
                },
            },
            "patch": {
                "tags": [tag],
                "summary": f"Update a {kind.arm_type}",
                "parameters": item_parameters,
                "requestBody": _BODY,
                "responses": {"200": {"description": "Updated"}, "400": _ERROR},
            },
            "delete": {
                "tags": [tag],
                "summary": f"Delete a {kind.arm_type}",
                "parameters": item_parameters,
                "responses": {"200": {"description": "Deleted"}, "204": {"description": "Absent"}},
            },
        }
        collection = relative.rsplit("/", 1)[0]
        paths[f"{service_id}/{collection}"] = {
            "get": {
                "tags": [tag],
                "summary": f"List {kind.arm_type}",
                "parameters": [*parameters[:-1], version],
                "responses": {"200": {"description": '{"value": [...]}'}},
            },
        }
        for action in sorted(kind.actions):
            paths[f"{service_id}/{relative}/{action}"] = {
                "post": {
                    "tags": [tag],
                    "summary": f"{action} ({kind.post_action(action)})",
                    "parameters": item_parameters,
                    "responses": {"200": {"description": "Done"}},
                },
            }
    return paths
