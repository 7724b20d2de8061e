"""Subscriptions (`subscriptions/{sid}`): Azure REST `SubscriptionCreateParameterProperties`.

The scope is all APIs (`/apis`), one API (`/apis/{api}`) or one product
(`/products/{product}`), written service-relative or as a full resource id and stored
service-relative. Keys the caller leaves out are generated; keys live in `secrets` only and
are read through `listSecrets`. An update that leaves a key out keeps the current one: keys
change only when given or regenerated.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Mapping
from typing import Any, TypedDict

from tollhouse.controlplane.model._errors import echo, invalid
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._paths import (
    CollectionPath,
    ResourcePath,
    parse_reference,
    reference_text,
)
from tollhouse.controlplane.model._resource import Resource

# Azure REST: displayName 1..100, primaryKey/secondaryKey 1..256.
MAX_DISPLAY_NAME_LENGTH = 100
MAX_KEY_LENGTH = 256
# APIM's generated keys are 32 hexadecimal characters: 16 random bytes.
GENERATED_KEY_BYTES = 16

SUBSCRIPTION_STATES = ("active", "suspended", "submitted", "rejected", "cancelled", "expired")
# Azure REST, `state`: "If no value is specified, subscription is created with Submitted state."
DEFAULT_SUBSCRIPTION_STATE = "submitted"
KEY_NAMES = ("primaryKey", "secondaryKey")


class SubscriptionProperties(TypedDict):
    """The normalized `properties` of a subscription (keys are in `secrets`)."""

    scope: str  # "/apis", "/apis/{api}" or "/products/{product}"
    displayName: str
    state: str
    allowTracing: bool


class SubscriptionSecrets(TypedDict):
    primaryKey: str
    secondaryKey: str


def normalize_subscription(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    scope = fields.required_text("scope", max_length=2048)
    out: dict[str, Any] = {
        "scope": reference_text(_scope_target(scope)),
        "displayName": fields.required_text("displayName", max_length=MAX_DISPLAY_NAME_LENGTH),
        "state": fields.choice("state", SUBSCRIPTION_STATES, DEFAULT_SUBSCRIPTION_STATE),
        "allowTracing": fields.flag("allowTracing", False),
    }
    kept = existing.secrets if existing is not None else {}
    keys: dict[str, Any] = {}
    for key_name in KEY_NAMES:
        given = fields.text(key_name, max_length=MAX_KEY_LENGTH)
        if given is not None:
            keys[key_name] = _key(given, fields.at(key_name))
        else:
            keys[key_name] = kept.get(key_name) or generate_subscription_key()
    return out, keys


def subscription_scope(properties: Mapping[str, Any]) -> ResourcePath | None:
    """What a subscription's scope names: an API's or a product's path, None for all APIs."""
    target = _scope_target(str(properties["scope"]))
    return target if isinstance(target, ResourcePath) else None


def generate_subscription_key() -> str:
    return random.token_hex(GENERATED_KEY_BYTES)


def _scope_target(scope: str) -> ResourcePath | CollectionPath:
    target = parse_reference(scope, "properties.scope")
    if isinstance(target, CollectionPath) and target.kind == "apis":
        return target
    if isinstance(target, ResourcePath) and target.kind in ("apis", "products"):
        return target
    raise invalid(
        "properties.scope",
        f"must be '/apis', '/apis/{{apiId}}' or '/products/{{productId}}', not {echo(scope)}",
    )


def _key(value: str, path: str) -> str:
    if any(char.isspace() or not char.isprintable() for char in value):
        raise invalid(path, "must not contain whitespace or control characters")
    return value


def regenerate_subscription_key(resource: Resource, key_name: str) -> Resource:
    """The subscription with a new `primaryKey` or `secondaryKey` (the POST verbs
    `regeneratePrimaryKey` and `regenerateSecondaryKey`); the other key is kept."""
    if resource.kind != "subscriptions" or key_name not in KEY_NAMES:
        raise invalid("keyName", f"must be 'primaryKey' or 'secondaryKey', not {echo(key_name)}")
    keys = dict(resource.secrets)
    keys[key_name] = generate_subscription_key()
    return Resource(resource.path, resource.properties, keys)
