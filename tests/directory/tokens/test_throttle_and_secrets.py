"""Failed-authentication throttling and secret hashing."""

from __future__ import annotations

from tollhouse.directory.tokens import FailureThrottle, generate_secret, hash_secret, verify_secret


def test_a_client_is_throttled_after_the_limit_within_the_window() -> None:
    throttle = FailureThrottle(max_failures=3, window=60)
    for second in range(3):
        assert throttle.retry_after("c", 100 + second) is None
        throttle.failed("c", 100 + second)
    assert throttle.retry_after("c", 103) == 57
    assert throttle.retry_after("other", 103) is None
    assert throttle.retry_after("c", 161) is None


def test_success_clears_the_failures() -> None:
    throttle = FailureThrottle(max_failures=2, window=60)
    throttle.failed("c", 0)
    throttle.succeeded("c")
    throttle.failed("c", 1)
    assert throttle.retry_after("c", 2) is None


def test_memory_is_bounded_by_the_number_of_clients_tracked() -> None:
    throttle = FailureThrottle(max_failures=1, window=60, max_clients=10)
    for index in range(100):
        throttle.failed(f"c{index}", 0)
    assert throttle.retry_after("c99", 1) is not None
    assert throttle.retry_after("c0", 1) is None


def test_secrets_are_entra_shaped_and_unique() -> None:
    secrets = {generate_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 40 and secret[3:6] == "8Q~"


def test_a_hash_verifies_only_its_secret() -> None:
    secret = generate_secret()
    stored = hash_secret(secret)
    assert verify_secret(secret, stored)
    assert not verify_secret(secret[:-1], stored)
    assert not verify_secret(secret, "garbage")
    assert hash_secret(secret) != stored
