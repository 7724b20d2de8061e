"""The gateway configuration snapshot: everything one gateway needs, nothing more (DESIGN §2).

Served by `GET /gateways/{gw}/configuration` with `ETag: "<revision>"`, written by the gateway
to its backup file. Subscription keys travel as SHA-256 hashes only: a gateway hashes the key a
client presents and looks the hash up. Secret named values and certificate material do travel:
the gateway must use them, and the channel is authenticated TLS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollhouse.contracts import _read as read
from tollhouse.contracts._errors import ContractError

SCHEMA_VERSION = 1
SUBSCRIPTION_SCOPES = ("all", "api", "product")


def hash_key(key: str) -> str:
    """How subscription keys are compared: keys are 128-bit random, so an unsalted hash
    suffices and lets the gateway look a presented key up directly."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ResponseExample:
    """An operation's example response body for a status and content type (what
    mock-response answers)."""

    status: int
    content_type: str
    body: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "contentType": self.content_type, "body": self.body}


@dataclass(frozen=True)
class OperationConfig:
    name: str
    display_name: str
    method: str
    url_template: str
    template_parameters: tuple[Mapping[str, Any], ...] = ()
    policy: str | None = None
    examples: tuple[ResponseExample, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "method": self.method,
            "urlTemplate": self.url_template,
            "templateParameters": [dict(p) for p in self.template_parameters],
            "policy": self.policy,
            "examples": [e.to_json() for e in self.examples],
        }


@dataclass(frozen=True)
class ApiConfig:
    name: str
    display_name: str
    path: str
    protocols: tuple[str, ...]
    service_url: str | None
    subscription_required: bool
    subscription_key_header: str
    subscription_key_query: str
    api_version: str | None = None
    api_revision: str = "1"
    is_current: bool = True
    policy: str | None = None
    operations: tuple[OperationConfig, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "path": self.path,
            "protocols": list(self.protocols),
            "serviceUrl": self.service_url,
            "subscriptionRequired": self.subscription_required,
            "subscriptionKeyParameterNames": {
                "header": self.subscription_key_header,
                "query": self.subscription_key_query,
            },
            "apiVersion": self.api_version,
            "apiRevision": self.api_revision,
            "isCurrent": self.is_current,
            "policy": self.policy,
            "operations": [o.to_json() for o in self.operations],
        }


@dataclass(frozen=True)
class ProductConfig:
    name: str
    display_name: str
    state: str
    subscription_required: bool
    apis: tuple[str, ...] = ()
    policy: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "state": self.state,
            "subscriptionRequired": self.subscription_required,
            "apis": list(self.apis),
            "policy": self.policy,
        }


@dataclass(frozen=True)
class SubscriptionConfig:
    name: str
    display_name: str
    scope_type: str
    scope_name: str | None
    state: str
    primary_key_hash: str
    secondary_key_hash: str
    allow_tracing: bool = False
    # ISO 8601 instants (see `parse_instant`), None when unknown or unset. Snapshots and
    # backups written before these fields existed load with None.
    created_date: str | None = None
    start_date: str | None = None
    expiration_date: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "scope": {"type": self.scope_type, "name": self.scope_name},
            "state": self.state,
            "primaryKeyHash": self.primary_key_hash,
            "secondaryKeyHash": self.secondary_key_hash,
            "allowTracing": self.allow_tracing,
            "createdDate": self.created_date,
            "startDate": self.start_date,
            "expirationDate": self.expiration_date,
        }


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 date-time (a subscription date) as an aware UTC datetime; no offset means
    UTC, as in ARM's `yyyy-MM-ddTHH:mm:ssZ`. Raises ValueError for anything else."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


@dataclass(frozen=True)
class NamedValueConfig:
    name: str
    display_name: str
    value: str
    secret: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "displayName": self.display_name,
            "value": self.value,
            "secret": self.secret,
        }

    def __repr__(self) -> str:
        shown = "***" if self.secret else repr(self.value)
        return f"NamedValueConfig(name={self.name!r}, value={shown})"


@dataclass(frozen=True)
class BackendConfig:
    name: str
    url: str
    protocol: str = "http"
    credentials: Mapping[str, Any] = field(default_factory=dict)
    tls: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "protocol": self.protocol,
            "credentials": dict(self.credentials),
            "tls": dict(self.tls),
        }


@dataclass(frozen=True)
class CertificateConfig:
    name: str
    thumbprint: str
    subject: str
    expiration_date: str
    data: str = field(repr=False)
    password: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "expirationDate": self.expiration_date,
            "data": self.data,
            "password": self.password,
        }


@dataclass(frozen=True)
class HostnameConfig:
    name: str
    hostname: str
    certificate_name: str | None
    negotiate_client_certificate: bool = False
    tls10_enabled: bool = False
    tls11_enabled: bool = False
    http2_enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hostname": self.hostname,
            "certificateName": self.certificate_name,
            "negotiateClientCertificate": self.negotiate_client_certificate,
            "tls10Enabled": self.tls10_enabled,
            "tls11Enabled": self.tls11_enabled,
            "http2Enabled": self.http2_enabled,
        }


@dataclass(frozen=True)
class CertificateAuthorityConfig:
    name: str
    is_trusted: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "isTrusted": self.is_trusted}


@dataclass(frozen=True)
class FragmentConfig:
    """A policy fragment (service-wide), its `<fragment>` document in the `xml` form."""

    name: str
    policy: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "policy": self.policy}


@dataclass(frozen=True)
class GatewayConfiguration:
    gateway: str
    revision: int
    service_id: str
    policy: str | None = None
    apis: tuple[ApiConfig, ...] = ()
    products: tuple[ProductConfig, ...] = ()
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    named_values: tuple[NamedValueConfig, ...] = ()
    backends: tuple[BackendConfig, ...] = ()
    certificates: tuple[CertificateConfig, ...] = ()
    hostnames: tuple[HostnameConfig, ...] = ()
    certificate_authorities: tuple[CertificateAuthorityConfig, ...] = ()
    fragments: tuple[FragmentConfig, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": self.schema_version,
            "gateway": self.gateway,
            "revision": self.revision,
            "serviceId": self.service_id,
            "policy": self.policy,
            "apis": [a.to_json() for a in self.apis],
            "products": [p.to_json() for p in self.products],
            "subscriptions": [s.to_json() for s in self.subscriptions],
            "namedValues": [n.to_json() for n in self.named_values],
            "backends": [b.to_json() for b in self.backends],
            "certificates": [c.to_json() for c in self.certificates],
            "hostnameConfigurations": [h.to_json() for h in self.hostnames],
            "certificateAuthorities": [c.to_json() for c in self.certificate_authorities],
            "fragments": [f.to_json() for f in self.fragments],
        }


def _operation(value: Any, where: str) -> OperationConfig:
    doc = read.obj(value, where)
    params = read.items(doc.get("templateParameters", []), f"{where}.templateParameters")
    return OperationConfig(
        name=read.text(doc, "name", where),
        display_name=read.text(doc, "displayName", where, default=""),
        method=read.text(doc, "method", where),
        url_template=read.text(doc, "urlTemplate", where),
        template_parameters=tuple(
            read.obj(p, f"{where}.templateParameters[{i}]") for i, p in enumerate(params)
        ),
        policy=read.optional_text(doc, "policy", where),
        # Absent from snapshots and backups written before examples travelled: none.
        examples=tuple(
            _example(e, f"{where}.examples[{i}]")
            for i, e in enumerate(read.items(doc.get("examples", []), f"{where}.examples"))
        ),
    )


def _example(value: Any, where: str) -> ResponseExample:
    doc = read.obj(value, where)
    status = doc.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ContractError(f"{where}.status", "must be an HTTP status code")
    return ResponseExample(
        status=status,
        content_type=read.text(doc, "contentType", where),
        body=read.text(doc, "body", where, default=""),
    )


def _api(value: Any, where: str) -> ApiConfig:
    doc = read.obj(value, where)
    keys = read.obj(
        doc.get("subscriptionKeyParameterNames", {}), f"{where}.subscriptionKeyParameterNames"
    )
    operations = read.items(doc.get("operations", []), f"{where}.operations")
    return ApiConfig(
        name=read.text(doc, "name", where),
        display_name=read.text(doc, "displayName", where, default=""),
        path=read.text(doc, "path", where),
        protocols=read.strings(doc, "protocols", where),
        service_url=read.optional_text(doc, "serviceUrl", where),
        subscription_required=read.flag(doc, "subscriptionRequired", where, default=True),
        subscription_key_header=read.text(
            keys,
            "header",
            f"{where}.subscriptionKeyParameterNames",
            default="Ocp-Apim-Subscription-Key",
        ),
        subscription_key_query=read.text(
            keys, "query", f"{where}.subscriptionKeyParameterNames", default="subscription-key"
        ),
        api_version=read.optional_text(doc, "apiVersion", where),
        api_revision=read.text(doc, "apiRevision", where, default="1"),
        is_current=read.flag(doc, "isCurrent", where, default=True),
        policy=read.optional_text(doc, "policy", where),
        operations=tuple(
            _operation(o, f"{where}.operations[{i}]") for i, o in enumerate(operations)
        ),
    )


def _product(value: Any, where: str) -> ProductConfig:
    doc = read.obj(value, where)
    return ProductConfig(
        name=read.text(doc, "name", where),
        display_name=read.text(doc, "displayName", where, default=""),
        state=read.text(doc, "state", where, default="published"),
        subscription_required=read.flag(doc, "subscriptionRequired", where, default=True),
        apis=read.strings(doc, "apis", where),
        policy=read.optional_text(doc, "policy", where),
    )


def _subscription(value: Any, where: str) -> SubscriptionConfig:
    doc = read.obj(value, where)
    scope = read.obj(doc.get("scope"), f"{where}.scope")
    scope_type = read.text(scope, "type", f"{where}.scope")
    if scope_type not in SUBSCRIPTION_SCOPES:
        raise ContractError(f"{where}.scope.type", f"must be one of {SUBSCRIPTION_SCOPES}")
    scope_name = read.optional_text(scope, "name", f"{where}.scope")
    if (scope_type == "all") != (scope_name is None):
        raise ContractError(f"{where}.scope.name", "names the API or product of the scope")
    return SubscriptionConfig(
        name=read.text(doc, "name", where),
        display_name=read.text(doc, "displayName", where, default=""),
        scope_type=scope_type,
        scope_name=scope_name,
        state=read.text(doc, "state", where),
        primary_key_hash=read.text(doc, "primaryKeyHash", where),
        secondary_key_hash=read.text(doc, "secondaryKeyHash", where),
        allow_tracing=read.flag(doc, "allowTracing", where, default=False),
        created_date=_instant(doc, "createdDate", where),
        start_date=_instant(doc, "startDate", where),
        expiration_date=_instant(doc, "expirationDate", where),
    )


def _instant(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    text = read.optional_text(doc, key, where)
    if text is not None:
        try:
            parse_instant(text)
        except ValueError:
            raise ContractError(f"{where}.{key}", "must be an ISO 8601 date-time") from None
    return text


def _named_value(value: Any, where: str) -> NamedValueConfig:
    doc = read.obj(value, where)
    return NamedValueConfig(
        name=read.text(doc, "name", where),
        display_name=read.text(doc, "displayName", where),
        value=read.text(doc, "value", where),
        secret=read.flag(doc, "secret", where, default=False),
    )


def _backend(value: Any, where: str) -> BackendConfig:
    doc = read.obj(value, where)
    return BackendConfig(
        name=read.text(doc, "name", where),
        url=read.text(doc, "url", where),
        protocol=read.text(doc, "protocol", where, default="http"),
        credentials=read.obj(doc.get("credentials", {}), f"{where}.credentials"),
        tls=read.obj(doc.get("tls", {}), f"{where}.tls"),
    )


def _certificate(value: Any, where: str) -> CertificateConfig:
    doc = read.obj(value, where)
    return CertificateConfig(
        name=read.text(doc, "name", where),
        thumbprint=read.text(doc, "thumbprint", where),
        subject=read.text(doc, "subject", where, default=""),
        expiration_date=read.text(doc, "expirationDate", where, default=""),
        data=read.text(doc, "data", where),
        password=read.optional_text(doc, "password", where),
    )


def _hostname(value: Any, where: str) -> HostnameConfig:
    doc = read.obj(value, where)
    return HostnameConfig(
        name=read.text(doc, "name", where),
        hostname=read.text(doc, "hostname", where),
        certificate_name=read.optional_text(doc, "certificateName", where),
        negotiate_client_certificate=read.flag(
            doc, "negotiateClientCertificate", where, default=False
        ),
        tls10_enabled=read.flag(doc, "tls10Enabled", where, default=False),
        tls11_enabled=read.flag(doc, "tls11Enabled", where, default=False),
        http2_enabled=read.flag(doc, "http2Enabled", where, default=True),
    )


def _authority(value: Any, where: str) -> CertificateAuthorityConfig:
    doc = read.obj(value, where)
    return CertificateAuthorityConfig(
        name=read.text(doc, "name", where),
        is_trusted=read.flag(doc, "isTrusted", where, default=False),
    )


def _fragment(value: Any, where: str) -> FragmentConfig:
    doc = read.obj(value, where)
    return FragmentConfig(
        name=read.text(doc, "name", where), policy=read.text(doc, "policy", where)
    )


def _list(doc: Mapping[str, Any], key: str, parse: Any) -> tuple[Any, ...]:
    values = read.items(doc.get(key, []), key)
    return tuple(parse(v, f"{key}[{i}]") for i, v in enumerate(values))


def parse_configuration(document: Any) -> GatewayConfiguration:
    """A snapshot from decoded JSON; every field checked, or ContractError."""
    doc = read.obj(document, "$")
    version = read.integer(doc, "schemaVersion", "$", minimum=1)
    if version != SCHEMA_VERSION:
        raise ContractError("$.schemaVersion", f"version {version} is not supported")
    return GatewayConfiguration(
        schema_version=version,
        gateway=read.text(doc, "gateway", "$"),
        revision=read.integer(doc, "revision", "$"),
        service_id=read.text(doc, "serviceId", "$"),
        policy=read.optional_text(doc, "policy", "$"),
        apis=_list(doc, "apis", _api),
        products=_list(doc, "products", _product),
        subscriptions=_list(doc, "subscriptions", _subscription),
        named_values=_list(doc, "namedValues", _named_value),
        backends=_list(doc, "backends", _backend),
        certificates=_list(doc, "certificates", _certificate),
        hostnames=_list(doc, "hostnameConfigurations", _hostname),
        certificate_authorities=_list(doc, "certificateAuthorities", _authority),
        # Absent from snapshots and backups written before fragments existed: none.
        fragments=_list(doc, "fragments", _fragment),
    )
