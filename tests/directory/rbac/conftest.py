"""The two custom roles of the APIM include, verbatim (apim-self-hosted-gateway.md §2)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.seed_roles import reader_role_json, validator_role_json

SUBSCRIPTION = "6f1a9d6e-2b4c-4f43-9c55-0d2f3e1a7b10"

VALIDATOR_ROLE_JSON = validator_role_json(SUBSCRIPTION)
READER_ROLE_JSON = reader_role_json(SUBSCRIPTION)


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
