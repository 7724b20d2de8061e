"""Resources → one gateway's configuration (pure)."""

from tollhouse.controlplane.snapshot._build import (
    ResourceView,
    build_configuration,
    subscription_scope,
)

__all__ = ["ResourceView", "build_configuration", "subscription_scope"]
