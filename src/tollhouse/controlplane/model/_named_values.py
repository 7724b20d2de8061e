"""Named values (`namedValues/{nv}`): Azure REST `NamedValueCreateContractProperties`.

Policies refer to a named value by its display name, `{{displayName}}`. A plain value is an
ordinary property; a secret one lives in `secrets` and is read through `listValue`. An update
that leaves `value` out keeps the current value (also when it turns a secret into a plain
value or back). Key Vault references are not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from tollhouse.controlplane.model._errors import invalid, unsupported
from tollhouse.controlplane.model._fields import Fields, text_value
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._resource import Resource

# Azure REST NamedValueCreateContractProperties: displayName 1..256 matching
# ^[A-Za-z0-9-._]+$, value 1..4096, at most 32 tags.
MAX_DISPLAY_NAME_LENGTH = 256
MAX_VALUE_LENGTH = 4096
MAX_TAGS = 32
MAX_TAG_LENGTH = 256

_DISPLAY_NAME = re.compile(r"[A-Za-z0-9\-._]+", re.ASCII)
# apim-self-hosted-gateway.md §8: named values "can contain expressions but not nested named
# values".
_REFERENCE = re.compile(r"\{\{[^{}]*\}\}")


class NamedValueProperties(TypedDict):
    """The normalized `properties` of a named value; `value` only when not secret."""

    displayName: str
    secret: bool
    tags: list[str]
    value: NotRequired[str]


class NamedValueSecrets(TypedDict, total=False):
    value: str  # only when secret


def normalize_named_value(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    if fields.has("keyVault"):
        raise unsupported(
            "properties.keyVault",
            "is not supported: Tollhouse has no Key Vault; store the value as a secret "
            "named value instead",
        )
    display_name = fields.required_text("displayName", max_length=MAX_DISPLAY_NAME_LENGTH)
    if _DISPLAY_NAME.fullmatch(display_name) is None:
        raise invalid(
            "properties.displayName", "may contain only letters, digits, '-', '.' and '_'"
        )
    secret = fields.flag("secret", False)
    value = fields.text("value", max_length=MAX_VALUE_LENGTH)
    if value is None:
        value = _current_value(existing)
    if value is None:
        raise invalid("properties.value", "is required")
    if not value.strip():
        raise invalid("properties.value", "may not be empty or consist only of whitespace")
    if _REFERENCE.search(value):
        raise invalid("properties.value", "may not refer to another named value ('{{…}}')")
    out: dict[str, Any] = {"displayName": display_name, "secret": secret, "tags": _tags(fields)}
    if secret:
        return out, {"value": value}
    out["value"] = value
    return out, {}


def _current_value(existing: Resource | None) -> str | None:
    if existing is None:
        return None
    value = existing.secrets.get("value", existing.properties.get("value"))
    return value if isinstance(value, str) else None


def _tags(fields: Fields) -> list[str]:
    tags = fields.array("tags", max_items=MAX_TAGS) or []
    return [
        text_value(tag, f"properties.tags[{index}]", max_length=MAX_TAG_LENGTH)
        for index, tag in enumerate(tags)
    ]
