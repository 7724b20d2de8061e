"""Request metrics aggregated per API, operation and status class, drained into telemetry
posts to the control plane (DESIGN §2). One dict update per request; no locks (one loop)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tollhouse.contracts import MetricPoint, Telemetry

# emit-metric's series cap is one of the policy engine's limits (`telemetry.metrics.
# maxCustomSeries`); its default, with its reason, is there.
from tollhouse.gateway.policies._capacity import MAX_CUSTOM_SERIES as MAX_CUSTOM_SERIES

# Distinct (api, operation, class) series kept between posts; past it, new series are
# folded into one overflow series rather than growing memory.
MAX_SERIES = 10_000
OVERFLOW = "(other)"
# A dimension value is cut to this length: one series' labels stay bounded.
MAX_DIMENSION_VALUE_CHARS = 256

log = logging.getLogger("tollhouse.gateway.telemetry")

# (namespace, name, ((dimension, value), …)) of one emit-metric series.
CustomKey = tuple[str, str, tuple[tuple[str, str], ...]]


def _printable(text: str, limit: int) -> str:
    """Valid UTF-8 (a lone surrogate from an expression cannot be exposed), cut to `limit`."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


@dataclass
class CustomSeries:
    count: int = 0
    total: float = 0.0


@dataclass
class _Series:
    count: int = 0
    duration_sum: float = 0.0
    duration_max: float = 0.0


class RequestMetrics:
    """`max_custom_series`: emit-metric series kept; values of new ones past it are dropped."""

    def __init__(self, *, max_custom_series: int = MAX_CUSTOM_SERIES) -> None:
        if max_custom_series < 1:
            raise ValueError("max_custom_series must be at least 1")
        self.max_custom_series = max_custom_series
        self._series: dict[tuple[str, str, str], _Series] = {}
        # Never drained: what Prometheus scrapes (counters only go up).
        self.totals: dict[tuple[str, str, str], _Series] = {}
        self._since = dt.datetime.now(dt.UTC)
        self.requests_total = 0
        # emit-metric's series (never drained, like `totals`) and those dropped past the cap.
        self.custom: dict[CustomKey, CustomSeries] = {}
        self.custom_dropped = 0

    def record(self, api: str, operation: str, status: int, duration_ms: float) -> None:
        self.requests_total += 1
        key = (api, operation, f"{min(max(status // 100, 1), 5)}xx")
        for table in (self._series, self.totals):
            series = table.get(key)
            if series is None:
                overflow = (OVERFLOW, OVERFLOW, key[2])
                series = table.get(overflow) if len(table) >= MAX_SERIES else None
                if series is None:
                    series = table[overflow if len(table) >= MAX_SERIES else key] = _Series()
            series.count += 1
            series.duration_sum += duration_ms
            if duration_ms > series.duration_max:
                series.duration_max = duration_ms

    def emit_metric(
        self, namespace: str, name: str, dimensions: Sequence[tuple[str, str]], value: float
    ) -> None:
        """One emit-metric value: added to its series' sum and count (MetricSink)."""
        key = (
            _printable(namespace, MAX_DIMENSION_VALUE_CHARS),
            _printable(name, MAX_DIMENSION_VALUE_CHARS),
            tuple(
                (
                    _printable(d, MAX_DIMENSION_VALUE_CHARS),
                    _printable(v, MAX_DIMENSION_VALUE_CHARS),
                )
                for d, v in dimensions
            ),
        )
        series = self.custom.get(key)
        if series is None:
            if len(self.custom) >= self.max_custom_series:
                if not self.custom_dropped:
                    log.warning(
                        "emit-metric: more than %d series; values of new series are dropped",
                        self.max_custom_series,
                    )
                self.custom_dropped += 1
                return
            series = self.custom[key] = CustomSeries()
        series.count += 1
        series.total += value

    def drain(self, instance_id: str) -> Telemetry | None:
        """The metrics since the last drain, or None when there were no requests."""
        now = dt.datetime.now(dt.UTC)
        series, self._series = self._series, {}
        since, self._since = self._since, now
        if not series:
            return None
        return Telemetry(
            instance_id=instance_id,
            period_start=since.isoformat(timespec="seconds"),
            period_end=now.isoformat(timespec="seconds"),
            metrics=tuple(
                MetricPoint(api, operation, status, s.count, s.duration_sum, s.duration_max)
                for (api, operation, status), s in series.items()
            ),
        )
