"""Importing APIs from real OpenAPI 3.0/3.1 and Swagger 2.0 descriptions, JSON and YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tollhouse.controlplane.model import (
    MAX_OPENAPI_DOCUMENT_BYTES,
    ModelError,
    import_api_request,
    import_openapi,
    is_import_request,
    normalize_resource,
    parse_resource_path,
)

DATA = Path(__file__).parent / "data"

PETSTORE_OPERATIONS = [
    ("addPet", "POST", "/pet"),
    ("updatePet", "PUT", "/pet"),
    ("findPetsByStatus", "GET", "/pet/findByStatus"),
    ("findPetsByTags", "GET", "/pet/findByTags"),
    ("getPetById", "GET", "/pet/{petId}"),
    ("updatePetWithForm", "POST", "/pet/{petId}"),
    ("deletePet", "DELETE", "/pet/{petId}"),
    ("uploadFile", "POST", "/pet/{petId}/uploadImage"),
    ("getInventory", "GET", "/store/inventory"),
    ("placeOrder", "POST", "/store/order"),
    ("getOrderById", "GET", "/store/order/{orderId}"),
    ("deleteOrder", "DELETE", "/store/order/{orderId}"),
    ("createUser", "POST", "/user"),
    ("createUsersWithArrayInput", "POST", "/user/createWithArray"),
    ("createUsersWithListInput", "POST", "/user/createWithList"),
    ("loginUser", "GET", "/user/login"),
    ("logoutUser", "GET", "/user/logout"),
    ("getUserByName", "GET", "/user/{username}"),
    ("updateUser", "PUT", "/user/{username}"),
    ("deleteUser", "DELETE", "/user/{username}"),
]

EXPANDED_OPERATIONS = [
    ("findPets", "GET", "/pets"),
    ("addPet", "POST", "/pets"),
    ("find-pet-by-id", "GET", "/pets/{id}"),
    ("deletePet", "DELETE", "/pets/{id}"),
]


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def routes(operations: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str]]:
    return [(name, p["method"], p["urlTemplate"]) for name, p in operations]


@pytest.mark.parametrize(
    "name",
    ["swagger2-petstore.json", "openapi30-petstore.yaml", "openapi31-petstore.json"],
)
def test_the_petstore_yields_its_twenty_operations(name: str) -> None:
    imported = import_openapi(read(name), api_name="petstore", path="petstore")
    assert routes(imported.operations) == PETSTORE_OPERATIONS
    assert imported.api_properties["displayName"] == "Swagger Petstore"
    assert imported.api_properties["serviceUrl"] == "http://petstore.swagger.io/v2"
    assert imported.api_properties["path"] == "petstore"
    assert imported.api_properties["description"].startswith("This is a sample server Petstore")


@pytest.mark.parametrize(
    ("name", "service_url"),
    [
        ("swagger2-petstore-expanded.yaml", "http://petstore.swagger.io/api"),
        ("openapi30-petstore-expanded.json", "http://petstore.swagger.io/api"),
    ],
)
def test_the_expanded_petstore_yields_its_four_operations(name: str, service_url: str) -> None:
    imported = import_openapi(read(name), api_name="pets")
    assert routes(imported.operations) == EXPANDED_OPERATIONS
    assert imported.api_properties["serviceUrl"] == service_url
    assert "path" not in imported.api_properties


@pytest.mark.parametrize(
    "name", ["swagger2-petstore.json", "openapi30-petstore.yaml", "openapi31-petstore.json"]
)
def test_path_parameters_become_typed_template_parameters(name: str) -> None:
    operations = dict(import_openapi(read(name), api_name="petstore").operations)
    assert operations["getPetById"]["templateParameters"] == [
        {"name": "petId", "type": "integer", "required": True, "description": "ID of pet to return"}
    ]
    assert operations["getUserByName"]["templateParameters"][0]["type"] == "string"
    assert operations["addPet"]["templateParameters"] == []
    assert operations["addPet"]["displayName"] == "Add a new pet to the store"


def test_an_operation_id_that_is_no_resource_name_is_sanitized() -> None:
    operations = dict(
        import_openapi(read("swagger2-petstore-expanded.yaml"), api_name="p").operations
    )
    # `operationId: find pet by id`; no summary, so the display name is the operationId.
    assert operations["find-pet-by-id"]["displayName"] == "find pet by id"
    assert operations["find-pet-by-id"]["templateParameters"][0]["name"] == "id"


def test_the_yaml_and_json_petstores_import_alike() -> None:
    yaml_import = import_openapi(read("openapi30-petstore.yaml"), api_name="p", path="p")
    json_import = import_openapi(read("openapi31-petstore.json"), api_name="p", path="p")
    assert routes(yaml_import.operations) == routes(json_import.operations)


def test_bytes_with_a_byte_order_mark_are_read() -> None:
    document = "\ufeff" + read("openapi30-petstore-expanded.json")
    assert len(import_openapi(document.encode(), api_name="p").operations) == 4


def test_imported_api_properties_normalize_into_an_api() -> None:
    imported = import_openapi(read("swagger2-petstore.json"), api_name="petstore", path="/pets/")
    api = normalize_resource(parse_resource_path("apis/petstore"), imported.api_properties)
    assert api.properties["path"] == "pets"
    assert api.properties["displayName"] == "Swagger Petstore"
    for name, properties in imported.operations:
        operation = normalize_resource(api.path.child("operations", name), properties)
        assert operation.properties == properties


def test_given_path_and_service_url_win_over_the_description() -> None:
    imported = import_openapi(
        read("openapi30-petstore.yaml"),
        api_name="p",
        path="store",
        service_url="https://backend.internal",
    )
    assert imported.api_properties["serviceUrl"] == "https://backend.internal"
    assert imported.api_properties["path"] == "store"


def minimal(version: str = "3.0.3", **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"openapi": version, "info": {"title": "T", "version": "1"}}
    document["paths"] = {"/items/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}}
    document.update(extra)
    return document


def test_server_variables_take_their_defaults() -> None:
    servers = [
        {
            "url": "https://{region}.example.com:{port}/v1/",
            "variables": {"region": {"default": "eu"}, "port": {"default": "8443"}},
        }
    ]
    imported = import_openapi(json.dumps(minimal(servers=servers)), api_name="x")
    assert imported.api_properties["serviceUrl"] == "https://eu.example.com:8443/v1"


def test_a_relative_server_gives_no_service_url() -> None:
    imported = import_openapi(json.dumps(minimal(servers=[{"url": "/api/v3"}])), api_name="x")
    assert "serviceUrl" not in imported.api_properties


def test_swagger_2_without_schemes_is_https_and_without_host_has_no_service_url() -> None:
    document = {"swagger": "2.0", "info": {"title": "T"}, "host": "h.example", "paths": {}}
    imported = import_openapi(json.dumps(document), api_name="x")
    assert imported.api_properties["serviceUrl"] == "https://h.example"
    del document["host"]
    assert "serviceUrl" not in import_openapi(json.dumps(document), api_name="x").api_properties


def test_operations_without_ids_are_named_after_method_and_path_uniquely() -> None:
    document = minimal()
    document["paths"]["/items/{id}"]["delete"] = {"operationId": "get-items-id"}
    imported = import_openapi(json.dumps(document), api_name="x")
    assert [name for name, _ in imported.operations] == ["get-items-id", "get-items-id-2"]
    assert imported.operations[0][1]["templateParameters"] == [
        {"name": "id", "type": "string", "required": True}
    ]


def test_referenced_parameters_and_path_level_parameters_are_merged() -> None:
    document = minimal()
    document["components"] = {
        "parameters": {
            "Id": {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
        }
    }
    document["paths"]["/items/{id}"]["parameters"] = [{"$ref": "#/components/parameters/Id"}]
    document["paths"]["/items/{id}"]["put"] = {
        "parameters": [
            {"name": "id", "in": "path", "schema": {"type": ["number", "null"]}},
            {"name": "q", "in": "query", "schema": {"type": "string"}},
        ]
    }
    operations = dict(import_openapi(json.dumps(document), api_name="x").operations)
    assert operations["get-items-id"]["templateParameters"][0]["type"] == "integer"
    assert operations["put-items-id"]["templateParameters"] == [
        {"name": "id", "type": "number", "required": True}
    ]


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("", "not an OpenAPI description"),
        ("just text", "not an OpenAPI description"),
        ("[1, 2]", "not an OpenAPI description"),
        ("{not json", "neither JSON nor YAML"),
        ("a: [unclosed", "neither JSON nor YAML"),
        ("a: 1\n---\nb: 2\n", "neither JSON nor YAML"),
        ('{"info": {"title": "x"}}', "not an OpenAPI 3.0, 3.1 or Swagger 2.0"),
        ('{"openapi": "2.0"}', "version '2.0'"),
        ('{"openapi": "4.0.0"}', "version '4.0.0'"),
        ('{"swagger": "1.2"}', "version '1.2'"),
        ('{"openapi": "3.0.0", "paths": []}', "'paths' that is not an object"),
        ('{"openapi": "3.0.0", "paths": {"/a": 1}}', "'paths./a' that is not an object"),
        ('{"openapi": "3.0.0", "paths": {"/a": {"get": 1}}}', "'paths./a.get'"),
        (
            '{"openapi": "3.0.0", "paths": {"/a": {"parameters": {}}}}',
            "'paths./a.parameters' that is not an array",
        ),
        (
            '{"openapi": "3.0.0", "paths": {"/a": {"$ref": "other.yaml#/x"}}}',
            "not local",
        ),
        (
            '{"openapi": "3.0.0", "paths": {"/a": {"$ref": "#/nowhere"}}}',
            "points nowhere",
        ),
        (
            '{"openapi": "3.0.0", "x": {"$ref": "#/x"}, "paths": {"/a": {"$ref": "#/x"}}}',
            "chain of more than",
        ),
        (
            '{"openapi": "3.0.0", "paths": {"/a/{b": {"get": {}}}}',
            "cannot be imported",
        ),
        ("[" * 100_000 + "]" * 100_000, "nests more than 256 levels"),
        ("a:\n" + "".join(" " * i + "- \n" for i in range(1, 300)), "nests more than 256"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "nests too deeply"),
    ],
)
def test_malformed_documents_are_refused_with_a_reason(document: str, says: str) -> None:
    with pytest.raises(ModelError) as raised:
        import_openapi(document, api_name="x")
    error = raised.value
    assert (error.code, error.target) == ("ValidationError", "properties.value")
    assert says in error.message


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(ModelError) as raised:
        import_openapi(b"\xff\xfe{}", api_name="x")
    assert "UTF-8" in raised.value.message


def test_documents_above_the_limit_are_refused() -> None:
    document = json.dumps(minimal(description="x" * MAX_OPENAPI_DOCUMENT_BYTES))
    with pytest.raises(ModelError) as raised:
        import_openapi(document, api_name="x")
    assert "MiB" in raised.value.message


def test_yaml_aliases_cannot_multiply_parameters_beyond_the_limit() -> None:
    params = "\n".join(f"    - {{name: p{i}, in: query}}" for i in range(300))
    document = f"openapi: 3.0.0\ninfo: {{title: t}}\nx-params: &p\n{params}\npaths:\n"
    document += "\n".join(f"  /a{i}:\n    get:\n      parameters: *p" for i in range(3))
    with pytest.raises(ModelError) as raised:
        import_openapi(document, api_name="x")
    assert "more than 256 parameters" in raised.value.message


# ARM's import shape


def test_an_arm_import_request_is_recognised() -> None:
    assert is_import_request({"format": "openapi", "value": "..."})
    assert not is_import_request({"path": "echo"})
    assert not is_import_request(None)


@pytest.mark.parametrize(
    ("file", "format_"),
    [
        ("swagger2-petstore.json", "swagger-json"),
        ("openapi30-petstore-expanded.json", "openapi+json"),
        ("openapi30-petstore.yaml", "openapi"),
    ],
)
def test_an_arm_import_request_imports_the_inline_description(file: str, format_: str) -> None:
    path = parse_resource_path("apis/petstore")
    imported = import_api_request(
        path,
        {
            "format": format_,
            "value": read(file),
            "path": "petstore",
            "displayName": "Pets",
            "subscriptionRequired": False,
            "serviceUrl": None,
        },
    )
    assert imported.api_properties["displayName"] == "Pets"
    assert imported.api_properties["path"] == "petstore"
    assert imported.api_properties["subscriptionRequired"] is False
    assert imported.api_properties["serviceUrl"].startswith("http://petstore.swagger.io/")
    assert "format" not in imported.api_properties and "value" not in imported.api_properties
    api = normalize_resource(path, imported.api_properties)
    assert api.properties["subscriptionRequired"] is False
    assert len(imported.operations) in (4, 20)


@pytest.mark.parametrize(
    ("format_", "code"),
    [
        ("openapi-link", "UnsupportedFeature"),
        ("openapi+json-link", "UnsupportedFeature"),
        ("swagger-link-json", "UnsupportedFeature"),
        ("wsdl", "UnsupportedFeature"),
        ("graphql-link", "UnsupportedFeature"),
        ("raml", "ValidationError"),
    ],
)
def test_formats_that_need_a_fetch_or_another_language_are_refused(format_: str, code: str) -> None:
    with pytest.raises(ModelError) as raised:
        import_api_request(
            parse_resource_path("apis/x"),
            {"format": format_, "value": "https://example.com/openapi.json"},
        )
    assert (raised.value.code, raised.value.target) == (code, "properties.format")


def test_an_import_request_needs_its_document() -> None:
    with pytest.raises(ModelError) as raised:
        import_api_request(parse_resource_path("apis/x"), {"format": "openapi"})
    assert raised.value.target == "properties.value"
