"""Routing a request to an API and an operation, as APIM does."""

from __future__ import annotations

import time

from tollhouse.contracts import parse_configuration
from tollhouse.gateway.routing import NoMatch, NoMatchReason, RouteMatch, RouteTable

from .configs import api, config, op


def route(
    table: RouteTable,
    method: str,
    target: str,
    *,
    host: str = "gw.example",
    scheme: str = "https",
) -> RouteMatch | NoMatch:
    path, _, query = target.partition("?")
    return table.match(method, path, query, host, scheme)


def found(result: RouteMatch | NoMatch) -> RouteMatch:
    assert isinstance(result, RouteMatch), result
    return result


def missed(result: RouteMatch | NoMatch, reason: NoMatchReason) -> NoMatch:
    assert isinstance(result, NoMatch), result
    assert result.reason is reason
    return result


# --- APIs by path -----------------------------------------------------------------------


def test_the_longest_api_path_wins() -> None:
    table = RouteTable.compile(
        config(
            api("shop", "shop", op("any", "GET", "/*")),
            api("orders", "shop/orders", op("one", "GET", "/{id}")),
        )
    )
    assert found(route(table, "GET", "/shop/orders/7")).api.name == "orders"
    assert found(route(table, "GET", "/shop/items/7")).api.name == "shop"
    assert found(route(table, "GET", "/shop/ordersx/7")).api.name == "shop"


def test_an_api_path_matches_on_segment_boundaries_only() -> None:
    table = RouteTable.compile(config(api("api", "api", op("root", "GET", "/"))))
    assert found(route(table, "GET", "/api")).api.name == "api"
    assert found(route(table, "GET", "/api/")).api.name == "api"
    missed(route(table, "GET", "/apix"), NoMatchReason.API_NOT_FOUND)
    missed(route(table, "GET", "/ap"), NoMatchReason.API_NOT_FOUND)
    missed(route(table, "GET", "/"), NoMatchReason.API_NOT_FOUND)


def test_an_api_with_an_empty_path_takes_what_no_other_api_matches() -> None:
    table = RouteTable.compile(
        config(
            api("root", "", op("root", "GET", "/"), op("any", "GET", "/{*rest}")),
            api("api", "api", op("root", "GET", "/")),
        )
    )
    assert found(route(table, "GET", "/api")).api.name == "api"
    match = found(route(table, "GET", "/apix/1"))
    assert (match.api.name, match.operation.name) == ("root", "any")
    assert match.parameters == {"rest": "apix/1"}
    assert match.backend_path == "/apix/1"
    root = found(route(table, "GET", "/"))
    assert (root.api.name, root.operation.name) == ("root", "root")


def test_api_paths_compare_case_insensitively_and_forward_as_sent() -> None:
    table = RouteTable.compile(config(api("echo", "Echo/V1", op("get", "GET", "/Items/{id}"))))
    match = found(route(table, "GET", "/echo/v1/ITEMS/AbC"))
    assert match.parameters == {"id": "AbC"}
    assert match.backend_path == "/ITEMS/AbC"


def test_a_path_with_non_ascii_characters_is_routed_by_its_segments() -> None:
    table = RouteTable.compile(config(api("k", "K", op("get", "GET", "/straße/{id}"))))
    match = found(route(table, "GET", "/k/STRAßE/İx"))
    assert (match.parameters, match.backend_path) == ({"id": "İx"}, "/STRAßE/İx")


def test_a_snapshot_read_from_json_routes_like_the_values_it_came_from() -> None:
    cfg = config(api("echo", "echo", op("get", "GET", "/items/{id}?v={v}"), version="v1"))
    table = RouteTable.compile(parse_configuration(cfg.to_json()))
    match = found(route(table, "GET", "/echo/v1/items/7?v=2"))
    assert (match.api, match.parameters) == (cfg.apis[0], {"id": "7", "v": "2"})


def test_the_backend_path_is_what_follows_the_api_path() -> None:
    table = RouteTable.compile(config(api("a", "a/b", op("get", "GET", "/c/{d}"))))
    assert found(route(table, "GET", "/a/b/c/%41%2F?x=1")).backend_path == "/c/%41%2F"
    root = RouteTable.compile(config(api("r", "", op("get", "GET", "/c"))))
    assert found(route(root, "GET", "/c")).backend_path == "/c"


def test_a_path_that_is_not_origin_form_matches_nothing() -> None:
    table = RouteTable.compile(config(api("root", "")))
    missed(route(table, "OPTIONS", "*"), NoMatchReason.API_NOT_FOUND)


def test_without_apis_nothing_matches() -> None:
    missed(route(RouteTable.compile(config()), "GET", "/"), NoMatchReason.API_NOT_FOUND)


# --- host and protocol ------------------------------------------------------------------


def test_a_scheme_the_api_does_not_allow_is_its_own_outcome() -> None:
    table = RouteTable.compile(config(api("secure", "secure", protocols=("https",))))
    assert found(route(table, "GET", "/secure/x", scheme="https")).api.name == "secure"
    refused = missed(
        route(table, "GET", "/secure/x", scheme="http"), NoMatchReason.PROTOCOL_NOT_ALLOWED
    )
    assert refused.api is not None and refused.api.name == "secure"
    assert refused.status == 404


def test_a_refused_scheme_does_not_fall_through_to_a_shorter_api() -> None:
    table = RouteTable.compile(
        config(
            api("open", "", protocols=("http", "https")),
            api("secure", "secure", protocols=("https",)),
        )
    )
    missed(route(table, "GET", "/secure/x", scheme="http"), NoMatchReason.PROTOCOL_NOT_ALLOWED)
    assert found(route(table, "GET", "/other", scheme="http")).api.name == "open"


def test_an_http_only_api_refuses_https() -> None:
    table = RouteTable.compile(config(api("plain", "plain", protocols=("http",))))
    missed(route(table, "GET", "/plain/x", scheme="https"), NoMatchReason.PROTOCOL_NOT_ALLOWED)


def test_every_host_is_served_unless_hostnames_are_given() -> None:
    cfg = config(api("a", "a"))
    assert isinstance(route(RouteTable.compile(cfg), "GET", "/a/x", host="anything"), RouteMatch)
    table = RouteTable.compile(cfg, hostnames=["api.contoso.com", "*.gw.contoso.com"])
    assert isinstance(route(table, "GET", "/a/x", host="api.contoso.com"), RouteMatch)
    assert isinstance(route(table, "GET", "/a/x", host="eu.gw.contoso.com"), RouteMatch)
    for host in ("other.contoso.com", "gw.contoso.com", "a.b.gw.contoso.com", "contoso.com"):
        missed(route(table, "GET", "/a/x", host=host), NoMatchReason.HOST_NOT_SERVED)


def test_an_empty_host_list_serves_no_host() -> None:
    table = RouteTable.compile(config(api("a", "a")), hostnames=[])
    missed(route(table, "GET", "/a/x"), NoMatchReason.HOST_NOT_SERVED)


# --- operations ---------------------------------------------------------------------------


def test_several_parameters_are_extracted_percent_decoded() -> None:
    table = RouteTable.compile(
        config(api("u", "users", op("order", "GET", "/{id}/orders/{orderId}")))
    )
    match = found(route(table, "GET", "/users/j%C3%B6rg/orders/a%2Fb%20c"))
    assert match.operation.name == "order"
    assert match.parameters == {"id": "jörg", "orderId": "a/b c"}
    assert match.backend_path == "/j%C3%B6rg/orders/a%2Fb%20c"


def test_a_literal_segment_beats_a_parameter() -> None:
    table = RouteTable.compile(
        config(api("u", "users", op("one", "GET", "/{id}"), op("me", "GET", "/me")))
    )
    assert found(route(table, "GET", "/users/me")).operation.name == "me"
    assert found(route(table, "GET", "/users/ME")).operation.name == "me"
    assert found(route(table, "GET", "/users/42")).operation.name == "one"


def test_a_better_branch_without_the_method_gives_way_to_the_next() -> None:
    table = RouteTable.compile(
        config(api("u", "users", op("me", "GET", "/me"), op("delete", "DELETE", "/{id}")))
    )
    match = found(route(table, "DELETE", "/users/me"))
    assert (match.operation.name, match.parameters) == ("delete", {"id": "me"})


def test_a_pattern_beats_a_parameter_and_a_parameter_beats_the_wildcard() -> None:
    table = RouteTable.compile(
        config(
            api(
                "f",
                "files",
                op("rest", "GET", "/{*path}"),
                op("name", "GET", "/{name}"),
                op("typed", "GET", "/{name}.{ext}"),
            )
        )
    )
    typed = found(route(table, "GET", "/files/report.tar.gz"))
    assert (typed.operation.name, typed.parameters) == (
        "typed",
        {"name": "report", "ext": "tar.gz"},
    )
    assert found(route(table, "GET", "/files/report")).operation.name == "name"
    deep = found(route(table, "GET", "/files/a/b/c"))
    assert (deep.operation.name, deep.parameters) == ("rest", {"path": "a/b/c"})


def test_odata_style_parameters_inside_a_segment() -> None:
    table = RouteTable.compile(config(api("o", "odata", op("one", "GET", "/Products({id})"))))
    match = found(route(table, "GET", "/odata/products(42)"))
    assert match.parameters == {"id": "42"}
    missed(route(table, "GET", "/odata/products42"), NoMatchReason.OPERATION_NOT_FOUND)


def test_a_long_segment_that_almost_matches_a_pattern_is_refused_quickly() -> None:
    table = RouteTable.compile(config(api("f", "f", op("typed", "GET", "/{a}-{b}-{c}.json"))))
    started = time.perf_counter()
    missed(route(table, "GET", "/f/" + "a-" * 20_000 + "x"), NoMatchReason.OPERATION_NOT_FOUND)
    match = found(route(table, "GET", "/f/" + "a-" * 20_000 + "x.json"))
    assert time.perf_counter() - started < 0.5
    assert (match.parameters["a"], match.parameters["b"]) == ("a", "a")
    assert match.parameters["c"].endswith("a-x")


def test_a_parameter_inside_a_segment_ends_where_the_next_literal_first_occurs() -> None:
    table = RouteTable.compile(config(api("f", "f", op("v", "GET", "/{name}-v{version}"))))
    assert found(route(table, "GET", "/f/my-api-v2")).parameters == {
        "name": "my-api",
        "version": "2",
    }


def test_a_method_without_an_operation_is_not_found_in_apims_shape() -> None:
    table = RouteTable.compile(config(api("u", "users", op("get", "GET", "/{id}"))))
    miss = missed(route(table, "POST", "/users/1"), NoMatchReason.OPERATION_NOT_FOUND)
    assert miss.api is not None and miss.api.name == "u"
    assert miss.status == 404
    assert miss.to_json() == {"statusCode": 404, "message": "Resource not found"}
    assert (miss.error_source, miss.error_reason, miss.error_message) == (
        "configuration",
        "OperationNotFound",
        "Unable to match incoming request to an operation.",
    )


def test_methods_are_case_sensitive() -> None:
    table = RouteTable.compile(config(api("u", "users", op("get", "GET", "/{id}"))))
    missed(route(table, "get", "/users/1"), NoMatchReason.OPERATION_NOT_FOUND)


def test_an_any_method_operation_takes_methods_no_other_operation_has() -> None:
    table = RouteTable.compile(
        config(api("u", "users", op("get", "GET", "/{id}"), op("other", "*", "/{id}")))
    )
    assert found(route(table, "GET", "/users/1")).operation.name == "get"
    assert found(route(table, "PATCH", "/users/1")).operation.name == "other"


def test_a_parameter_never_matches_an_empty_segment() -> None:
    table = RouteTable.compile(config(api("u", "users", op("pair", "GET", "/{a}/{b}"))))
    missed(route(table, "GET", "/users/x//"), NoMatchReason.OPERATION_NOT_FOUND)
    missed(route(table, "GET", "/users//y"), NoMatchReason.OPERATION_NOT_FOUND)


def test_the_wildcard_star_matches_any_rest_without_a_parameter() -> None:
    table = RouteTable.compile(config(api("w", "w", op("all", "POST", "/*"))))
    for target in ("/w", "/w/", "/w/a", "/w/a/b/c/"):
        match = found(route(table, "POST", target))
        assert match.parameters == {}


# --- query part of a template ---------------------------------------------------------------


def test_query_parameters_of_the_template_are_matched_and_extracted() -> None:
    table = RouteTable.compile(
        config(
            api(
                "s",
                "search",
                op("by-term", "GET", "/?q={term}&page={page}"),
                op("plain", "GET", "/"),
            )
        )
    )
    match = found(route(table, "GET", "/search?PAGE=2&extra=1&q=caf%C3%A9+au+lait"))
    assert match.operation.name == "by-term"
    assert match.parameters == {"term": "café au lait", "page": "2"}
    assert found(route(table, "GET", "/search?q=x")).operation.name == "plain"
    assert found(route(table, "GET", "/search")).operation.name == "plain"


def test_without_its_query_parameters_an_operation_does_not_match() -> None:
    table = RouteTable.compile(
        config(api("u", "users", op("detail", "GET", "/{id}/credentials?include={include}")))
    )
    match = found(route(table, "GET", "/users/1/credentials?include=password&hash=true"))
    assert match.parameters == {"id": "1", "include": "password"}
    missed(route(table, "GET", "/users/1/credentials?hash=true"), NoMatchReason.OPERATION_NOT_FOUND)


def test_an_optional_query_parameter_takes_its_default() -> None:
    optional = [{"name": "page", "type": "integer", "required": False, "defaultValue": "1"}]
    table = RouteTable.compile(
        config(api("l", "list", op("list", "GET", "/?page={page}", optional)))
    )
    assert found(route(table, "GET", "/list")).parameters == {"page": "1"}
    assert found(route(table, "GET", "/list?page=3")).parameters == {"page": "3"}


def test_a_literal_query_pair_must_have_its_value() -> None:
    table = RouteTable.compile(
        config(
            api(
                "r",
                "reports",
                op("csv", "GET", "/?format=csv"),
                op("json", "GET", "/?format=json"),
            )
        )
    )
    assert found(route(table, "GET", "/reports?format=csv")).operation.name == "csv"
    assert found(route(table, "GET", "/reports?format=json")).operation.name == "json"
    missed(route(table, "GET", "/reports?format=xml"), NoMatchReason.OPERATION_NOT_FOUND)


# --- trailing slash ---------------------------------------------------------------------------


def test_a_trailing_slash_prefers_its_own_template_and_falls_back_to_the_other() -> None:
    both = RouteTable.compile(
        config(api("i", "shop", op("bare", "GET", "/items"), op("slash", "GET", "/items/")))
    )
    assert found(route(both, "GET", "/shop/items")).operation.name == "bare"
    assert found(route(both, "GET", "/shop/items/")).operation.name == "slash"
    one = RouteTable.compile(config(api("i", "shop", op("bare", "GET", "/items"))))
    match = found(route(one, "GET", "/shop/items/"))
    assert (match.operation.name, match.backend_path) == ("bare", "/items/")


# --- versions and revisions ---------------------------------------------------------------


def test_a_versioned_api_is_reached_with_its_version_segment() -> None:
    table = RouteTable.compile(
        config(
            api("orders", "orders", op("get", "GET", "/{id}")),
            api("orders-v1", "orders", op("get", "GET", "/{id}"), version="v1"),
            api("orders-v2", "orders", op("get", "GET", "/{id}"), version="v2"),
        )
    )
    v2 = found(route(table, "GET", "/orders/v2/7"))
    assert (v2.api.name, v2.parameters, v2.backend_path) == ("orders-v2", {"id": "7"}, "/7")
    assert found(route(table, "GET", "/orders/V1/7")).api.name == "orders-v1"
    assert found(route(table, "GET", "/orders/7")).api.name == "orders"
    # An unknown version is a path under the unversioned API, whose template has no room for it.
    missed(route(table, "GET", "/orders/v3/7"), NoMatchReason.OPERATION_NOT_FOUND)


def test_a_non_current_revision_is_reached_only_with_its_revision_suffix() -> None:
    table = RouteTable.compile(
        config(
            api("echo", "echo", op("get", "GET", "/{id}"), revision="1"),
            api("echo;rev=2", "echo", op("get", "GET", "/{id}"), revision="2", current=False),
        )
    )
    assert found(route(table, "GET", "/echo/1")).api.name == "echo"
    match = found(route(table, "GET", "/echo;rev=2/1"))
    assert (match.api.name, match.backend_path) == ("echo;rev=2", "/1")
    assert found(route(table, "GET", "/echo;rev=1/1")).api.name == "echo"
    missed(route(table, "GET", "/echo;rev=3/1"), NoMatchReason.API_NOT_FOUND)


def test_a_non_current_revision_alone_is_not_served_at_its_path() -> None:
    table = RouteTable.compile(config(api("echo;rev=2", "echo", revision="2", current=False)))
    missed(route(table, "GET", "/echo/1"), NoMatchReason.API_NOT_FOUND)
    assert found(route(table, "GET", "/echo;rev=2/1")).api.name == "echo;rev=2"


def test_revisions_of_versioned_and_root_apis() -> None:
    table = RouteTable.compile(
        config(
            api("v", "api", version="v2", revision="3", current=False),
            api("root", "", revision="4", current=False),
        )
    )
    assert found(route(table, "GET", "/api/v2;rev=3/x")).api.name == "v"
    assert found(route(table, "GET", "/;rev=4/x")).api.name == "root"
    missed(route(table, "GET", "/api/v2/x"), NoMatchReason.API_NOT_FOUND)
