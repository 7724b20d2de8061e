"""The management API client against scripted answers: what it sends, and every answer it
refuses to take at face value."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from tollhouse.cli._errors import CliError, RequestError
from tollhouse.cli._management import (
    APIM_API_VERSION,
    DEFAULT_SERVICE_ID,
    ManagementClient,
    flatten,
    resource_path,
    service_id,
)

BASE = "https://cp.example:9443"
SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"


class FixedCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        assert scopes == ("https://management.azure.com/.default",)
        return AccessToken("arm-token", 2**31)


def client(handler: Callable[[httpx.Request], httpx.Response]) -> ManagementClient:
    return ManagementClient(
        BASE, SERVICE, FixedCredential(), transport=httpx.MockTransport(handler)
    )


def test_a_request_goes_under_the_service_id_with_the_token_and_api_version() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "x", "properties": {}})

    client(answer).put(resource_path("apis", "echo;rev=2", "operations", "a b/c"), {"k": 1})
    (request,) = seen
    assert request.url.raw_path.decode() == (
        f"{SERVICE}/apis/echo;rev=2/operations/a%20b%2Fc?api-version={APIM_API_VERSION}"
    )
    assert request.headers["authorization"] == "Bearer arm-token"
    assert json.loads(request.content) == {"properties": {"k": 1}}


def test_an_error_carries_the_servers_code_and_message() -> None:
    body = {"error": {"code": "ValidationError", "message": "Property 'x' is required."}}
    with pytest.raises(RequestError) as raised:
        client(lambda _: httpx.Response(400, json=body)).get("apis/echo")
    assert (raised.value.status, raised.value.code) == (400, "ValidationError")
    assert raised.value.message == "Property 'x' is required."


def test_an_error_without_a_body_is_named_by_its_status() -> None:
    with pytest.raises(RequestError) as raised:
        client(lambda _: httpx.Response(502, text="<html>")).get("apis")
    assert raised.value.message == "The control plane answered HTTP 502 Bad Gateway."


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_a_resource_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(CliError):
        client(lambda _: httpx.Response(200, content=body)).get("apis/echo")


def test_a_collection_follows_next_links_on_the_same_control_plane() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "page=2" in str(request.url):
            return httpx.Response(200, json={"value": [{"name": "b"}]})
        return httpx.Response(200, json={"value": [{"name": "a"}], "nextLink": f"{BASE}/x?page=2"})

    assert [i["name"] for i in client(answer).list_all("apis")] == ["a", "b"]


def test_a_next_link_to_another_host_does_not_get_the_token() -> None:
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200, json={"value": [], "nextLink": "https://evil.example/x"})

    with pytest.raises(CliError, match="another host"):
        client(answer).list_all("apis")
    assert hosts == ["cp.example"]


def test_delete_says_whether_there_was_something_to_delete() -> None:
    assert client(lambda _: httpx.Response(200)).delete("apis/echo") is True
    assert client(lambda _: httpx.Response(204)).delete("apis/echo") is False


def test_flatten_lifts_properties_as_az_prints_them() -> None:
    resource = {
        "id": f"{SERVICE}/apis/echo",
        "name": "echo",
        "type": "Microsoft.ApiManagement/service/apis",
        "properties": {"type": "http", "path": "echo", "name": "shadowed"},
    }
    assert flatten(resource) == {
        "id": f"{SERVICE}/apis/echo",
        "name": "echo",
        "type": "Microsoft.ApiManagement/service/apis",
        "resourceGroup": "rg",
        "apiType": "http",
        "path": "echo",
    }


def options(**given: Any) -> argparse.Namespace:
    values = {"service_id": None, "subscription": None, "resource_group": None}
    return argparse.Namespace(**{**values, "service_name": None, **given})


def test_the_service_id_parts_replace_those_of_the_environments_or_the_default() -> None:
    assert service_id(options(), {}) == str(DEFAULT_SERVICE_ID)
    assert service_id(options(service_name="other"), {"TOLLHOUSE_SERVICE_ID": SERVICE}) == (
        SERVICE.replace("/svc", "/other")
    )
    built = service_id(options(subscription="s2", resource_group="g2"), {})
    assert built == (
        "/subscriptions/s2/resourceGroups/g2/providers/Microsoft.ApiManagement/service/tollhouse"
    )
