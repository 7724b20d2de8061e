"""Products (`products/{product}`) and their API links (`products/{product}/apis/{api}`).

Azure REST `ProductContractProperties`. APIM's own rule: `approvalRequired` and
`subscriptionsLimit` "can be present only if subscriptionRequired property is present and has
a value of true".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from tollhouse.controlplane.model._errors import invalid
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._resource import Resource

# Azure REST ProductContractProperties: displayName 1..300, description 0..1000.
MAX_DISPLAY_NAME_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 1000
MAX_TERMS_LENGTH = 10_000
# A product's subscriptions per user; far beyond any real limit, and within a 32-bit int.
MAX_SUBSCRIPTIONS_LIMIT = 2**31 - 1

PRODUCT_STATES = ("notPublished", "published")


class ProductProperties(TypedDict):
    """The normalized `properties` of a product."""

    displayName: str
    state: str  # "notPublished" | "published"
    subscriptionRequired: bool
    approvalRequired: bool
    description: NotRequired[str]
    subscriptionsLimit: NotRequired[int]
    terms: NotRequired[str]


def normalize_product(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    subscription_required = fields.flag("subscriptionRequired", True)
    out: dict[str, Any] = {
        "displayName": fields.required_text("displayName", max_length=MAX_DISPLAY_NAME_LENGTH),
        "state": fields.choice("state", PRODUCT_STATES, "notPublished"),
        "subscriptionRequired": subscription_required,
        "approvalRequired": fields.flag("approvalRequired", False),
    }
    limit = fields.integer("subscriptionsLimit", minimum=0, maximum=MAX_SUBSCRIPTIONS_LIMIT)
    if not subscription_required:
        for key, present in (
            ("approvalRequired", out["approvalRequired"]),
            ("subscriptionsLimit", limit is not None),
        ):
            if present:
                raise invalid(
                    f"properties.{key}", "may be set only when subscriptionRequired is true"
                )
    if limit is not None:
        out["subscriptionsLimit"] = limit
    description = fields.text("description", max_length=MAX_DESCRIPTION_LENGTH, allow_empty=True)
    if description is not None:
        out["description"] = description
    terms = fields.text("terms", max_length=MAX_TERMS_LENGTH, allow_empty=True)
    if terms is not None:
        out["terms"] = terms
    return out, {}


def normalize_link(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`products/{p}/apis/{api}`: the link itself is the resource; properties are ignored
    (APIM answers the API's contract here, which the management API can add)."""
    Fields.of(properties, "properties")
    return {}, {}
