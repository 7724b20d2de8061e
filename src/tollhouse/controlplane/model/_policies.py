"""Policies at every scope (`policies/policy`, `products/{p}/policies/policy`,
`apis/{api}/policies/policy`, `apis/{api}/operations/{op}/policies/policy`): Azure REST
`PolicyContractProperties`.

The document is stored as the user wrote it, with its format; it is refused on write unless
it is a well-formed `<policies>` document (`_policy_xml`). Linked documents (`xml-link`,
`rawxml-link`) would need the control plane to fetch a URL, which it does not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from tollhouse.controlplane.model._errors import unsupported
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._policy_xml import (
    MAX_POLICY_BYTES,
    check_policy_size,
    check_policy_xml,
    rawxml_to_xml,
)
from tollhouse.controlplane.model._resource import Resource

POLICY_FORMATS = ("xml", "rawxml")
_LINK_FORMATS = ("xml-link", "rawxml-link")


class PolicyProperties(TypedDict):
    """The normalized `properties` of a policy."""

    value: str  # the document as written
    format: str  # "xml" | "rawxml"


def normalize_policy(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    requested = fields.values.get("format")
    if isinstance(requested, str) and requested.lower() in _LINK_FORMATS:
        raise unsupported(
            "properties.format",
            f"'{requested}' is not supported: the control plane does not fetch policy "
            "documents; send the document inline with format 'xml' or 'rawxml'",
        )
    policy_format = fields.choice("format", POLICY_FORMATS, "xml")
    # Characters, not bytes, bound here; check_policy_size applies the byte limit.
    value = fields.required_text("value", max_length=MAX_POLICY_BYTES)
    check_policy_size(value, "properties.value")
    check_policy_xml(
        rawxml_to_xml(value) if policy_format == "rawxml" else value, "properties.value"
    )
    return {"value": value, "format": policy_format}, {}


def policy_xml(properties: Mapping[str, Any]) -> str:
    """A stored policy's document in the `xml` form: well-formed XML a gateway can parse,
    with policy expressions XML-escaped whatever format it was written in."""
    value = str(properties["value"])
    return rawxml_to_xml(value) if properties.get("format") == "rawxml" else value
