"""Resource paths under the service, names, and the RBAC action each request needs."""

from __future__ import annotations

import pytest

from tollhouse.controlplane.model import (
    KINDS,
    ActionPath,
    CollectionPath,
    ModelError,
    ResourcePath,
    kind_of,
    parse_path,
    parse_resource_path,
)

PREFIX = "Microsoft.ApiManagement/service"


def test_a_path_alternates_collections_and_names() -> None:
    path = parse_resource_path("apis/echo/operations/get")
    assert path.kind == "apis/operations"
    assert path.names == ("echo", "get")
    assert path.name == "get"
    assert path.relative == "apis/echo/operations/get"
    assert path.parent == ResourcePath("apis", ("echo",))
    assert path.parent is not None and path.parent.parent is None


def test_collection_segments_are_case_insensitive_and_rendered_in_azure_spelling() -> None:
    path = parse_resource_path("/NAMEDVALUES/Backend-Key/")
    assert path.kind == "namedValues"
    assert path.relative == "namedValues/Backend-Key"
    hostname = parse_resource_path("Gateways/edge/HostnameConfigurations/main")
    assert hostname.relative == "gateways/edge/hostnameConfigurations/main"


def test_names_keep_their_case_and_compare_without_it() -> None:
    upper = parse_resource_path("apis/Echo-API")
    lower = parse_resource_path("apis/echo-api")
    assert upper.name == "Echo-API"
    assert upper == lower
    assert hash(upper) == hash(lower)
    assert upper.key == "apis/echo-api"
    assert upper != parse_resource_path("apis/echo-api2")


def test_unicode_case_folding_does_not_alias_names() -> None:
    # U+212A KELVIN SIGN folds to 'k' under Unicode rules; ARM names are ASCII anyway.
    with pytest.raises(ModelError):
        parse_resource_path("apis/\u212aey")


def test_collections_and_actions_parse_to_their_own_shapes() -> None:
    collection = parse_path("apis/echo/operations")
    assert collection == CollectionPath("apis/operations", ResourcePath("apis", ("echo",)))
    assert collection.relative == "apis/echo/operations"
    top = parse_path("gateways")
    assert top == CollectionPath("gateways", None)
    action = parse_path("gateways/edge/GENERATETOKEN")
    assert isinstance(action, ActionPath)
    assert action.action == "generateToken"
    assert action.relative == "gateways/edge/generateToken"


def test_policies_are_named_policy_at_every_scope() -> None:
    assert parse_resource_path("policies/Policy").name == "policy"
    assert parse_resource_path("apis/echo/operations/get/policies/policy").kind == (
        "apis/operations/policies"
    )
    assert parse_resource_path("products/starter/policies/policy").kind == "products/policies"
    with pytest.raises(ModelError) as raised:
        parse_resource_path("policies/other")
    assert raised.value.code == "InvalidResourceName"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "/",
        "widgets/x",
        "apis//operations",
        "apis/echo/widgets/x",
        "apis/echo/operations/get/extra",
        "gateways/edge/explode",
        "apis/echo/listSecrets",
    ],
)
def test_paths_that_name_no_kind_are_not_found(text: str) -> None:
    with pytest.raises(ModelError) as raised:
        parse_path(text)
    assert (raised.value.code, raised.value.status) == ("InvalidResourceType", 404)


def test_a_collection_is_not_a_resource() -> None:
    with pytest.raises(ModelError) as raised:
        parse_resource_path("apis")
    assert raised.value.status == 404


@pytest.mark.parametrize(
    "name",
    ["-echo", "echo.", "ec ho", "ec/ho", "échо", "a" * 257, "echo;rev=0", "echo;rev=x", "a*b"],
)
def test_invalid_api_names_are_refused(name: str) -> None:
    with pytest.raises(ModelError) as raised:
        ResourcePath("apis", (name,))
    assert raised.value.code == "InvalidResourceName"


@pytest.mark.parametrize("name", ["echo", "Echo_API-v2.1", "a" * 256, "echo;rev=12", "0"])
def test_valid_api_names_are_accepted(name: str) -> None:
    assert ResourcePath("apis", (name,)).name == name


def test_name_length_follows_the_kind() -> None:
    assert ResourcePath("apis", ("a" * 256,))
    with pytest.raises(ModelError):
        ResourcePath("apis/operations", ("echo", "a" * 81))
    with pytest.raises(ModelError):
        ResourcePath("gateways", ("g" * 81,))


def test_only_apis_carry_revisions() -> None:
    with pytest.raises(ModelError):
        ResourcePath("products", ("starter;rev=2",))


def test_the_managed_gateway_name_is_reserved() -> None:
    with pytest.raises(ModelError) as raised:
        parse_resource_path("gateways/Managed")
    assert raised.value.code == "InvalidResourceName"


def test_a_path_has_as_many_names_as_its_kind_has_levels() -> None:
    with pytest.raises(ModelError):
        ResourcePath("apis/operations", ("echo",))


def test_a_child_path_extends_its_parent() -> None:
    api = ResourcePath("apis", ("echo",))
    assert api.child("operations", "get") == parse_resource_path("apis/echo/operations/get")
    assert api.child("policies", "policy").kind == "apis/policies"


def test_arm_types_follow_the_collection_path() -> None:
    assert kind_of("apis/operations").arm_type == f"{PREFIX}/apis/operations"
    assert kind_of("Gateways/HostnameConfigurations").arm_type == (
        f"{PREFIX}/gateways/hostnameConfigurations"
    )
    assert kind_of("policies").arm_type == f"{PREFIX}/policies"
    for key, kind in KINDS.items():
        assert kind.arm_type == f"{PREFIX}/{key}"


def test_the_parent_of_each_kind_is_its_collection_prefix() -> None:
    for key, kind in KINDS.items():
        expected = key.rsplit("/", 1)[0] if "/" in key else None
        assert kind.parent == expected


@pytest.mark.parametrize(
    ("verb", "action"),
    [
        ("GET", "read"),
        ("head", "read"),
        ("PUT", "write"),
        ("PATCH", "write"),
        ("DELETE", "delete"),
    ],
)
def test_verbs_map_to_read_write_delete_actions(verb: str, action: str) -> None:
    path = parse_resource_path("apis/echo/operations/get")
    assert path.resource_kind.rbac_action(verb) == f"{PREFIX}/apis/operations/{action}"
    listing = parse_path("apis/echo/operations")
    assert isinstance(listing, CollectionPath)
    assert listing.rbac_action(verb) == f"{PREFIX}/apis/operations/{action}"


def test_post_has_no_verb_action() -> None:
    with pytest.raises(ModelError) as raised:
        kind_of("apis").rbac_action("POST")
    assert raised.value.status == 405


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("gateways/edge/generateToken", "gateways/generateToken/action"),
        ("gateways/edge/regenerateKey", "gateways/regenerateKey/action"),
        ("gateways/edge/listKeys", "gateways/listKeys/action"),
        ("subscriptions/s1/listSecrets", "subscriptions/listSecrets/action"),
        ("subscriptions/s1/regeneratePrimaryKey", "subscriptions/regeneratePrimaryKey/action"),
        (
            "subscriptions/s1/regenerateSecondaryKey",
            "subscriptions/regenerateSecondaryKey/action",
        ),
        ("namedValues/nv/listValue", "namedValues/listValue/action"),
    ],
)
def test_post_verbs_need_their_own_actions(path: str, action: str) -> None:
    parsed = parse_path(path)
    assert isinstance(parsed, ActionPath)
    assert parsed.rbac_action == f"{PREFIX}/{action}"


def test_resource_ids_are_the_service_id_and_the_relative_path() -> None:
    service = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"
    path = parse_resource_path("apis/echo/operations/get")
    assert path.resource_id(service + "/") == f"{service}/apis/echo/operations/get"
