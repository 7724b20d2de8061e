"""ARM rendering, secrets, PATCH merging and references, across every kind."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID

from tollhouse.controlplane.model import (
    KINDS,
    ModelError,
    Resource,
    ResourcePath,
    list_secrets,
    merge_patch,
    normalize_resource,
    parse_resource_path,
    referenced_paths,
    to_arm,
)

SERVICE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"


def pfx() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw.contoso.test")])
    now = datetime(2024, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        b"gw", key, certificate, None, BestAvailableEncryption(b"pfx-password-1")
    )
    return base64.b64encode(data).decode()


# One valid write of every kind, with every secret it can hold given explicitly.
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "apis": ("apis/echo", {"path": "echo", "serviceUrl": "https://b"}),
    "apis/operations": ("apis/echo/operations/get", {"method": "GET", "urlTemplate": "/{id}"}),
    "apis/policies": ("apis/echo/policies/policy", {"value": "<policies/>"}),
    "apis/operations/policies": (
        "apis/echo/operations/get/policies/policy",
        {"value": "<policies><inbound><base/></inbound></policies>", "format": "rawxml"},
    ),
    "products": ("products/starter", {"displayName": "Starter", "state": "published"}),
    "products/apis": ("products/starter/apis/echo", {}),
    "products/policies": ("products/starter/policies/policy", {"value": "<policies/>"}),
    "subscriptions": (
        "subscriptions/s1",
        {
            "scope": "/products/starter",
            "displayName": "S1",
            "primaryKey": "secret-primary-key-1",
            "secondaryKey": "secret-secondary-key-1",
        },
    ),
    "namedValues": (
        "namedValues/token",
        {"displayName": "token", "value": "secret-named-value-1", "secret": True},
    ),
    "backends": ("backends/orders", {"url": "https://orders"}),
    "certificates": ("certificates/tls", {"data": pfx(), "password": "pfx-password-1"}),
    "policies": ("policies/policy", {"value": "<policies/>"}),
    "policyFragments": (
        "policyFragments/cors",
        {"value": "<fragment><cors /></fragment>", "description": "CORS"},
    ),
    "gateways": ("gateways/edge", {"locationData": {"name": "dc1"}}),
    "gateways/apis": ("gateways/edge/apis/echo", {}),
    "gateways/hostnameConfigurations": (
        "gateways/edge/hostnameConfigurations/main",
        {"hostname": "gw.contoso.test", "certificateId": "/certificates/tls"},
    ),
    "gateways/certificateAuthorities": ("gateways/edge/certificateAuthorities/tls", {}),
}


def write(kind: str) -> Resource:
    path, properties = EXAMPLES[kind]
    return normalize_resource(parse_resource_path(path), properties)


def test_there_is_an_example_of_every_kind() -> None:
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_arm_rendering_has_id_name_type_and_properties(kind: str) -> None:
    resource = write(kind)
    rendered = to_arm(resource, SERVICE)
    assert set(rendered) == {"id", "name", "type", "properties"}
    assert rendered["id"] == f"{SERVICE}/{EXAMPLES[kind][0]}"
    assert rendered["name"] == EXAMPLES[kind][0].rsplit("/", 1)[-1]
    assert rendered["type"] == f"Microsoft.ApiManagement/service/{kind}"
    json.dumps(rendered)  # JSON all the way down


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_secrets_are_never_rendered(kind: str) -> None:
    resource = write(kind)
    rendered = json.dumps(to_arm(resource, SERVICE))
    for value in resource.secrets.values():
        assert str(value) not in rendered
    for value in ("secret-primary-key-1", "secret-named-value-1", "pfx-password-1"):
        assert value not in rendered
    assert not set(resource.secrets) & set(resource.properties)


def test_kinds_with_secrets_keep_them_apart() -> None:
    assert {kind for kind in KINDS if write(kind).secrets} == {
        "subscriptions",
        "namedValues",
        "certificates",
        "gateways",
    }


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("subscriptions", {"primaryKey", "secondaryKey"}),
        ("namedValues", {"value"}),
        ("gateways", {"primary", "secondary"}),
    ],
)
def test_secrets_are_listed_by_their_kinds_post_verb(kind: str, keys: set[str]) -> None:
    assert set(list_secrets(write(kind))) == keys


@pytest.mark.parametrize("kind", ["certificates", "apis", "backends"])
def test_other_kinds_list_no_secrets(kind: str) -> None:
    with pytest.raises(ModelError) as raised:
        list_secrets(write(kind))
    assert raised.value.status == 404


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_writing_back_what_get_answers_changes_nothing(kind: str) -> None:
    resource = write(kind)
    properties = to_arm(resource, SERVICE)["properties"]
    again = normalize_resource(resource.path, properties, resource)
    assert again == resource


def test_a_patch_replaces_top_level_properties_and_keeps_secrets() -> None:
    subscription = write("subscriptions")
    merged = merge_patch(subscription, {"state": "suspended", "displayName": None})
    assert merged["state"] == "suspended"
    assert "displayName" not in merged
    with pytest.raises(ModelError) as raised:
        normalize_resource(subscription.path, merged, subscription)
    assert raised.value.target == "properties.displayName"
    patched = normalize_resource(
        subscription.path, merge_patch(subscription, {"state": "suspended"}), subscription
    )
    assert patched.properties["state"] == "suspended"
    assert patched.secrets == subscription.secrets
    assert merge_patch(subscription, None) == dict(subscription.properties)
    with pytest.raises(ModelError):
        merge_patch(subscription, ["state"])  # type: ignore[arg-type]


def test_a_body_without_properties_is_an_empty_object() -> None:
    link = normalize_resource(parse_resource_path("gateways/edge/apis/echo"), None)
    assert link.properties == {"provisioningState": "created"}


def test_the_existing_resource_must_be_the_one_written() -> None:
    with pytest.raises(ValueError):
        normalize_resource(parse_resource_path("gateways/other"), {}, write("gateways"))


def test_references_name_what_must_exist() -> None:
    assert referenced_paths(write("subscriptions")) == (ResourcePath("products", ("starter",)),)
    all_apis = normalize_resource(
        parse_resource_path("subscriptions/all"), {"scope": "/apis", "displayName": "All"}
    )
    assert referenced_paths(all_apis) == ()
    assert referenced_paths(write("products/apis")) == (ResourcePath("apis", ("echo",)),)
    assert referenced_paths(write("apis")) == ()
