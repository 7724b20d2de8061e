"""Who is calling, and may they: bearer tokens verified against trusted issuers, then Azure
RBAC decided by the directory on the managed identity's behalf (DESIGN §2).

Every refusal is distinct and actionable (issue table): a bad credential is 401; a managed
identity that cannot read RBAC is a 403 naming the Access Validator role and the identity's
object id; a caller without the action is a 403 naming the role to assign and the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tollhouse.controlplane._errors import Forbidden, Unauthenticated, Unavailable
from tollhouse.controlplane._rbac import RbacClient, RbacUnavailable
from tollhouse.identity import IdentityError, TokenSource
from tollhouse.oidc import InvalidBearerToken, TokenVerifier, VerifiedToken

log = logging.getLogger("tollhouse.controlplane.auth")

VALIDATOR_ROLE = "API Management Configuration API Access Validator Service Role"
READER_ROLE = "API Management Gateway Configuration Reader Role"
GET_CONFIGURATION = "Microsoft.ApiManagement/service/gateways/getConfiguration/action"


@dataclass(frozen=True)
class Caller:
    object_id: str
    app_id: str | None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class Authorizer:
    def __init__(
        self,
        *,
        management: TokenVerifier,
        configuration: TokenVerifier,
        rbac: RbacClient,
        identity: TokenSource,
    ) -> None:
        self.management = management
        self.configuration = configuration
        self.rbac = rbac
        self.identity = identity
        self._identity_object_id: str | None = None

    async def identity_object_id(self) -> str:
        """The managed identity's object id, read from its own token (for error messages)."""
        if self._identity_object_id is None:
            import jwt

            try:
                token = await self.identity.token()
                claims = jwt.decode(token, options={"verify_signature": False})
                self._identity_object_id = str(claims.get("oid", "unknown"))
            except (IdentityError, jwt.PyJWTError):
                return "unknown"
        return self._identity_object_id

    async def verify(self, verifier: TokenVerifier, authorization: str | None) -> VerifiedToken:
        token = bearer_token(authorization)
        if token is None:
            raise Unauthenticated(
                "A bearer token is required (Authorization: Bearer <token>).",
                "AuthenticationFailed",
            )
        try:
            verified = await verifier.verify(token)
        except InvalidBearerToken as exc:
            log.info("token refused: %s", exc.reason)
            raise Unauthenticated(
                f"The access token is invalid: {exc.reason}.", "InvalidAuthenticationToken"
            ) from exc
        if not verified.object_id:
            raise Unauthenticated(
                "The access token names no principal (oid).", "InvalidAuthenticationToken"
            )
        return verified

    async def require(
        self,
        caller: VerifiedToken,
        action: str,
        scope: str,
        *,
        data_action: bool,
        role_hint: str | None = None,
    ) -> None:
        assert caller.object_id is not None
        try:
            decision = await self.rbac.check(
                caller.object_id, action, scope, data_action=data_action
            )
        except RbacUnavailable as exc:
            if exc.identity_lacks_access:
                identity = await self.identity_object_id()
                raise Forbidden(
                    "The API Management service's managed identity cannot read role "
                    f"assignments: assign the role '{VALIDATOR_ROLE}' to the managed identity "
                    f"(object id {identity}) at the subscription or resource group holding "
                    "the service.",
                    "ManagedIdentityLacksAccess",
                ) from exc
            raise Unavailable(f"Authorization could not be decided: {exc}") from exc
        if not decision.allowed:
            how = f" Assign the role '{role_hint}' to it" if role_hint else ""
            raise Forbidden(
                f"The client with object id '{caller.object_id}' does not have authorization "
                f"to perform action '{action}' over scope '{scope}'.{how}"
                + (" at that scope or above." if role_hint else ""),
            )
