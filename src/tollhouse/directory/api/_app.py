"""The directory's ASGI application: Entra, Graph and ARM routes, one error policy."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tollhouse import __version__
from tollhouse.directory._errors import DirectoryError
from tollhouse.directory._service import Directory
from tollhouse.directory.api import _arm, _entra, _graph
from tollhouse.directory.rbac import RbacError
from tollhouse.directory.tokens import EntraError
from tollhouse.serving import BodyLimit

log = logging.getLogger("tollhouse.directory")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(directory: Directory) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await directory.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="Tollhouse directory",
        version=__version__,
        description="Entra-compatible token service, Graph-shaped directory objects and "
        "ARM-shaped RBAC.",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(EntraError)
    async def entra_error(request: Request, exc: EntraError) -> JSONResponse:
        return _entra.entra_error_response(exc, request)

    @app.exception_handler(DirectoryError)
    async def directory_error(request: Request, exc: DirectoryError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RbacError)
    async def rbac_error(request: Request, exc: RbacError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "BadRequest", "The request is malformed.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "Error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "InternalError", "An unexpected error occurred.")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {
            "status": "ok",
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    app.include_router(_entra.router(directory))
    app.include_router(_graph.router(directory))
    app.include_router(_arm.router(directory))
    app.add_middleware(BodyLimit, max_bytes=directory.config.max_body_bytes)
    return app
