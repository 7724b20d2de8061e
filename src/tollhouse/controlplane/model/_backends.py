"""Backends (`backends/{backend}`): Azure REST `BackendContractProperties`, single backends.

Credential header and query values may hold secrets or `{{named value}}` references; they are
kept as given and travel to the gateways that need them. Circuit breakers, pools and proxies
are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NotRequired, TypedDict

from tollhouse.controlplane.model._errors import invalid
from tollhouse.controlplane.model._fields import Fields, text_value
from tollhouse.controlplane.model._paths import (
    ResourcePath,
    parse_reference,
    reference_text,
)
from tollhouse.controlplane.model._resource import Resource
from tollhouse.controlplane.model._syntax import MAX_URL_LENGTH, http_token, http_url, query_name

# Azure REST: title and description 1..300 and 1..2000; authorization scheme 1..100 and
# parameter 1..300; at most 32 client certificates.
MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 2000
MAX_SCHEME_LENGTH = 100
MAX_PARAMETER_LENGTH = 300
MAX_CERTIFICATE_IDS = 32
# Headers and query parameters a backend's credentials add to each request.
MAX_CREDENTIAL_ENTRIES = 64
MAX_CREDENTIAL_VALUE_LENGTH = 4096

BACKEND_PROTOCOLS = ("http", "soap")


class BackendAuthorization(TypedDict):
    scheme: str
    parameter: str


class BackendCredentials(TypedDict):
    header: dict[str, list[str]]
    query: dict[str, list[str]]
    certificateIds: list[str]  # service-relative: /certificates/{id}
    authorization: NotRequired[BackendAuthorization]


class BackendTls(TypedDict):
    validateCertificateChain: bool
    validateCertificateName: bool


class BackendProperties(TypedDict):
    """The normalized `properties` of a backend."""

    url: str
    protocol: str  # "http" | "soap"
    credentials: BackendCredentials
    tls: BackendTls
    title: NotRequired[str]
    description: NotRequired[str]


def normalize_backend(
    path: ResourcePath, properties: Mapping[str, Any], existing: Resource | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = Fields.of(properties, "properties")
    url = fields.required_text("url", max_length=MAX_URL_LENGTH)
    out: dict[str, Any] = {
        "url": http_url(url, "properties.url"),
        "protocol": fields.choice("protocol", BACKEND_PROTOCOLS, "http"),
        "credentials": _credentials(fields.object("credentials")),
        "tls": _tls(fields.object("tls")),
    }
    for key, limit in (("title", MAX_TITLE_LENGTH), ("description", MAX_DESCRIPTION_LENGTH)):
        text = fields.text(key, max_length=limit, allow_empty=True)
        if text is not None:
            out[key] = text
    return out, {}


def _credentials(fields: Fields | None) -> dict[str, Any]:
    out: dict[str, Any] = {"header": {}, "query": {}, "certificateIds": []}
    if fields is None:
        return out
    header = fields.object("header")
    if header is not None:
        out["header"] = _entries(header, http_token)
    query = fields.object("query")
    if query is not None:
        out["query"] = _entries(query, query_name)
    certificates = fields.array("certificateIds", max_items=MAX_CERTIFICATE_IDS) or []
    out["certificateIds"] = [
        _certificate_id(value, f"{fields.at('certificateIds')}[{index}]")
        for index, value in enumerate(certificates)
    ]
    authorization = fields.object("authorization")
    if authorization is not None:
        out["authorization"] = {
            "scheme": authorization.required_text("scheme", max_length=MAX_SCHEME_LENGTH),
            "parameter": authorization.required_text("parameter", max_length=MAX_PARAMETER_LENGTH),
        }
    return out


def _entries(fields: Fields, check_name: Callable[[str, str], str]) -> dict[str, list[str]]:
    if len(fields.values) > MAX_CREDENTIAL_ENTRIES:
        raise invalid(fields.path, f"may have at most {MAX_CREDENTIAL_ENTRIES} entries")
    out: dict[str, list[str]] = {}
    for name, values in fields.values.items():
        at = fields.at(name)
        check_name(name, at)
        if not isinstance(values, list) or not values:
            raise invalid(at, "must be a non-empty array of strings")
        out[name] = [
            text_value(v, f"{at}[{i}]", max_length=MAX_CREDENTIAL_VALUE_LENGTH, allow_empty=True)
            for i, v in enumerate(values)
        ]
    return out


def _certificate_id(value: object, at: str) -> str:
    target = parse_reference(text_value(value, at, max_length=2048), at)
    if not isinstance(target, ResourcePath) or target.kind != "certificates":
        raise invalid(at, "must be a certificate id such as '/certificates/{id}'")
    return reference_text(target)


def _tls(fields: Fields | None) -> dict[str, bool]:
    # Azure REST BackendTlsProperties: both default to true.
    if fields is None:
        return {"validateCertificateChain": True, "validateCertificateName": True}
    return {
        "validateCertificateChain": fields.flag("validateCertificateChain", True),
        "validateCertificateName": fields.flag("validateCertificateName", True),
    }
