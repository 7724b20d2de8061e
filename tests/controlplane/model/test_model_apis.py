"""APIs and operations: defaults, normalization and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from tollhouse.controlplane.model import (
    ModelError,
    Resource,
    ResourcePath,
    api_revision_base,
    normalize_resource,
    operation_route_key,
    parse_resource_path,
)


def put(path: str, properties: dict[str, Any], existing: Resource | None = None) -> Resource:
    return normalize_resource(parse_resource_path(path), properties, existing)


def refused(path: str, properties: dict[str, Any]) -> ModelError:
    with pytest.raises(ModelError) as raised:
        put(path, properties)
    return raised.value


def test_an_api_gets_apims_defaults() -> None:
    api = put("apis/echo", {"path": "echo"})
    assert api.properties == {
        "displayName": "echo",
        "path": "echo",
        "protocols": ["https"],
        "subscriptionRequired": True,
        "subscriptionKeyParameterNames": {
            "header": "Ocp-Apim-Subscription-Key",
            "query": "subscription-key",
        },
        "apiRevision": "1",
        "isCurrent": True,
        "type": "http",
    }
    assert api.secrets == {}


def test_an_api_keeps_what_it_is_given() -> None:
    api = put(
        "apis/echo",
        {
            "displayName": "Echo API",
            "path": "/echo/v1/",
            "protocols": ["HTTPS", "http", "https"],
            "serviceUrl": "https://backend.example.com/echo",
            "subscriptionRequired": False,
            "subscriptionKeyParameterNames": {"header": "X-Key", "query": "key"},
            "apiVersion": "v1",
            "apiVersionSetId": "/subscriptions/s/resourceGroups/rg/providers/"
            "Microsoft.ApiManagement/service/svc/apiVersionSets/echo-set",
            "description": "Echoes",
            "type": "HTTP",
        },
    )
    assert api.properties["path"] == "echo/v1"
    assert api.properties["protocols"] == ["http", "https"]
    assert api.properties["serviceUrl"] == "https://backend.example.com/echo"
    assert api.properties["subscriptionRequired"] is False
    assert api.properties["subscriptionKeyParameterNames"] == {"header": "X-Key", "query": "key"}
    assert api.properties["apiVersionSetId"] == "/apiVersionSets/echo-set"
    assert api.properties["type"] == "http"


def test_an_empty_path_serves_the_api_at_the_root() -> None:
    assert put("apis/root", {"path": ""}).properties["path"] == ""
    assert put("apis/root", {"path": "/"}).properties["path"] == ""


def test_one_key_parameter_name_leaves_the_other_default() -> None:
    api = put("apis/echo", {"path": "e", "subscriptionKeyParameterNames": {"query": "k"}})
    assert api.properties["subscriptionKeyParameterNames"] == {
        "header": "Ocp-Apim-Subscription-Key",
        "query": "k",
    }


def test_unknown_and_read_only_properties_are_dropped() -> None:
    api = put("apis/echo", {"path": "e", "provisioningState": "Succeeded", "isOnline": True})
    assert "provisioningState" not in api.properties
    assert "isOnline" not in api.properties


def test_null_is_absent() -> None:
    api = put("apis/echo", {"path": "e", "serviceUrl": None, "protocols": None})
    assert "serviceUrl" not in api.properties
    assert api.properties["protocols"] == ["https"]


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({}, "properties.path"),
        ({"path": 5}, "properties.path"),
        ({"path": "a//b"}, "properties.path"),
        ({"path": "a/../b"}, "properties.path"),
        ({"path": "a b"}, "properties.path"),
        ({"path": "a?b"}, "properties.path"),
        ({"path": "a" * 401}, "properties.path"),
        ({"path": "e", "protocols": []}, "properties.protocols"),
        ({"path": "e", "protocols": ["ftp"]}, "properties.protocols[0]"),
        ({"path": "e", "protocols": "https"}, "properties.protocols"),
        ({"path": "e", "serviceUrl": "ftp://x"}, "properties.serviceUrl"),
        ({"path": "e", "serviceUrl": "/relative"}, "properties.serviceUrl"),
        ({"path": "e", "serviceUrl": "https://x/ y"}, "properties.serviceUrl"),
        ({"path": "e", "serviceUrl": "https://x:99999"}, "properties.serviceUrl"),
        ({"path": "e", "subscriptionRequired": "true"}, "properties.subscriptionRequired"),
        (
            {"path": "e", "subscriptionKeyParameterNames": {"header": "X Key"}},
            "properties.subscriptionKeyParameterNames.header",
        ),
        (
            {"path": "e", "subscriptionKeyParameterNames": {"query": "a&b"}},
            "properties.subscriptionKeyParameterNames.query",
        ),
        ({"path": "e", "apiRevision": "0"}, "properties.apiRevision"),
        ({"path": "e", "apiVersionSetId": "/products/x"}, "properties.apiVersionSetId"),
        ({"path": "e", "displayName": ""}, "properties.displayName"),
    ],
)
def test_invalid_api_properties_are_refused_naming_the_property(
    properties: dict[str, Any], target: str
) -> None:
    error = refused("apis/echo", properties)
    assert (error.code, error.status, error.target) == ("ValidationError", 400, target)
    assert f"'{target}'" in error.message


def test_properties_must_be_an_object() -> None:
    with pytest.raises(ModelError) as raised:
        normalize_resource(parse_resource_path("apis/echo"), ["path"])  # type: ignore[arg-type]
    assert raised.value.target == "properties"


@pytest.mark.parametrize("api_type", ["soap", "graphql", "websocket", "grpc"])
def test_only_http_apis_are_supported(api_type: str) -> None:
    error = refused("apis/echo", {"path": "e", "type": api_type})
    assert error.code == "UnsupportedFeature"


def test_an_import_request_is_not_normalized_as_an_api() -> None:
    error = refused("apis/echo", {"path": "e", "format": "openapi", "value": "{}"})
    assert error.target == "properties.format"


def test_a_revision_takes_its_number_from_its_name_and_is_not_current() -> None:
    revision = put("apis/echo;rev=3", {})
    assert revision.properties["apiRevision"] == "3"
    assert revision.properties["isCurrent"] is False
    assert "path" not in revision.properties
    assert api_revision_base(revision.path) == ResourcePath("apis", ("echo",))
    assert api_revision_base(ResourcePath("apis", ("echo",))) is None


def test_a_revision_number_must_match_the_name() -> None:
    error = refused("apis/echo;rev=3", {"apiRevision": "2"})
    assert error.target == "properties.apiRevision"
    assert put("apis/echo", {"path": "e", "apiRevision": "4"}).properties["apiRevision"] == "4"


def test_normalizing_twice_changes_nothing() -> None:
    api = put("apis/echo", {"path": "/e/", "protocols": ["http"], "serviceUrl": "http://b"})
    assert put("apis/echo", dict(api.properties)).properties == api.properties
    operation = put(
        "apis/echo/operations/get", {"method": "get", "urlTemplate": "/items/{id}?q={q}"}
    )
    assert put("apis/echo/operations/get", dict(operation.properties)) == operation


# Operations


def test_an_operation_gets_defaults_and_its_template_parameters() -> None:
    operation = put(
        "apis/echo/operations/get-item", {"method": "get", "urlTemplate": "/items/{id}"}
    )
    assert operation.properties == {
        "displayName": "get-item",
        "method": "GET",
        "urlTemplate": "/items/{id}",
        "templateParameters": [{"name": "id", "type": "string", "required": True}],
    }


def test_described_template_parameters_are_kept_and_missing_ones_added() -> None:
    operation = put(
        "apis/echo/operations/search",
        {
            "displayName": "Search",
            "method": "POST",
            "urlTemplate": "/stores/{store}/items/{item}?q={query}",
            "templateParameters": [
                {"name": "item", "type": "integer", "required": True, "description": "id"},
                {"name": "Query", "required": False},
            ],
            "request": {"queryParameters": []},
            "responses": [{"statusCode": 200}],
            "description": "Finds",
        },
    )
    assert operation.properties["templateParameters"] == [
        {"name": "store", "type": "string", "required": True},
        {"name": "item", "type": "integer", "required": True, "description": "id"},
        {"name": "Query", "type": "string", "required": False},
    ]
    assert operation.properties["request"] == {"queryParameters": []}
    assert operation.properties["responses"] == [{"statusCode": 200}]


def test_a_trailing_wildcard_is_a_template_parameter() -> None:
    operation = put("apis/echo/operations/all", {"method": "GET", "urlTemplate": "/{*path}"})
    assert operation.properties["templateParameters"][0]["name"] == "path"


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({"urlTemplate": "/"}, "properties.method"),
        ({"method": "GET"}, "properties.urlTemplate"),
        ({"method": "G ET", "urlTemplate": "/"}, "properties.method"),
        ({"method": "GET", "urlTemplate": "items"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/items/{id"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/items/id}"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/items/{}"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/items/{1d}"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/items/{a{b}}"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/{a}/{A}"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/{*rest}/items"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/items?{*q}"}, "properties.urlTemplate"),
        ({"method": "GET", "urlTemplate": "/items #1"}, "properties.urlTemplate"),
        (
            {
                "method": "GET",
                "urlTemplate": "/items/{id}",
                "templateParameters": [{"name": "other"}],
            },
            "properties.templateParameters[0].name",
        ),
        (
            {
                "method": "GET",
                "urlTemplate": "/items/{id}",
                "templateParameters": [{"name": "id"}, {"name": "ID"}],
            },
            "properties.templateParameters[1].name",
        ),
        (
            {
                "method": "GET",
                "urlTemplate": "/items/{id}",
                "templateParameters": [{"name": "id", "type": "date"}],
            },
            "properties.templateParameters[0].type",
        ),
        ({"method": "GET", "urlTemplate": "/", "request": []}, "properties.request"),
        ({"method": "GET", "urlTemplate": "/", "responses": {}}, "properties.responses"),
    ],
)
def test_invalid_operations_are_refused_naming_the_property(
    properties: dict[str, Any], target: str
) -> None:
    error = refused("apis/echo/operations/op", properties)
    assert (error.code, error.target) == ("ValidationError", target)


def test_two_templates_differing_only_in_parameter_names_share_a_route() -> None:
    first = put("apis/e/operations/a", {"method": "get", "urlTemplate": "/pets/{id}"})
    second = put("apis/e/operations/b", {"method": "GET", "urlTemplate": "/Pets/{petId}"})
    other = put("apis/e/operations/c", {"method": "DELETE", "urlTemplate": "/pets/{id}"})
    assert operation_route_key(first.properties) == operation_route_key(second.properties)
    assert operation_route_key(first.properties) != operation_route_key(other.properties)
