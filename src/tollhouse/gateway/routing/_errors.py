"""The exception of tollhouse.gateway.routing.

    RoutingError (ValueError)   a configuration that cannot be compiled

Matching a request never raises: it answers `RouteMatch` or `NoMatch`, and a subscription
check answers a `SubscriptionDecision`. Only compiling does, and then the whole configuration
is refused (the gateway keeps its last good one and reports the message).
"""

from __future__ import annotations


class RoutingError(ValueError):
    """A configuration the gateway cannot route; names the API and operation at fault."""

    def __init__(self, reason: str, *, api: str | None = None, operation: str | None = None):
        where = []
        if api is not None:
            where.append(f"API '{api}'")
        if operation is not None:
            where.append(f"operation '{operation}'")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)
        self.api = api
        self.operation = operation
        self.reason = reason
