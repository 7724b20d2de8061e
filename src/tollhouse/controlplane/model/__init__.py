"""The resource model of one API Management service instance, sans I/O.

ARM-shaped JSON in, validated values out (DESIGN §4): the kinds of resource and their paths
under the service (`apis/echo/operations/get`), the RBAC action each request needs, the
validation and defaults of every kind with secrets split off, the ARM rendering, gateway
tokens, and OpenAPI import. No storage, no HTTP, no clock: the store keeps `Resource` values,
the management API maps `ModelError` to ARM error bodies.

Normalized shapes: the `…Properties` and `…Secrets` typed dicts below are what `Resource`
holds for each kind.
"""

from tollhouse.controlplane.model._apis import (
    DEFAULT_SUBSCRIPTION_KEY_HEADER,
    DEFAULT_SUBSCRIPTION_KEY_QUERY,
    ApiProperties,
    api_revision_base,
)
from tollhouse.controlplane.model._backends import BackendProperties
from tollhouse.controlplane.model._certificates import (
    MAX_CERTIFICATE_BYTES,
    CertificateProperties,
    CertificateSecrets,
)
from tollhouse.controlplane.model._errors import ModelError
from tollhouse.controlplane.model._gateway_tokens import (
    MAX_TOKEN_LIFETIME,
    GatewayTokenCheck,
    GatewayTokenOutcome,
    GatewayTokenRequest,
    generate_gateway_token,
    parse_gateway_token_request,
    verify_gateway_token,
)
from tollhouse.controlplane.model._gateways import (
    CertificateAuthorityProperties,
    GatewayApiProperties,
    GatewayProperties,
    GatewaySecrets,
    HostnameConfigurationProperties,
    regenerate_gateway_key,
)
from tollhouse.controlplane.model._kinds import KINDS, ResourceKind, kind_of
from tollhouse.controlplane.model._named_values import NamedValueProperties, NamedValueSecrets
from tollhouse.controlplane.model._normalize import (
    merge_patch,
    normalize_resource,
    referenced_paths,
)
from tollhouse.controlplane.model._openapi import (
    MAX_OPENAPI_DOCUMENT_BYTES,
    ImportedApi,
    import_api_request,
    import_openapi,
    is_import_request,
)
from tollhouse.controlplane.model._operations import OperationProperties, operation_route_key
from tollhouse.controlplane.model._paths import (
    ActionPath,
    CollectionPath,
    ResourcePath,
    parse_path,
    parse_resource_path,
)
from tollhouse.controlplane.model._policies import PolicyProperties, policy_xml
from tollhouse.controlplane.model._policy_fragments import (
    MAX_FRAGMENT_BYTES,
    PolicyFragmentProperties,
)
from tollhouse.controlplane.model._policy_xml import MAX_POLICY_BYTES, MAX_POLICY_DEPTH
from tollhouse.controlplane.model._products import ProductProperties
from tollhouse.controlplane.model._resource import Resource, list_secrets, to_arm
from tollhouse.controlplane.model._subscriptions import (
    SubscriptionProperties,
    SubscriptionSecrets,
    regenerate_subscription_key,
    stamp_created_date,
    subscription_scope,
)

__all__ = [
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
