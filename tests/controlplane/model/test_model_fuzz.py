"""Any input either parses or raises `ModelError`, never anything else (h11's invariant).

Deterministic random JSON values are thrown at every kind's validation, at path parsing, at
the OpenAPI importer and at token verification.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tollhouse.controlplane.model import (
    KINDS,
    ActionPath,
    CollectionPath,
    ModelError,
    ResourcePath,
    import_openapi,
    normalize_resource,
    parse_path,
    parse_resource_path,
    referenced_paths,
    to_arm,
    verify_gateway_token,
)
from tollhouse.controlplane.model._gateway_tokens import GatewayTokenOutcome

ROUNDS = 300
PATHS = {
    "apis": "apis/a",
    "apis/operations": "apis/a/operations/o",
    "apis/policies": "apis/a/policies/policy",
    "apis/operations/policies": "apis/a/operations/o/policies/policy",
    "products": "products/p",
    "products/apis": "products/p/apis/a",
    "products/policies": "products/p/policies/policy",
    "subscriptions": "subscriptions/s",
    "namedValues": "namedValues/n",
    "backends": "backends/b",
    "certificates": "certificates/c",
    "policies": "policies/policy",
    "policyFragments": "policyFragments/f",
    "gateways": "gateways/g",
    "gateways/apis": "gateways/g/apis/a",
    "gateways/hostnameConfigurations": "gateways/g/hostnameConfigurations/h",
    "gateways/certificateAuthorities": "gateways/g/certificateAuthorities/c",
}
# Property names the kinds read, so that random values reach the validators.
NAMES = [
    "path", "displayName", "protocols", "serviceUrl", "subscriptionRequired", "header",
    "subscriptionKeyParameterNames", "query", "apiRevision", "isCurrent", "type", "method",
    "urlTemplate", "templateParameters", "name", "required", "values", "request", "responses",
    "state", "approvalRequired", "subscriptionsLimit", "scope", "primaryKey", "secondaryKey",
    "value", "secret", "tags", "keyVault", "url", "protocol", "credentials", "authorization",
    "scheme", "parameter", "certificateIds", "tls", "validateCertificateChain", "data",
    "password", "format", "locationData", "city", "hostname", "certificateId", "isTrusted",
    "apiVersionSetId", "description",
]  # fmt: skip
STRINGS = [
    "", " ", "a", "/apis", "/apis/a", "/products/p", "/certificates/c", "https://h",
    "<policies/>", "{x}", "/{id}", "GET", "http", "xml", "rawxml", "\u0000", "é", "1",
    "<fragment><mock-response /></fragment>",
]  # fmt: skip


def value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 3, 2**40, 1.5])
    if choice in (3, 4, 5):
        return rng.choice(STRINGS)
    if choice == 6:
        return [value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(NAMES): value(rng, depth + 1) for _ in range(rng.randrange(5))}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_random_properties_normalize_or_raise_model_error(kind: str) -> None:
    rng = random.Random(kind)
    path = parse_resource_path(PATHS[kind])
    for _ in range(ROUNDS):
        properties = {rng.choice(NAMES): value(rng) for _ in range(rng.randrange(8))}
        try:
            resource = normalize_resource(path, properties)
        except ModelError:
            continue
        json.dumps(to_arm(resource, "/s"))
        referenced_paths(resource)


def test_random_paths_parse_or_raise_model_error() -> None:
    rng = random.Random(1)
    segments = ["apis", "a", "operations", "policies", "policy", "gateways", "listKeys", "", "é"]
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(2000):
        text = "/".join(rng.choice(segments) for _ in range(rng.randrange(7)))
        try:
            parsed = parse_path(text)
        except ModelError as error:
            assert error.code and error.message and 400 <= error.status < 500
            outcomes["refused"] += 1
        else:
            assert isinstance(parsed, ResourcePath | CollectionPath | ActionPath)
            outcomes["parsed"] += 1
    # The inputs reach both outcomes, or the test would say nothing about one of them.
    assert outcomes["parsed"] and outcomes["refused"], outcomes


def test_random_documents_import_or_raise_model_error() -> None:
    rng = random.Random(2)
    outcomes = {"imported": 0, "refused": 0}
    for _ in range(ROUNDS):
        document: dict[str, Any] = {
            rng.choice(["openapi", "swagger", "info", "paths", "servers", "host"]): value(rng)
            for _ in range(rng.randrange(5))
        }
        if rng.random() < 0.5:
            document["openapi"] = "3.0.0"
        if rng.random() < 0.7:
            document["paths"] = {
                rng.choice(["/", "/a/{b}", "/{*c}", "x"]): {
                    rng.choice(["get", "post", "parameters", "$ref"]): value(rng)
                }
            }
        try:
            imported = import_openapi(json.dumps(document), api_name="a")
        except ModelError as error:
            assert error.code and error.message and 400 <= error.status < 500
            outcomes["refused"] += 1
        else:
            assert isinstance(imported.api_properties, dict)
            assert all(isinstance(name, str) for name, _ in imported.operations)
            outcomes["imported"] += 1
    assert outcomes["imported"] and outcomes["refused"], outcomes


def test_random_tokens_are_never_valid() -> None:
    rng = random.Random(3)
    alphabet = "gw&0123456789+/=GatewayKey ;é"
    now = datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        token = "".join(rng.choice(alphabet) for _ in range(rng.randrange(120)))
        check = verify_gateway_token(token, "gw", ("k1", "k2"), now)
        assert check.outcome is not GatewayTokenOutcome.VALID
