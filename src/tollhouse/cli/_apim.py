"""`tollhouse apim`: the resources of an API Management service, as `az apim` manages them.

Each resource kind has its module; `_management` holds what they share (the client, the
options naming the service, the az-style rendering).
"""

from __future__ import annotations

from tollhouse.cli import (
    _apim_apis,
    _apim_fragments,
    _apim_gateways,
    _apim_named_values,
    _apim_policies,
    _apim_products,
    _apim_subscriptions,
)
from tollhouse.cli._command import Subparsers, add_group


def register(subparsers: Subparsers) -> None:
    apim = add_group(
        subparsers,
        "apim",
        "Manage the resources of an API Management service on a Tollhouse control plane.",
    )
    for module in (
        _apim_gateways,
        _apim_apis,
        _apim_products,
        _apim_subscriptions,
        _apim_named_values,
        _apim_policies,
        _apim_fragments,
    ):
        module.register(apim)
