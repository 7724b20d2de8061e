"""The framing rules a request head must pass before dispatch (RFC 9112; security-and-faults
§C.5 cases 1–6, 11), as a pure function of the parsed head."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tollhouse.gateway.http import (
    BodyTooLarge,
    DownstreamError,
    HeadersTooLarge,
    MalformedRequest,
    NotImplementedByServer,
    ServerLimits,
    TargetTooLong,
    VersionNotSupported,
)
from tollhouse.gateway.http._framing import (
    RequestHead,
    check_head,
    check_transfer_coding,
    parse_content_length,
    parse_host,
)

LIMITS = ServerLimits(max_body_size=1000, max_request_target=64, max_header_block=512)
HOST = (b"Host", b"example.com")


def head(
    fields: Sequence[tuple[bytes, bytes]] = (HOST,),
    *,
    method: str = "GET",
    target: bytes = b"/",
    version: str = "1.1",
    limits: ServerLimits = LIMITS,
) -> RequestHead:
    return check_head(method, target, version, list(fields), limits)


def refused(fields: Sequence[tuple[bytes, bytes]] = (HOST,), **kwargs: object) -> DownstreamError:
    with pytest.raises(DownstreamError) as caught:
        head(fields, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_a_plain_head_passes_with_names_lower_cased_and_values_trimmed() -> None:
    checked = head([(b"Host", b"Example.COM:8080"), (b"X-Thing", b"  a b \t")])
    assert checked.host == "example.com"
    assert checked.headers == [(b"host", b"Example.COM:8080"), (b"x-thing", b"a b")]
    assert (checked.content_length, checked.chunked, checked.keep_alive) == (None, False, True)


def test_content_length_and_transfer_encoding_together_are_refused() -> None:
    # RFC 9112 §6.3, case 1: the classic smuggling pair.
    error = refused([HOST, (b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")])
    assert isinstance(error, MalformedRequest) and error.status == 400


@pytest.mark.parametrize(
    "values",
    [
        [b"5", b"6"],
        [b"5, 6"],
        [b"+5"],
        [b"-1"],
        ["٥".encode()],  # Arabic-Indic digit five: int() would take it
        [b"123456789012345678901"],  # 21 digits
        [b"1234567890123456789"],  # 19 digits
        [b""],
        [b"5 5"],
        [b"0x10"],
        [b"5."],
    ],
)
def test_a_malformed_or_conflicting_content_length_is_refused(values: list[bytes]) -> None:
    with pytest.raises(MalformedRequest):
        parse_content_length(values)
    error = refused([HOST, *[(b"Content-Length", v) for v in values]])
    assert error.status == 400


def test_repeated_identical_content_lengths_are_one_length() -> None:
    # RFC 9112 §6.3 item 5 lets a recipient accept a list of identical values.
    assert parse_content_length([b"5", b"5, 5"]) == 5
    assert parse_content_length([b"000000000000000042"]) == 42


@pytest.mark.parametrize(
    ("values", "status"),
    [
        ([b"xchunked"], 400),
        ([b"chunked, identity"], 400),  # chunked not last
        ([b"chunked", b"chunked"], 400),  # two TE fields: chunked twice
        ([b"chunked, chunked"], 400),
        ([b"gzip"], 400),
        ([b"identity"], 400),
        ([b""], 400),
        ([b"chunked,"], 400),
        ([b"gzip, chunked"], 501),  # a coding the gateway does not implement
        ([b"gzip", b"chunked"], 501),
    ],
)
def test_transfer_encoding_must_be_exactly_chunked(values: list[bytes], status: int) -> None:
    error = refused([HOST, *[(b"Transfer-Encoding", v) for v in values]])
    assert error.status == status


def test_chunked_in_any_case_is_accepted() -> None:
    check_transfer_coding([b"Chunked"])
    checked = head([HOST, (b"Transfer-Encoding", b" CHUNKED ")], method="POST")
    assert checked.chunked and checked.has_body and checked.content_length is None


def test_transfer_encoding_in_http_1_0_is_refused() -> None:
    # RFC 9112 §6.1: the framing of such a message is faulty.
    assert refused([(b"Transfer-Encoding", b"chunked")], version="1.0").status == 400


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"X-A", b"a\rb"),
        (b"X-A", b"a\nb"),
        (b"X-A", b"a\x00b"),
        (b"X-A", b"a\x01b"),
        (b"X-A", b"a\x7fb"),
        (b"X-A ", b"space before the colon"),
        (b"X A", b"v"),
        (b"", b"v"),
        (b"X:A", b"v"),
        (b"X-\xe9", b"v"),
    ],
)
def test_a_field_with_a_bad_name_or_a_control_in_its_value_is_refused(
    name: bytes, value: bytes
) -> None:
    assert refused([HOST, (name, value)]).status == 400


def test_underscores_and_obs_text_are_valid() -> None:
    checked = head([HOST, (b"X_Under_Score", b"caf\xe9\tdone")])
    assert (b"x_under_score", b"caf\xe9\tdone") in checked.headers


@pytest.mark.parametrize(
    "fields",
    [
        [HOST, HOST],  # duplicate Host, even identical
        [HOST, (b"host", b"other.example")],
        [],  # HTTP/1.1 without Host
        [(b"Host", b"a b")],
        [(b"Host", b"a,b")],
        [(b"Host", b"a@b")],
        [(b"Host", b"a:99999")],
        [(b"Host", b"a:0")],
        [(b"Host", b"a:x")],
        [(b"Host", b"[::1")],
    ],
)
def test_a_missing_duplicate_or_invalid_host_is_refused(
    fields: list[tuple[bytes, bytes]],
) -> None:
    assert refused(fields).status == 400


def test_host_is_lower_cased_without_its_port() -> None:
    assert parse_host(b"API.Example.com:443") == ("api.example.com", 443)
    assert parse_host(b"[::1]:8080") == ("[::1]", 8080)
    assert parse_host(b"example.com:") == ("example.com", None)
    assert parse_host(b"") == ("", None)


def test_http_1_0_may_omit_host() -> None:
    checked = head([], version="1.0")
    assert checked.host == "" and checked.keep_alive is False


@pytest.mark.parametrize(
    ("target", "host"),
    [
        (b"http://evil.example/admin", b"example.com"),
        (b"http://example.com:8080/", b"example.com"),
        (b"https://example.com/", b"example.com:80"),
    ],
)
def test_an_absolute_form_authority_must_match_host(target: bytes, host: bytes) -> None:
    assert refused([(b"Host", host)], target=target).status == 400


def test_an_absolute_form_authority_equal_to_host_is_served_by_its_path() -> None:
    checked = head([(b"Host", b"Example.com")], target=b"http://example.com:80/a/./b?q=1")
    assert (checked.path, checked.query, checked.host) == ("/a/b", "q=1", "example.com")


def test_upgrade_and_http2_settings_are_stripped_never_acted_on() -> None:
    checked = head(
        [
            HOST,
            (b"Connection", b"Upgrade, HTTP2-Settings"),
            (b"Upgrade", b"h2c"),
            (b"HTTP2-Settings", b"AAMAAABkAARAAAAAAAIAAAAA"),
        ]
    )
    names = [name for name, _ in checked.headers]
    assert b"upgrade" not in names and b"http2-settings" not in names


def test_expect_100_continue_is_answered_by_this_hop() -> None:
    checked = head([HOST, (b"Expect", b"100-Continue"), (b"Content-Length", b"5")])
    assert checked.expect_continue
    assert b"expect" not in [name for name, _ in checked.headers]


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("1.1", None, True),
        ("1.1", b"close", False),
        ("1.1", b"Keep-Alive, Close", False),
        ("1.0", None, False),
        ("1.0", b"keep-alive", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection(
    version: str, connection: bytes | None, keep_alive: bool
) -> None:
    fields = [HOST] + ([(b"Connection", connection)] if connection else [])
    assert head(fields, version=version).keep_alive is keep_alive


@pytest.mark.parametrize("version", ["2.0", "0.9", "1.2"])
def test_versions_other_than_1_0_and_1_1_are_refused(version: str) -> None:
    assert isinstance(refused(version=version), VersionNotSupported)


def test_connect_is_not_implemented() -> None:
    assert isinstance(refused(method="CONNECT", target=b"example.com:443"), NotImplementedByServer)


def test_limits_give_414_431_and_413() -> None:
    assert isinstance(refused(target=b"/" + b"a" * 64), TargetTooLong)
    assert isinstance(refused([HOST, (b"X", b"v" * 512)]), HeadersTooLarge)
    many = ServerLimits(max_header_count=3)
    assert isinstance(refused([HOST] + [(b"X", b"v")] * 3, limits=many), HeadersTooLarge)
    error = refused([HOST, (b"Content-Length", b"1001")], method="POST")
    assert isinstance(error, BodyTooLarge) and error.status == 413
    assert head([HOST, (b"Content-Length", b"1000")], method="POST").content_length == 1000


def test_error_messages_are_fixed_text_never_the_input() -> None:
    error = refused([HOST, (b"Content-Length", b"<script>alert(1)</script>")])
    assert "script" not in error.message and error.message == MalformedRequest.default_message
