"""The management API: ARM-shaped paths under the service's resource id (DESIGN §4)."""

from tollhouse.controlplane.management._routes import router

__all__ = ["router"]
