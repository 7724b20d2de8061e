"""Counters for the rate-limit, quota and limit-concurrency policies.

Policies speak only to a `CounterStore`; `MemoryCounterStore` keeps counters in this process
(APIM self-hosted default: "rate limit counts … are per-gateway, per-node",
apim-self-hosted-gateway.md §8). A neighbourhood (UDP) or Redis store implements the same
protocol. Every method takes the time as a parameter: nothing here reads a clock.
"""

from ._store import MAX_KEYS, SLIDING_BUCKETS, CounterStore, Hit, MemoryCounterStore

__all__ = ["MAX_KEYS", "SLIDING_BUCKETS", "CounterStore", "Hit", "MemoryCounterStore"]
