"""Gateways and what hangs off them (apim-self-hosted-gateway.md §8, gateway entities).

* `gateways/{gw}`: `locationData`, `description`; two gateway keys, generated at creation,
  kept across updates, changed only by `regenerateKey` (Azure REST: gateway keys are listed
  with `listKeys` and rotated with `regenerateKey`; "Regenerating the gateway key invalidates
  all access tokens", §4).
* `gateways/{gw}/apis/{api}`: the assignment that makes a gateway serve an API.
* `gateways/{gw}/hostnameConfigurations/{hc}`: host name, TLS certificate, TLS options.
* `gateways/{gw}/certificateAuthorities/{certificateId}`: a CA certificate the gateway trusts
  for client certificates; the resource is named after the certificate.
"""

from __future__ import annotations

import base64
import secrets as random
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from tollhouse.controlplane.model._errors import echo, invalid
from tollhouse.controlplane.model._fields import Fields, choice_value
from tollhouse.controlplane.model._paths import (
    ResourcePath,
    parse_reference,
    reference_text,
)
from tollhouse.controlplane.model._resource import Resource
from tollhouse.controlplane.model._syntax import hostname

# Azure REST ResourceLocationDataContract: name, city, district, countryOrRegion 0..256;
# GatewayContractProperties.description 0..1000.
MAX_LOCATION_FIELD_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 1000
# APIM's gateway keys are 88 base64 characters: 64 random bytes.
GATEWAY_KEY_BYTES = 64

GATEWAY_KEY_TYPES = ("primary", "secondary")


class LocationData(TypedDict):
    name: str
    city: NotRequired[str]
    district: NotRequired[str]
    countryOrRegion: NotRequired[str]


class GatewayProperties(TypedDict):
    """The normalized `properties` of a gateway (keys are in `secrets`)."""

    locationData: LocationData
    description: NotRequired[str]


class GatewaySecrets(TypedDict):
    primary: str
    secondary: str


class GatewayApiProperties(TypedDict):
    provisioningState: str  # always "created" (Azure REST AssociationContract)


class HostnameConfigurationProperties(TypedDict):
    hostname: str  # lower case; "*.contoso.com" and "*" allowed
    negotiateClientCertificate: bool
    tls10Enabled: bool
    tls11Enabled: bool
    http2Enabled: bool
    certificateId: NotRequired[str]  # service-relative: /certificates/{id}


class CertificateAuthorityProperties(TypedDict):
    isTrusted: bool


def normalize_gateway(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    location = fields.object("locationData")
    if location is None:
        raise invalid("properties.locationData", "is required")
    location_data = {
        "name": location.required_text("name", max_length=MAX_LOCATION_FIELD_LENGTH),
    }
    for key in ("city", "district", "countryOrRegion"):
        text = location.text(key, max_length=MAX_LOCATION_FIELD_LENGTH, allow_empty=True)
        if text is not None:
            location_data[key] = text
    out: dict[str, Any] = {"locationData": location_data}
    description = fields.text("description", max_length=MAX_DESCRIPTION_LENGTH, allow_empty=True)
    if description is not None:
        out["description"] = description
    kept = existing.secrets if existing is not None else {}
    keys = {key: kept.get(key) or generate_gateway_key() for key in GATEWAY_KEY_TYPES}
    return out, keys


def generate_gateway_key() -> str:
    return base64.b64encode(random.token_bytes(GATEWAY_KEY_BYTES)).decode("ascii")


def regenerate_gateway_key(resource: Resource, key_type: str) -> Resource:
    """The gateway with a new `primary` or `secondary` key (`regenerateKey`, body
    `{"keyType": "primary"}`); tokens signed with the old key stop verifying."""
    if resource.kind != "gateways":
        raise invalid("keyType", f"'{resource.path.relative}' is not a gateway")
    which = choice_value(key_type, "keyType", GATEWAY_KEY_TYPES)
    keys = dict(resource.secrets)
    keys[which] = generate_gateway_key()
    return Resource(resource.path, resource.properties, keys)


def normalize_gateway_api(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    Fields.of(properties, "properties")
    return {"provisioningState": "created"}, {}


def normalize_hostname_configuration(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    out: dict[str, Any] = {
        "hostname": hostname(
            fields.required_text("hostname", max_length=253), "properties.hostname"
        ),
        # The Azure REST contract states no defaults; an absent switch is off.
        "negotiateClientCertificate": fields.flag("negotiateClientCertificate", False),
        "tls10Enabled": fields.flag("tls10Enabled", False),
        "tls11Enabled": fields.flag("tls11Enabled", False),
        "http2Enabled": fields.flag("http2Enabled", False),
    }
    certificate = fields.text("certificateId", max_length=2048)
    if certificate is not None:
        target = parse_reference(certificate, "properties.certificateId")
        if not isinstance(target, ResourcePath) or target.kind != "certificates":
            raise invalid(
                "properties.certificateId",
                f"must be a certificate id such as '/certificates/{{id}}', not {echo(certificate)}",
            )
        out["certificateId"] = reference_text(target)
    return out, {}


def normalize_certificate_authority(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    return {"isTrusted": fields.flag("isTrusted", False)}, {}
