"""Prometheus text exposition of the gateway's metrics, on a port of its own
(`telemetry.metrics.port`): requests by API, operation and status class, connections,
configuration sync."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from tollhouse.gateway.http import Body, Handler, Request, Response, ServerStats
from tollhouse.gateway.sync import SyncAgent
from tollhouse.gateway.telemetry._metrics import CustomKey, RequestMetrics

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# Prometheus label names are [a-zA-Z_][a-zA-Z0-9_]*; a dimension ("API ID") becomes
# `dimension_API_ID`, the prefix keeping it apart from `namespace` and `name`.
_NOT_LABEL_CHAR = re.compile(r"[^A-Za-z0-9_]")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _custom_labels(key: CustomKey) -> str:
    namespace, name, dimensions = key
    labels = [f'namespace="{_label(namespace)}"', f'name="{_label(name)}"']
    used: set[str] = set()
    for dimension, value in dimensions:
        label = "dimension_" + _NOT_LABEL_CHAR.sub("_", dimension)
        candidate, n = label, 1
        while candidate in used:  # "A B" and "A_B" in one series stay two labels
            n += 1
            candidate = f"{label}_{n}"
        used.add(candidate)
        labels.append(f'{candidate}="{_label(value)}"')
    return ",".join(labels)


def render_custom(metrics: RequestMetrics) -> list[str]:
    """emit-metric's series: a summary (sum and count) per namespace, name and dimensions."""
    lines = [
        "# HELP tollhouse_policy_metric Values emitted by the emit-metric policy.",
        "# TYPE tollhouse_policy_metric summary",
    ]
    for key, series in sorted(metrics.custom.items()):
        labels = _custom_labels(key)
        lines.append(f"tollhouse_policy_metric_sum{{{labels}}} {_number(series.total)}")
        lines.append(f"tollhouse_policy_metric_count{{{labels}}} {series.count}")
    lines += [
        "# HELP tollhouse_policy_metric_dropped_total emit-metric values of series past the cap.",
        "# TYPE tollhouse_policy_metric_dropped_total counter",
        f"tollhouse_policy_metric_dropped_total {metrics.custom_dropped}",
    ]
    return lines


def render(metrics: RequestMetrics, stats: ServerStats, agent: SyncAgent) -> str:
    lines = [
        "# HELP tollhouse_requests_total Requests answered, by API, operation and status class.",
        "# TYPE tollhouse_requests_total counter",
    ]
    durations = [
        "# HELP tollhouse_request_duration_milliseconds_sum Time spent answering requests.",
        "# TYPE tollhouse_request_duration_milliseconds_sum counter",
    ]
    for (api, operation, status_class), series in sorted(metrics.totals.items()):
        labels = (
            f'api="{_label(api)}",operation="{_label(operation)}",status_class="{status_class}"'
        )
        lines.append(f"tollhouse_requests_total{{{labels}}} {series.count}")
        durations.append(
            f"tollhouse_request_duration_milliseconds_sum{{{labels}}} {series.duration_sum:.3f}"
        )
    sync = agent.status()
    revision = agent.applied_revision
    lines += [
        *durations,
        "# TYPE tollhouse_connections_open gauge",
        f"tollhouse_connections_open {stats.open_connections}",
        "# TYPE tollhouse_requests_in_flight gauge",
        f"tollhouse_requests_in_flight {stats.requests_in_flight}",
        "# TYPE tollhouse_connections_refused_total counter",
        f"tollhouse_connections_refused_total {stats.connections_refused}",
        "# TYPE tollhouse_config_ready gauge",
        f"tollhouse_config_ready {1 if agent.ready else 0}",
        "# TYPE tollhouse_config_applied_revision gauge",
        f"tollhouse_config_applied_revision {revision if revision is not None else -1}",
        "# TYPE tollhouse_config_applied_total counter",
        f"tollhouse_config_applied_total {sync.applied_total}",
        "# TYPE tollhouse_config_rejected_total counter",
        f"tollhouse_config_rejected_total {sync.rejected_total}",
        "# TYPE tollhouse_config_sync_errors_total counter",
        f"tollhouse_config_sync_errors_total {sync.sync_errors_total}",
        *render_custom(metrics),
    ]
    return "\n".join(lines) + "\n"


def metrics_handler(
    metrics: RequestMetrics, stats: Callable[[], ServerStats], agent: SyncAgent
) -> Handler:
    async def handle(request: Request) -> Response:
        if request.path != "/metrics":
            return Response(404, [(b"content-type", b"text/plain")], Body(data=b"not found\n"))
        text = render(metrics, stats(), agent).encode()
        return Response(200, [(b"content-type", CONTENT_TYPE)], Body(data=text))

    return handle
