"""Authenticating a gateway on the configuration API: a GatewayKey token or a bearer token
with the getConfiguration data action."""

from __future__ import annotations

import asyncio

from tollhouse.controlplane import model
from tollhouse.controlplane._auth import GET_CONFIGURATION, READER_ROLE, Authorizer
from tollhouse.controlplane._errors import Forbidden, Unauthenticated
from tollhouse.controlplane._service import ControlPlane

_GATEWAY_KEY_REASONS = {
    model.GatewayTokenOutcome.MALFORMED: "the GatewayKey token is malformed",
    model.GatewayTokenOutcome.BAD_SIGNATURE: "the GatewayKey token's signature matches "
    "neither gateway key (was a key regenerated?)",
    model.GatewayTokenOutcome.EXPIRED: "the GatewayKey token has expired; generate a new one",
    model.GatewayTokenOutcome.LIFETIME_EXCEEDED: "the GatewayKey token expires more than "
    "30 days ahead",
}


async def authenticate_gateway(
    service: ControlPlane, authorizer: Authorizer, gateway: str, authorization: str | None
) -> None:
    """Returns when the caller may read `gateway`'s configuration; raises otherwise."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "gatewaykey":
        claimed = value.strip().split("&", 1)[0]
        if claimed and claimed.lower() != gateway.lower():
            raise Forbidden(
                f"The GatewayKey token is for gateway '{claimed[:80]}', not '{gateway}'.",
                "GatewayMismatch",
            )
        check = await asyncio.to_thread(service.check_gateway_token, gateway, authorization or "")
        if check.outcome is model.GatewayTokenOutcome.WRONG_GATEWAY:
            raise Forbidden(
                f"The GatewayKey token is not for gateway '{gateway}'.", "GatewayMismatch"
            )
        if not check.valid:
            raise Unauthenticated(
                _GATEWAY_KEY_REASONS.get(check.outcome, "the GatewayKey token is invalid") + ".",
                "InvalidGatewayToken",
            )
        return
    caller = await authorizer.verify(authorizer.configuration, authorization)
    await asyncio.to_thread(service.gateway, gateway)
    await authorizer.require(
        caller,
        GET_CONFIGURATION,
        f"{service.service_id}/gateways/{gateway}",
        data_action=True,
        role_hint=READER_ROLE,
    )
