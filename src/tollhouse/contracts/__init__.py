"""Wire shapes shared by the control plane and the gateway (DESIGN §2).

Pure data and validation: the gateway configuration snapshot, change-feed pages, heartbeat
and telemetry bodies, error bodies. Each `parse_*` takes decoded JSON and returns frozen
values or raises `ContractError` naming the offending field; each value has `to_json()`.
"""

from tollhouse.contracts._errors import ContractError, error_body
from tollhouse.contracts._feed import ChangeEvent, EventPage, parse_event_page
from tollhouse.contracts._heartbeat import (
    Heartbeat,
    HeartbeatReply,
    InstanceStatus,
    parse_heartbeat,
    parse_heartbeat_reply,
)
from tollhouse.contracts._snapshot import (
    SCHEMA_VERSION,
    ApiConfig,
    BackendConfig,
    CertificateAuthorityConfig,
    CertificateConfig,
    FragmentConfig,
    GatewayConfiguration,
    HostnameConfig,
    NamedValueConfig,
    OperationConfig,
    ProductConfig,
    ResponseExample,
    SubscriptionConfig,
    hash_key,
    parse_configuration,
    parse_instant,
)
from tollhouse.contracts._telemetry import MetricPoint, Telemetry, parse_telemetry

__all__ = [
    "SCHEMA_VERSION",
    "ApiConfig",
    "BackendConfig",
    "CertificateAuthorityConfig",
    "CertificateConfig",
    "ChangeEvent",
    "ContractError",
    "EventPage",
    "FragmentConfig",
    "GatewayConfiguration",
    "Heartbeat",
    "HeartbeatReply",
    "HostnameConfig",
    "InstanceStatus",
    "MetricPoint",
    "NamedValueConfig",
    "OperationConfig",
    "ProductConfig",
    "ResponseExample",
    "SubscriptionConfig",
    "Telemetry",
    "error_body",
    "hash_key",
    "parse_configuration",
    "parse_event_page",
    "parse_heartbeat",
    "parse_heartbeat_reply",
    "parse_instant",
    "parse_telemetry",
]
