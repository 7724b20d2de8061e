"""Retry delays: exponential backoff with jitter, honouring Retry-After (security-and-faults.md
case 30). Pure arithmetic: the caller supplies the attempt number and the random draw."""

from __future__ import annotations

from dataclasses import dataclass

# The first retry comes soon: the usual cause is a control plane restarting.
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MULTIPLIER = 2.0
# The longest pause; `config.service.retry.maxDelay`. APIM checks for changes every 10 s (§3),
# so a gateway back online is never much further behind than that.
BACKOFF_MAX_SECONDS = 30.0
# A server's Retry-After is obeyed up to this; beyond it a broken header would park the
# gateway.
MAX_RETRY_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class Backoff:
    initial: float = BACKOFF_INITIAL_SECONDS
    maximum: float = BACKOFF_MAX_SECONDS
    multiplier: float = BACKOFF_MULTIPLIER

    def delay(self, attempt: int, draw: float, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first), `draw` uniform in
        [0, 1). "Equal jitter": half the exponential step, plus up to the other half at
        random, so that gateways restarted together do not retry together."""
        step = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        wait = step / 2 + draw * step / 2
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return wait
