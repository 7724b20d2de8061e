"""Entra-shaped routes: discovery documents, JWKS and the v2 token endpoint (entra.md §9)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tollhouse.directory._service import Directory
from tollhouse.directory.tokens import EntraError, errors

log = logging.getLogger("tollhouse.directory.token")

# More fields than this is not a token request (RFC 6749 §4.4 needs six at most).
MAX_FORM_FIELDS = 32
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def entra_error_response(error: EntraError, request: Request) -> JSONResponse:
    correlation = request.headers.get("client-request-id") or str(uuid.uuid4())
    try:
        uuid.UUID(correlation)
    except ValueError:
        correlation = str(uuid.uuid4())
    body = error.body(dt.datetime.now(dt.UTC), correlation_id=correlation)
    headers = dict(_NO_STORE)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    log.info(
        "token request refused: AADSTS%d %s client_id=%s",
        error.code,
        error.error,
        getattr(request.state, "client_id", "-"),
    )
    return JSONResponse(body, status_code=error.status, headers=headers)


def router(directory: Directory) -> APIRouter:
    api = APIRouter()

    @api.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def discovery_v2(tenant: str) -> dict[str, Any]:
        return directory.discovery_document(tenant, 2)

    @api.get("/{tenant}/.well-known/openid-configuration")
    def discovery_v1(tenant: str) -> dict[str, Any]:
        return directory.discovery_document(tenant, 1)

    @api.get("/{tenant}/discovery/v2.0/keys")
    @api.get("/{tenant}/discovery/keys")
    def keys(tenant: str) -> dict[str, Any]:
        if tenant.lower() != "common":
            directory.resolve_tenant(tenant)
        return directory.jwks()

    @api.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> JSONResponse:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise errors.malformed_request(
                "The request body must be application/x-www-form-urlencoded."
            )
        body = await request.body()
        try:
            fields = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=MAX_FORM_FIELDS,
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise errors.malformed_request("The request body is not a valid form.") from exc
        request.state.client_id = next((v[:64] for k, v in fields if k == "client_id"), "-")
        issued = await directory.issue_token(tenant, fields, request.headers.get("authorization"))
        return JSONResponse(issued.response(), headers=_NO_STORE)

    @api.get("/{tenant}/oauth2/v2.0/token")
    def token_get(tenant: str) -> None:
        raise errors.post_only()

    return api
