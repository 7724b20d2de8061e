"""Retry delays (security-and-faults.md case 30): exponential, capped, jittered, and never
shorter than a server's Retry-After (itself capped)."""

from __future__ import annotations

import pytest

from tollhouse.gateway.sync import Backoff
from tollhouse.gateway.sync._backoff import MAX_RETRY_AFTER_SECONDS


def test_delays_double_until_the_cap() -> None:
    backoff = Backoff(initial=1, maximum=30)
    highest = [backoff.delay(attempt, 0.999999) for attempt in range(8)]
    assert highest == pytest.approx([1, 2, 4, 8, 16, 30, 30, 30], rel=1e-5)


def test_jitter_spreads_each_delay_over_its_upper_half() -> None:
    backoff = Backoff(initial=1, maximum=30)
    assert backoff.delay(3, 0.0) == 4
    assert backoff.delay(3, 0.5) == 6
    assert len({backoff.delay(3, d / 10) for d in range(10)}) == 10


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert Backoff(initial=1, maximum=30).delay(10_000, 0.0) == 15


def test_retry_after_is_honoured_and_capped() -> None:
    backoff = Backoff(initial=1, maximum=30)
    assert backoff.delay(0, 0.0, retry_after=20) == 20
    assert backoff.delay(5, 0.0, retry_after=1) == 15
    assert backoff.delay(0, 0.0, retry_after=86_400) == MAX_RETRY_AFTER_SECONDS
