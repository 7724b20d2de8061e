"""The in-memory counter store."""

from __future__ import annotations

import math

from tollhouse.gateway.limits import MemoryCounterStore


async def test_a_sliding_window_forgets_calls_as_they_leave_it() -> None:
    store = MemoryCounterStore()
    assert (await store.hit("k", 10, 2, 1, now=0.5)).allowed
    assert (await store.hit("k", 10, 2, 1, now=5.5)).remaining == 0
    refused = await store.hit("k", 10, 2, 1, now=9.0)
    assert not refused.allowed
    # The first call (stamped at the end of its 1/60 bucket) leaves the window first.
    assert refused.retry_after > 1.0
    assert refused.retry_after <= 2.0
    assert (await store.hit("k", 10, 2, 1, now=11.0)).allowed
    assert not (await store.hit("k", 10, 2, 1, now=12.0)).allowed


async def test_refused_and_zero_increments_are_not_counted() -> None:
    store = MemoryCounterStore()
    await store.hit("k", 10, 1, 1, now=0)
    for second in range(1, 10):
        await store.hit("k", 10, 1, 1, now=second)
    assert (await store.hit("k", 10, 1, 1, now=10.5)).allowed
    assert (await store.hit("z", 10, 1, 0, now=0)).remaining == 1


async def test_a_fixed_window_resets_at_its_end() -> None:
    store = MemoryCounterStore()
    assert (await store.hit_fixed("q", 100, 1, 1, now=150)).allowed
    refused = await store.hit_fixed("q", 100, 1, 1, now=170)
    assert (refused.allowed, refused.retry_after) == (False, 30)
    assert (await store.hit_fixed("q", 100, 1, 1, now=200)).allowed


async def test_a_fixed_window_of_zero_never_renews() -> None:
    store = MemoryCounterStore()
    await store.hit_fixed("q", 0, 1, 1, now=0)
    assert math.isinf((await store.hit_fixed("q", 0, 1, 1, now=1e9)).retry_after)


async def test_concurrency_slots_are_released() -> None:
    store = MemoryCounterStore()
    assert await store.acquire("c", 1)
    assert not await store.acquire("c", 1)
    await store.release("c")
    assert await store.acquire("c", 1)
    await store.release("c")
    assert len(store) == 0


async def test_memory_is_bounded_by_forgetting_the_least_recently_used_key() -> None:
    store = MemoryCounterStore(max_keys=3)
    for i in range(10):
        await store.hit(f"k{i}", 10, 1, 1, now=0)
        await store.hit_fixed(f"q{i}", 10, 1, 1, now=0)
    assert len(store) == 6
    assert (await store.hit("k9", 10, 1, 1, now=1)).allowed is False
    assert (await store.hit("k0", 10, 1, 1, now=1)).allowed  # forgotten
