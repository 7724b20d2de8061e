"""Products, their API links, and subscriptions with their keys."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tollhouse.controlplane.model import (
    ModelError,
    Resource,
    ResourcePath,
    list_secrets,
    merge_patch,
    normalize_resource,
    parse_resource_path,
    regenerate_subscription_key,
    stamp_created_date,
    subscription_scope,
    to_arm,
)

SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"


def put(path: str, properties: dict[str, Any], existing: Resource | None = None) -> Resource:
    return normalize_resource(parse_resource_path(path), properties, existing)


def refused(path: str, properties: dict[str, Any]) -> ModelError:
    with pytest.raises(ModelError) as raised:
        put(path, properties)
    return raised.value


def test_a_product_gets_apims_defaults() -> None:
    product = put("products/starter", {"displayName": "Starter"})
    assert product.properties == {
        "displayName": "Starter",
        "state": "notPublished",
        "subscriptionRequired": True,
        "approvalRequired": False,
    }


def test_a_product_keeps_what_it_is_given() -> None:
    product = put(
        "products/starter",
        {
            "displayName": "Starter",
            "state": "Published",
            "approvalRequired": True,
            "subscriptionsLimit": 1,
            "terms": "Be nice",
            "description": "For starters",
        },
    )
    assert product.properties["state"] == "published"
    assert product.properties["subscriptionsLimit"] == 1
    assert product.properties["terms"] == "Be nice"


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({}, "properties.displayName"),
        ({"displayName": "x" * 301}, "properties.displayName"),
        ({"displayName": "S", "state": "live"}, "properties.state"),
        ({"displayName": "S", "subscriptionsLimit": -1}, "properties.subscriptionsLimit"),
        ({"displayName": "S", "subscriptionsLimit": True}, "properties.subscriptionsLimit"),
        ({"displayName": "S", "subscriptionsLimit": "1"}, "properties.subscriptionsLimit"),
        (
            {"displayName": "S", "subscriptionRequired": False, "approvalRequired": True},
            "properties.approvalRequired",
        ),
        (
            {"displayName": "S", "subscriptionRequired": False, "subscriptionsLimit": 2},
            "properties.subscriptionsLimit",
        ),
    ],
)
def test_invalid_products_are_refused_naming_the_property(
    properties: dict[str, Any], target: str
) -> None:
    error = refused("products/starter", properties)
    assert (error.code, error.target) == ("ValidationError", target)


def test_a_product_api_link_has_no_properties_of_its_own() -> None:
    link = put("products/starter/apis/echo", {"anything": 1})
    assert link.properties == {}
    assert link.path.parent == ResourcePath("products", ("starter",))


# Subscriptions


def test_a_subscription_gets_generated_keys_kept_apart_from_its_properties() -> None:
    subscription = put("subscriptions/s1", {"scope": "/apis", "displayName": "All"})
    assert subscription.properties == {
        "scope": "/apis",
        "displayName": "All",
        "state": "submitted",
        "allowTracing": False,
    }
    primary, secondary = subscription.secrets["primaryKey"], subscription.secrets["secondaryKey"]
    assert re.fullmatch(r"[0-9a-f]{32}", primary)
    assert re.fullmatch(r"[0-9a-f]{32}", secondary)
    assert primary != secondary


def test_given_keys_are_kept_and_never_public() -> None:
    subscription = put(
        "subscriptions/s1",
        {
            "scope": "/apis/echo",
            "displayName": "Echo",
            "state": "active",
            "primaryKey": "p-key",
            "secondaryKey": "s-key",
            "allowTracing": True,
        },
    )
    assert subscription.secrets == {"primaryKey": "p-key", "secondaryKey": "s-key"}
    assert "primaryKey" not in subscription.properties
    rendered = repr(to_arm(subscription, SERVICE))
    assert "p-key" not in rendered and "s-key" not in rendered
    assert list_secrets(subscription) == {"primaryKey": "p-key", "secondaryKey": "s-key"}


def test_an_update_without_keys_keeps_the_current_keys() -> None:
    first = put("subscriptions/s1", {"scope": "/apis", "displayName": "All"})
    second = put(
        "subscriptions/s1", {"scope": "/apis", "displayName": "All", "state": "suspended"}, first
    )
    assert second.secrets == first.secrets
    third = put(
        "subscriptions/s1", {"scope": "/apis", "displayName": "All", "primaryKey": "new"}, first
    )
    assert third.secrets == {"primaryKey": "new", "secondaryKey": first.secrets["secondaryKey"]}


def test_regenerating_one_key_keeps_the_other() -> None:
    first = put("subscriptions/s1", {"scope": "/apis", "displayName": "All"})
    second = regenerate_subscription_key(first, "secondaryKey")
    assert second.secrets["primaryKey"] == first.secrets["primaryKey"]
    assert second.secrets["secondaryKey"] != first.secrets["secondaryKey"]
    with pytest.raises(ModelError):
        regenerate_subscription_key(first, "tertiaryKey")


@pytest.mark.parametrize(
    ("scope", "stored", "target"),
    [
        ("/apis", "/apis", None),
        ("/apis/", "/apis", None),
        ("/APIS/Echo", "/apis/Echo", ResourcePath("apis", ("echo",))),
        ("/products/starter", "/products/starter", ResourcePath("products", ("starter",))),
        (f"{SERVICE}/apis", "/apis", None),
        (f"{SERVICE}/apis/echo", "/apis/echo", ResourcePath("apis", ("echo",))),
        (
            SERVICE.replace("Microsoft.ApiManagement", "microsoft.apimanagement")
            + "/products/gold",
            "/products/gold",
            ResourcePath("products", ("gold",)),
        ),
    ],
)
def test_scopes_are_stored_service_relative(
    scope: str, stored: str, target: ResourcePath | None
) -> None:
    subscription = put("subscriptions/s1", {"scope": scope, "displayName": "S"})
    assert subscription.properties["scope"] == stored
    assert subscription_scope(subscription.properties) == target
    assert to_arm(subscription, SERVICE)["properties"]["scope"] == SERVICE + stored


@pytest.mark.parametrize(
    "scope",
    [
        "apis",
        "/products",
        "/apis/echo/operations/get",
        "/backends/b",
        "/users/1",
        "/",
        f"{SERVICE}",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/x/apis/echo",
        "/apis/ec ho",
    ],
)
def test_other_scopes_are_refused(scope: str) -> None:
    error = refused("subscriptions/s1", {"scope": scope, "displayName": "S"})
    assert error.target == "properties.scope"


@pytest.mark.parametrize(
    ("properties", "target"),
    [
        ({"displayName": "S"}, "properties.scope"),
        ({"scope": "/apis"}, "properties.displayName"),
        ({"scope": "/apis", "displayName": "S", "state": "on"}, "properties.state"),
        ({"scope": "/apis", "displayName": "S", "primaryKey": ""}, "properties.primaryKey"),
        ({"scope": "/apis", "displayName": "S", "primaryKey": "a b"}, "properties.primaryKey"),
        (
            {"scope": "/apis", "displayName": "S", "secondaryKey": "k" * 257},
            "properties.secondaryKey",
        ),
    ],
)
def test_invalid_subscriptions_are_refused_naming_the_property(
    properties: dict[str, Any], target: str
) -> None:
    assert refused("subscriptions/s1", properties).target == target


@pytest.mark.parametrize(
    "state", ["active", "suspended", "submitted", "rejected", "cancelled", "expired"]
)
def test_every_apim_subscription_state_is_accepted(state: str) -> None:
    subscription = put("subscriptions/s1", {"scope": "/apis", "displayName": "S", "state": state})
    assert subscription.properties["state"] == state


# Subscription dates (Azure REST SubscriptionContractProperties)

CREATED = dt.datetime(2026, 3, 1, 12, 30, 5, tzinfo=dt.UTC)


def test_settable_dates_are_stored_in_arms_utc_rendering() -> None:
    subscription = put(
        "subscriptions/s1",
        {
            "scope": "/apis",
            "displayName": "S",
            "startDate": "2026-01-31T08:00:00+02:00",
            "expirationDate": "2027-01-01T00:00:00Z",
            "endDate": "2027-01-02",
            "notificationDate": "2026-12-01T09:15:00.750Z",
        },
    )
    assert subscription.properties["startDate"] == "2026-01-31T06:00:00Z"
    assert subscription.properties["expirationDate"] == "2027-01-01T00:00:00Z"
    assert subscription.properties["endDate"] == "2027-01-02T00:00:00Z"
    assert subscription.properties["notificationDate"] == "2026-12-01T09:15:00Z"
    properties = to_arm(subscription, SERVICE)["properties"]
    assert normalize_resource(subscription.path, properties, subscription) == subscription


def test_a_subscription_without_dates_has_none() -> None:
    subscription = put("subscriptions/s1", {"scope": "/apis", "displayName": "S"})
    assert not {"createdDate", "startDate", "expirationDate"} & set(subscription.properties)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("startDate", "yesterday"),
        ("startDate", "2026-13-01T00:00:00Z"),
        ("expirationDate", "2026-02-30"),
        ("expirationDate", 20260101),
        ("endDate", True),
        ("notificationDate", "2026-01-01T00:00:00Z" + " " * 64),
        ("startDate", "0001-01-01T00:00:00+01:00"),
    ],
)
def test_a_bad_date_is_refused_naming_the_property(name: str, value: object) -> None:
    error = refused("subscriptions/s1", {"scope": "/apis", "displayName": "S", name: value})
    assert error.code == "ValidationError"
    assert error.target == f"properties.{name}"


def test_created_date_is_stamped_once_and_kept_by_later_writes() -> None:
    first = stamp_created_date(
        put("subscriptions/s1", {"scope": "/apis", "displayName": "S"}), CREATED
    )
    assert first.properties["createdDate"] == "2026-03-01T12:30:05Z"
    later = CREATED + dt.timedelta(days=30)
    replaced = put(
        "subscriptions/s1", {"scope": "/apis", "displayName": "S", "state": "active"}, first
    )
    assert stamp_created_date(replaced, later).properties["createdDate"] == "2026-03-01T12:30:05Z"
    patched = put("subscriptions/s1", merge_patch(first, {"createdDate": None}), first)
    assert patched.properties["createdDate"] == "2026-03-01T12:30:05Z"


def test_a_callers_created_date_is_ignored_as_arm_ignores_read_only_properties() -> None:
    body = {"scope": "/apis", "displayName": "S", "createdDate": "2001-01-01T00:00:00Z"}
    assert "createdDate" not in put("subscriptions/s1", body).properties
    stamped = stamp_created_date(put("subscriptions/s1", body), CREATED)
    assert stamped.properties["createdDate"] == "2026-03-01T12:30:05Z"
    kept = put("subscriptions/s1", body, stamped)
    assert kept.properties["createdDate"] == "2026-03-01T12:30:05Z"


def test_only_subscriptions_are_stamped() -> None:
    product = put("products/p", {"displayName": "P"})
    assert stamp_created_date(product, CREATED) == product
