"""Small builders for gateway configurations in routing tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tollhouse.contracts import (
    ApiConfig,
    GatewayConfiguration,
    OperationConfig,
    ProductConfig,
    SubscriptionConfig,
    hash_key,
)


def op(
    name: str,
    method: str,
    template: str,
    parameters: Iterable[Mapping[str, Any]] = (),
) -> OperationConfig:
    return OperationConfig(
        name=name,
        display_name=name,
        method=method,
        url_template=template,
        template_parameters=tuple(parameters),
    )


def api(
    name: str,
    path: str,
    *operations: OperationConfig,
    protocols: tuple[str, ...] = ("http", "https"),
    subscription_required: bool = True,
    header: str = "Ocp-Apim-Subscription-Key",
    query: str = "subscription-key",
    version: str | None = None,
    revision: str = "1",
    current: bool = True,
) -> ApiConfig:
    return ApiConfig(
        name=name,
        display_name=name,
        path=path,
        protocols=protocols,
        service_url="http://backend.example",
        subscription_required=subscription_required,
        subscription_key_header=header,
        subscription_key_query=query,
        api_version=version,
        api_revision=revision,
        is_current=current,
        operations=operations or (op("any", "GET", "/*"),),
    )


def product(
    name: str, *apis: str, published: bool = True, subscription_required: bool = True
) -> ProductConfig:
    return ProductConfig(
        name=name,
        display_name=name,
        state="published" if published else "notPublished",
        subscription_required=subscription_required,
        apis=apis,
    )


def subscription(
    name: str,
    scope: str,
    scope_name: str | None = None,
    *,
    state: str = "active",
    primary: str | None = None,
    secondary: str | None = None,
) -> SubscriptionConfig:
    return SubscriptionConfig(
        name=name,
        display_name=name,
        scope_type=scope,
        scope_name=scope_name,
        state=state,
        primary_key_hash=hash_key(primary or f"{name}-primary"),
        secondary_key_hash=hash_key(secondary or f"{name}-secondary"),
    )


def config(
    *apis: ApiConfig,
    products: Iterable[ProductConfig] = (),
    subscriptions: Iterable[SubscriptionConfig] = (),
) -> GatewayConfiguration:
    return GatewayConfiguration(
        gateway="gw",
        revision=1,
        service_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc",
        apis=apis,
        products=tuple(products),
        subscriptions=tuple(subscriptions),
    )
