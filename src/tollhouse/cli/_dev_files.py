"""The state directory of `tollhouse dev` and what it writes there for people and programs.

    <state>/pki/ca.pem             the local CA every server's certificate comes from
    <state>/pki/trust.pem          the local CA and the system's roots (REQUESTS_CA_BUNDLE)
    <state>/directory/admin.json   the administrator profile (written by the directory)
    <state>/kube-issuer/token      the projected service-account token (workload identity)
    <state>/control-plane/identity.json   the managed identity's credentials
    <state>/gateway/gateway.env    the gateway's settings (the seeds' ConfigMap), app.pem
    <state>/roles/*.json           the two custom roles, their subscription filled in
    <state>/logs/<child>.log       each child's output, from its latest start
    <state>/walkthrough.json, walkthrough.md, env, dev.json

The contents are built by pure functions from values; `write_private` writes a file holding
a secret (0600, replaced atomically, so a reader never sees half of it).
"""

from __future__ import annotations

import json
import os
import shlex
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

# The gateway's name in the Entra seed's manifest.
GATEWAY_NAME = "mygw"
# The sample API: its suffix on the gateway, and the path the printed curl calls.
SAMPLE_API_PATH = "echo"
SAMPLE_CALL_PATH = "/hello"
SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
# The gateway's readiness probe (the seeds' readinessProbe path).
STATUS_PROBE = "/status-0123456789abcdef"

AUTH_MODES = ("secret", "certificate", "workload-identity", "gateway-key")

ROLE_FILES = (
    "apim-configuration-api-access-validator.json",
    "apim-gateway-configuration-reader.json",
)


@dataclass(frozen=True)
class StateLayout:
    """Paths under the state directory, as given (relative paths stay relative: they are
    printed in commands a person copies) or absolute (`absolute`, for files read elsewhere)."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca(self) -> Path:
        return self.pki / "ca.pem"

    @property
    def trust(self) -> Path:
        return self.pki / "trust.pem"

    @property
    def directory(self) -> Path:
        return self.root / "directory"

    @property
    def admin_profile(self) -> Path:
        return self.directory / "admin.json"

    @property
    def kube_issuer(self) -> Path:
        return self.root / "kube-issuer"

    @property
    def token_file(self) -> Path:
        return self.kube_issuer / "token"

    @property
    def control_plane(self) -> Path:
        return self.root / "control-plane"

    @property
    def identity_profile(self) -> Path:
        return self.control_plane / "identity.json"

    @property
    def gateway(self) -> Path:
        return self.root / "gateway"

    @property
    def gateway_env(self) -> Path:
        return self.gateway / "gateway.env"

    @property
    def certificate(self) -> Path:
        return self.gateway / "app.pem"

    @property
    def roles(self) -> Path:
        return self.root / "roles"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def journal(self) -> Path:
        return self.root / "walkthrough.json"

    @property
    def walkthrough(self) -> Path:
        return self.root / "walkthrough.md"

    @property
    def env(self) -> Path:
        return self.root / "env"

    @property
    def dev_json(self) -> Path:
        return self.root / "dev.json"

    def create(self) -> None:
        if not self.root.exists():
            self.root.mkdir(parents=True)
            # Keys, secrets and tokens live here: the owner's alone (a directory given that
            # exists already keeps its mode; the files with secrets are 0600 in any case).
            self.root.chmod(0o700)
        for path in (self.pki, self.directory, self.kube_issuer, self.control_plane):
            path.mkdir(exist_ok=True)
        for path in (self.gateway, self.roles, self.logs):
            path.mkdir(exist_ok=True)


def absolute(path: Path) -> str:
    return str(path.resolve())


def write_private(path: Path, text: str) -> None:
    """`text` to `path`, mode 0600, replacing the old file atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    os.replace(temporary, path)


def write_public(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def role_definition(name: str, subscription: str) -> str:
    """A seed role, verbatim from the APIM include, `{subscriptionID}` filled in."""
    text = resources.files("tollhouse.cli").joinpath("roles", name).read_text(encoding="utf-8")
    return text.replace("{subscriptionID}", subscription)


def system_roots() -> Path | None:
    """The roots OpenSSL was built to trust (not $SSL_CERT_FILE, which may be our own
    bundle from an earlier `source env`), else certifi's, else none."""
    compiled = ssl.get_default_verify_paths().openssl_cafile
    if compiled and Path(compiled).is_file():
        return Path(compiled)
    try:
        import certifi
    except ImportError:
        return None
    return Path(certifi.where())


def trust_bundle(local_ca: bytes, roots: bytes | None) -> bytes:
    """The local CA first, then the system's roots: a shell that sources `env` still reaches
    the rest of the world over TLS."""
    return local_ca if not roots else local_ca.rstrip(b"\n") + b"\n" + roots


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class Facts:
    """What the walk-through made, as `tollhouse dev` hands it on."""

    authority: str
    tenant_id: str
    admin: Credentials
    app: Credentials
    certificate: Path
    subscription_key: str = field(repr=False)


@dataclass(frozen=True)
class Endpoints:
    directory: str
    kube_issuer: str
    control_plane: str
    service_id: str
    gateway_http: str
    gateway_https: str
    echo: str

    @property
    def sample_api(self) -> str:
        return f"{self.gateway_http}/{SAMPLE_API_PATH}{SAMPLE_CALL_PATH}"


def identity_profile(authority: str, tenant_id: str, identity: Credentials, ca: Path) -> str:
    """The managed identity's profile, shaped as the directory's admin.json."""
    document = {
        "authority": authority,
        "tenantId": tenant_id,
        "clientId": identity.client_id,
        "clientSecret": identity.client_secret,
        "caBundle": absolute(ca),
    }
    return json.dumps(document, indent=2) + "\n"


def env_file(
    authority: str, tenant_id: str, admin: Credentials, endpoints: Endpoints, layout: StateLayout
) -> str:
    """`source <state>/env`: what azure-identity's EnvironmentCredential reads (the
    administrator, Owner at /), the CA bundles, and where `tollhouse` finds this instance."""
    values = {
        "AZURE_AUTHORITY_HOST": authority,
        "AZURE_TENANT_ID": tenant_id,
        "AZURE_CLIENT_ID": admin.client_id,
        "AZURE_CLIENT_SECRET": admin.client_secret,
        "REQUESTS_CA_BUNDLE": absolute(layout.trust),
        "SSL_CERT_FILE": absolute(layout.trust),
        "TOLLHOUSE_PROFILE": absolute(layout.admin_profile),
        "TOLLHOUSE_CONTROL_PLANE": endpoints.control_plane,
        "TOLLHOUSE_SERVICE_ID": endpoints.service_id,
    }
    lines = [
        "# tollhouse dev: this instance's administrator, for `tollhouse ad|role|apim` and any",
        "# azure-identity program (EnvironmentCredential). Source it: . <state>/env",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def dev_document(facts: Facts, endpoints: Endpoints, layout: StateLayout) -> dict[str, Any]:
    """`<state>/dev.json`: everything a test or a script needs, one object."""
    return {
        "authority": facts.authority,
        "tenantId": facts.tenant_id,
        "caBundle": absolute(layout.ca),
        "controlPlane": {"url": endpoints.control_plane, "serviceId": endpoints.service_id},
        "gateway": {
            "name": GATEWAY_NAME,
            "http": endpoints.gateway_http,
            "https": endpoints.gateway_https,
        },
        "admin": {"clientId": facts.admin.client_id, "clientSecret": facts.admin.client_secret},
        "app": {
            "clientId": facts.app.client_id,
            "clientSecret": facts.app.client_secret,
            "certificatePath": absolute(facts.certificate),
        },
        "sampleApi": {"url": endpoints.sample_api, "subscriptionKey": facts.subscription_key},
    }


@dataclass(frozen=True)
class GatewayPorts:
    http: int
    https: int
    metrics: int


def gateway_settings(
    auth: str,
    facts: Facts,
    endpoints: Endpoints,
    layout: StateLayout,
    ports: GatewayPorts,
    gateway_token: str | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """The gateway's settings for `auth` (the seeds' ConfigMap, plus what a local setup needs)
    and, for workload identity, the variables the Azure workload identity webhook injects.

    The configuration backup is off: a gateway that starts from a backup answers its probe
    before it has authenticated, and `ready` is to mean that the chosen way to sign in works.
    """
    settings = {
        "gateway.name": GATEWAY_NAME,
        "config.service.endpoint": endpoints.control_plane,
        "config.service.caBundle": absolute(layout.ca),
        "config.backup.enabled": "false",
        "net.server.http.port": str(ports.http),
        "net.server.https.port": str(ports.https),
        "telemetry.metrics.port": str(ports.metrics),
    }
    injected: dict[str, str] = {}
    if auth in ("secret", "certificate"):
        settings.update(
            {
                "config.service.auth": "azureAdApp",
                "config.service.auth.azureAd.authority": facts.authority,
                "config.service.auth.azureAd.tenantId": facts.tenant_id,
                "config.service.auth.azureAd.clientId": facts.app.client_id,
            }
        )
        if auth == "secret":
            settings["config.service.auth.azureAd.clientSecret"] = facts.app.client_secret
        else:
            settings["config.service.auth.azureAd.certificatePath"] = absolute(facts.certificate)
    elif auth == "workload-identity":
        settings["config.service.auth"] = "workloadIdentity"
        injected = {
            "AZURE_CLIENT_ID": facts.app.client_id,
            "AZURE_TENANT_ID": facts.tenant_id,
            "AZURE_FEDERATED_TOKEN_FILE": absolute(layout.token_file),
            "AZURE_AUTHORITY_HOST": facts.authority,
        }
    elif auth == "gateway-key":
        if gateway_token is None:
            raise ValueError("gateway-key needs a gateway token")
        settings["config.service.auth"] = gateway_token
    else:
        raise ValueError(f"unknown auth mode {auth!r}")
    return settings, injected


def gateway_env_text(settings: Mapping[str, str]) -> str:
    """KEY=value lines, as `tollhouse gateway --env-file` (and a ConfigMap's data) take them."""
    header = "# The gateway's settings, written by tollhouse dev (APIM's names: docs/settings.md)\n"
    return header + "".join(f"{key}={value}\n" for key, value in settings.items())
