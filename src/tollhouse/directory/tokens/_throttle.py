"""Throttling of failed client authentication, per client id (sans-I/O).

RFC 6749 §5.2 / security-and-faults.md case 24: repeated wrong secrets are slowed down.
A sliding window of failure times per client; memory is bounded by evicting the oldest
client tracked.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

# Ten failures a minute is far above any honest client's mistake rate.
DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_SECONDS = 60.0
# Bounds the memory an attacker spraying client ids can make us hold.
MAX_TRACKED_CLIENTS = 10_000


class FailureThrottle:
    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window: float = DEFAULT_WINDOW_SECONDS,
        max_clients: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds to wait when the client is throttled, else None."""
        times = self._recent(client, now)
        if times is None or len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, client: str, now: float) -> None:
        times = self._recent(client, now)
        if times is None:
            times = deque(maxlen=self.max_failures)
            self._failures[client] = times
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        self._failures.move_to_end(client)
        times.append(now)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
