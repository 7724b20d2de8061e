"""The two custom roles of the APIM include, read from `deploy/roles/` (verbatim copies),
with `{subscriptionID}` replaced and nothing else touched."""

from __future__ import annotations

from pathlib import Path

ROLES = Path(__file__).resolve().parent.parent / "deploy" / "roles"
VALIDATOR_ROLE_NAME = "API Management Configuration API Access Validator Service Role"
READER_ROLE_NAME = "API Management Gateway Configuration Reader Role"


def validator_role_json(subscription: str) -> str:
    text = (ROLES / "apim-configuration-api-access-validator.json").read_text()
    return text.replace("{subscriptionID}", subscription)


def reader_role_json(subscription: str) -> str:
    text = (ROLES / "apim-gateway-configuration-reader.json").read_text()
    return text.replace("{subscriptionID}", subscription)
