"""Diagnostics policies: trace, emit-metric (APIM "Integration and logging" references).

trace writes one structured record on the `tollhouse.gateway.trace` logger, where APIM writes
to its resource logs and Application Insights; emit-metric hands a value to the request's
`MetricSink` (the gateway's Prometheus metrics), where APIM sends it to Application Insights.
Neither does I/O here, and a trace never fails the request.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

from ._context import facts_of
from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import PolicyContext, PolicyResponse
from ._registry import CompileContext, Registry
from ._values import ValueSource, is_expression

trace_log = logging.getLogger("tollhouse.gateway.trace")

# APIM trace: "verbose, information, error (from lowest to highest)".
SEVERITIES = {"verbose": logging.DEBUG, "information": logging.INFO, "error": logging.ERROR}
# A trace message is one log line: longer ones are cut so that a policy cannot flood the log
# with a whole body per request.
MAX_TRACE_MESSAGE_CHARS = 8 * 1024
# Each metadata value is cut likewise; names are short by nature.
MAX_TRACE_METADATA_CHARS = 1024
TRUNCATED = "…[truncated]"

# APIM emit-metric: "You can configure at most 10 custom dimensions for this policy"
# (Azure Monitor's limit of dimension keys per metric).
MAX_METRIC_DIMENSIONS = 10
DEFAULT_METRIC_NAMESPACE = "API Management"
# APIM's default dimensions, whose value may be omitted. "User ID", "Location" and "Backend ID"
# have no counterpart this gateway knows, so they need an explicit value here.
_DEFAULT_DIMENSIONS = ("API ID", "Operation ID", "Product ID", "Subscription ID", "Gateway ID")
_UNAVAILABLE_DIMENSIONS = ("User ID", "Location", "Location ID", "Backend ID")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATED


@dataclass(frozen=True)
class _Trace:
    source: str
    level: int
    severity: str
    message: ValueSource
    metadata: tuple[tuple[ValueSource, ValueSource], ...]

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        if not trace_log.isEnabledFor(self.level):
            return None
        try:
            record = {
                "source": self.source,
                "severity": self.severity,
                "message": _cut(self.message.evaluate(ctx), MAX_TRACE_MESSAGE_CHARS),
                "metadata": {
                    _cut(name.evaluate(ctx), MAX_TRACE_METADATA_CHARS): _cut(
                        value.evaluate(ctx), MAX_TRACE_METADATA_CHARS
                    )
                    for name, value in self.metadata
                },
                "api": ctx.api,
                "operation": ctx.operation,
                "requestId": facts_of(ctx).request_id,
            }
        except Exception as exc:
            # A trace is diagnostics: its failure is logged, the request goes on.
            trace_log.warning(
                "trace from %s could not be written: %s", self.source, type(exc).__name__
            )
            return None
        # JSON text, so that the record reads the same in text and JSON logs and no value can
        # forge a second line; the fields are on the record too (`trace`) for handlers.
        trace_log.log(
            self.level, "%s", json.dumps(record, ensure_ascii=False), extra={"trace": record}
        )
        return None


def compile_trace(element: Element, cctx: CompileContext) -> _Trace:
    cctx.check_attributes(element, ("source", "severity"), required=("source",))
    cctx.check_children(element, ("message", "metadata"))
    source = element.attributes["source"]
    if is_expression(source):
        raise cctx.error(element, "<trace>: source cannot be an expression")
    severity = element.attributes.get("severity", "verbose")
    if severity not in SEVERITIES:
        raise cctx.error(element, f"<trace>: severity must be one of {', '.join(SEVERITIES)}")
    messages = element.children_named("message")
    if len(messages) != 1:
        raise cctx.error(element, "<trace> needs exactly one <message>")
    message = messages[0]
    cctx.check_attributes(message, ())
    cctx.check_children(message, ())
    metadata = []
    for child in element.children_named("metadata"):
        cctx.check_attributes(child, ("name", "value"), required=("name", "value"))
        cctx.check_children(child, ())
        metadata.append(
            (
                cctx.value(child, child.attributes["name"]),
                cctx.value(child, child.attributes["value"]),
            )
        )
    return _Trace(
        source,
        SEVERITIES[severity],
        severity,
        cctx.value(message, message.text),
        tuple(metadata),
    )


def _default_dimension(name: str, ctx: PolicyContext) -> str:
    facts = facts_of(ctx)
    if name == "API ID":
        return ctx.api
    if name == "Operation ID":
        return ctx.operation
    if name == "Product ID":
        return ctx.product or ""
    if name == "Subscription ID":
        return facts.subscription_id or ""
    return facts.gateway_id  # "Gateway ID"


@dataclass(frozen=True)
class _Dimension:
    name: ValueSource
    value: ValueSource | None
    # The default dimension whose value the context gives, when `value` is None.
    default: str | None


@dataclass(frozen=True)
class _EmitMetric:
    name: str
    namespace: str
    value: ValueSource
    dimensions: tuple[_Dimension, ...]

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        text = self.value.evaluate(ctx).strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            # APIM: the value is "expressed as a double"; anything else is the policy's error.
            raise PolicyRuntimeError(
                "emit-metric", "InvalidMetricValue", "the metric value is not a finite number"
            )
        if ctx.metrics is None:
            return None
        dimensions = []
        for dimension in self.dimensions:
            if dimension.value is not None:
                dimension_value = dimension.value.evaluate(ctx)
            else:
                assert dimension.default is not None  # checked at compile time
                dimension_value = _default_dimension(dimension.default, ctx)
            dimensions.append((dimension.name.evaluate(ctx), dimension_value))
        ctx.metrics.emit_metric(self.namespace, self.name, dimensions, value)
        return None


def compile_emit_metric(element: Element, cctx: CompileContext) -> _EmitMetric:
    cctx.check_attributes(element, ("name", "value", "namespace"), required=("name",))
    cctx.check_children(element, ("dimension",))
    name = element.attributes["name"]
    namespace = element.attributes.get("namespace", DEFAULT_METRIC_NAMESPACE)
    # APIM: name and namespace take no expressions.
    if is_expression(name) or is_expression(namespace):
        raise cctx.error(element, "<emit-metric>: name and namespace cannot be expressions")
    if not name.strip() or not namespace.strip():
        raise cctx.error(element, "<emit-metric>: name and namespace cannot be empty")
    value = element.attributes.get("value", "1")
    if not is_expression(value):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise cctx.error(element, f"<emit-metric>: value '{value}' is not a number")
    if not element.children:
        # APIM lists <dimension> as required.
        raise cctx.error(element, "<emit-metric> needs at least one <dimension>")
    if len(element.children) > MAX_METRIC_DIMENSIONS:
        raise cctx.error(
            element, f"<emit-metric>: at most {MAX_METRIC_DIMENSIONS} dimensions are allowed"
        )
    dimensions = []
    seen: set[str] = set()
    for child in element.children:
        cctx.check_attributes(child, ("name", "value"), required=("name",))
        cctx.check_children(child, ())
        dimension_name = child.attributes["name"]
        if not is_expression(dimension_name):
            if dimension_name.casefold() in seen:
                raise cctx.error(child, f"<emit-metric>: dimension '{dimension_name}' repeats")
            seen.add(dimension_name.casefold())
        dimension_value = child.attributes.get("value")
        default = None
        if dimension_value is None:
            default = next(
                (d for d in _DEFAULT_DIMENSIONS if d.casefold() == dimension_name.casefold()),
                None,
            )
            if default is None:
                unavailable = dimension_name.casefold() in (
                    d.casefold() for d in _UNAVAILABLE_DIMENSIONS
                )
                raise cctx.error(
                    child,
                    f"<emit-metric>: dimension '{dimension_name}' needs a value"
                    + (" (this gateway has no default for it)" if unavailable else ""),
                )
        dimensions.append(
            _Dimension(
                cctx.value(child, dimension_name),
                cctx.value(child, dimension_value) if dimension_value is not None else None,
                default,
            )
        )
    return _EmitMetric(name, namespace, cctx.value(element, value), tuple(dimensions))


def register(registry: Registry) -> None:
    # "Usage: Policy sections" of the APIM reference pages: every section.
    registry.register("trace", compile_trace)
    registry.register("emit-metric", compile_emit_metric)
