"""The directory's core: the token endpoint's decisions, key management, bootstrap.

Routes call this; this calls the store (sync, moved off the event loop) and the sans-I/O
token and RBAC code. Nothing here knows about HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.directory import tokens
from tollhouse.directory._config import DirectoryConfig
from tollhouse.directory._errors import Unauthorized
from tollhouse.directory._first_party import (
    APPLICATION_READ_WRITE_ALL,
    ARM,
    GRAPH,
    find_first_party,
)
from tollhouse.directory.federation import FederatedAssertionValidator
from tollhouse.directory.rbac import BUILTIN_ROLES, RoleAssignment
from tollhouse.directory.store import ClientRecord, DirectoryStore, KeyCredential, Tenant
from tollhouse.directory.tokens import EntraError, errors

log = logging.getLogger("tollhouse.directory")

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# entra.md §6.1: azure-identity validates tenant ids against [A-Za-z0-9.-].
_TENANT_SEGMENT = re.compile(r"[A-Za-z0-9.-]{1,256}")
_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
OWNER_ROLE_ID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
ADMIN_DISPLAY_NAME = "Tollhouse administrator"


@dataclass(frozen=True)
class Caller:
    """Who a verified management request comes from."""

    tenant_id: str
    object_id: str
    app_id: str
    roles: frozenset[str]


class Directory:
    def __init__(
        self,
        config: DirectoryConfig,
        store: DirectoryStore,
        federation: FederatedAssertionValidator,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.federation = federation
        self.clock = clock
        self.throttle = tokens.FailureThrottle(config.max_auth_failures, config.auth_failure_window)
        self._keys = tokens.KeyRing(())
        self._keys_loaded_at = float("-inf")
        self._public_keys: dict[bytes, rsa.RSAPublicKey] = {}
        # Awaited when the server stops (the federation fetcher's connections).
        self.closers: list[Callable[[], Awaitable[None]]] = []

    async def aclose(self) -> None:
        for close in self.closers:
            await close()

    # --- keys ------------------------------------------------------------------------------

    def keys(self) -> tokens.KeyRing:
        now = self.clock()
        if now - self._keys_loaded_at >= self.config.key_reload_seconds:
            self._keys = tokens.KeyRing(self.store.load_signing_keys())
            self._keys_loaded_at = now
        return self._keys

    def reload_keys(self) -> tokens.KeyRing:
        self._keys_loaded_at = float("-inf")
        return self.keys()

    def rotate_keys(self) -> tokens.SigningKey:
        """Publishes a successor key; it signs after `publish_ahead` seconds."""
        now = self.clock()
        ring = self.reload_keys()
        successor, retired = ring.rotation(
            now,
            publish_ahead=self.config.publish_ahead,
            max_token_lifetime=tokens.MAX_TOKEN_LIFETIME_SECONDS,
        )
        self.store.save_signing_keys([*retired, successor], drop_before=now)
        self.reload_keys()
        log.info("signing key %s published, signs from %d", successor.kid, successor.signs_from)
        return successor

    # --- tenants ---------------------------------------------------------------------------

    def resolve_tenant(self, segment: str) -> Tenant:
        """The tenant a path segment names (GUID or domain), or the Entra error for it."""
        if not _TENANT_SEGMENT.fullmatch(segment) or ".." in segment:
            raise errors.invalid_tenant(segment)
        tenant = self.store.find_tenant(segment)
        if tenant is None:
            if not _GUID.fullmatch(segment) and "." not in segment:
                raise errors.invalid_tenant(segment)
            raise errors.tenant_not_found(segment)
        return tenant

    def token_endpoints(self, tenant: Tenant) -> set[str]:
        names = (tenant.id, *tenant.domains)
        return {f"{url}/{name}/oauth2/v2.0/token" for url in self.config.urls for name in names}

    # --- the token endpoint ----------------------------------------------------------------

    async def issue_token(
        self, tenant_segment: str, fields: Sequence[tuple[str, str]], authorization: str | None
    ) -> tokens.IssuedToken:
        if tenant_segment.lower() in _MULTI_TENANT:
            raise EntraError(
                "invalid_request",
                9001023,
                "The grant type isn't supported over the /common or /consumers endpoints. "
                "Please use the /organizations or tenant-specific endpoint.",
            )
        request = tokens.parse_token_request(fields, authorization)
        tenant, record = await anyio.to_thread.run_sync(
            self._load_client, tenant_segment, request.client_id
        )
        throttle_key = f"{tenant.id}/{request.client_id.lower()}"
        now = self.clock()
        wait = self.throttle.retry_after(throttle_key, now)
        if wait is not None:
            raise errors.throttled(request.client_id, wait)
        try:
            if record is None:
                raise errors.unknown_application(request.client_id, tenant_segment)
            method = await self._authenticate(tenant, record, request, now)
        except EntraError as failure:
            if failure.error in ("invalid_client", "unauthorized_client"):
                self.throttle.failed(throttle_key, now)
            raise
        self.throttle.succeeded(throttle_key)
        principal = record.service_principal
        if principal is None:
            raise errors.missing_service_principal(request.client_id, tenant.id)
        resource, roles = await anyio.to_thread.run_sync(
            self._resource_and_roles, tenant, request.resource, principal.id
        )
        return tokens.mint_app_token(
            self.keys().signing_key(now),
            authority=self.config.authority,
            tenant_id=tenant.id,
            resource=resource,
            client_app_id=record.application.app_id,
            service_principal_id=principal.id,
            auth_method=method,
            roles=roles,
            now=now,
            lifetime=self.config.token_lifetime,
        )

    def _load_client(self, segment: str, client_id: str) -> tuple[Tenant, ClientRecord | None]:
        tenant = self.resolve_tenant(segment)
        if not _GUID.fullmatch(client_id):
            return tenant, None
        return tenant, self.store.client_record(tenant.id, client_id)

    async def _authenticate(
        self, tenant: Tenant, record: ClientRecord, request: tokens.TokenRequest, now: float
    ) -> str:
        app = record.application
        if request.client_secret is not None:
            matched = [
                c
                for c in app.password_credentials
                if tokens.verify_secret(request.client_secret, c.secret_hash)
            ]
            if not matched:
                raise errors.invalid_secret(app.app_id)
            if all(c.end <= now for c in matched):
                raise errors.expired_secret(app.app_id)
            return tokens.AUTH_SECRET
        assertion = request.client_assertion or ""
        if tokens.unverified_issuer(assertion) == request.client_id:
            tokens.verify_client_assertion(
                assertion,
                client_id=app.app_id,
                token_endpoints=self.token_endpoints(tenant),
                certificates=[self._registered(k) for k in app.key_credentials],
                now=now,
                leeway=self.config.assertion_leeway,
                max_lifetime=self.config.assertion_max_lifetime,
            )
            return tokens.AUTH_CERTIFICATE
        await self.federation.validate(assertion, app.app_id, record.federated_credentials, now)
        return tokens.AUTH_CERTIFICATE

    def _registered(self, key: KeyCredential) -> tokens.RegisteredCertificate:
        sha256 = bytes.fromhex(key.sha256)
        public_key = self._public_keys.get(sha256)
        if public_key is None:
            loaded = x509.load_der_x509_certificate(key.certificate_der).public_key()
            if not isinstance(loaded, rsa.RSAPublicKey):
                raise errors.assertion_invalid("Only RSA certificates are supported.")
            public_key = self._public_keys[sha256] = loaded
        return tokens.RegisteredCertificate(
            key_id=key.key_id,
            sha1=bytes.fromhex(key.sha1),
            sha256=sha256,
            public_key=public_key,
            not_before=key.start,
            not_after=key.end,
        )

    def _resource_and_roles(
        self, tenant: Tenant, resource: str, principal_id: str
    ) -> tuple[tokens.Resource, list[str]]:
        first_party = find_first_party(resource)
        if first_party is not None:
            known, audience = first_party
            found = tokens.Resource(known.app_id, audience, known.token_version)
        else:
            app = self.store.find_resource_application(tenant.id, resource)
            if app is None:
                raise errors.resource_not_found(resource, tenant.id)
            identifier = next(
                (
                    u
                    for u in app.identifier_uris
                    if u.rstrip("/").lower() == resource.rstrip("/").lower()
                ),
                app.identifier_uris[0] if app.identifier_uris else app.app_id,
            )
            found = tokens.Resource(app.app_id, identifier, app.token_version or 1)
        return found, self.store.app_roles_for(principal_id, found.app_id)

    # --- discovery -------------------------------------------------------------------------

    def discovery_document(self, tenant_segment: str, version: int) -> dict[str, Any]:
        """The OpenID configuration MSAL reads (entra.md §6.2 and §4.2)."""
        base = self.config.authority
        if tenant_segment.lower() in _MULTI_TENANT:
            tenant_id, issuer_tenant = tenant_segment.lower(), "{tenantid}"
        else:
            tenant_id = issuer_tenant = self.resolve_tenant(tenant_segment).id
        issuer = tokens.issuer_for(base, issuer_tenant, version)
        v2 = "/v2.0" if version == 2 else ""
        return {
            "token_endpoint": f"{base}/{tenant_segment}/oauth2{v2}/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": (
                f"{base}/{tenant_id}/discovery/v2.0/keys"
                if version == 2
                else f"{base}/common/discovery/keys"
            ),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/{tenant_id}/openid/userinfo",
            "authorization_endpoint": f"{base}/{tenant_segment}/oauth2{v2}/authorize",
            "device_authorization_endpoint": f"{base}/{tenant_segment}/oauth2{v2}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant_segment}/oauth2{v2}/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nbf",
                "tid",
                "oid",
                "azp",
                "appid",
                "roles",
            ],
            "tenant_region_scope": "WW",
            "cloud_instance_name": "tollhouse.local",
            "grant_types_supported": ["client_credentials"],
        }

    def jwks(self) -> dict[str, Any]:
        return self.keys().jwks(self.clock())

    # --- management callers ----------------------------------------------------------------

    def verify_caller(self, authorization: str | None, audiences: Sequence[str]) -> Caller:
        """The caller of a Graph or ARM route, from a bearer token this directory issued."""
        if not authorization:
            raise Unauthorized("Access token is missing or invalid.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Access token is missing or invalid.")
        token = token.strip()
        tid = tokens.unverified_tenant(token)
        if tid is None or not _GUID.fullmatch(tid):
            raise Unauthorized("Access token is missing or invalid.")
        issuers = {tokens.issuer_for(self.config.authority, tid, v) for v in (1, 2)}
        try:
            claims = tokens.verify_access_token(
                token, keys=self.keys(), issuers=issuers, audiences=audiences, now=self.clock()
            )
        except tokens.InvalidToken as exc:
            log.info("management call refused: %s", exc)
            raise Unauthorized("Access token is missing or invalid.") from exc
        roles = claims.get("roles") or []
        return Caller(
            tenant_id=claims["tid"],
            object_id=claims["oid"],
            app_id=str(claims.get("appid") or claims.get("azp") or ""),
            roles=frozenset(r for r in roles if isinstance(r, str)),
        )

    # --- bootstrap -------------------------------------------------------------------------

    def bootstrap(self) -> Tenant:
        """First start: a signing key, the default tenant and its administrator.

        The administrator is an application whose secret is written, once, to the profile
        file the CLI reads (mode 0600). It holds Owner at the root scope and Graph's
        Application.ReadWrite.All, as a tenant's first global administrator would.
        """
        now = self.clock()
        if not self.store.load_signing_keys():
            self.store.save_signing_keys([tokens.new_signing_key(now)], drop_before=now)
        self.reload_keys()
        tenants = self.store.list_tenants()
        if tenants:
            return tenants[0]
        tenant = self.store.create_tenant(
            "Tollhouse",
            [self.config.default_domain],
            tenant_id=self.config.bootstrap_tenant_id,
            now=now,
        )
        app = self.store.create_application(tenant.id, ADMIN_DISPLAY_NAME, now=now)
        principal = self.store.create_service_principal(tenant.id, app.app_id, now=now)
        _, secret = self.store.add_password(
            tenant.id, app.id, display_name="bootstrap", now=now, end=now + 10 * 365 * 86400
        )
        self.store.assign_app_role(principal.id, GRAPH.app_id, APPLICATION_READ_WRITE_ALL)
        self.store.create_role_assignment(
            tenant.id,
            RoleAssignment(
                id=str(uuid.uuid4()),
                scope="/",
                principal_id=principal.id,
                role_definition_id=OWNER_ROLE_ID,
                principal_type="ServicePrincipal",
            ),
            now=now,
        )
        self.write_admin_profile(tenant.id, app.app_id, secret)
        log.info(
            "bootstrapped tenant %s; administrator profile at %s",
            tenant.id,
            self.config.admin_profile_path,
        )
        return tenant

    def write_admin_profile(self, tenant_id: str, client_id: str, secret: str) -> None:
        path = self.config.admin_profile_path
        path.parent.mkdir(parents=True, exist_ok=True)
        profile = {
            "authority": self.config.authority,
            "tenantId": tenant_id,
            "clientId": client_id,
            "clientSecret": secret,
            "caBundle": str(self.config.ca_bundle.resolve()) if self.config.ca_bundle else None,
        }
        temp = path.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(profile, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)


ARM_AUDIENCES = (*ARM.identifiers, ARM.app_id, *(i.rstrip("/") for i in ARM.identifiers))
GRAPH_AUDIENCES = (*GRAPH.identifiers, GRAPH.app_id, "https://graph.microsoft.com/")
BUILTIN_ROLE_IDS = frozenset(r.id for r in BUILTIN_ROLES)
