"""Telemetry: request metrics aggregated by an instance since its last post."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tollhouse.contracts import _read as read
from tollhouse.contracts._errors import ContractError

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
MAX_POINTS = 10_000


@dataclass(frozen=True)
class MetricPoint:
    api: str
    operation: str
    status_class: str
    count: int
    duration_ms_sum: float
    duration_ms_max: float

    def to_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "operation": self.operation,
            "statusClass": self.status_class,
            "count": self.count,
            "durationMsSum": self.duration_ms_sum,
            "durationMsMax": self.duration_ms_max,
        }


@dataclass(frozen=True)
class Telemetry:
    instance_id: str
    period_start: str
    period_end: str
    metrics: tuple[MetricPoint, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "from": self.period_start,
            "to": self.period_end,
            "metrics": [m.to_json() for m in self.metrics],
        }


def parse_telemetry(document: Any) -> Telemetry:
    doc = read.obj(document, "$")
    values = read.items(doc.get("metrics", []), "$.metrics")
    if len(values) > MAX_POINTS:
        raise ContractError("$.metrics", f"at most {MAX_POINTS} points per post")
    points = []
    for index, value in enumerate(values):
        where = f"$.metrics[{index}]"
        item = read.obj(value, where)
        status = read.text(item, "statusClass", where)
        if status not in STATUS_CLASSES:
            raise ContractError(f"{where}.statusClass", f"must be one of {STATUS_CLASSES}")
        points.append(
            MetricPoint(
                api=read.text(item, "api", where),
                operation=read.text(item, "operation", where),
                status_class=status,
                count=read.integer(item, "count", where),
                duration_ms_sum=read.number(item, "durationMsSum", where),
                duration_ms_max=read.number(item, "durationMsMax", where),
            )
        )
    return Telemetry(
        instance_id=read.text(doc, "instanceId", "$"),
        period_start=read.text(doc, "from", "$"),
        period_end=read.text(doc, "to", "$"),
        metrics=tuple(points),
    )
