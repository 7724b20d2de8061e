"""The issuer's two documents over HTTP, as kube-apiserver serves them."""

from __future__ import annotations

import json

from fastapi import FastAPI, Response

from tollhouse.kubeissuer._issuer import DISCOVERY_PATH, JWKS_PATH, ServiceAccountIssuer

# kube-apiserver (pkg/serviceaccount/openidmetadata.go) lets caches keep both for an hour.
CACHE_CONTROL = "public, max-age=3600"
# RFC 7517 §8.5.1; kube-apiserver serves its JWKS with this media type.
JWKS_MEDIA_TYPE = "application/jwk-set+json"


def create_app(issuer: ServiceAccountIssuer) -> FastAPI:
    """An ASGI app serving the discovery document and JWKS under the issuer URL's path.

    For `https://127.0.0.1:8444/cluster/` that is `/cluster/.well-known/openid-configuration`
    and `/cluster/openid/v1/jwks`. The documents never change, so they are encoded once.
    """
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    discovery = _encode(issuer.discovery_document())
    jwks = _encode(issuer.jwks())
    headers = {"Cache-Control": CACHE_CONTROL}

    @app.get(issuer.path + DISCOVERY_PATH)
    async def openid_configuration() -> Response:
        return Response(discovery, media_type="application/json", headers=headers)

    @app.get(issuer.path + JWKS_PATH)
    async def openid_jwks() -> Response:
        return Response(jwks, media_type=JWKS_MEDIA_TYPE, headers=headers)

    return app


def _encode(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
