"""The upstream names `tollhouse.gateway.http` exports, and the contract of its errors."""

from __future__ import annotations

import tollhouse.gateway.http as http

UPSTREAM_NAMES = [
    "HOP_BY_HOP",
    "EgressPolicy",
    "UpstreamConnectError",
    "UpstreamEgressDenied",
    "UpstreamError",
    "UpstreamLimits",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamRequestError",
    "UpstreamTimeout",
    "error_response",
    "prepare_forward_headers",
    "strip_hop_by_hop",
    "strip_response_hop_by_hop",
]


def test_the_upstream_names_are_exported() -> None:
    for name in UPSTREAM_NAMES:
        assert name in http.__all__
        assert getattr(http, name) is not None
    assert len(http.__all__) == len(set(http.__all__))


def test_every_upstream_error_is_an_upstream_error_with_the_status_it_becomes() -> None:
    statuses = {
        http.UpstreamConnectError: 502,
        http.UpstreamEgressDenied: 502,
        http.UpstreamTimeout: 504,
        http.UpstreamProtocolError: 502,
        http.UpstreamRequestError: 500,
    }
    for error, status in statuses.items():
        assert issubclass(error, http.UpstreamError)
        assert error("reason").status == status
        assert error("reason").reason == "reason"


def test_the_default_limits_are_the_documented_ones() -> None:
    limits = http.UpstreamLimits()
    assert limits.max_connections_per_origin == 100
    assert limits.max_idle_per_origin == 100
    assert limits.idle_timeout == 4.0
    assert limits.connect_timeout == 5.0
    assert limits.body_timeout == 60.0
    assert limits.max_response_head_size == 64 * 1024
    assert limits.max_response_headers == 100
