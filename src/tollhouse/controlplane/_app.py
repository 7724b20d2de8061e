"""The control plane's ASGI application: management API and configuration API."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tollhouse import __version__
from tollhouse.contracts import error_body
from tollhouse.controlplane import configapi, management
from tollhouse.controlplane._auth import Authorizer
from tollhouse.controlplane._errors import ControlPlaneError
from tollhouse.controlplane._service import ControlPlane
from tollhouse.controlplane.management._openapi import management_paths
from tollhouse.controlplane.model import ModelError
from tollhouse.serving import BodyLimit

log = logging.getLogger("tollhouse.controlplane")


def create_app(
    service: ControlPlane,
    authorizer: Authorizer,
    *,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            await on_start()
        try:
            yield
        finally:
            if on_stop is not None:
                await on_stop()

    app = FastAPI(
        title="Tollhouse control plane",
        version=__version__,
        description="Management API (ARM-shaped) and configuration API of one API Management "
        "service instance.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(ControlPlaneError)
    async def control_plane_error(request: Request, exc: ControlPlaneError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status, headers=headers
        )

    @app.exception_handler(ModelError)
    async def model_error(request: Request, exc: ModelError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("BadRequest", "The request is malformed."), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "Error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("InternalError", "An unexpected error occurred."), status_code=500
        )

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "revision": service.watcher.revision}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=app.description
            )
            schema["paths"].update(management_paths(service.service_id))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(configapi.router(service, authorizer))
    app.include_router(management.router(service, authorizer))
    app.add_middleware(BodyLimit, max_bytes=service.config.max_body_bytes)
    return app
