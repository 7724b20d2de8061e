"""The gateway's settings: the APIM self-hosted gateway's keys (DESIGN §1), read as APIM reads
them, plus the Tollhouse-only keys listed in docs/settings.md.

Sources, in order: the environment under the dotted name, the environment in upper-snake form,
then an env-file (`tollhouse.settings`). Every invalid value stops start-up with one
`SettingsError` line naming the key; no message echoes a secret (a GatewayKey token, a client
secret, a certificate password). Unknown dotted keys are ignored with a debug log.

Every limit of the HTTP layer has a key (STYLE habit 5): `net.server.http.*` fills
`ServerLimits` (downstream), `net.client.http.*` fills `UpstreamLimits` (the pool to backends).
So does every operator limit of the policy engine: `policies.*` (and
`telemetry.metrics.maxCustomSeries`) fill `PolicyLimits`. APIM names none of them, so they are
Tollhouse keys; each default is the constant that `http/_limits.py`, `http/_upstream_pool.py`
or `policies/_capacity.py` gives with its reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tollhouse.gateway.http import ServerLimits, UpstreamLimits
from tollhouse.gateway.policies import PolicyLimits
from tollhouse.identity import ClientCredentials, IdentityError
from tollhouse.settings import SettingsError, SettingsSource, parse_timespan, read_env_file

log = logging.getLogger("tollhouse.gateway.settings")

# --- keys of the APIM self-hosted gateway (apim-self-hosted-gateway.md §1) ------------------
GATEWAY_NAME = "gateway.name"
ENDPOINT = "config.service.endpoint"
AUTH = "config.service.auth"
AUTH_KEY = "config.service.auth.key"
AUTHORITY = "config.service.auth.azureAd.authority"
TENANT_ID = "config.service.auth.azureAd.tenantId"
CLIENT_ID = "config.service.auth.azureAd.clientId"
CLIENT_SECRET = "config.service.auth.azureAd.clientSecret"
CERTIFICATE_PATH = "config.service.auth.azureAd.certificatePath"
TOKEN_AUDIENCE = "config.service.auth.tokenAudience"
DISABLE_CERTIFICATE_VALIDATION = "config.service.endpoint.disableCertificateValidation"
INTEGRATION_TIMEOUT = "config.service.integration.timeout"
NEIGHBORHOOD_HOST = "neighborhood.host"
NEIGHBORHOOD_HEARTBEAT_PORT = "neighborhood.heartbeat.port"
RATE_LIMIT_SYNC_PORT = "policy.rate-limit.sync.port"
LOGS_STD = "telemetry.logs.std"
LOGS_STD_LEVEL = "telemetry.logs.std.level"
METRICS_LOCAL = "telemetry.metrics.local"
STATSD_ENDPOINT = "telemetry.metrics.local.statsd.endpoint"
METRICS_CLOUD = "telemetry.metrics.cloud"
OTEL_ENABLED = "observability.opentelemetry.enabled"
OTEL_COLLECTOR_URI = "observability.opentelemetry.collector.uri"
FORWARDED_PROTO = "net.server.http.forwarded.proto.enabled"
DEPLOYMENT_PREFIX = "runtime.deployment."

# --- Tollhouse-only keys (docs/settings.md) -------------------------------------------------
CERTIFICATE_PASSWORD = "config.service.auth.azureAd.certificatePassword"
CA_BUNDLE = "config.service.caBundle"
EVENTS_WAIT = "config.service.events.wait"
RETRY_MAX_DELAY = "config.service.retry.maxDelay"
HEARTBEAT_INTERVAL = "heartbeat.interval"
BACKUP_PATH = "config.backup.path"
BACKUP_ENABLED = "config.backup.enabled"
HTTP_PORT = "net.server.http.port"
HTTPS_PORT = "net.server.https.port"
METRICS_PORT = "telemetry.metrics.port"
TRUSTED_PROXIES = "net.server.http.forwarded.trustedProxies"
GC_YOUNG_THRESHOLD = "runtime.gc.youngThreshold"

# Allocations between two collections of the youngest generation. CPython's 700 makes a busy
# gateway collect every few requests (a fifth of its time, and the p99); requests leave no
# cycles behind, so collecting seldom costs little memory.
DEFAULT_GC_YOUNG_THRESHOLD = 50_000

# --- Tollhouse-only keys: the HTTP layer's limits (docs/settings.md) -------------------------
# Each key maps to the field of the same meaning: sizes in bytes, deadlines in seconds.
SERVER_LIMIT_KEYS: Mapping[str, str] = {
    "max_request_target": "net.server.http.maxRequestTargetSize",
    "max_header_block": "net.server.http.maxHeaderSize",
    "max_header_count": "net.server.http.maxHeaderCount",
    "max_body_size": "net.server.http.maxBodySize",
    "max_drain_size": "net.server.http.maxDrainSize",
    "body_high_water": "net.server.http.bodyHighWater",
    "body_low_water": "net.server.http.bodyLowWater",
    "max_pipelined_requests": "net.server.http.maxPipelinedRequests",
    "max_connections": "net.server.http.maxConnections",
    "max_connections_per_client": "net.server.http.maxConnectionsPerClient",
    "listen_backlog": "net.server.http.listenBacklog",
    "header_timeout": "net.server.http.headerTimeout",
    "body_timeout": "net.server.http.bodyTimeout",
    "keepalive_timeout": "net.server.http.keepAliveTimeout",
    "write_timeout": "net.server.http.writeTimeout",
    "tls_handshake_timeout": "net.server.http.tlsHandshakeTimeout",
    "linger_timeout": "net.server.http.lingerTimeout",
    "shutdown_grace": "net.server.http.shutdownGracePeriod",
}
UPSTREAM_LIMIT_KEYS: Mapping[str, str] = {
    "max_connections_per_origin": "net.client.http.maxConnectionsPerOrigin",
    "max_idle_per_origin": "net.client.http.maxIdlePerOrigin",
    "idle_timeout": "net.client.http.idleTimeout",
    "connect_timeout": "net.client.http.connectTimeout",
    "body_timeout": "net.client.http.bodyTimeout",
    "max_response_head_size": "net.client.http.maxResponseHeadSize",
    "max_response_headers": "net.client.http.maxResponseHeaders",
}
# --- Tollhouse-only keys: the policy engine's limits (docs/settings.md) ----------------------
# Sizes in bytes, counts; APIM's own rules (timeouts, renewal periods, 10 dimensions) are not
# the operator's and have no key.
POLICY_LIMIT_KEYS: Mapping[str, str] = {
    "max_expression_body": "policies.expressions.maxBodySize",
    "max_buffered_body": "policies.forward-request.maxBufferedBodySize",
    "max_converted_body": "policies.conversion.maxBodySize",
    "max_send_response_body": "policies.send-request.maxResponseBodySize",
    "max_copied_body": "policies.send-request.maxCopiedBodySize",
    "max_one_way_in_flight": "policies.send-one-way-request.maxInFlight",
    "max_document_size": "policies.document.maxSize",
    "max_document_depth": "policies.document.maxDepth",
    "max_document_elements": "policies.document.maxElements",
    "max_fragment_nesting": "policies.include-fragment.maxNesting",
    "max_counter_keys": "policies.counters.maxKeys",
    "max_custom_series": "telemetry.metrics.maxCustomSeries",
}
# The least value of each count or size; a field absent here is a deadline. The dataclasses
# check the same bounds; reading them here words the error for the key.
_LEAST: Mapping[str, int] = {
    "max_request_target": 1,
    "max_header_block": 1,
    "max_header_count": 1,
    "max_body_size": 0,
    "max_drain_size": 0,
    "body_high_water": 1,
    "body_low_water": 0,
    "max_pipelined_requests": 1,
    "max_connections": 1,
    "max_connections_per_client": 1,
    "listen_backlog": 1,
    "max_connections_per_origin": 1,
    "max_idle_per_origin": 0,
    "max_response_head_size": 1,
    "max_response_headers": 1,
    **dict.fromkeys(POLICY_LIMIT_KEYS, 1),
}
# Limits that may be switched off: the word `none` means no limit.
_UNLIMITED = "none"
_MAY_BE_UNLIMITED = frozenset(
    (SERVER_LIMIT_KEYS["max_body_size"], SERVER_LIMIT_KEYS["max_connections_per_client"])
)

# --- what the Azure workload identity webhook injects (entra.md §5.1) ------------------------
AZURE_CLIENT_ID = "AZURE_CLIENT_ID"
AZURE_TENANT_ID = "AZURE_TENANT_ID"
AZURE_FEDERATED_TOKEN_FILE = "AZURE_FEDERATED_TOKEN_FILE"
AZURE_AUTHORITY_HOST = "AZURE_AUTHORITY_HOST"

# --- defaults ------------------------------------------------------------------------------
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_TOKEN_AUDIENCE = "https://azure-api.net/configuration"
# §1.1: `config.service.integration.timeout` defaults to 00:01:40.
DEFAULT_INTEGRATION_TIMEOUT_SECONDS = 100.0
# A long poll is held this long; the control plane allows up to 60 s by default
# (`controlplane.events.maxWait`), APIM itself checks every 10 s (§3).
DEFAULT_EVENTS_WAIT_SECONDS = 30.0
MAX_EVENTS_WAIT_SECONDS = 300.0
# The longest pause between retries while the control plane is unreachable.
DEFAULT_RETRY_MAX_DELAY_SECONDS = 30.0
# §3: "Reporting its status by sending heartbeat messages every minute".
DEFAULT_HEARTBEAT_SECONDS = 60.0
DEFAULT_BACKUP_PATH = Path("/apim/config")
DEFAULT_HTTP_PORT = 8080
DEFAULT_HTTPS_PORT = 8081
# Prometheus `/metrics` on its own port: the OpenTelemetry Prometheus exporter's default.
DEFAULT_METRICS_PORT = 9464
DEFAULT_NEIGHBORHOOD_HEARTBEAT_PORT = 4291
DEFAULT_RATE_LIMIT_SYNC_PORT = 4290
# The heartbeat contract carries at most 64 deployment entries (contracts MAX_DEPLOYMENT_ENTRIES).
MAX_DEPLOYMENT_ENTRIES = 64
# ARM keeps gateway names to 80 characters.
MAX_GATEWAY_NAME = 80
# A deadline of the HTTP layer longer than a day is a typo, not a wish.
MAX_HTTP_DEADLINE_SECONDS = 86400.0

LOG_FORMATS = ("none", "text", "json")
LOG_LEVELS = ("all", "debug", "info", "warn", "error", "fatal")
LOCAL_METRICS = ("none", "statsd")

_GATEWAY_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?", re.ASCII)
_EXPIRY = re.compile(r"[0-9]{12}", re.ASCII)
# azure-identity validates tenant ids against this alphabet (entra.md §6.1).
_TENANT = re.compile(r"[A-Za-z0-9.-]+", re.ASCII)
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_TOKEN_SHAPE = "'GatewayKey <gateway>&<yyyyMMddHHmm>&<base64 signature>'"


class AuthMode(Enum):
    """How the gateway authenticates to the configuration API (§4)."""

    GATEWAY_KEY = "GatewayKey"
    AZURE_AD_APP = "azureAdApp"
    WORKLOAD_IDENTITY = "workloadIdentity"


@dataclass(frozen=True)
class GatewayToken:
    """A gateway access token, `<gateway>&<yyyyMMddHHmm>&<signature>` (§4), checked for shape
    only: the control plane checks the signature."""

    gateway: str
    expires_at: dt.datetime
    value: str = field(repr=False)

    @property
    def authorization(self) -> str:
        return f"GatewayKey {self.value}"


def parse_gateway_token(key: str, text: str) -> GatewayToken:
    """The token of `text`, with or without its `GatewayKey ` prefix; `SettingsError` naming
    `key` otherwise. Messages never quote the token: its signature is a credential."""
    value = text.strip()
    scheme, space, rest = value.partition(" ")
    if space:
        if scheme.lower() != "gatewaykey":
            raise SettingsError(key, f"must be a gateway token, {_TOKEN_SHAPE}")
        value = rest.strip()
    parts = value.split("&")
    if len(parts) != 3:
        raise SettingsError(key, f"must be a gateway token, {_TOKEN_SHAPE}")
    gateway, expiry, signature = parts
    if _GATEWAY_NAME.fullmatch(gateway) is None or len(gateway) > MAX_GATEWAY_NAME:
        raise SettingsError(key, "names no valid gateway before the first '&'")
    if _EXPIRY.fullmatch(expiry) is None:
        raise SettingsError(key, "has no expiry of 12 digits (yyyyMMddHHmm, UTC)")
    try:
        expires_at = dt.datetime.strptime(expiry, "%Y%m%d%H%M").replace(tzinfo=dt.UTC)
    except ValueError:
        raise SettingsError(key, "has an expiry that is not a date (yyyyMMddHHmm, UTC)") from None
    try:
        decoded = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded:
        raise SettingsError(key, "has a signature that is not base64")
    return GatewayToken(gateway, expires_at, value)


@dataclass(frozen=True)
class GatewaySettings:
    """Everything `tollhouse gateway` reads from its settings (docs/settings.md)."""

    endpoint: str
    gateway_name: str
    auth: AuthMode
    gateway_token: GatewayToken | None = None
    # The Entra app or workload identity (tollhouse.identity), authority and CA included.
    identity: ClientCredentials | None = None
    token_audience: str = DEFAULT_TOKEN_AUDIENCE
    # When the credential stops working, if known at start: a GatewayKey's expiry or the
    # certificate's notAfter (workload identity tokens are read when needed, not here).
    credential_expires_at: dt.datetime | None = None
    ca_bundle: Path | None = None
    disable_certificate_validation: bool = False
    integration_timeout: float = DEFAULT_INTEGRATION_TIMEOUT_SECONDS
    events_wait: float = DEFAULT_EVENTS_WAIT_SECONDS
    retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY_SECONDS
    heartbeat_interval: float = DEFAULT_HEARTBEAT_SECONDS
    backup_enabled: bool = True
    backup_path: Path = DEFAULT_BACKUP_PATH
    http_port: int = DEFAULT_HTTP_PORT
    https_port: int = DEFAULT_HTTPS_PORT
    metrics_port: int = DEFAULT_METRICS_PORT
    gc_young_threshold: int = DEFAULT_GC_YOUNG_THRESHOLD
    neighborhood_host: str | None = None
    neighborhood_heartbeat_port: int = DEFAULT_NEIGHBORHOOD_HEARTBEAT_PORT
    rate_limit_sync_port: int = DEFAULT_RATE_LIMIT_SYNC_PORT
    logs_std: str = "text"
    logs_level: str = "info"
    metrics_local: str = "none"
    statsd_endpoint: str | None = None
    metrics_cloud: bool = True
    opentelemetry_enabled: bool = False
    opentelemetry_collector_uri: str | None = None
    forwarded_proto_enabled: bool = False
    # Peers whose X-Forwarded-* and Forwarded headers are believed.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    server_limits: ServerLimits = field(default_factory=ServerLimits)
    upstream_limits: UpstreamLimits = field(default_factory=UpstreamLimits)
    policy_limits: PolicyLimits = field(default_factory=PolicyLimits)
    deployment: Mapping[str, str] = field(default_factory=dict)
    # The same lookup, for components that read keys of their own (HTTP limits, policies).
    source: SettingsSource = field(
        default_factory=lambda: SettingsSource({}), repr=False, compare=False
    )

    @property
    def scope(self) -> str:
        """The scope Entra tokens are requested for: the audience's `/.default`."""
        return f"{self.token_audience.rstrip('/')}/.default"

    @classmethod
    def load(
        cls, environ: Mapping[str, str], env_file: Path | str | None = None
    ) -> GatewaySettings:
        """Read and check every key; `SettingsError` on the first invalid one."""
        file_values: dict[str, str] = {}
        if env_file is not None:
            try:
                file_values = read_env_file(Path(env_file))
            except OSError as exc:
                raise SettingsError(str(env_file), f"cannot be read: {exc.strerror}") from None
        return _Reader(environ, file_values).settings()


class _Reader:
    def __init__(self, environ: Mapping[str, str], file_values: Mapping[str, str]) -> None:
        self.layers = (dict(environ), dict(file_values))
        self.source = SettingsSource(environ, file_values)
        self.known: set[str] = set()

    # --- typed reads, each remembering its key (the rest are "unknown") --------------------

    def get(self, key: str) -> str | None:
        self.known.add(key)
        value = self.source.get(key)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def text(self, key: str, default: str) -> str:
        return self.get(key) or default

    def flag(self, key: str, default: bool) -> bool:
        self.known.add(key)
        return self.source.boolean(key, default)

    def count(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        self.known.add(key)
        return self.source.integer(key, default, minimum=minimum, maximum=maximum)

    def port(self, key: str, default: int, *, minimum: int) -> int:
        self.known.add(key)
        return self.source.integer(key, default, minimum=minimum, maximum=65535)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.get(key) or default).lower()
        if value not in choices:
            raise SettingsError(key, f"must be one of {', '.join(choices)}")
        return value

    def seconds(self, key: str, default: float, *, minimum: float, maximum: float) -> float:
        """Seconds (`45`, `2.5`) or a TimeSpan (`00:00:45`)."""
        value = self.get(key)
        if value is None:
            return default
        number = float(value) if _SECONDS.fullmatch(value) else parse_timespan(key, value)
        if not minimum <= number <= maximum:
            raise SettingsError(key, f"must be between {minimum:g} and {maximum:g} seconds")
        return number

    def https_url(self, key: str, value: str) -> str:
        """An https URL; a bare host means https:// (§1.1 shows both forms)."""
        if "://" not in value:
            value = f"https://{value}"
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise SettingsError(key, "is not a URL") from None
        if parts.scheme.lower() != "https":
            raise SettingsError(key, "must be an https:// URL (the gateway sends its credential)")
        if not parts.hostname or parts.username or parts.password:
            raise SettingsError(key, "must name a host, without user information")
        if parts.query or parts.fragment:
            raise SettingsError(key, "must have no query or fragment")
        return f"https://{parts.netloc}{parts.path}".rstrip("/")

    def existing_file(self, key: str, value: str) -> Path:
        path = Path(value)
        if not path.is_file():
            raise SettingsError(key, f"names no readable file ({value})")
        return path

    # --- the settings ----------------------------------------------------------------------

    def settings(self) -> GatewaySettings:
        endpoint_text = self.get(ENDPOINT)
        if endpoint_text is None:
            raise SettingsError(ENDPOINT, "is required (the configuration endpoint)")
        endpoint = self.https_url(ENDPOINT, endpoint_text)
        ca_bundle = self.ca_bundle()
        auth, token, identity, expires_at, gateway = self.authentication(ca_bundle)
        disable_validation = self.flag(DISABLE_CERTIFICATE_VALIDATION, False)
        if disable_validation:
            log.warning(
                "%s is true: the configuration API's certificate is not checked",
                DISABLE_CERTIFICATE_VALIDATION,
            )
        timeout_text = self.get(INTEGRATION_TIMEOUT)
        timeout = DEFAULT_INTEGRATION_TIMEOUT_SECONDS
        if timeout_text is not None:
            timeout = parse_timespan(INTEGRATION_TIMEOUT, timeout_text)
            if timeout <= 0:
                raise SettingsError(INTEGRATION_TIMEOUT, "must be longer than zero")
        metrics_local = self.choice(METRICS_LOCAL, "none", LOCAL_METRICS)
        statsd = self.get(STATSD_ENDPOINT)
        if metrics_local == "statsd" and statsd is None:
            raise SettingsError(STATSD_ENDPOINT, "is required when telemetry.metrics.local=statsd")
        otel = self.flag(OTEL_ENABLED, False)
        collector = self.get(OTEL_COLLECTOR_URI)
        if otel and collector is None:
            raise SettingsError(OTEL_COLLECTOR_URI, f"is required when {OTEL_ENABLED} is true")
        settings = GatewaySettings(
            endpoint=endpoint,
            gateway_name=gateway,
            auth=auth,
            gateway_token=token,
            identity=identity,
            token_audience=self.audience(),
            credential_expires_at=expires_at,
            ca_bundle=ca_bundle,
            disable_certificate_validation=disable_validation,
            integration_timeout=timeout,
            events_wait=self.seconds(
                EVENTS_WAIT, DEFAULT_EVENTS_WAIT_SECONDS, minimum=1, maximum=MAX_EVENTS_WAIT_SECONDS
            ),
            retry_max_delay=self.seconds(
                RETRY_MAX_DELAY, DEFAULT_RETRY_MAX_DELAY_SECONDS, minimum=1, maximum=3600
            ),
            heartbeat_interval=self.seconds(
                HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_SECONDS, minimum=1, maximum=3600
            ),
            backup_enabled=self.flag(BACKUP_ENABLED, True),
            backup_path=Path(self.text(BACKUP_PATH, str(DEFAULT_BACKUP_PATH))),
            http_port=self.port(HTTP_PORT, DEFAULT_HTTP_PORT, minimum=0),
            https_port=self.port(HTTPS_PORT, DEFAULT_HTTPS_PORT, minimum=0),
            metrics_port=self.port(METRICS_PORT, DEFAULT_METRICS_PORT, minimum=0),
            gc_young_threshold=self.count(
                GC_YOUNG_THRESHOLD, DEFAULT_GC_YOUNG_THRESHOLD, minimum=100, maximum=10_000_000
            ),
            neighborhood_host=self.get(NEIGHBORHOOD_HOST),
            neighborhood_heartbeat_port=self.port(
                NEIGHBORHOOD_HEARTBEAT_PORT, DEFAULT_NEIGHBORHOOD_HEARTBEAT_PORT, minimum=1
            ),
            rate_limit_sync_port=self.port(
                RATE_LIMIT_SYNC_PORT, DEFAULT_RATE_LIMIT_SYNC_PORT, minimum=1
            ),
            logs_std=self.choice(LOGS_STD, "text", LOG_FORMATS),
            logs_level=self.choice(LOGS_STD_LEVEL, "info", LOG_LEVELS),
            metrics_local=metrics_local,
            statsd_endpoint=statsd,
            metrics_cloud=self.flag(METRICS_CLOUD, True),
            opentelemetry_enabled=otel,
            opentelemetry_collector_uri=collector,
            forwarded_proto_enabled=self.flag(FORWARDED_PROTO, False),
            trusted_proxies=self.trusted_proxies(),
            server_limits=self.server_limits(),
            upstream_limits=self.upstream_limits(),
            policy_limits=self.policy_limits(),
            deployment=self.deployment(),
            source=self.source,
        )
        self.log_unknown()
        return settings

    def trusted_proxies(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """A comma-separated list of CIDRs (a bare address is a /32 or /128)."""
        networks = []
        for item in (part.strip() for part in (self.get(TRUSTED_PROXIES) or "").split(",")):
            if not item:
                continue
            try:
                networks.append(ip_network(item, strict=False))
            except ValueError:
                raise SettingsError(TRUSTED_PROXIES, "must list IP networks (CIDR)") from None
        return tuple(networks)

    def server_limits(self) -> ServerLimits:
        values = self.limits(ServerLimits(), SERVER_LIMIT_KEYS)
        low, high = values["body_low_water"], values["body_high_water"]
        if low >= high:
            raise SettingsError(
                SERVER_LIMIT_KEYS["body_low_water"],
                f"must be below {SERVER_LIMIT_KEYS['body_high_water']} ({high})",
            )
        try:
            return ServerLimits(**values)
        except ValueError as exc:
            raise _limit_error(exc, SERVER_LIMIT_KEYS) from None

    def upstream_limits(self) -> UpstreamLimits:
        values = self.limits(UpstreamLimits(), UPSTREAM_LIMIT_KEYS)
        try:
            return UpstreamLimits(**values)
        except ValueError as exc:
            raise _limit_error(exc, UPSTREAM_LIMIT_KEYS) from None

    def policy_limits(self) -> PolicyLimits:
        values = self.limits(PolicyLimits(), POLICY_LIMIT_KEYS)
        try:
            return PolicyLimits(**values)
        except ValueError as exc:
            raise _limit_error(exc, POLICY_LIMIT_KEYS) from None

    def limits(self, defaults: object, keys: Mapping[str, str]) -> dict[str, Any]:
        """Each field's key read as a count or size (`_LEAST`) or a deadline; unset keys keep
        the field's default."""
        values: dict[str, Any] = {}
        for name, key in keys.items():
            default = getattr(defaults, name)
            if name in _LEAST:
                values[name] = self.amount(key, default, minimum=_LEAST[name])
            else:
                values[name] = self.deadline(key, default, allow_zero=name == "shutdown_grace")
        return values

    def amount(self, key: str, default: int | None, *, minimum: int) -> int | None:
        """A whole number of at least `minimum`, or `none` for a limit that may be lifted."""
        value = self.get(key)
        if value is None:
            return default
        if value.lower() == _UNLIMITED and key in _MAY_BE_UNLIMITED:
            return None
        return self.source.integer(key, 0 if default is None else default, minimum=minimum)

    def deadline(self, key: str, default: float, *, allow_zero: bool) -> float:
        number = self.seconds(key, default, minimum=0, maximum=MAX_HTTP_DEADLINE_SECONDS)
        if number == 0 and not allow_zero:
            raise SettingsError(key, "must be longer than zero")
        return number

    def ca_bundle(self) -> Path | None:
        value = self.get(CA_BUNDLE)
        if value is None:
            return None
        path = self.existing_file(CA_BUNDLE, value)
        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError):
            raise SettingsError(CA_BUNDLE, "holds no PEM certificate") from None
        return path

    def audience(self) -> str:
        value = self.text(TOKEN_AUDIENCE, DEFAULT_TOKEN_AUDIENCE)
        parts = urlsplit(value)
        if parts.scheme not in ("https", "api") or not (parts.netloc or parts.path):
            raise SettingsError(TOKEN_AUDIENCE, "must be a URI such as " + DEFAULT_TOKEN_AUDIENCE)
        return value

    def authentication(
        self, ca_bundle: Path | None
    ) -> tuple[AuthMode, GatewayToken | None, ClientCredentials | None, dt.datetime | None, str]:
        mode = self.get(AUTH)
        if mode is None:
            raise SettingsError(
                AUTH, "is required (GatewayKey …, key, azureAdApp, workloadIdentity)"
            )
        named = self.get(GATEWAY_NAME)
        if named is not None and (
            _GATEWAY_NAME.fullmatch(named) is None or len(named) > MAX_GATEWAY_NAME
        ):
            raise SettingsError(GATEWAY_NAME, "is not a gateway name")
        lowered = mode.lower()
        if lowered == "key" or lowered.startswith("gatewaykey"):
            token = parse_gateway_token(AUTH, mode) if lowered != "key" else self.key_token()
            if named is not None and named.lower() != token.gateway.lower():
                raise SettingsError(
                    GATEWAY_NAME, f"is '{named}' but the gateway token is for '{token.gateway}'"
                )
            if token.expires_at <= dt.datetime.now(dt.UTC):
                log.warning("the gateway token expired at %s", token.expires_at.isoformat())
            return AuthMode.GATEWAY_KEY, token, None, token.expires_at, named or token.gateway
        if lowered not in ("azureadapp", "workloadidentity"):
            raise SettingsError(
                AUTH, "must be 'GatewayKey <token>', 'key', 'azureAdApp' or 'workloadIdentity'"
            )
        if named is None:
            raise SettingsError(GATEWAY_NAME, f"is required with {AUTH}={mode}")
        if lowered == "azureadapp":
            identity, expires_at = self.azure_ad_app(ca_bundle)
            return AuthMode.AZURE_AD_APP, None, identity, expires_at, named
        return AuthMode.WORKLOAD_IDENTITY, None, self.workload_identity(ca_bundle), None, named

    def key_token(self) -> GatewayToken:
        value = self.get(AUTH_KEY)
        if value is None:
            raise SettingsError(AUTH_KEY, f"is required with {AUTH}=key")
        return parse_gateway_token(AUTH_KEY, value)

    def authority(self, preferred: str | None = None) -> str:
        key = AZURE_AUTHORITY_HOST if preferred else AUTHORITY
        return self.https_url(key, preferred or self.text(AUTHORITY, DEFAULT_AUTHORITY))

    def tenant(self, key: str, value: str | None) -> str:
        if value is None:
            raise SettingsError(key, "is required (the Entra tenant id)")
        if _TENANT.fullmatch(value) is None:
            raise SettingsError(key, "must be a tenant id or domain name")
        return value

    def azure_ad_app(self, ca_bundle: Path | None) -> tuple[ClientCredentials, dt.datetime | None]:
        tenant = self.tenant(TENANT_ID, self.get(TENANT_ID))
        client = self.get(CLIENT_ID)
        if client is None:
            raise SettingsError(CLIENT_ID, "is required (the app's client id)")
        secret = self.get(CLIENT_SECRET)
        certificate = self.get(CERTIFICATE_PATH)
        password = self.get(CERTIFICATE_PASSWORD)
        if (secret is None) == (certificate is None):
            raise SettingsError(
                CLIENT_SECRET, f"give either a client secret or {CERTIFICATE_PATH}, not both"
            )
        expires_at = None
        certificate_path = None
        if certificate is not None:
            certificate_path = self.existing_file(CERTIFICATE_PATH, certificate)
            expires_at = _certificate_expiry(certificate_path, password)
            if expires_at <= dt.datetime.now(dt.UTC):
                log.warning("the certificate in %s expired at %s", certificate, expires_at)
        try:
            identity = ClientCredentials(
                tenant_id=tenant,
                client_id=client,
                client_secret=secret,
                certificate_path=certificate_path,
                certificate_password=password,
                authority=self.authority(),
                ca_bundle=ca_bundle,
            )
        except IdentityError as exc:  # pragma: no cover - ruled out above
            raise SettingsError(CLIENT_SECRET, str(exc)) from None
        return identity, expires_at

    def workload_identity(self, ca_bundle: Path | None) -> ClientCredentials:
        """What the webhook injects (entra.md §5.1); the `azureAd` keys fill in for a pod
        without the webhook. Only the file's path is kept: azure-identity reads it."""
        tenant = self.tenant(AZURE_TENANT_ID, self.get(AZURE_TENANT_ID) or self.get(TENANT_ID))
        client = self.get(AZURE_CLIENT_ID) or self.get(CLIENT_ID)
        if client is None:
            raise SettingsError(AZURE_CLIENT_ID, "is required with workloadIdentity")
        token_file = self.get(AZURE_FEDERATED_TOKEN_FILE)
        if token_file is None:
            raise SettingsError(AZURE_FEDERATED_TOKEN_FILE, "is required with workloadIdentity")
        return ClientCredentials(
            tenant_id=tenant,
            client_id=client,
            federated_token_file=self.existing_file(AZURE_FEDERATED_TOKEN_FILE, token_file),
            authority=self.authority(self.get(AZURE_AUTHORITY_HOST)),
            ca_bundle=ca_bundle,
        )

    def deployment(self) -> dict[str, str]:
        """`runtime.deployment.*` as given; upper-snake names (RUNTIME_DEPLOYMENT_MECHANISM)
        become lower-case dotted ones. The environment wins over the env-file."""
        found: dict[str, str] = {}
        for layer in reversed(self.layers):
            for name, value in layer.items():
                if name.startswith(DEPLOYMENT_PREFIX):
                    key = name
                elif name.startswith("RUNTIME_DEPLOYMENT_"):
                    key = name.lower().replace("_", ".")
                else:
                    continue
                if value.strip():
                    found[key] = value.strip()
        if len(found) > MAX_DEPLOYMENT_ENTRIES:
            raise SettingsError(
                DEPLOYMENT_PREFIX + "*", f"at most {MAX_DEPLOYMENT_ENTRIES} keys are reported"
            )
        return dict(sorted(found.items()))

    def log_unknown(self) -> None:
        for layer in self.layers:
            for name in layer:
                if (
                    "." in name
                    and name not in self.known
                    and not name.startswith(DEPLOYMENT_PREFIX)
                ):
                    log.debug("ignoring unknown setting %s", name)


def _limit_error(exc: ValueError, keys: Mapping[str, str]) -> SettingsError:
    """A dataclass's own check as a one-line error naming the key of the first field its
    message names (the whole family, `net.server.http.*`, if it names none)."""
    message = str(exc)
    named = [
        (match.start(), name)
        for name in keys
        if (match := re.search(rf"\b{name}\b", message)) is not None
    ]
    key = keys[min(named)[1]] if named else next(iter(keys.values())).rsplit(".", 1)[0] + ".*"
    return SettingsError(key, message)


def _certificate_expiry(path: Path, password: str | None) -> dt.datetime:
    """The notAfter of a PEM (certificate and key) or PFX file; SettingsError otherwise."""
    from tollhouse.pki import load_certificate_and_key

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(CERTIFICATE_PATH, f"cannot be read: {exc.strerror}") from None
    try:
        pair = load_certificate_and_key(data, password.encode() if password else None)
    except (ValueError, TypeError):
        raise SettingsError(
            CERTIFICATE_PATH,
            "is neither a PEM file with a certificate and its RSA private key nor a PFX "
            f"that opens (with {CERTIFICATE_PASSWORD} if it has a password)",
        ) from None
    return pair.certificate.not_valid_after_utc
