"""The counter protocol and its in-memory implementation.

Sliding windows (rate limits) keep, per key, counts in at most `SLIDING_BUCKETS` buckets per
window; a call is stamped with the end of its bucket, so it is remembered slightly longer than
the window, never shorter (a limit is never exceeded because of the rounding). Fixed windows
(quotas) keep one count per key and window index. Refused hits are not counted.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

# Keys kept per kind of counter; the least recently used is forgotten beyond it, which at
# worst lets that client start a fresh window. 100k keys × SLIDING_BUCKETS small tuples stays
# in the tens of megabytes. Setting: `MemoryCounterStore(max_keys=…)`.
MAX_KEYS = 100_000
# Resolution of a sliding window: 1/60 of it (1 s for APIM's 60 s examples), bounding a
# key's memory whatever its call limit. Setting: `MemoryCounterStore(buckets=…)`.
SLIDING_BUCKETS = 60


class Hit(NamedTuple):
    allowed: bool
    remaining: int  # calls left in the window after this one
    retry_after: float  # seconds until the refused hit would be allowed; 0 when allowed


class CounterStore(Protocol):
    async def hit(
        self, key: str, window_seconds: float, limit: int, increment: int, now: float
    ) -> Hit:
        """Count `increment` calls at `now` in a sliding window unless that exceeds `limit`."""
        ...

    async def hit_fixed(
        self,
        key: str,
        window_seconds: float,
        limit: int,
        increment: int,
        now: float,
        origin: float = 0.0,
    ) -> Hit:
        """The same in fixed windows `[origin + k·window, origin + (k+1)·window)`; a window of
        0 never renews (retry_after is then `math.inf`)."""
        ...

    async def acquire(self, key: str, limit: int) -> bool:
        """Take one of `limit` concurrent slots; False when all are taken."""
        ...

    async def release(self, key: str) -> None: ...


@dataclass
class _Fixed:
    index: int
    used: int


class MemoryCounterStore:
    """Counters in this process. Single event loop: no method awaits, so each is atomic."""

    def __init__(self, *, max_keys: int = MAX_KEYS, buckets: int = SLIDING_BUCKETS) -> None:
        self.max_keys = max_keys
        self.buckets = buckets
        self._sliding: OrderedDict[str, deque[tuple[float, int]]] = OrderedDict()
        self._fixed: OrderedDict[str, _Fixed] = OrderedDict()
        # Only keys with a slot taken; emptied on release, so bounded by requests in flight.
        self._concurrent: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._sliding) + len(self._fixed) + len(self._concurrent)

    def _bound(self, table: OrderedDict[str, Any]) -> None:
        while len(table) > self.max_keys:
            table.popitem(last=False)

    async def hit(
        self, key: str, window_seconds: float, limit: int, increment: int, now: float
    ) -> Hit:
        entries = self._sliding.get(key)
        if entries is None:
            entries = deque()
            self._sliding[key] = entries
            self._bound(self._sliding)
        else:
            self._sliding.move_to_end(key)
        while entries and entries[0][0] + window_seconds <= now:
            entries.popleft()
        used = sum(count for _, count in entries)
        if used + increment <= limit:
            if increment > 0:
                width = window_seconds / self.buckets
                stamp = (math.floor(now / width) + 1) * width if width > 0 else now
                if entries and entries[-1][0] == stamp:
                    entries[-1] = (stamp, entries[-1][1] + increment)
                else:
                    entries.append((stamp, increment))
            return Hit(True, limit - used - increment, 0.0)
        if increment > limit:
            return Hit(False, max(limit - used, 0), window_seconds)
        # The oldest calls must leave the window until `increment` more fit.
        needed = used + increment - limit
        for stamp, count in entries:
            needed -= count
            if needed <= 0:
                return Hit(False, max(limit - used, 0), max(stamp + window_seconds - now, 0.0))
        return Hit(False, 0, window_seconds)  # unreachable: the entries sum to `used`

    async def hit_fixed(
        self,
        key: str,
        window_seconds: float,
        limit: int,
        increment: int,
        now: float,
        origin: float = 0.0,
    ) -> Hit:
        index = math.floor((now - origin) / window_seconds) if window_seconds > 0 else 0
        counter = self._fixed.get(key)
        if counter is None or counter.index != index:
            counter = _Fixed(index, 0)
            self._fixed[key] = counter
            self._bound(self._fixed)
        self._fixed.move_to_end(key)
        if counter.used + increment <= limit:
            counter.used += increment
            return Hit(True, limit - counter.used, 0.0)
        if window_seconds > 0:
            retry_after = origin + (index + 1) * window_seconds - now
        else:
            retry_after = math.inf
        return Hit(False, max(limit - counter.used, 0), retry_after)

    async def acquire(self, key: str, limit: int) -> bool:
        taken = self._concurrent.get(key, 0)
        if taken >= limit:
            return False
        self._concurrent[key] = taken + 1
        return True

    async def release(self, key: str) -> None:
        taken = self._concurrent.get(key, 0) - 1
        if taken > 0:
            self._concurrent[key] = taken
        else:
            self._concurrent.pop(key, None)
