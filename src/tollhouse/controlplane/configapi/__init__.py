"""The configuration API gateways call (DESIGN §2): snapshot, change feed, heartbeats."""

from tollhouse.controlplane.configapi._routes import router

__all__ = ["router"]
