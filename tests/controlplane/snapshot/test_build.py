"""Building a gateway's configuration: only what that gateway serves, keys as hashes only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tollhouse.contracts import hash_key, parse_configuration
from tollhouse.controlplane.snapshot import build_configuration

SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"
POLICY = (
    '<policies><inbound><base /><set-header name="x"><value>{{Greeting}}</value>'
    "</set-header></inbound></policies>"
)


@dataclass(frozen=True)
class R:
    path: str
    kind: str
    properties: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)


def service() -> list[R]:
    return [
        R("gateways/gw", "gateways", {"locationData": {"name": "here"}}, {"primary": "p"}),
        R("gateways/other", "gateways", {"locationData": {"name": "there"}}),
        R("gateways/gw/apis/echo", "gateways/apis"),
        R("gateways/other/apis/hidden", "gateways/apis"),
        R(
            "apis/echo",
            "apis",
            {"path": "echo", "serviceUrl": "http://backend", "protocols": ["https"]},
        ),
        R(
            "apis/echo/operations/get",
            "apis/operations",
            {"method": "GET", "urlTemplate": "/items/{id}"},
        ),
        R("apis/echo/policies/policy", "apis/policies", {"value": POLICY}),
        R("apis/hidden", "apis", {"path": "hidden"}),
        R("apis/hidden/operations/get", "apis/operations", {"method": "GET", "urlTemplate": "/"}),
        R("products/starter", "products", {"displayName": "Starter", "state": "published"}),
        R("products/starter/apis/echo", "products/apis"),
        R("products/unrelated", "products", {"displayName": "U", "state": "published"}),
        R("products/unrelated/apis/hidden", "products/apis"),
        R(
            "subscriptions/all",
            "subscriptions",
            {"scope": "/apis"},
            {"primaryKey": "k1", "secondaryKey": "k2"},
        ),
        R(
            "subscriptions/to-echo",
            "subscriptions",
            {"scope": f"{SERVICE}/apis/echo"},
            {"primaryKey": "k3", "secondaryKey": "k4"},
        ),
        R(
            "subscriptions/to-hidden",
            "subscriptions",
            {"scope": "/apis/hidden"},
            {"primaryKey": "k5", "secondaryKey": "k6"},
        ),
        R(
            "subscriptions/starter",
            "subscriptions",
            {"scope": "/products/starter"},
            {"primaryKey": "k7", "secondaryKey": "k8"},
        ),
        R(
            "subscriptions/unrelated",
            "subscriptions",
            {"scope": "/products/unrelated"},
            {"primaryKey": "k9", "secondaryKey": "k0"},
        ),
        R(
            "namedValues/greeting",
            "namedValues",
            {"displayName": "Greeting", "secret": True},
            {"value": "hello"},
        ),
        R("namedValues/unused", "namedValues", {"displayName": "Unused", "value": "x"}),
        R("policies/policy", "policies", {"value": "<policies><inbound /></policies>"}),
    ]


def test_only_assigned_apis_and_their_operations_are_included() -> None:
    config = build_configuration("gw", SERVICE, 7, service())
    assert [a.name for a in config.apis] == ["echo"]
    assert [o.url_template for o in config.apis[0].operations] == ["/items/{id}"]
    assert config.apis[0].policy == POLICY
    assert config.revision == 7 and config.policy == "<policies><inbound /></policies>"


def test_products_are_those_publishing_an_assigned_api() -> None:
    config = build_configuration("gw", SERVICE, 1, service())
    assert [(p.name, p.apis) for p in config.products] == [("starter", ("echo",))]


def test_subscriptions_are_those_that_can_call_an_assigned_api_as_hashes() -> None:
    config = build_configuration("gw", SERVICE, 1, service())
    assert [(s.name, s.scope_type, s.scope_name) for s in config.subscriptions] == [
        ("all", "all", None),
        ("starter", "product", "starter"),
        ("to-echo", "api", "echo"),
    ]
    assert config.subscriptions[0].primary_key_hash == hash_key("k1")
    text = json.dumps(config.to_json())
    for key in ("k1", "k2", "k3", "k4", "k7", "k8"):
        assert f'"{key}"' not in text


def test_only_referenced_named_values_travel() -> None:
    config = build_configuration("gw", SERVICE, 1, service())
    assert [(n.display_name, n.value, n.secret) for n in config.named_values] == [
        ("Greeting", "hello", True)
    ]
    assert "hello" not in repr(config.named_values[0])


def test_a_gateway_with_nothing_assigned_gets_an_empty_configuration() -> None:
    config = build_configuration("lonely", SERVICE, 3, service())
    assert config.apis == () and config.products == () and config.named_values == ()
    assert [s.name for s in config.subscriptions] == ["all"]


def test_the_snapshot_round_trips_through_its_contract() -> None:
    config = build_configuration("gw", SERVICE, 9, service())
    assert parse_configuration(json.loads(json.dumps(config.to_json()))) == config


def test_revisions_of_an_assigned_api_travel_with_it() -> None:
    resources = [
        *service(),
        R("apis/echo;rev=2", "apis", {"path": "echo", "apiRevision": "2", "isCurrent": False}),
    ]
    config = build_configuration("gw", SERVICE, 1, resources)
    assert sorted(a.name for a in config.apis) == ["echo", "echo;rev=2"]
