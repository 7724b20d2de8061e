"""Routing and subscription keys for the gateway: which API and operation a request is for
(`RouteTable`), and whether its caller may make it (`SubscriptionIndex`).

Both are compiled once per configuration — a configuration that does not compile raises
`RoutingError` and is refused whole — and then answer requests without I/O and without
raising: `RouteTable.match` gives a `RouteMatch` or a `NoMatch` (404 in APIM's shape),
`SubscriptionIndex.check` a `SubscriptionDecision` (401 in APIM's words when refused, and
always the key header and query parameter to remove before forwarding). The rules are written
at the top of `_table.py` and `_subscriptions.py`.
"""

from tollhouse.gateway.routing._errors import RoutingError
from tollhouse.gateway.routing._query import (
    query_value,
    query_values,
    remove_query_parameter,
)
from tollhouse.gateway.routing._subscriptions import (
    ACCESS_DENIED_STATUS,
    INVALID_KEY_MESSAGE,
    INVALID_KEY_REASON,
    MISSING_KEY_MESSAGE,
    MISSING_KEY_REASON,
    SubscriptionDecision,
    SubscriptionIndex,
)
from tollhouse.gateway.routing._table import (
    NOT_FOUND_MESSAGE,
    NOT_FOUND_STATUS,
    OPERATION_NOT_FOUND_MESSAGE,
    OPERATION_NOT_FOUND_REASON,
    NoMatch,
    NoMatchReason,
    RouteMatch,
    RouteTable,
)
from tollhouse.gateway.routing._template import MAX_TEMPLATE_PARAMETERS

__all__ = [
    "ACCESS_DENIED_STATUS",
    "INVALID_KEY_MESSAGE",
    "INVALID_KEY_REASON",
    "MAX_TEMPLATE_PARAMETERS",
    "MISSING_KEY_MESSAGE",
    "MISSING_KEY_REASON",
    "NOT_FOUND_MESSAGE",
    "NOT_FOUND_STATUS",
    "OPERATION_NOT_FOUND_MESSAGE",
    "OPERATION_NOT_FOUND_REASON",
    "NoMatch",
    "NoMatchReason",
    "RouteMatch",
    "RouteTable",
    "RoutingError",
    "SubscriptionDecision",
    "SubscriptionIndex",
    "query_value",
    "query_values",
    "remove_query_parameter",
]
