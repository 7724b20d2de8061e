"""Forwarding headers (sans-I/O): hop-by-hop fields go before the gateway adds its own (case 9),
and forwarding and client-certificate fields are trusted only from trusted proxies (case 10)."""

from __future__ import annotations

import pytest

from tollhouse.gateway.http import (
    HOP_BY_HOP,
    Headers,
    prepare_forward_headers,
    strip_hop_by_hop,
    strip_response_hop_by_hop,
)


def forward(
    headers: Headers,
    *,
    trusted_proxy: bool = False,
    honour_forwarded_proto: bool = False,
    scheme: str = "https",
) -> Headers:
    return prepare_forward_headers(
        headers,
        client_ip="203.0.113.7",
        scheme=scheme,
        host="api.example.com",
        trusted_proxy=trusted_proxy,
        honour_forwarded_proto=honour_forwarded_proto,
    )


def values(headers: Headers, name: bytes) -> list[bytes]:
    return [v for n, v in headers if n == name]


def test_the_hop_by_hop_list_is_the_rfc_9110_one_plus_the_legacy_fields() -> None:
    assert (
        frozenset(
            {
                b"connection",
                b"keep-alive",
                b"proxy-connection",
                b"te",
                b"transfer-encoding",
                b"upgrade",
                b"trailer",
                b"proxy-authenticate",
                b"proxy-authorization",
            }
        )
        == HOP_BY_HOP
    )


@pytest.mark.parametrize("name", sorted(HOP_BY_HOP))
def test_each_hop_by_hop_field_is_removed(name: bytes) -> None:
    assert strip_hop_by_hop([(name, b"x"), (b"accept", b"*/*")]) == [(b"accept", b"*/*")]


def test_fields_named_in_connection_are_removed_whatever_the_spacing_and_case() -> None:
    headers = [
        (b"connection", b" X-Foo ,\tx-BAR,, "),
        (b"connection", b"x-baz"),
        (b"x-foo", b"1"),
        (b"x-bar", b"2"),
        (b"x-baz", b"3"),
        (b"x-kept", b"4"),
    ]
    assert strip_hop_by_hop(headers) == [(b"x-kept", b"4")]


def test_a_client_naming_gateway_headers_in_connection_cannot_remove_them() -> None:
    # security-and-faults §C.5 case 9.
    client = [
        (b"connection", b"close, X-Forwarded-For, Authorization"),
        (b"authorization", b"Bearer client-token"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"accept", b"*/*"),
    ]
    forwarded = forward(client)
    # The backend credential a policy adds after this step (authentication-* policies).
    forwarded.append((b"authorization", b"Basic YmFja2VuZDpzZWNyZXQ="))
    assert values(forwarded, b"connection") == []
    assert values(forwarded, b"x-forwarded-for") == [b"203.0.113.7"]
    assert values(forwarded, b"authorization") == [b"Basic YmFja2VuZDpzZWNyZXQ="]
    assert values(forwarded, b"accept") == [b"*/*"]


CLIENT_SUPPLIED = [
    (b"forwarded", b"for=10.0.0.1;proto=https;host=internal"),
    (b"x-forwarded-for", b"10.0.0.1"),
    (b"x-forwarded-proto", b"https"),
    (b"x-forwarded-host", b"internal.example"),
    (b"x-forwarded-port", b"443"),
    (b"x-forwarded-client-cert", b"Hash=abc"),
    (b"x-client-cert", b"-----BEGIN CERTIFICATE-----"),
    (b"x-client-verify", b"SUCCESS"),
    (b"x-arr-clientcert", b"MIIB"),
    (b"x-ssl-client-dn", b"CN=admin"),
    (b"ssl-client-cert", b"MIIB"),
    (b"x-real-ip", b"10.0.0.1"),
    (b"true-client-ip", b"10.0.0.1"),
    (b"accept", b"*/*"),
]


def test_an_untrusted_peer_cannot_speak_for_the_client() -> None:
    # security-and-faults §C.5 case 10.
    forwarded = forward(CLIENT_SUPPLIED, scheme="http", honour_forwarded_proto=True)
    assert forwarded == [
        (b"accept", b"*/*"),
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"api.example.com"),
    ]


def test_a_trusted_proxy_has_the_client_appended_to_its_list() -> None:
    headers = [(b"x-forwarded-for", b"198.51.100.1, 10.0.0.2"), (b"x-forwarded-for", b"10.0.0.3")]
    forwarded = forward(headers, trusted_proxy=True)
    assert values(forwarded, b"x-forwarded-for") == [
        b"198.51.100.1, 10.0.0.2, 10.0.0.3, 203.0.113.7"
    ]


def test_a_trusted_proxy_keeps_its_forwarded_host_and_client_certificate_fields() -> None:
    forwarded = forward(CLIENT_SUPPLIED, trusted_proxy=True)
    assert values(forwarded, b"x-forwarded-host") == [b"internal.example"]
    assert values(forwarded, b"x-client-cert") == [b"-----BEGIN CERTIFICATE-----"]
    assert values(forwarded, b"forwarded") == [b"for=10.0.0.1;proto=https;host=internal"]
    assert values(forwarded, b"x-forwarded-for") == [b"10.0.0.1, 203.0.113.7"]


def test_forwarded_proto_is_honoured_only_from_a_trusted_proxy_with_the_setting_on() -> None:
    headers = [(b"x-forwarded-proto", b"https")]
    assert values(forward(headers, scheme="http", trusted_proxy=True), b"x-forwarded-proto") == [
        b"http"
    ]
    assert values(
        forward(headers, scheme="http", trusted_proxy=True, honour_forwarded_proto=True),
        b"x-forwarded-proto",
    ) == [b"https"]
    assert values(
        forward(headers, scheme="http", honour_forwarded_proto=True), b"x-forwarded-proto"
    ) == [b"http"]


@pytest.mark.parametrize("value", [b"ftp", b"javascript", b"", b"https\r\nx: y"])
def test_a_forwarded_proto_other_than_http_or_https_is_ignored(value: bytes) -> None:
    forwarded = forward(
        [(b"x-forwarded-proto", value)],
        scheme="http",
        trusted_proxy=True,
        honour_forwarded_proto=True,
    )
    assert values(forwarded, b"x-forwarded-proto") == [b"http"]


def test_the_gateway_adds_exactly_one_of_each_forwarding_header() -> None:
    forwarded = forward(CLIENT_SUPPLIED, trusted_proxy=True, honour_forwarded_proto=True)
    for name in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"):
        assert len(values(forwarded, name)) == 1


def test_end_to_end_fields_keep_their_order() -> None:
    headers = [(b"b", b"1"), (b"a", b"2"), (b"b", b"3"), (b"te", b"trailers")]
    assert forward(headers)[:3] == [(b"b", b"1"), (b"a", b"2"), (b"b", b"3")]


def test_a_response_loses_its_hop_by_hop_fields() -> None:
    response = [
        (b"connection", b"keep-alive, x-backend-internal"),
        (b"keep-alive", b"timeout=5"),
        (b"transfer-encoding", b"chunked"),
        (b"proxy-authenticate", b"Basic"),
        (b"x-backend-internal", b"node-7"),
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
    ]
    assert strip_response_hop_by_hop(response) == [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
    ]
