"""A stored resource and its ARM rendering.

A resource's properties are split in two at validation: `properties`, rendered by GET and
carried in change events, and `secrets`, which leave the control plane only through the
`listSecrets`-style POST verbs and (as hashes or values) in a gateway's configuration.
`to_arm` never renders a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollhouse.controlplane.model._errors import INVALID_RESOURCE_TYPE, ModelError
from tollhouse.controlplane.model._paths import ResourcePath


@dataclass(frozen=True)
class Resource:
    """One validated resource. `properties` and `secrets` are the normalized shapes of its
    kind (see the package documentation); treat both as read-only."""

    path: ResourcePath
    properties: Mapping[str, Any]
    secrets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.path.kind

    @property
    def name(self) -> str:
        return self.path.name


def to_arm(resource: Resource, service_id: str) -> dict[str, Any]:
    """`{"id", "name", "type", "properties"}` as ARM's GET answers it.

    `service_id` is the service's resource id
    (`/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{svc}`).
    References to other resources are rendered as full resource ids, as APIM renders them.
    """
    service_id = service_id.rstrip("/")
    kind = resource.path.resource_kind
    properties = dict(resource.properties)
    for reference in kind.references:
        properties = _expanded(properties, reference.split("."), service_id)
    return {
        "id": resource.path.resource_id(service_id),
        "name": resource.path.name,
        "type": kind.arm_type,
        "properties": properties,
    }


def _expanded(values: dict[str, Any], keys: list[str], service_id: str) -> dict[str, Any]:
    """A copy of `values` with the reference at `keys` made a full resource id."""
    head, rest = keys[0], keys[1:]
    value = values.get(head)
    if rest:
        if isinstance(value, Mapping):
            return {**values, head: _expanded(dict(value), rest, service_id)}
        return values
    if isinstance(value, str) and value.startswith("/"):
        return {**values, head: service_id + value}
    if isinstance(value, list):
        return {
            **values,
            head: [
                service_id + v if isinstance(v, str) and v.startswith("/") else v for v in value
            ],
        }
    return values


def list_secrets(resource: Resource) -> dict[str, Any]:
    """The body of the kind's secret-reading POST verb.

    subscriptions `listSecrets` → `{"primaryKey", "secondaryKey"}`; namedValues `listValue`
    → `{"value"}` (plain values too, as APIM answers); gateways `listKeys` →
    `{"primary", "secondary"}`. Other kinds have no such verb: `InvalidResourceType` 404.
    """
    kind = resource.kind
    if kind == "subscriptions":
        return {
            "primaryKey": resource.secrets["primaryKey"],
            "secondaryKey": resource.secrets["secondaryKey"],
        }
    if kind == "namedValues":
        if resource.properties.get("secret"):
            return {"value": resource.secrets["value"]}
        return {"value": resource.properties["value"]}
    if kind == "gateways":
        return {"primary": resource.secrets["primary"], "secondary": resource.secrets["secondary"]}
    raise ModelError(
        INVALID_RESOURCE_TYPE, f"'{kind}' resources have no secrets to list.", status=404
    )
