"""Named values (plain and secret) and backends."""

from __future__ import annotations

from typing import Any

import pytest

from tollhouse.controlplane.model import (
    ModelError,
    Resource,
    list_secrets,
    merge_patch,
    normalize_resource,
    parse_resource_path,
    referenced_paths,
    to_arm,
)

SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"


def put(path: str, properties: dict[str, Any], existing: Resource | None = None) -> Resource:
    return normalize_resource(parse_resource_path(path), properties, existing)


def refused(path: str, properties: dict[str, Any]) -> ModelError:
    with pytest.raises(ModelError) as raised:
        put(path, properties)
    return raised.value


def test_a_plain_named_value_is_public() -> None:
    value = put("namedValues/backend-host", {"displayName": "backend-host", "value": "b.local"})
    assert value.properties == {
        "displayName": "backend-host",
        "secret": False,
        "tags": [],
        "value": "b.local",
    }
    assert value.secrets == {}
    assert list_secrets(value) == {"value": "b.local"}


def test_a_secret_named_value_is_only_listed() -> None:
    value = put(
        "namedValues/api-key",
        {"displayName": "api-key", "value": "s3cr3t-value", "secret": True, "tags": ["a"]},
    )
    assert value.properties == {"displayName": "api-key", "secret": True, "tags": ["a"]}
    assert value.secrets == {"value": "s3cr3t-value"}
    assert "s3cr3t-value" not in repr(to_arm(value, SERVICE))
    assert list_secrets(value) == {"value": "s3cr3t-value"}


def test_an_update_without_a_value_keeps_it_even_across_secrecy() -> None:
    secret = put("namedValues/k", {"displayName": "k", "value": "v1", "secret": True})
    patched = put("namedValues/k", merge_patch(secret, {"secret": False}), secret)
    assert patched.properties["value"] == "v1"
    assert patched.secrets == {}
    again = put("namedValues/k", merge_patch(patched, {"secret": True}), patched)
    assert again.secrets == {"value": "v1"}
    assert "value" not in again.properties


@pytest.mark.parametrize(
    ("properties", "target", "code"),
    [
        ({"value": "v"}, "properties.displayName", "ValidationError"),
        ({"displayName": "a b", "value": "v"}, "properties.displayName", "ValidationError"),
        ({"displayName": "a{b}", "value": "v"}, "properties.displayName", "ValidationError"),
        ({"displayName": "x" * 257, "value": "v"}, "properties.displayName", "ValidationError"),
        ({"displayName": "k"}, "properties.value", "ValidationError"),
        ({"displayName": "k", "value": ""}, "properties.value", "ValidationError"),
        ({"displayName": "k", "value": "   "}, "properties.value", "ValidationError"),
        ({"displayName": "k", "value": "v" * 4097}, "properties.value", "ValidationError"),
        ({"displayName": "k", "value": "a{{other}}b"}, "properties.value", "ValidationError"),
        (
            {"displayName": "k", "value": "v", "secret": "yes"},
            "properties.secret",
            "ValidationError",
        ),
        ({"displayName": "k", "value": "v", "tags": "a"}, "properties.tags", "ValidationError"),
        ({"displayName": "k", "value": "v", "tags": [1]}, "properties.tags[0]", "ValidationError"),
        (
            {"displayName": "k", "value": "v", "tags": ["t"] * 33},
            "properties.tags",
            "ValidationError",
        ),
        (
            {"displayName": "k", "keyVault": {"secretIdentifier": "https://kv/secrets/x"}},
            "properties.keyVault",
            "UnsupportedFeature",
        ),
    ],
)
def test_invalid_named_values_are_refused(
    properties: dict[str, Any], target: str, code: str
) -> None:
    error = refused("namedValues/k", properties)
    assert (error.code, error.target) == (code, target)


def test_a_value_may_hold_a_policy_expression() -> None:
    value = put("namedValues/k", {"displayName": "k", "value": "@(DateTime.UtcNow.ToString())"})
    assert value.properties["value"] == "@(DateTime.UtcNow.ToString())"


# Backends


def test_a_backend_gets_defaults() -> None:
    backend = put("backends/orders", {"url": "https://orders.internal/api"})
    assert backend.properties == {
        "url": "https://orders.internal/api",
        "protocol": "http",
        "credentials": {"header": {}, "query": {}, "certificateIds": []},
        "tls": {"validateCertificateChain": True, "validateCertificateName": True},
    }


def test_a_backend_keeps_credentials_and_tls_as_given() -> None:
    backend = put(
        "backends/orders",
        {
            "url": "http://orders.internal",
            "protocol": "soap",
            "title": "Orders",
            "description": "The order service",
            "credentials": {
                "header": {"x-api-key": ["{{orders-key}}"]},
                "query": {"code": ["abc", "def"]},
                "authorization": {"scheme": "Basic", "parameter": "dXNlcjpwYXNz"},
                "certificateIds": [f"{SERVICE}/certificates/client", "/certificates/other"],
            },
            "tls": {"validateCertificateChain": False},
        },
    )
    credentials = backend.properties["credentials"]
    assert credentials["header"] == {"x-api-key": ["{{orders-key}}"]}
    assert credentials["query"] == {"code": ["abc", "def"]}
    assert credentials["authorization"] == {"scheme": "Basic", "parameter": "dXNlcjpwYXNz"}
    assert credentials["certificateIds"] == ["/certificates/client", "/certificates/other"]
    assert backend.properties["tls"] == {
        "validateCertificateChain": False,
        "validateCertificateName": True,
    }
    rendered = to_arm(backend, SERVICE)["properties"]["credentials"]["certificateIds"]
    assert rendered == [f"{SERVICE}/certificates/client", f"{SERVICE}/certificates/other"]
    assert [p.relative for p in referenced_paths(backend)] == [
        "certificates/client",
        "certificates/other",
    ]


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({}, "properties.url"),
        ({"url": "orders.internal"}, "properties.url"),
        ({"url": "ftp://orders.internal"}, "properties.url"),
        ({"url": "https://o", "protocol": "grpc"}, "properties.protocol"),
        ({"url": "https://o", "credentials": []}, "properties.credentials"),
        (
            {"url": "https://o", "credentials": {"header": {"bad header": ["v"]}}},
            "properties.credentials.header.bad header",
        ),
        (
            {"url": "https://o", "credentials": {"header": {"h": "v"}}},
            "properties.credentials.header.h",
        ),
        (
            {"url": "https://o", "credentials": {"query": {"a=b": ["v"]}}},
            "properties.credentials.query.a=b",
        ),
        (
            {"url": "https://o", "credentials": {"authorization": {"scheme": "Basic"}}},
            "properties.credentials.authorization.parameter",
        ),
        (
            {"url": "https://o", "credentials": {"certificateIds": ["/apis/echo"]}},
            "properties.credentials.certificateIds[0]",
        ),
        (
            {"url": "https://o", "tls": {"validateCertificateName": "no"}},
            "properties.tls.validateCertificateName",
        ),
    ],
)
def test_invalid_backends_are_refused_naming_the_property(
    properties: dict[str, Any], target: str
) -> None:
    assert refused("backends/orders", properties).target == target
