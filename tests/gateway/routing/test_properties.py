"""Properties of routing over generated configurations and requests."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from tollhouse.gateway.routing import (
    NoMatch,
    RouteMatch,
    RouteTable,
    SubscriptionIndex,
    query_value,
    query_values,
    remove_query_parameter,
)

from .configs import api, config, op, product, subscription

SEGMENTS = st.sampled_from(["a", "b", "ab", "A", "b;rev=1"])
API_PATHS = st.lists(st.lists(SEGMENTS, max_size=3), max_size=8)
REQUEST_SEGMENTS = st.lists(st.sampled_from(["a", "b", "ab", "B", "", "x"]), max_size=5)
TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)


@settings(max_examples=300)
@given(API_PATHS, REQUEST_SEGMENTS)
def test_the_api_chosen_is_the_longest_segment_prefix(
    paths: list[list[str]], request: list[str]
) -> None:
    unique: dict[tuple[str, ...], str] = {}
    served: set[tuple[str, ...]] = set()
    for segments in paths:
        key = tuple(s.lower() for s in segments)
        # An API is also served at its path with `;rev=1`: `b;rev=1` may collide with `b`.
        keys = {key, (*key[:-1], key[-1] + ";rev=1") if key else (";rev=1",)}
        if keys & served:
            continue
        served |= keys
        unique[key] = f"api{len(unique)}"
    table = RouteTable.compile(
        config(*(api(name, "/".join(key), op("all", "*", "/*")) for key, name in unique.items()))
    )
    path = "/" + "/".join(request)
    result = table.match("GET", path, "", "h", "https")

    folded = tuple(s.lower() for s in request)
    candidates = [key for key in unique if folded[: len(key)] == key]
    if not candidates:
        assert isinstance(result, NoMatch)
        return
    best = max(candidates, key=len)
    assert isinstance(result, RouteMatch)
    assert result.api.name == unique[best]
    prefix = "/" + "/".join(request[: len(best)]) if best else ""
    assert prefix + result.backend_path == path


@given(TEXT, TEXT)
def test_parameters_come_back_as_they_were_before_encoding(first: str, second: str) -> None:
    table = RouteTable.compile(config(api("p", "p", op("pair", "GET", "/{a}/x/{b}"))))
    path = f"/p/{quote(first, safe='')}/x/{quote(second, safe='')}"
    result = table.match("GET", path, f"a={quote(second)}", "h", "https")
    assert isinstance(result, RouteMatch)
    assert result.parameters == {"a": first, "b": second}


ANY_TEXT = st.text(max_size=40)


@settings(max_examples=300)
@given(ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT)
def test_matching_never_raises(method: str, path: str, query: str, host: str, scheme: str) -> None:
    cfg = config(
        api("root", "", op("q", "GET", "/s?q={q}&f=json"), op("p", "*", "/{a}.{b}/{*rest}")),
        api("a", "a", op("w", "GET", "/*")),
        api("v", "a", version="v1"),
    )
    result = RouteTable.compile(cfg, hostnames=["*.example"]).match(
        method, "/" + path, query, host, scheme
    )
    assert isinstance(result, (RouteMatch, NoMatch))
    result = RouteTable.compile(cfg).match(method, "/" + path, query, "h", "https")
    assert isinstance(result, (RouteMatch, NoMatch))


@settings(max_examples=200)
@given(st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=20)), max_size=4), ANY_TEXT)
def test_checking_a_key_never_raises(headers: list[tuple[bytes, bytes]], query: str) -> None:
    cfg = config(
        api("e", "e"),
        products=[product("p", "e")],
        subscriptions=[subscription("s", "product", "p", primary="k")],
    )
    match = RouteTable.compile(cfg).match("GET", "/e/x", query, "h", "https")
    assert isinstance(match, RouteMatch)
    decision = SubscriptionIndex.compile(cfg).check(match, headers, query)
    assert decision.allowed == (decision.status is None)


@given(
    st.lists(st.tuples(st.sampled_from(["a", "B", "key", "Key", "k%65y"]), ANY_TEXT), max_size=6)
)
def test_removing_a_parameter_removes_it_and_only_it(pairs: list[tuple[str, str]]) -> None:
    query = "&".join(f"{name}={quote(value)}" for name, value in pairs)
    stripped = remove_query_parameter(query, "key")
    assert query_value(stripped, "key") is None
    before = {k: v for k, v in query_values(query).items() if k != "key"}
    assert query_values(stripped) == before
