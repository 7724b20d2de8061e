from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tollhouse.contracts import ContractError, parse_heartbeat, parse_telemetry
from tollhouse.controlplane._auth import Authorizer
from tollhouse.controlplane._config import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tollhouse.controlplane._errors import BadRequest
from tollhouse.controlplane._service import ControlPlane
from tollhouse.controlplane.configapi._auth import authenticate_gateway


def _integer(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"'{name}' must be a whole number.") from exc
    if value < 0 or (maximum is not None and value > maximum):
        raise BadRequest(f"'{name}' must be between 0 and {maximum}.")
    return value


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The request body is not JSON.") from exc


def router(service: ControlPlane, authorizer: Authorizer) -> APIRouter:
    api = APIRouter()

    async def authenticate(request: Request, gateway: str) -> None:
        await authenticate_gateway(
            service, authorizer, gateway, request.headers.get("authorization")
        )

    @api.get("/gateways/{gateway}/configuration")
    async def configuration(gateway: str, request: Request) -> Response:
        await authenticate(request, gateway)
        snapshot = await service.configuration(gateway)
        etag = f'"{snapshot.revision}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        body = await asyncio.to_thread(
            lambda: json.dumps(snapshot.to_json(), separators=(",", ":")).encode()
        )
        return Response(
            body,
            media_type="application/json",
            headers={"ETag": etag, "Cache-Control": "no-store"},
        )

    @api.get("/gateways/{gateway}/events")
    async def events(gateway: str, request: Request) -> JSONResponse:
        await authenticate(request, gateway)
        after = _integer(request, "$skiptoken", 0)
        top = _integer(request, "$top", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        wait = _integer(request, "wait", 0, service.config.max_wait_seconds)
        page = await service.events(gateway, after, top, float(wait))
        return JSONResponse(page.to_json(), headers={"Cache-Control": "no-store"})

    @api.post("/gateways/{gateway}/heartbeat")
    async def heartbeat(gateway: str, request: Request) -> JSONResponse:
        await authenticate(request, gateway)
        try:
            beat = parse_heartbeat(await _body(request))
        except ContractError as exc:
            raise BadRequest(str(exc)) from exc
        reply = await asyncio.to_thread(service.heartbeat, gateway, beat)
        return JSONResponse(reply.to_json())

    @api.post("/gateways/{gateway}/telemetry", status_code=204)
    async def telemetry(gateway: str, request: Request) -> Response:
        await authenticate(request, gateway)
        try:
            body = parse_telemetry(await _body(request))
        except ContractError as exc:
            raise BadRequest(str(exc)) from exc
        await asyncio.to_thread(service.telemetry, gateway, body)
        return Response(status_code=204)

    return api
