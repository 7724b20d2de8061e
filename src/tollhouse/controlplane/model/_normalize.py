"""Validation of a resource write: ARM-shaped `properties` in, a `Resource` out.

Each kind has one normalizer, `(path, properties, existing) -> (public, secrets)`, that checks
the caller's properties, fills defaults and splits secrets off. Properties a kind does not know
are dropped, as ARM drops read-only and unknown properties of a PUT body (so GET bodies and
APIOps artifacts can be sent back unchanged). `existing` is the stored resource a write
replaces, or None; it is read only to keep secrets and generated keys the caller left out.
Normalizing a normalized resource again gives it back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tollhouse.controlplane.model._apis import normalize_api
from tollhouse.controlplane.model._backends import normalize_backend
from tollhouse.controlplane.model._certificates import normalize_certificate
from tollhouse.controlplane.model._errors import invalid
from tollhouse.controlplane.model._gateways import (
    normalize_certificate_authority,
    normalize_gateway,
    normalize_gateway_api,
    normalize_hostname_configuration,
)
from tollhouse.controlplane.model._named_values import normalize_named_value
from tollhouse.controlplane.model._operations import normalize_operation
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._policies import normalize_policy
from tollhouse.controlplane.model._policy_fragments import normalize_policy_fragment
from tollhouse.controlplane.model._products import normalize_link, normalize_product
from tollhouse.controlplane.model._resource import Resource
from tollhouse.controlplane.model._subscriptions import normalize_subscription, subscription_scope

Normalizer = Callable[
    [ResourcePath, Mapping[str, Any], Resource | None], tuple[dict[str, Any], dict[str, Any]]
]

NORMALIZERS: Mapping[str, Normalizer] = {
    "apis": normalize_api,
    "apis/operations": normalize_operation,
    "apis/policies": normalize_policy,
    "apis/operations/policies": normalize_policy,
    "products": normalize_product,
    "products/apis": normalize_link,
    "products/policies": normalize_policy,
    "subscriptions": normalize_subscription,
    "namedValues": normalize_named_value,
    "backends": normalize_backend,
    "certificates": normalize_certificate,
    "policies": normalize_policy,
    "policyFragments": normalize_policy_fragment,
    "gateways": normalize_gateway,
    "gateways/apis": normalize_gateway_api,
    "gateways/hostnameConfigurations": normalize_hostname_configuration,
    "gateways/certificateAuthorities": normalize_certificate_authority,
}


def normalize_resource(
    path: ResourcePath, properties: Mapping[str, Any] | None, existing: Resource | None = None
) -> Resource:
    """Validate a PUT of `path` whose body's `properties` are `properties` (None when the body
    has none); raises `ModelError`. See `merge_patch` for PATCH."""
    if existing is not None and existing.path != path:
        raise ValueError(f"existing is {existing.path}, not {path}")
    public, secrets = NORMALIZERS[path.kind](
        path, {} if properties is None else properties, existing
    )
    return Resource(path, public, secrets)


def merge_patch(existing: Resource, patch: Mapping[str, Any] | None) -> dict[str, Any]:
    """The properties a PATCH leaves: the stored ones with each top-level property of `patch`
    replacing its namesake (`null` removes it). Pass the result to `normalize_resource` with
    `existing`: secrets the patch leaves out are kept from there."""
    if patch is None:
        return dict(existing.properties)
    if not isinstance(patch, Mapping):
        raise invalid("properties", "must be a JSON object")
    merged = dict(existing.properties)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def referenced_paths(resource: Resource) -> tuple[ResourcePath, ...]:
    """The other resources this one refers to and needs to exist, parent excluded: a
    subscription's API or product, a link's or assignment's API, a hostname configuration's
    certificate, a backend's client certificates, a certificate authority's certificate."""
    kind, properties = resource.kind, resource.properties
    if kind == "subscriptions":
        target = subscription_scope(properties)
        return () if target is None else (target,)
    if kind in ("products/apis", "gateways/apis"):
        return (ResourcePath("apis", (resource.name,)),)
    if kind == "gateways/certificateAuthorities":
        return (ResourcePath("certificates", (resource.name,)),)
    if kind == "gateways/hostnameConfigurations" and "certificateId" in properties:
        return (_certificate(str(properties["certificateId"])),)
    if kind == "backends":
        ids = properties.get("credentials", {}).get("certificateIds", [])
        return tuple(_certificate(str(value)) for value in ids)
    return ()


def _certificate(reference: str) -> ResourcePath:
    return ResourcePath("certificates", (reference.rsplit("/", 1)[-1],))
