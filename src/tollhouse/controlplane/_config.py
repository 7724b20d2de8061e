"""The control plane's configuration: one API Management service instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tollhouse.identity import ClientCredentials
from tollhouse.settings import SettingsError, SettingsSource

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9443
DEFAULT_DATA_DIR = Path(".tollhouse/control-plane")
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
DEFAULT_RESOURCE_GROUP = "tollhouse"
DEFAULT_SERVICE_NAME = "tollhouse"
CONFIGURATION_AUDIENCE = "https://azure-api.net/configuration"
MANAGEMENT_AUDIENCE = "https://management.azure.com/"
# A long poll is held at most this long (gateways ask for less; APIM polls every 10 s).
DEFAULT_MAX_WAIT_SECONDS = 60
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Heartbeats: APIM gateways send one a minute; three missed make an instance stale.
DEFAULT_HEARTBEAT_SECONDS = 60
STALE_AFTER_HEARTBEATS = 3
# `generateToken` tokens expiring within this are reported ahead of time.
TOKEN_EXPIRY_WARNING_DAYS = 7
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# Connections served at once; each waiting gateway holds one (a long poll).
DEFAULT_MAX_CONNECTIONS = 10_000


@dataclass(frozen=True)
class ControlPlaneConfig:
    identity: ClientCredentials
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    tls_cert_path: Path | None = None
    tls_key_path: Path | None = None
    subscription_id: str = DEFAULT_SUBSCRIPTION
    resource_group: str = DEFAULT_RESOURCE_GROUP
    service_name: str = DEFAULT_SERVICE_NAME
    # Where checkAccess is asked (the directory's ARM surface); default: the authority.
    rbac_endpoint: str | None = None
    # Issuers whose tokens are accepted, besides the identity's own tenant (v1 and v2).
    extra_issuers: tuple[str, ...] = ()
    configuration_audience: str = CONFIGURATION_AUDIENCE
    management_audience: str = MANAGEMENT_AUDIENCE
    max_wait_seconds: int = DEFAULT_MAX_WAIT_SECONDS
    heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    header_timeout: float = 10.0
    allow_cache_seconds: float = 10.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def service_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ApiManagement/service/{self.service_name}"
        )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'control-plane.db').resolve()}"

    @property
    def issuers(self) -> tuple[str, ...]:
        base = self.identity.authority.rstrip("/")
        tenant = self.identity.tenant_id
        return (f"{base}/{tenant}/", f"{base}/{tenant}/v2.0", *self.extra_issuers)

    @property
    def checks_access_at(self) -> str:
        return (self.rbac_endpoint or self.identity.authority).rstrip("/")

    @classmethod
    def from_settings(cls, source: SettingsSource, **overrides: object) -> ControlPlaneConfig:
        """Keys are listed in docs/settings.md; explicit overrides win."""
        tenant = source.get("controlplane.identity.tenantId")
        client = source.get("controlplane.identity.clientId")
        if not tenant or not client:
            raise SettingsError(
                "controlplane.identity.clientId",
                "the managed identity's tenantId and clientId are required",
            )
        secret = source.get("controlplane.identity.clientSecret")
        certificate = source.get("controlplane.identity.certificatePath")
        ca = source.get("controlplane.identity.caBundle")
        identity = ClientCredentials(
            tenant_id=tenant,
            client_id=client,
            client_secret=secret or None,
            certificate_path=Path(certificate) if certificate and not secret else None,
            authority=source.text(
                "controlplane.identity.authority", "https://login.microsoftonline.com"
            ),
            ca_bundle=Path(ca) if ca else None,
        )
        values: dict[str, object] = {
            "identity": identity,
            "host": source.text("controlplane.listen.host", DEFAULT_HOST),
            "port": source.integer("controlplane.listen.port", DEFAULT_PORT, maximum=65535),
            "data_dir": Path(source.text("controlplane.dataDir", str(DEFAULT_DATA_DIR))),
            "database_url": source.text("controlplane.database.url", ""),
            "subscription_id": source.text(
                "controlplane.service.subscriptionId", DEFAULT_SUBSCRIPTION
            ),
            "resource_group": source.text(
                "controlplane.service.resourceGroup", DEFAULT_RESOURCE_GROUP
            ),
            "service_name": source.text("controlplane.service.name", DEFAULT_SERVICE_NAME),
            "max_wait_seconds": source.integer(
                "controlplane.events.maxWait", DEFAULT_MAX_WAIT_SECONDS, minimum=1, maximum=300
            ),
            "heartbeat_seconds": source.integer(
                "controlplane.heartbeat.interval", DEFAULT_HEARTBEAT_SECONDS, minimum=1
            ),
            "max_connections": source.integer(
                "controlplane.http.maxConnections", DEFAULT_MAX_CONNECTIONS, minimum=10
            ),
        }
        for key, name in (
            ("controlplane.tls.certificatePath", "tls_cert_path"),
            ("controlplane.tls.keyPath", "tls_key_path"),
        ):
            path = source.get(key)
            if path:
                values[name] = Path(path)
        rbac = source.get("controlplane.rbac.endpoint")
        if rbac:
            values["rbac_endpoint"] = rbac
        issuers = source.get("controlplane.auth.issuers")
        if issuers:
            values["extra_issuers"] = tuple(i.strip() for i in issuers.split(",") if i.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
