"""APIs (`apis/{api}`): Azure REST `ApiCreateOrUpdateProperties`, HTTP APIs only.

An API revision is its own resource, `{api};rev={n}` (APIM's syntax): its `apiRevision` is
`n`, it is not current unless it says so, and its `path` may be left out, since a revision
always shares its API's path (the store fills it from the API).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from tollhouse.controlplane.model._errors import (
    INVALID_RESOURCE_TYPE,
    ModelError,
    echo,
    invalid,
    unsupported,
)
from tollhouse.controlplane.model._fields import Fields, choice_value
from tollhouse.controlplane.model._kinds import PROVIDER
from tollhouse.controlplane.model._names import split_revision
from tollhouse.controlplane.model._paths import ResourcePath
from tollhouse.controlplane.model._resource import Resource
from tollhouse.controlplane.model._syntax import MAX_URL_LENGTH, http_token, http_url, query_name

# Azure REST ApiCreateOrUpdateProperties: path maxLength 400, displayName 1..300,
# apiVersion maxLength 100, apiRevision 1..100.
MAX_API_PATH_LENGTH = 400
MAX_DISPLAY_NAME_LENGTH = 300
MAX_API_VERSION_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 10_000
# Header and query names are short in practice; this bounds what a gateway compares.
MAX_KEY_PARAMETER_NAME_LENGTH = 256

DEFAULT_SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
DEFAULT_SUBSCRIPTION_KEY_QUERY = "subscription-key"
PROTOCOLS = ("http", "https", "ws", "wss")
DEFAULT_PROTOCOLS = ("https",)

# RFC 3986 pchar without percent-encoding: what one segment of an API path may hold.
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]+", re.ASCII)
_VERSION_SET = re.compile(r"/apiVersionSets/([A-Za-z0-9][A-Za-z0-9_.-]{0,79})", re.ASCII)
_SERVICE_PREFIX = re.compile(
    rf"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/{re.escape(PROVIDER)}/service/[^/]+",
    re.IGNORECASE | re.ASCII,
)
_REVISION_NUMBER = re.compile(r"[1-9][0-9]{0,99}", re.ASCII)
# Other APIM API types; Tollhouse's gateway serves HTTP APIs.
_OTHER_TYPES = ("soap", "websocket", "graphql", "grpc", "odata")


class SubscriptionKeyParameterNames(TypedDict):
    header: str
    query: str


class ApiProperties(TypedDict):
    """The normalized `properties` of an API."""

    displayName: str
    path: NotRequired[str]  # absent only on a revision (`{api};rev={n}`) that left it out
    protocols: list[str]
    subscriptionRequired: bool
    subscriptionKeyParameterNames: SubscriptionKeyParameterNames
    apiRevision: str
    isCurrent: bool
    type: str  # always "http"
    description: NotRequired[str]
    serviceUrl: NotRequired[str]
    apiVersion: NotRequired[str]
    apiVersionSetId: NotRequired[str]  # service-relative: /apiVersionSets/{id}
    apiRevisionDescription: NotRequired[str]


def normalize_api(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    base_name, revision = split_revision(path.name)
    if fields.has("format") or fields.has("value"):
        raise invalid(
            "properties.format",
            "marks an import request: route it through import_api_request, not normalize",
        )
    api_type = fields.values.get("type")
    if isinstance(api_type, str) and api_type.lower() in _OTHER_TYPES:
        raise unsupported("properties.type", f"{echo(api_type)} is not supported: only 'http'")
    out: dict[str, Any] = {
        "displayName": fields.text("displayName", max_length=MAX_DISPLAY_NAME_LENGTH) or base_name,
    }
    api_path = fields.text("path", max_length=MAX_API_PATH_LENGTH, allow_empty=True)
    if api_path is None and revision is None:
        raise invalid("properties.path", "is required")
    if api_path is not None:
        out["path"] = api_path_value(api_path, "properties.path")
    out["protocols"] = _protocols(fields)
    out["subscriptionRequired"] = fields.flag("subscriptionRequired", True)
    out["subscriptionKeyParameterNames"] = _key_names(fields)
    out["apiRevision"] = _revision(fields, revision)
    out["isCurrent"] = fields.flag("isCurrent", revision is None)
    out["type"] = fields.choice("type", ("http",), "http")
    for key in ("description", "apiRevisionDescription"):
        text = fields.text(key, max_length=MAX_DESCRIPTION_LENGTH, allow_empty=True)
        if text is not None:
            out[key] = text
    service_url = fields.text("serviceUrl", max_length=MAX_URL_LENGTH)
    if service_url is not None:
        out["serviceUrl"] = http_url(service_url, "properties.serviceUrl")
    version = fields.text("apiVersion", max_length=MAX_API_VERSION_LENGTH)
    if version is not None:
        out["apiVersion"] = version
    version_set = fields.text("apiVersionSetId", max_length=2048)
    if version_set is not None:
        out["apiVersionSetId"] = _version_set(version_set)
    return out, {}


def api_path_value(value: str, path: str) -> str:
    """An API's URL suffix without leading or trailing `/`; `""` serves at the root."""
    trimmed = value.strip("/")
    if not trimmed:
        return ""
    for segment in trimmed.split("/"):
        if segment in (".", "..") or _PATH_SEGMENT.fullmatch(segment) is None:
            raise invalid(
                path,
                f"must be a relative URL path of non-empty segments without '?', '#', '%' "
                f"or whitespace, not {echo(value)}",
            )
    return trimmed


def _protocols(fields: Fields) -> list[str]:
    values = fields.array("protocols", max_items=len(PROTOCOLS) * 2)
    if values is None:
        return list(DEFAULT_PROTOCOLS)
    if not values:
        raise invalid("properties.protocols", "must name at least one protocol")
    chosen = {
        choice_value(value, f"properties.protocols[{index}]", PROTOCOLS)
        for index, value in enumerate(values)
    }
    return [protocol for protocol in PROTOCOLS if protocol in chosen]


def _key_names(fields: Fields) -> dict[str, str]:
    out = {"header": DEFAULT_SUBSCRIPTION_KEY_HEADER, "query": DEFAULT_SUBSCRIPTION_KEY_QUERY}
    names = fields.object("subscriptionKeyParameterNames")
    if names is None:
        return out
    header = names.text("header", max_length=MAX_KEY_PARAMETER_NAME_LENGTH)
    if header is not None:
        out["header"] = http_token(header, names.at("header"))
    query = names.text("query", max_length=MAX_KEY_PARAMETER_NAME_LENGTH)
    if query is not None:
        out["query"] = query_name(query, names.at("query"))
    return out


def _revision(fields: Fields, from_name: str | None) -> str:
    value = fields.text("apiRevision", max_length=100)
    if value is None:
        return from_name or "1"
    if _REVISION_NUMBER.fullmatch(value) is None:
        raise invalid("properties.apiRevision", f"must be a positive number, not {echo(value)}")
    if from_name is not None and value != from_name:
        raise invalid(
            "properties.apiRevision",
            f"is {echo(value)} but the resource name says revision '{from_name}'",
        )
    return value


def _version_set(value: str) -> str:
    relative = value
    prefix = _SERVICE_PREFIX.match(value)
    if prefix is not None:
        relative = value[prefix.end() :]
    match = _VERSION_SET.fullmatch(relative)
    if match is None:
        raise invalid(
            "properties.apiVersionSetId",
            f"must be a resource id such as '/apiVersionSets/{{id}}', not {echo(value)}",
        )
    return f"/apiVersionSets/{match.group(1)}"


def api_revision_base(path: ResourcePath) -> ResourcePath | None:
    """The API a revision belongs to (`apis/echo` for `apis/echo;rev=2`), None for an API."""
    if path.kind != "apis":
        raise ModelError(INVALID_RESOURCE_TYPE, f"'{path.relative}' is not an API.", 404)
    base, revision = split_revision(path.name)
    return None if revision is None else ResourcePath("apis", (base,))
