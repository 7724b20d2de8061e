"""Telemetry from the gateway to the control plane: heartbeats (this package so far)."""

from tollhouse.gateway.telemetry._heartbeat import (
    MIN_HEARTBEAT_SECONDS,
    HeartbeatSender,
    Instance,
    build_heartbeat,
)

__all__ = ["MIN_HEARTBEAT_SECONDS", "HeartbeatSender", "Instance", "build_heartbeat"]
