"""Subscriptions (`subscriptions/{sid}`): Azure REST `SubscriptionCreateParameterProperties`.

The scope is all APIs (`/apis`), one API (`/apis/{api}`) or one product
(`/products/{product}`), written service-relative or as a full resource id and stored
service-relative. Keys the caller leaves out are generated; keys live in `secrets` only and
are read through `listSecrets`. An update that leaves a key out keeps the current one: keys
change only when given or regenerated.

Dates are ISO 8601 and stored in ARM's rendering, `yyyy-MM-ddTHH:mm:ssZ` (UTC). `createdDate`
is read-only: the model has no clock, so the control plane stamps it on creation with
`stamp_created_date`, and every later write keeps the stored one. The settable dates are
"for audit purposes only and the subscription is not automatically expired" (Azure REST,
SubscriptionContract `expirationDate`): `state` alone decides whether a key is accepted.
"""

from __future__ import annotations

import datetime as dt
import secrets as random
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

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
# Azure REST SubscriptionContractProperties: the dates a caller may set.
SETTABLE_DATES = ("startDate", "expirationDate", "endDate", "notificationDate")
# The longest ISO 8601 date-time worth reading (with fractions and an offset), so that a
# huge string is refused before it is parsed.
MAX_DATE_LENGTH = 64


class SubscriptionProperties(TypedDict):
    """The normalized `properties` of a subscription (keys are in `secrets`)."""

    scope: str  # "/apis", "/apis/{api}" or "/products/{product}"
    displayName: str
    state: str
    allowTracing: bool
    # Each present only when known: createdDate once stamped, the others when set.
    createdDate: NotRequired[str]
    startDate: NotRequired[str]
    expirationDate: NotRequired[str]
    endDate: NotRequired[str]
    notificationDate: NotRequired[str]


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
    for date_name in SETTABLE_DATES:
        given = fields.text(date_name, max_length=MAX_DATE_LENGTH)
        if given is not None:
            out[date_name] = arm_date(parse_date(given, fields.at(date_name)))
    # createdDate is read-only (ARM ignores it in a PUT body): only the stored one is kept.
    created = existing.properties.get("createdDate") if existing is not None else None
    if isinstance(created, str):
        out["createdDate"] = created
    kept = existing.secrets if existing is not None else {}
    keys: dict[str, Any] = {}
    for key_name in KEY_NAMES:
        given = fields.text(key_name, max_length=MAX_KEY_LENGTH)
        if given is not None:
            keys[key_name] = _key(given, fields.at(key_name))
        else:
            keys[key_name] = kept.get(key_name) or generate_subscription_key()
    return out, keys


def stamp_created_date(resource: Resource, now: dt.datetime) -> Resource:
    """A new subscription with `createdDate` set to `now` (naive means UTC); other kinds, and
    subscriptions that already have one, come back unchanged."""
    if resource.kind != "subscriptions" or "createdDate" in resource.properties:
        return resource
    moment = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
    properties = {**resource.properties, "createdDate": arm_date(moment)}
    return Resource(resource.path, properties, resource.secrets)


def parse_date(text: str, path: str) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime; no offset means UTC (ARM's
    `yyyy-MM-ddTHH:mm:ssZ` is UTC). Raises `ModelError` `ValidationError` naming `path`."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise invalid(
            path, f"must be an ISO 8601 date-time such as 2026-01-31T00:00:00Z, not {echo(text)}"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise invalid(path, f"is out of range: {echo(text)}") from None


def arm_date(moment: dt.datetime) -> str:
    """ARM's rendering of a subscription date: UTC to the second."""
    # isoformat, not strftime: strftime's %Y drops the leading zeros of years before 1000.
    utc = moment.astimezone(dt.UTC).replace(microsecond=0, tzinfo=None)
    return utc.isoformat(timespec="seconds") + "Z"


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
