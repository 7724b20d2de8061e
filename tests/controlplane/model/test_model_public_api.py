"""The package exports exactly its public API."""

from __future__ import annotations

import tollhouse.controlplane.model as model


def test_the_public_api_is_what_it_should_be() -> None:
    assert sorted(model.__all__) == sorted(
        [
            "DEFAULT_SUBSCRIPTION_KEY_HEADER",
            "DEFAULT_SUBSCRIPTION_KEY_QUERY",
            "KINDS",
            "MAX_CERTIFICATE_BYTES",
            "MAX_FRAGMENT_BYTES",
            "MAX_OPENAPI_DOCUMENT_BYTES",
            "MAX_POLICY_BYTES",
            "MAX_POLICY_DEPTH",
            "MAX_TOKEN_LIFETIME",
            "ActionPath",
            "ApiProperties",
            "BackendProperties",
            "CertificateAuthorityProperties",
            "CertificateProperties",
            "CertificateSecrets",
            "CollectionPath",
            "GatewayApiProperties",
            "GatewayProperties",
            "GatewaySecrets",
            "GatewayTokenCheck",
            "GatewayTokenOutcome",
            "GatewayTokenRequest",
            "HostnameConfigurationProperties",
            "ImportedApi",
            "ModelError",
            "NamedValueProperties",
            "NamedValueSecrets",
            "OperationProperties",
            "PolicyFragmentProperties",
            "PolicyProperties",
            "ProductProperties",
            "Resource",
            "ResourceKind",
            "ResourcePath",
            "SubscriptionProperties",
            "SubscriptionSecrets",
            "api_revision_base",
            "generate_gateway_token",
            "import_api_request",
            "import_openapi",
            "is_import_request",
            "kind_of",
            "list_secrets",
            "merge_patch",
            "normalize_resource",
            "operation_route_key",
            "parse_gateway_token_request",
            "parse_path",
            "parse_resource_path",
            "policy_xml",
            "referenced_paths",
            "regenerate_gateway_key",
            "regenerate_subscription_key",
            "stamp_created_date",
            "subscription_scope",
            "to_arm",
            "verify_gateway_token",
        ]
    )
    for name in model.__all__:
        assert getattr(model, name) is not None


def test_every_kind_has_a_normalizer() -> None:
    from tollhouse.controlplane.model._normalize import NORMALIZERS

    assert set(NORMALIZERS) == set(model.KINDS)


def test_the_kinds_are_the_azure_rest_collections() -> None:
    assert sorted(model.KINDS) == [
        "apis",
        "apis/operations",
        "apis/operations/policies",
        "apis/policies",
        "backends",
        "certificates",
        "gateways",
        "gateways/apis",
        "gateways/certificateAuthorities",
        "gateways/hostnameConfigurations",
        "namedValues",
        "policies",
        "policyFragments",
        "products",
        "products/apis",
        "products/policies",
        "subscriptions",
    ]
