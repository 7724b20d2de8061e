"""Gateway tokens (apim-self-hosted-gateway.md §4): generation and verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tollhouse.controlplane.model import (
    MAX_TOKEN_LIFETIME,
    GatewayTokenOutcome,
    ModelError,
    generate_gateway_token,
    parse_gateway_token_request,
    verify_gateway_token,
)

NOW = datetime(2024, 3, 1, 12, 0, 30, tzinfo=UTC)
PRIMARY = "cHJpbWFyeS1rZXktb2YtdGhlLWdhdGV3YXk="
SECONDARY = "c2Vjb25kYXJ5LWtleS1vZi10aGUtZ2F0ZXdheQ=="
KEYS = (PRIMARY, SECONDARY)
Outcome = GatewayTokenOutcome


def token(key: str = PRIMARY, days: float = 7, gateway: str = "edge") -> str:
    return generate_gateway_token(gateway, key, NOW + timedelta(days=days), now=NOW)


def test_the_token_is_the_documented_format_and_signature() -> None:
    value = generate_gateway_token(
        "edge", PRIMARY, datetime(2024, 3, 8, 9, 41, 59, tzinfo=UTC), now=NOW
    )
    gateway, expiry, signature = value.split("&")
    assert (gateway, expiry) == ("edge", "202403080941")
    expected = hmac.new(PRIMARY.encode(), b"edge\n202403080941", hashlib.sha512).digest()
    assert base64.b64decode(signature) == expected
    assert not value.startswith("GatewayKey")


def test_the_expiry_is_written_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    value = generate_gateway_token(
        "edge", PRIMARY, datetime(2024, 3, 8, 11, 41, tzinfo=plus_two), now=NOW
    )
    assert value.split("&")[1] == "202403080941"


@pytest.mark.parametrize(("key", "key_type"), [(PRIMARY, "primary"), (SECONDARY, "secondary")])
def test_a_token_signed_with_either_key_is_valid(key: str, key_type: str) -> None:
    check = verify_gateway_token(token(key), "edge", KEYS, NOW)
    assert check.outcome is Outcome.VALID
    assert check.valid
    assert check.key_type == key_type
    assert check.expiry == datetime(2024, 3, 8, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("prefix", ["GatewayKey ", "gatewaykey ", "  GatewayKey  "])
def test_the_configuration_setting_literal_with_its_prefix_is_valid(prefix: str) -> None:
    assert verify_gateway_token(prefix + token(), "edge", KEYS, NOW).valid


def test_gateway_names_compare_without_case() -> None:
    assert verify_gateway_token(token(gateway="Edge"), "edge", KEYS, NOW).valid


def test_a_token_signed_with_another_key_has_a_bad_signature() -> None:
    check = verify_gateway_token(token("some-other-key"), "edge", KEYS, NOW)
    assert check.outcome is Outcome.BAD_SIGNATURE
    assert check.key_type is None


def test_regenerating_the_signing_key_invalidates_its_tokens() -> None:
    old = token(PRIMARY)
    assert verify_gateway_token(old, "edge", ("new-primary", SECONDARY), NOW).outcome is (
        Outcome.BAD_SIGNATURE
    )
    assert verify_gateway_token(token(SECONDARY), "edge", ("new-primary", SECONDARY), NOW).valid


def test_a_token_of_another_gateway_is_told_apart() -> None:
    check = verify_gateway_token(token(gateway="other"), "edge", KEYS, NOW)
    assert check.outcome is Outcome.WRONG_GATEWAY


def test_an_expired_token_is_expired() -> None:
    value = token(days=1)
    later = NOW + timedelta(days=1, minutes=1)
    check = verify_gateway_token(value, "edge", KEYS, later)
    assert check.outcome is Outcome.EXPIRED
    assert check.expiry == datetime(2024, 3, 2, 12, 0, tzinfo=UTC)


def test_a_token_expires_at_its_minute() -> None:
    value = token(days=1)
    expiry = datetime(2024, 3, 2, 12, 0, tzinfo=UTC)
    assert verify_gateway_token(value, "edge", KEYS, expiry - timedelta(seconds=1)).valid
    assert verify_gateway_token(value, "edge", KEYS, expiry).outcome is Outcome.EXPIRED


def test_a_genuine_token_expiring_more_than_30_days_ahead_is_refused() -> None:
    expiry = "203001010000"
    signature = hmac.new(PRIMARY.encode(), f"edge\n{expiry}".encode(), hashlib.sha512).digest()
    forged = f"edge&{expiry}&{base64.b64encode(signature).decode()}"
    check = verify_gateway_token(forged, "edge", KEYS, NOW)
    assert check.outcome is Outcome.LIFETIME_EXCEEDED


def test_a_signature_that_matches_no_key_is_reported_before_the_expiry() -> None:
    value = token("some-other-key", days=1)
    later = NOW + timedelta(days=3)
    assert verify_gateway_token(value, "edge", KEYS, later).outcome is Outcome.BAD_SIGNATURE


def test_empty_keys_never_verify() -> None:
    empty_signed = base64.b64encode(
        hmac.new(b"", b"edge\n202403020000", hashlib.sha512).digest()
    ).decode()
    check = verify_gateway_token(f"edge&202403020000&{empty_signed}", "edge", ("", ""), NOW)
    assert check.outcome is Outcome.BAD_SIGNATURE


@pytest.mark.parametrize(
    "value",
    [
        "",
        "GatewayKey ",
        "garbage",
        "edge&202403080941",
        "edge&202403080941&sig&more",
        "&202403080941&c2ln",
        "edge&20240308094&c2ln",
        "edge&2024030809411&c2ln",
        "edge&202413080941&c2ln",
        "edge&2024-03-08T0&c2ln",
        "edge&٢٠٢٤٠٣٠٨٠٩٤١&c2ln",
        "edge&202403080941&not base64!",
        "edge&202403080941&c2ln",  # base64, but not 64 bytes
        "GatewayKey edge&202403080941&",
        "x" * 2000,
    ],
)
def test_malformed_tokens_are_malformed(value: str) -> None:
    assert verify_gateway_token(value, "edge", KEYS, NOW).outcome is Outcome.MALFORMED


def test_a_token_that_is_not_a_string_is_malformed() -> None:
    check = verify_gateway_token(None, "edge", KEYS, NOW)  # type: ignore[arg-type]
    assert check.outcome is Outcome.MALFORMED


def test_generation_refuses_an_expiry_in_the_past_or_beyond_30_days() -> None:
    assert timedelta(days=30) == MAX_TOKEN_LIFETIME
    for expiry in (NOW - timedelta(minutes=1), NOW, NOW + timedelta(days=30, minutes=1)):
        with pytest.raises(ModelError) as raised:
            generate_gateway_token("edge", PRIMARY, expiry, now=NOW)
        assert (raised.value.code, raised.value.target) == ("ValidationError", "expiry")
    longest = generate_gateway_token("edge", PRIMARY, NOW + timedelta(days=30), now=NOW)
    assert verify_gateway_token(longest, "edge", KEYS, NOW).valid


def test_the_generate_token_body_is_read() -> None:
    request = parse_gateway_token_request({"keyType": "Secondary", "expiry": "2024-03-08T09:41Z"})
    assert request.key_type == "secondary"
    assert request.expiry == datetime(2024, 3, 8, 9, 41, tzinfo=UTC)
    naive = parse_gateway_token_request({"keyType": "primary", "expiry": "2024-03-08T09:41:00"})
    assert naive.expiry.tzinfo is UTC


@pytest.mark.parametrize(
    ("body", "target"),
    [
        (None, "keyType"),
        ({"expiry": "2024-03-08T09:41Z"}, "keyType"),
        ({"keyType": "tertiary", "expiry": "2024-03-08T09:41Z"}, "keyType"),
        ({"keyType": "primary"}, "expiry"),
        ({"keyType": "primary", "expiry": "next week"}, "expiry"),
        ([], "body"),
    ],
)
def test_an_invalid_generate_token_body_is_refused(body: object, target: str) -> None:
    with pytest.raises(ModelError) as raised:
        parse_gateway_token_request(body)  # type: ignore[arg-type]
    assert raised.value.target == target
