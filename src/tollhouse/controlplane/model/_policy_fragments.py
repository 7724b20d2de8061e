"""Policy fragments (`policyFragments/{name}`): Azure REST `PolicyFragmentContractProperties`.

A fragment is a reusable piece of policy that `<include-fragment fragment-id="name" />` inserts
as written into any section of any policy document. It is stored as the user wrote it, with
its format (`xml` or `rawxml`, handled as for policies), and refused on write unless it is a
well-formed `<fragment>` document without sections or `<base />` (`_policy_xml`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from tollhouse.controlplane.model._errors import invalid, unsupported
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._policies import POLICY_FORMATS
from tollhouse.controlplane.model._policy_xml import check_fragment_xml, rawxml_to_xml
from tollhouse.controlplane.model._resource import Resource

# APIM "Reuse policy configurations": "The maximum size of a policy fragment is 32 KB".
MAX_FRAGMENT_BYTES = 32 * 1024
# Azure REST PolicyFragmentContractProperties.description: maxLength 1000.
MAX_FRAGMENT_DESCRIPTION_LENGTH = 1000
_LINK_FORMATS = ("xml-link", "rawxml-link")


class PolicyFragmentProperties(TypedDict):
    """The normalized `properties` of a policy fragment."""

    value: str  # the `<fragment>` document as written
    format: str  # "xml" | "rawxml"
    description: NotRequired[str]


def normalize_policy_fragment(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    requested = fields.values.get("format")
    if isinstance(requested, str) and requested.lower() in _LINK_FORMATS:
        raise unsupported(
            "properties.format",
            f"'{requested}' is not supported: the control plane does not fetch policy "
            "documents; send the fragment inline with format 'xml' or 'rawxml'",
        )
    fragment_format = fields.choice("format", POLICY_FORMATS, "xml")
    # Characters, not bytes, bound here; the byte limit is checked just below.
    value = fields.required_text("value", max_length=MAX_FRAGMENT_BYTES)
    if len(value.encode("utf-8")) > MAX_FRAGMENT_BYTES:
        raise invalid("properties.value", f"must be at most {MAX_FRAGMENT_BYTES // 1024} KiB")
    check_fragment_xml(
        rawxml_to_xml(value) if fragment_format == "rawxml" else value, "properties.value"
    )
    out: dict[str, Any] = {"value": value, "format": fragment_format}
    description = fields.text(
        "description", max_length=MAX_FRAGMENT_DESCRIPTION_LENGTH, allow_empty=True
    )
    if description is not None:
        out["description"] = description
    return out, {}
