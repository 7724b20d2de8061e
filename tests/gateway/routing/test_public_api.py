"""The routing package exports exactly its public API, and imports no other component."""

from __future__ import annotations

import ast
from pathlib import Path

import tollhouse.gateway.routing as routing


def test_the_public_api_is_what_it_should_be() -> None:
    assert sorted(routing.__all__) == sorted(
        [
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
    )
    for name in routing.__all__:
        assert getattr(routing, name) is not None


def test_routing_imports_only_the_contracts_and_itself() -> None:
    package = Path(routing.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tollhouse"):
                module = node.module or ""
                assert module == "tollhouse.contracts" or module.startswith(
                    "tollhouse.gateway.routing"
                ), (source.name, module)
