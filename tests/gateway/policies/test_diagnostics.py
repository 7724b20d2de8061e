"""trace, emit-metric."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import pytest

from tollhouse.contracts import SubscriptionConfig
from tollhouse.gateway.policies import PolicyContext
from tollhouse.gateway.policies._context import RequestFacts
from tollhouse.gateway.policies._diagnostics import (
    MAX_METRIC_DIMENSIONS,
    MAX_TRACE_MESSAGE_CHARS,
    TRUNCATED,
)

from .support import context, doc, error, policies, run, with_expressions

TRACE_LOGGER = "tollhouse.gateway.trace"


class Sink:
    def __init__(self) -> None:
        self.values: list[tuple[str, str, list[tuple[str, str]], float]] = []

    def emit_metric(
        self, namespace: str, name: str, dimensions: Sequence[tuple[str, str]], value: float
    ) -> None:
        self.values.append((namespace, name, list(dimensions), value))


def request_context(sink: Sink | None = None) -> PolicyContext:
    ctx = context()
    ctx.api, ctx.operation, ctx.product = "shop", "get-item", "starter"
    ctx.facts = RequestFacts(
        "gw-1",
        request_id="req-42",
        subscription=SubscriptionConfig("sub-1", "Sub", "api", "shop", "active", "h1", "h2"),
    )
    ctx.metrics = sink
    return ctx


def traces(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == TRACE_LOGGER]


# --- trace -----------------------------------------------------------------------------------


async def test_trace_writes_one_structured_record_at_the_mapped_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    compiled = policies(
        operation_policy=doc(
            '<trace source="orders" severity="information"><message>hello "world"\nline</message>'
            '<metadata name="tenant" value="contoso" /></trace>'
        )
    )
    with caplog.at_level(logging.DEBUG, logger=TRACE_LOGGER):
        await run(compiled, request_context())
    [record] = traces(caplog)
    assert record.levelno == logging.INFO
    expected = {
        "source": "orders",
        "severity": "information",
        "message": 'hello "world"\nline',
        "metadata": {"tenant": "contoso"},
        "api": "shop",
        "operation": "get-item",
        "requestId": "req-42",
    }
    assert record.trace == expected  # type: ignore[attr-defined]
    # One line of JSON: a message cannot forge a second log line.
    assert "\n" not in record.getMessage()
    assert json.loads(record.getMessage()) == expected


@pytest.mark.parametrize(
    ("severity", "level"),
    [(None, logging.DEBUG), ("verbose", logging.DEBUG), ("error", logging.ERROR)],
)
async def test_trace_severity_maps_to_a_log_level(
    caplog: pytest.LogCaptureFixture, severity: str | None, level: int
) -> None:
    attribute = f' severity="{severity}"' if severity else ""
    compiled = policies(
        operation_policy=doc(f'<trace source="s"{attribute}><message>m</message></trace>')
    )
    with caplog.at_level(logging.DEBUG, logger=TRACE_LOGGER):
        await run(compiled, request_context())
    assert [r.levelno for r in traces(caplog)] == [level]


async def test_a_trace_below_the_log_level_writes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    compiled = policies(operation_policy=doc('<trace source="s"><message>m</message></trace>'))
    with caplog.at_level(logging.INFO, logger=TRACE_LOGGER):
        await run(compiled, request_context())
    assert traces(caplog) == []


async def test_a_long_trace_message_is_cut(caplog: pytest.LogCaptureFixture) -> None:
    compiled = with_expressions(
        "x" * (MAX_TRACE_MESSAGE_CHARS + 100),
        operation_policy=doc(
            '<trace source="s" severity="error"><message>@("long")</message></trace>'
        ),
    )
    with caplog.at_level(logging.DEBUG, logger=TRACE_LOGGER):
        await run(compiled, request_context())
    [record] = traces(caplog)
    message = record.trace["message"]  # type: ignore[attr-defined]
    assert message == "x" * MAX_TRACE_MESSAGE_CHARS + TRUNCATED


async def test_a_failing_trace_never_fails_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing:
        def evaluate(self, ctx: PolicyContext) -> str:
            raise RuntimeError("secret detail")

    from tollhouse.gateway.policies import CompiledPolicies, default_registry
    from tollhouse.gateway.policies._compose import Scope, ScopedElement
    from tollhouse.gateway.policies._document import parse_xml

    element = parse_xml('<trace source="s" severity="error"><message>@(boom)</message></trace>')
    steps = default_registry().compile_section(
        "inbound",
        [ScopedElement(Scope.OPERATION, element)],
        expressions=lambda text, line, column: Failing(),
    )
    with caplog.at_level(logging.DEBUG, logger=TRACE_LOGGER):
        _, ctx, _ = await run(CompiledPolicies(inbound=steps), request_context())
    assert ctx.last_error is None
    assert [r.levelno for r in traces(caplog)] == [logging.WARNING]
    assert "secret detail" not in caplog.text


def test_trace_compile_errors() -> None:
    def problem(xml: str) -> str:
        return str(error(operation_policy=doc(xml)))

    assert "'source' is required" in problem("<trace><message>m</message></trace>")
    assert "exactly one <message>" in problem('<trace source="s" />')
    assert "severity must be one of" in problem(
        '<trace source="s" severity="debug"><message>m</message></trace>'
    )
    assert "source cannot be an expression" in problem(
        '<trace source="@(1)"><message>m</message></trace>'
    )
    assert "cannot contain <value>" in problem(
        '<trace source="s"><message>m</message><value /></trace>'
    )


# --- emit-metric -----------------------------------------------------------------------------


async def test_emit_metric_sends_value_and_dimensions_to_the_sink() -> None:
    compiled = policies(
        operation_policy=doc(
            '<emit-metric name="Request" value="2.5" namespace="my-metrics">'
            '<dimension name="API ID" /><dimension name="Operation ID" />'
            '<dimension name="Product ID" /><dimension name="Subscription ID" />'
            '<dimension name="Gateway ID" /><dimension name="Client" value="web" />'
            "</emit-metric>"
        )
    )
    sink = Sink()
    await run(compiled, request_context(sink))
    assert sink.values == [
        (
            "my-metrics",
            "Request",
            [
                ("API ID", "shop"),
                ("Operation ID", "get-item"),
                ("Product ID", "starter"),
                ("Subscription ID", "sub-1"),
                ("Gateway ID", "gw-1"),
                ("Client", "web"),
            ],
            2.5,
        )
    ]


async def test_emit_metric_defaults_to_one_in_the_api_management_namespace() -> None:
    compiled = policies(
        operation_policy=doc('<emit-metric name="Hits"><dimension name="api id" /></emit-metric>')
    )
    sink = Sink()
    await run(compiled, request_context(sink))
    assert sink.values == [("API Management", "Hits", [("api id", "shop")], 1.0)]


async def test_emit_metric_value_from_an_expression_must_be_a_number() -> None:
    xml = '<emit-metric name="m" value="@(x)"><dimension name="d" value="v" /></emit-metric>'
    sink = Sink()
    await run(with_expressions("7", operation_policy=doc(xml)), request_context(sink))
    assert sink.values[0][3] == 7.0
    response, ctx, _ = await run(
        with_expressions("seven", operation_policy=doc(xml)), request_context(sink)
    )
    assert response.status == 500
    assert ctx.last_error is not None and ctx.last_error.reason == "InvalidMetricValue"
    assert len(sink.values) == 1


def test_emit_metric_compile_errors() -> None:
    def problem(inner: str, attributes: str = 'name="m"') -> str:
        return str(error(operation_policy=doc(f"<emit-metric {attributes}>{inner}</emit-metric>")))

    dimension = '<dimension name="d" value="v" />'
    assert "'name' is required" in problem(dimension, 'value="1"')
    assert "at least one <dimension>" in problem("")
    too_many = "".join(
        f'<dimension name="d{i}" value="v" />' for i in range(MAX_METRIC_DIMENSIONS + 1)
    )
    assert f"at most {MAX_METRIC_DIMENSIONS} dimensions" in problem(too_many)
    assert "cannot be expressions" in problem(dimension, 'name="@(1)"')
    assert "is not a number" in problem(dimension, 'name="m" value="many"')
    assert "'Client' needs a value" in problem('<dimension name="Client" />')
    assert "no default for it" in problem('<dimension name="User ID" />')
    assert "repeats" in problem(dimension + dimension)


async def test_emit_metric_without_a_sink_does_nothing() -> None:
    compiled = policies(
        operation_policy=doc('<emit-metric name="m"><dimension name="API ID" /></emit-metric>')
    )
    response, ctx, _ = await run(compiled, request_context(None))
    assert ctx.last_error is None
    assert response.status == 200
