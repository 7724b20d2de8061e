"""Resources → one gateway's configuration (pure)."""

from tollhouse.controlplane.snapshot._build import (
    ResourceView,
    build_configuration,
    response_examples,
    subscription_scope,
)

__all__ = ["ResourceView", "build_configuration", "response_examples", "subscription_scope"]
