# ruff: noqa: E501  (the seed JSON is kept verbatim, long lines included)
"""The two custom roles of the APIM include, verbatim (apim-self-hosted-gateway.md §2).

`{subscriptionID}` is replaced by `SUBSCRIPTION`; nothing else is touched.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

SUBSCRIPTION = "6f1a9d6e-2b4c-4f43-9c55-0d2f3e1a7b10"

VALIDATOR_ROLE_JSON = """
{
  "Description": "Can access RBAC permissions on the API Management resource to authorize requests in Configuration API.",
  "IsCustom": true,
  "Name": "API Management Configuration API Access Validator Service Role",
  "Permissions": [ { "Actions": [ "Microsoft.Authorization/*/read" ],
                     "NotActions": [], "DataActions": [], "NotDataActions": [] } ],
  "NotDataActions": [],
  "AssignableScopes": [ "/subscriptions/{subscriptionID}" ]
}
""".replace("{subscriptionID}", SUBSCRIPTION)

READER_ROLE_JSON = """
{
  "Description": "Can read self-hosted gateway configuration from Configuration API",
  "IsCustom": true,
  "Name": "API Management Gateway Configuration Reader Role",
  "Permissions": [ { "Actions": [], "NotActions": [],
                     "DataActions": [ "Microsoft.ApiManagement/service/gateways/getConfiguration/action" ],
                     "NotDataActions": [] } ],
  "NotDataActions": [],
  "AssignableScopes": [ "/subscriptions/{subscriptionID}" ]
}
""".replace("{subscriptionID}", SUBSCRIPTION)


@pytest.fixture
def validator_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(VALIDATOR_ROLE_JSON)
    return document


@pytest.fixture
def reader_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(READER_ROLE_JSON)
    return document


@pytest.fixture
def seed_scope() -> str:
    """The assignable scope of both seed roles."""
    return f"/subscriptions/{SUBSCRIPTION}"
