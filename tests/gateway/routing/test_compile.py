"""A configuration that cannot be routed is refused whole, naming what is at fault."""

from __future__ import annotations

import pytest

from tollhouse.contracts import ApiConfig
from tollhouse.gateway.routing import MAX_TEMPLATE_PARAMETERS, RouteTable, RoutingError

from .configs import api, config, op


def refused(*apis: ApiConfig, hostnames: list[str] | None = None) -> RoutingError:
    with pytest.raises(RoutingError) as caught:
        RouteTable.compile(config(*apis), hostnames=hostnames)
    return caught.value


def test_two_apis_at_one_path_are_a_conflict() -> None:
    error = refused(api("first", "shop"), api("second", "Shop/"))
    assert error.api == "second"
    assert "first" in str(error) and "second" in str(error)


def test_two_current_revisions_at_one_path_are_a_conflict() -> None:
    error = refused(api("echo", "echo", revision="1"), api("echo;rev=2", "echo", revision="2"))
    assert error.api == "echo;rev=2"


def test_two_revisions_with_one_number_are_a_conflict() -> None:
    refused(
        api("echo", "echo", revision="2"),
        api("echo;rev=2", "echo", revision="2", current=False),
    )


def test_a_version_segment_that_collides_with_another_apis_path_is_a_conflict() -> None:
    error = refused(api("literal", "orders/v2"), api("versioned", "orders", version="v2"))
    assert error.api == "versioned"


def test_two_empty_paths_are_a_conflict() -> None:
    refused(api("one", ""), api("two", "/"))


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("users/{id}", "start with '/'"),
        ("/users/{id", "unbalanced"),
        ("/users/{1d}", "unbalanced"),
        ("/users/{*rest}/x", "last segment"),
        ("/users/x{*rest}", "last segment"),
        ("/{id}/{ID}", "twice"),
        ("/{id}?id={id}", "twice"),
        ("/a//b", "empty path segment"),
        ("//", "empty path segment"),
        ("/a b", "whitespace"),
        ("/a#b", "'#'"),
        ("/?{q}", "name={parameter}"),
        ("/?q=x{q}", "name={parameter}"),
        ("/?q={*q}", "query parameter"),
        ("/?q=1&Q=2", "twice"),
    ],
)
def test_a_malformed_url_template_is_refused(template: str, why: str) -> None:
    error = refused(api("users", "users", op("broken", "GET", template)))
    assert (error.api, error.operation) == ("users", "broken")
    assert why in str(error)
    assert str(error).startswith("API 'users', operation 'broken': ")


def test_too_many_template_parameters_are_refused() -> None:
    template = "/" + "/".join(f"{{p{i}}}" for i in range(MAX_TEMPLATE_PARAMETERS + 1))
    refused(api("many", "many", op("get", "GET", template)))


def test_two_operations_with_one_method_and_template_are_a_conflict() -> None:
    error = refused(
        api("u", "users", op("one", "GET", "/users/{id}"), op("two", "get", "/Users/{userId}"))
    )
    assert (error.api, error.operation) == ("u", "two")
    assert "'one'" in str(error)


def test_query_pairs_in_another_order_are_the_same_route() -> None:
    refused(api("s", "s", op("one", "GET", "/?a={x}&b={y}"), op("two", "GET", "/?b={y}&a={x}")))


def test_distinct_shapes_with_one_method_are_fine() -> None:
    RouteTable.compile(
        config(
            api(
                "u",
                "users",
                op("one", "GET", "/users/{id}"),
                op("two", "GET", "/users/{id}/"),
                op("three", "GET", "/users/{id}?expand={e}"),
                op("four", "POST", "/users/{id}"),
                op("five", "GET", "/users/{id}.{format}"),
            )
        )
    )


def test_two_operations_with_one_name_are_a_conflict() -> None:
    error = refused(api("u", "users", op("get", "GET", "/a"), op("GET", "GET", "/b")))
    assert error.operation == "GET"


def test_a_method_that_is_not_a_token_is_refused() -> None:
    error = refused(api("u", "users", op("bad", "GE T", "/a")))
    assert error.operation == "bad"


@pytest.mark.parametrize("path", ["a//b", "a?b", "a#b", "a b", "{a}"])
def test_a_malformed_api_path_is_refused(path: str) -> None:
    assert refused(api("bad", path)).api == "bad"


@pytest.mark.parametrize("version", ["v/1", "v 1", "v;1"])
def test_a_version_that_is_not_one_segment_is_refused(version: str) -> None:
    assert refused(api("bad", "a", version=version)).api == "bad"


@pytest.mark.parametrize("revision", ["0", "x", "", "1.5"])
def test_a_revision_that_is_not_a_positive_number_is_refused(revision: str) -> None:
    assert refused(api("bad", "a", revision=revision)).api == "bad"


@pytest.mark.parametrize("hostname", ["", "a b", "*", "a.*.com", "exa_mple.com"])
def test_a_malformed_hostname_is_refused(hostname: str) -> None:
    refused(api("a", "a"), hostnames=[hostname])
