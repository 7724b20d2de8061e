"""emit-metric's series in RequestMetrics and their Prometheus exposition."""

from __future__ import annotations

import logging
import re

import pytest

from tollhouse.gateway.telemetry._metrics import MAX_CUSTOM_SERIES, RequestMetrics
from tollhouse.gateway.telemetry._prometheus import render_custom

# One sample line of the text format: name, {labels}, value.
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def _unescape(value: str) -> str:
    # Text exposition format: label values escape backslash, double quote and line feed.
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), value)


def samples(lines: list[str]) -> dict[tuple[str, frozenset[tuple[str, str]]], str]:
    """Parse sample lines strictly: every character of the label block must be consumed."""
    parsed = {}
    for line in lines:
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match is not None, line
        name, block, value = match[1], match[2] or "", match[3]
        labels, position = [], 0
        while position < len(block):
            label = _LABEL.match(block, position)
            assert label is not None, f"bad labels at {position}: {block}"
            labels.append((label[1], _unescape(label[2])))
            position = label.end()
        parsed[(name, frozenset(labels))] = value
    return parsed


def test_each_series_exposes_its_sum_and_count() -> None:
    metrics = RequestMetrics()
    for value in (1.0, 2.5):
        metrics.emit_metric("my-metrics", "Request", [("API ID", "shop")], value)
    metrics.emit_metric("my-metrics", "Request", [("API ID", "other")], 1.0)
    lines = render_custom(metrics)
    assert "# TYPE tollhouse_policy_metric summary" in lines
    labels = frozenset(
        {("namespace", "my-metrics"), ("name", "Request"), ("dimension_API_ID", "shop")}
    )
    parsed = samples(lines)
    assert parsed[("tollhouse_policy_metric_sum", labels)] == "3.5"
    assert parsed[("tollhouse_policy_metric_count", labels)] == "2"
    assert parsed[("tollhouse_policy_metric_dropped_total", frozenset())] == "0"


def test_label_values_are_escaped_and_survive_a_strict_parse() -> None:
    metrics = RequestMetrics()
    tricky = 'a "quoted" \\ back\\slash\nnew line, comma} brace ü 🦊'
    metrics.emit_metric('ns "x"', "n\\m", [("Client ID", tricky), ("Client-ID", "2")], 1.0)
    parsed = samples(render_custom(metrics))
    labels = frozenset(
        {
            ("namespace", 'ns "x"'),
            ("name", "n\\m"),
            ("dimension_Client_ID", tricky),
            # Two dimensions whose label names collide stay two labels.
            ("dimension_Client_ID_2", "2"),
        }
    )
    assert parsed[("tollhouse_policy_metric_count", labels)] == "1"


def test_a_lone_surrogate_from_an_expression_cannot_break_the_exposition() -> None:
    metrics = RequestMetrics()
    metrics.emit_metric("ns", "m", [("d", "bad \ud800 value")], 1.0)
    text = "\n".join(render_custom(metrics))
    text.encode("utf-8")  # what the /metrics handler does; must not raise


def test_series_past_the_cap_are_dropped_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = RequestMetrics()
    for i in range(MAX_CUSTOM_SERIES):
        metrics.emit_metric("ns", "m", [("user", str(i))], 1.0)
    with caplog.at_level(logging.WARNING, logger="tollhouse.gateway.telemetry"):
        metrics.emit_metric("ns", "m", [("user", "new-1")], 1.0)
        metrics.emit_metric("ns", "m", [("user", "new-2")], 1.0)
        metrics.emit_metric("ns", "m", [("user", "0")], 1.0)  # an existing series still counts
    assert len(metrics.custom) == MAX_CUSTOM_SERIES
    assert metrics.custom_dropped == 2
    assert len([r for r in caplog.records if "emit-metric" in r.getMessage()]) == 1
    parsed = samples(render_custom(metrics))
    assert parsed[("tollhouse_policy_metric_dropped_total", frozenset())] == "2"
    existing = frozenset({("namespace", "ns"), ("name", "m"), ("dimension_user", "0")})
    assert parsed[("tollhouse_policy_metric_count", existing)] == "2"


def test_the_configured_series_cap_is_the_one_kept() -> None:
    metrics = RequestMetrics(max_custom_series=2)
    for user in ("a", "b", "c", "a"):
        metrics.emit_metric("ns", "m", [("user", user)], 1.0)
    assert [key[2] for key in metrics.custom] == [(("user", "a"),), (("user", "b"),)]
    assert metrics.custom_dropped == 1
    assert metrics.custom[("ns", "m", (("user", "a"),))].count == 2


def test_a_series_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_custom_series"):
        RequestMetrics(max_custom_series=0)
