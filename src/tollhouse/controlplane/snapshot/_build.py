"""Building one gateway's configuration from the service's resources (DESIGN §2).

Only the APIs assigned to the gateway, with their operations and policies; the products that
publish those APIs; the subscriptions that can call them, as key hashes; the named values,
backends and certificates the gateway may need; every policy fragment of the service
(fragments are service-wide: any policy may include one). Properties are read by their Azure
REST names.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tollhouse.contracts import (
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
)
from tollhouse.controlplane.model import policy_xml

_NAMED_VALUE = re.compile(r"\{\{([A-Za-z0-9\-._]+)\}\}")
_CERTIFICATE_ID = re.compile(r"certificate-id\s*=\s*\"([^\"]+)\"")


class ResourceView(Protocol):
    """What the builder reads of a stored resource."""

    @property
    def path(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def properties(self) -> dict[str, Any]: ...

    @property
    def secrets(self) -> dict[str, Any]: ...


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _segment(path: str, index: int) -> str:
    return path.split("/")[index]


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def response_examples(responses: object) -> tuple[ResponseExample, ...]:
    """The example bodies of an operation's responses (Azure REST `ResponseContract`:
    `representations[].examples`, or the older `sample`), one per status and content type,
    for mock-response. A JSON example that is not a string travels as its JSON text."""
    found: dict[tuple[int, str], ResponseExample] = {}
    for response in responses if isinstance(responses, list) else ():
        if not isinstance(response, dict):
            continue
        status = response.get("statusCode")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            continue
        for representation in response.get("representations") or ():
            if not isinstance(representation, dict):
                continue
            content_type = representation.get("contentType")
            body = _example_value(representation)
            if isinstance(content_type, str) and body is not None:
                found.setdefault(
                    (status, content_type.lower()),
                    ResponseExample(status, content_type.lower(), body),
                )
    return tuple(found.values())


def _example_value(representation: dict[str, Any]) -> str | None:
    examples = representation.get("examples")
    if isinstance(examples, dict) and examples:
        chosen = examples.get("default", next(iter(examples.values())))
        if isinstance(chosen, dict) and "value" in chosen:
            value = chosen["value"]
            return value if isinstance(value, str) else json.dumps(value)
    sample = representation.get("sample")
    return sample if isinstance(sample, str) else None


def subscription_scope(scope: str) -> tuple[str, str | None]:
    """('all' | 'api' | 'product', name) from `/apis`, `/apis/{api}`, `/products/{p}`, or the
    same after a full service id."""
    tail = scope
    match = re.search(r"/providers/Microsoft\.ApiManagement/service/[^/]+", scope, re.IGNORECASE)
    if match:
        tail = scope[match.end() :]
    parts = [p for p in tail.split("/") if p]
    if len(parts) == 1 and parts[0].lower() == "apis":
        return "all", None
    if len(parts) == 2 and parts[0].lower() == "apis":
        return "api", parts[1]
    if len(parts) == 2 and parts[0].lower() == "products":
        return "product", parts[1]
    raise ValueError(f"not a subscription scope: {scope!r}")


@dataclass
class _Index:
    by_kind: dict[str, list[ResourceView]]
    by_key: dict[str, ResourceView]

    @classmethod
    def of(cls, resources: Iterable[ResourceView]) -> _Index:
        by_kind: dict[str, list[ResourceView]] = defaultdict(list)
        by_key: dict[str, ResourceView] = {}
        for resource in resources:
            by_kind[resource.kind].append(resource)
            by_key[resource.path.lower()] = resource
        return cls(by_kind, by_key)

    def policy(self, owner: str) -> str | None:
        found = self.by_key.get(f"{owner}/policies/policy".lower() if owner else "policies/policy")
        if found is None:
            return None
        if not isinstance(found.properties.get("value"), str):
            return None
        # `rawxml` policies carry unescaped expressions: gateways get well-formed XML.
        return policy_xml(found.properties)


def _operations(index: _Index) -> dict[str, list[ResourceView]]:
    grouped: dict[str, list[ResourceView]] = defaultdict(list)
    for op in index.by_kind.get("apis/operations", []):
        grouped[_segment(op.path, 1).lower()].append(op)
    return grouped


def _api(index: _Index, resource: ResourceView, operations: list[ResourceView]) -> ApiConfig:
    props = resource.properties
    keys: Mapping[str, Any] = props.get("subscriptionKeyParameterNames") or {}
    name = _name(resource.path)
    return ApiConfig(
        name=name,
        display_name=str(props.get("displayName") or name),
        path=str(props.get("path") or ""),
        protocols=tuple(props.get("protocols") or ("https",)),
        service_url=props.get("serviceUrl"),
        subscription_required=bool(props.get("subscriptionRequired", True)),
        subscription_key_header=str(keys.get("header") or "Ocp-Apim-Subscription-Key"),
        subscription_key_query=str(keys.get("query") or "subscription-key"),
        api_version=props.get("apiVersion"),
        api_revision=str(props.get("apiRevision") or "1"),
        is_current=bool(props.get("isCurrent", True)),
        policy=index.policy(resource.path),
        operations=tuple(
            OperationConfig(
                name=_name(op.path),
                display_name=str(op.properties.get("displayName") or _name(op.path)),
                method=str(op.properties.get("method") or "GET").upper(),
                url_template=str(op.properties.get("urlTemplate") or "/"),
                template_parameters=tuple(op.properties.get("templateParameters") or ()),
                policy=index.policy(op.path),
                examples=response_examples(op.properties.get("responses")),
            )
            for op in sorted(operations, key=lambda r: r.path.lower())
        ),
    )


def build_configuration(
    gateway: str, service_id: str, revision: int, resources: Iterable[ResourceView]
) -> GatewayConfiguration:
    index = _Index.of(resources)
    gateway_key = f"gateways/{gateway}".lower()

    assigned = {
        _name(link.path).lower()
        for link in index.by_kind.get("gateways/apis", [])
        if link.path.lower().startswith(gateway_key + "/")
    }
    operations = _operations(index)
    # Assignments name the base API; its revisions (`echo;rev=2`) travel with it.
    apis = tuple(
        _api(index, api, operations.get(_name(api.path).lower(), []))
        for api in sorted(index.by_kind.get("apis", []), key=lambda r: r.path.lower())
        if _name(api.path).split(";", 1)[0].lower() in assigned
    )

    product_apis: dict[str, list[str]] = defaultdict(list)
    for link in index.by_kind.get("products/apis", []):
        api_name = _name(link.path)
        if api_name.lower() in assigned:
            product_apis[_segment(link.path, 1).lower()].append(api_name)
    products = tuple(
        ProductConfig(
            name=_name(p.path),
            display_name=str(p.properties.get("displayName") or _name(p.path)),
            state=str(p.properties.get("state") or "notPublished"),
            subscription_required=bool(p.properties.get("subscriptionRequired", True)),
            apis=tuple(sorted(product_apis[_name(p.path).lower()], key=str.lower)),
            policy=index.policy(p.path),
        )
        for p in sorted(index.by_kind.get("products", []), key=lambda r: r.path.lower())
        if product_apis.get(_name(p.path).lower())
    )
    included_products = {p.name.lower() for p in products}

    subscriptions = []
    for sub in sorted(index.by_kind.get("subscriptions", []), key=lambda r: r.path.lower()):
        try:
            scope_type, scope_name = subscription_scope(str(sub.properties.get("scope", "")))
        except ValueError:
            continue
        if scope_type == "api" and (scope_name or "").lower() not in assigned:
            continue
        if scope_type == "product" and (scope_name or "").lower() not in included_products:
            continue
        primary, secondary = sub.secrets.get("primaryKey"), sub.secrets.get("secondaryKey")
        if not isinstance(primary, str) or not isinstance(secondary, str):
            continue
        subscriptions.append(
            SubscriptionConfig(
                name=_name(sub.path),
                display_name=str(sub.properties.get("displayName") or _name(sub.path)),
                scope_type=scope_type,
                scope_name=scope_name,
                state=str(sub.properties.get("state") or "active"),
                primary_key_hash=hash_key(primary),
                secondary_key_hash=hash_key(secondary),
                allow_tracing=bool(sub.properties.get("allowTracing", False)),
                created_date=_optional_str(sub.properties.get("createdDate")),
                start_date=_optional_str(sub.properties.get("startDate")),
                expiration_date=_optional_str(sub.properties.get("expirationDate")),
            )
        )

    global_policy = index.policy("")
    policies = [global_policy, *(a.policy for a in apis), *(p.policy for p in products)]
    policies += [o.policy for a in apis for o in a.operations]
    fragments = tuple(
        FragmentConfig(name=_name(f.path), policy=policy_xml(f.properties))
        for f in sorted(index.by_kind.get("policyFragments", []), key=lambda r: r.path.lower())
        if isinstance(f.properties.get("value"), str)
    )
    # What fragments use travels too: their named values and certificates.
    policies += [f.policy for f in fragments]
    policy_text = "\n".join(p for p in policies if p)

    backends = tuple(
        BackendConfig(
            name=_name(b.path),
            url=str(b.properties.get("url") or ""),
            protocol=str(b.properties.get("protocol") or "http"),
            credentials=dict(b.properties.get("credentials") or {}),
            tls=dict(b.properties.get("tls") or {}),
        )
        for b in sorted(index.by_kind.get("backends", []), key=lambda r: r.path.lower())
    )
    referenced_text = policy_text + "\n" + repr([b.credentials for b in backends])
    # Named values are looked up by display name in `{{…}}`; only those referenced travel.
    wanted_values = {m.lower() for m in _NAMED_VALUE.findall(referenced_text)}
    named_values = []
    for nv in sorted(index.by_kind.get("namedValues", []), key=lambda r: r.path.lower()):
        display = str(nv.properties.get("displayName") or _name(nv.path))
        if display.lower() not in wanted_values and _name(nv.path).lower() not in wanted_values:
            continue
        secret = bool(nv.properties.get("secret", False))
        value = nv.secrets.get("value") if secret else nv.properties.get("value")
        named_values.append(
            NamedValueConfig(
                name=_name(nv.path), display_name=display, value=str(value or ""), secret=secret
            )
        )

    hostnames = tuple(
        HostnameConfig(
            name=_name(h.path),
            hostname=str(h.properties.get("hostname") or ""),
            certificate_name=(
                _name(str(h.properties["certificateId"]))
                if h.properties.get("certificateId")
                else None
            ),
            negotiate_client_certificate=bool(h.properties.get("negotiateClientCertificate")),
            tls10_enabled=bool(h.properties.get("tls10Enabled")),
            tls11_enabled=bool(h.properties.get("tls11Enabled")),
            http2_enabled=bool(h.properties.get("http2Enabled", True)),
        )
        for h in sorted(
            index.by_kind.get("gateways/hostnameConfigurations", []), key=lambda r: r.path.lower()
        )
        if h.path.lower().startswith(gateway_key + "/")
    )
    authorities = tuple(
        CertificateAuthorityConfig(
            name=_name(c.path), is_trusted=bool(c.properties.get("isTrusted", False))
        )
        for c in sorted(
            index.by_kind.get("gateways/certificateAuthorities", []), key=lambda r: r.path.lower()
        )
        if c.path.lower().startswith(gateway_key + "/")
    )
    wanted_certificates = {h.certificate_name.lower() for h in hostnames if h.certificate_name}
    wanted_certificates |= {a.name.lower() for a in authorities}
    wanted_certificates |= {m.lower() for m in _CERTIFICATE_ID.findall(policy_text)}
    for backend in backends:
        for certificate_id in backend.credentials.get("certificateIds") or ():
            wanted_certificates.add(_name(str(certificate_id)).lower())
    certificates = tuple(
        CertificateConfig(
            name=_name(c.path),
            thumbprint=str(c.properties.get("thumbprint") or ""),
            subject=str(c.properties.get("subject") or ""),
            expiration_date=str(c.properties.get("expirationDate") or ""),
            data=str(c.secrets.get("data") or ""),
            password=c.secrets.get("password"),
        )
        for c in sorted(index.by_kind.get("certificates", []), key=lambda r: r.path.lower())
        if _name(c.path).lower() in wanted_certificates
    )

    return GatewayConfiguration(
        gateway=gateway,
        revision=revision,
        service_id=service_id,
        policy=global_policy,
        apis=apis,
        products=products,
        subscriptions=tuple(subscriptions),
        named_values=tuple(named_values),
        backends=backends,
        certificates=certificates,
        hostnames=hostnames,
        certificate_authorities=authorities,
        fragments=fragments,
    )
