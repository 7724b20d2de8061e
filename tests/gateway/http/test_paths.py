"""The one path normalisation before routing (security-and-faults.md case 12)."""

from __future__ import annotations

import pytest

from tollhouse.gateway.http import MalformedRequest, normalize_path
from tollhouse.gateway.http._paths import parse_target


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/", "/"),
        ("", "/"),
        ("/api/users/42", "/api/users/42"),
        # Dot-segments are removed (RFC 3986 §5.2.4), so routing and the backend agree.
        ("/api/../admin", "/admin"),
        ("/api/./users", "/api/users"),
        ("/api/users/.", "/api/users/"),
        ("/api/users/..", "/api/"),
        ("/a/b/../../c", "/c"),
        # Encoded dots are unreserved characters: decoded first, then removed like dots.
        ("/api/%2e%2e/admin", "/admin"),
        ("/api/%2E%2E/admin", "/admin"),
        ("/api/.%2e/admin", "/admin"),
        ("/api/%2e/users", "/api/users"),
        # Runs of slashes are merged.
        ("//api", "/api"),
        ("/api//users///42", "/api/users/42"),
        ("/api//../admin", "/admin"),
        # Unreserved characters are decoded, other triplets kept with upper-case hex.
        ("/%7Euser/%41bc", "/~user/Abc"),
        ("/a%20b", "/a%20b"),
        ("/a%3fb", "/a%3Fb"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        # ";" is an ordinary character: no path parameters.
        ("/api;x=y", "/api;x=y"),
        ("/api/..;/admin", "/api/..;/admin"),
        # Visible characters a path may not hold raw are encoded.
        ("/a{b}|c", "/a%7Bb%7D%7Cc"),
        ("/a'b!c$d&e(f)g*h+i,j=k:l@m", "/a'b!c$d&e(f)g*h+i,j=k:l@m"),
        ("/.well-known/openid-configuration", "/.well-known/openid-configuration"),
        ("/...", "/..."),
    ],
)
def test_a_path_is_normalised_once_before_routing(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal
    # Normalising is idempotent: routing and the upstream see the same path.
    assert normalize_path(normal) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "/api%2Fadmin",  # an encoded slash would split differently at the backend
        "/api%2fadmin",
        "/api%5Cadmin",  # encoded backslash
        "/api%00admin",  # encoded NUL
        "/api\\admin",  # raw backslash
        "/..",  # climbs above the root
        "/api/../../etc/passwd",
        "/%2e%2e/admin",
        "/a%zz",  # malformed triplets
        "/a%4",
        "/a%",
        "/a b",  # not visible ASCII
        "/caf\u00e9",
        "api/users",  # not origin-form
    ],
)
def test_an_ambiguous_path_is_refused(raw: str) -> None:
    with pytest.raises(MalformedRequest) as caught:
        normalize_path(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("target", "path", "query", "authority"),
    [
        (b"/a/b?x=1&y=%2F", "/a/b", "x=1&y=%2F", None),
        (b"/a#frag", "/a", "", None),
        (b"/a?x#frag?y", "/a", "x", None),
        (b"http://Example.com:8080/a/../b?q", "/b", "q", "Example.com:8080"),
        (b"https://example.com", "/", "", "example.com"),
        (b"HTTP://example.com?q=1", "/", "q=1", "example.com"),
    ],
)
def test_a_target_is_split_into_normalised_path_and_raw_query(
    target: bytes, path: str, query: str, authority: str | None
) -> None:
    parsed = parse_target(target, "GET")
    assert (parsed.path, parsed.query, parsed.authority) == (path, query, authority)


@pytest.mark.parametrize(
    "target",
    [b"example.com:443", b"ftp://example.com/", b"http://user@example.com/", b"http:///a", b"*"],
)
def test_targets_other_than_origin_and_absolute_form_are_refused(target: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_target(target, "GET")


def test_asterisk_form_is_only_for_options() -> None:
    assert parse_target(b"*", "OPTIONS").path == "*"
