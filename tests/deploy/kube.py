"""Manifests read as a cluster reads them: checked against the Kubernetes JSON schemas, and a
pod's container turned into the environment and files the process inside it would see.

`container_environment` follows the kubelet: `envFrom` sources in order (a later one wins),
then `env` (which wins over all of them); Secret `data` is base64, `stringData` plain; a
missing source or key fails unless marked optional. Volumes are written under a local root
and every value naming a path under a mount is moved there, so that a settings loader can
open the files the pod would have.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE = "ghcr.io/tollhouse/tollhouse:0.1.0"
SEEDS = ROOT.parent / "shared" / "seeds"
# The chart's kubeVersion floor, and the newest release the validator ships schemas for.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")

# What the Azure workload identity webhook injects into a pod whose service account asks for
# it (entra.md §5.1); the token file's path is the webhook's.
WEBHOOK_TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token"
WEBHOOK_AUTHORITY = "https://login.microsoftonline.com/"

TENANT = "8f6e2c1a-3b4d-4e5f-9a0b-1c2d3e4f5a6b"
APP_ID = "0f5c6a3e-7e1d-4a49-9d55-1f0f6c1d2b3a"
# The seeds' placeholders and the Tollhouse manifests' own, with values of the right shape.
PLACEHOLDERS = {
    "service-name": "contoso",
    "entra-id-tenant-id": TENANT,
    "entra-id-app-id": APP_ID,
    "entra-id-client-secret": "app-secret-value",
    "gateway-id": "mygw",
    "gateway-name": "mygw",
    "namespace-name": "apim",
    "client-id": APP_ID,
    "tenant-id": TENANT,
    "control-plane-app-id": "5a1b2c3d-0000-4000-8000-00000000c0de",
    "control-plane-app-secret": "control-plane-secret-value",
    "gateway-app-id": APP_ID,
    "gateway-app-secret": "gateway-secret-value",
}

_PLACEHOLDER = re.compile(r"<[a-z0-9-]+>")

Document = dict[str, Any]


def load_documents(text: str) -> list[Document]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_file(path: Path) -> list[Document]:
    return load_documents(path.read_text(encoding="utf-8"))


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """The seeds' `<placeholder>` convention: every one must have a value here."""
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    left = sorted(set(_PLACEHOLDER.findall(text)))
    assert not left, f"placeholders without a test value: {left}"
    return text


def schema_errors(documents: Iterable[Document]) -> list[str]:
    """Every object against the strict schemas (unknown fields are errors) of each version."""
    errors = []
    for doc in documents:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{name} (Kubernetes {version}): {str(exc).splitlines()[0]}")
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(f"{name}: no schema for {doc.get('apiVersion')} in {version}")
    return errors


def find(documents: Iterable[Document], kind: str, name: str | None = None) -> Document:
    found = [
        d
        for d in documents
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def find_all(documents: Iterable[Document], kind: str) -> list[Document]:
    return [d for d in documents if d.get("kind") == kind]


def secret_values(secret: Document) -> dict[str, str | bytes]:
    values: dict[str, str | bytes] = {
        k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()
    }
    values.update(secret.get("stringData") or {})
    return values


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class Pod:
    """The process's view of one container of a Deployment's pod template."""

    environ: dict[str, str]
    root: Path
    mounts: dict[str, Document] = field(default_factory=dict)  # mountPath → volume
    labels: dict[str, str] = field(default_factory=dict)
    service_account: str = "default"

    def local(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")


def container_environment(
    documents: list[Document],
    root: Path,
    *,
    deployment: str | None = None,
    external: Mapping[tuple[str, str], Mapping[str, str | bytes]] | None = None,
) -> Pod:
    """The first container of `deployment`'s pod. `external` holds the objects the user makes
    outside the manifests, keyed by (kind, name): Secrets from `kubectl create secret` (a
    value may be bytes, as a PFX file is)."""
    objects: dict[tuple[str, str], dict[str, str | bytes]] = {}
    for doc in documents:
        if doc["kind"] == "ConfigMap":
            objects["ConfigMap", doc["metadata"]["name"]] = dict(doc.get("data") or {})
        elif doc["kind"] == "Secret":
            objects["Secret", doc["metadata"]["name"]] = secret_values(doc)
    for key, values in (external or {}).items():
        objects[key] = dict(values)

    def source(kind: str, name: str, optional: bool) -> dict[str, str | bytes] | None:
        if (kind, name) not in objects:
            assert optional, f"the pod needs {kind} {name}, which nothing provides"
            return None
        return objects[kind, name]

    spec = find(documents, "Deployment", deployment)["spec"]["template"]
    pod_spec = spec["spec"]
    container = pod_spec["containers"][0]
    environ: dict[str, str] = {}
    for entry in container.get("envFrom", []):
        ref_kind, ref = (
            ("ConfigMap", entry["configMapRef"])
            if "configMapRef" in entry
            else ("Secret", entry["secretRef"])
        )
        values = source(ref_kind, ref["name"], ref.get("optional", False))
        for key, value in (values or {}).items():
            environ[entry.get("prefix", "") + key] = _text(value)
    for entry in container.get("env", []):
        if "value" in entry:
            environ[entry["name"]] = str(entry["value"])
            continue
        value_from = entry["valueFrom"]
        ref_kind, ref = (
            ("Secret", value_from["secretKeyRef"])
            if "secretKeyRef" in value_from
            else ("ConfigMap", value_from["configMapKeyRef"])
        )
        optional = ref.get("optional", False)
        values = source(ref_kind, ref["name"], optional) or {}
        if ref["key"] not in values:
            assert optional, f"{ref_kind} {ref['name']} has no key {ref['key']}"
            continue
        environ[entry["name"]] = _text(values[ref["key"]])

    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    mounts: dict[str, Document] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        mounts[mount["mountPath"]] = volume
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
            if key not in volume:
                continue
            ref = volume[key]
            name = ref["secretName"] if kind == "Secret" else ref["name"]
            values = source(kind, name, ref.get("optional", False)) or {}
            items = ref.get("items") or [{"key": k, "path": k} for k in values]
            for item in items:
                assert item["key"] in values, f"{kind} {name} has no key {item['key']}"
                path = target / item["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                value = values[item["key"]]
                path.write_bytes(value if isinstance(value, bytes) else value.encode())

    def relocate(value: str) -> str:
        for mount_path in sorted(mounts, key=len, reverse=True):
            if value == mount_path or value.startswith(mount_path.rstrip("/") + "/"):
                return str(root / value.lstrip("/"))
        return value

    environ = {k: relocate(v) for k, v in environ.items()}
    return Pod(
        environ,
        root,
        mounts,
        dict(spec["metadata"].get("labels") or {}),
        pod_spec.get("serviceAccountName", "default"),
    )


def workload_identity_webhook(
    pod: Pod, service_account: Document | None, *, default_tenant: str, token: str
) -> None:
    """What the Azure workload identity webhook adds to a pod labelled
    `azure.workload.identity/use: "true"` whose service account names a client id."""
    if pod.labels.get("azure.workload.identity/use") != "true" or service_account is None:
        return
    annotations = service_account["metadata"].get("annotations") or {}
    token_file = pod.local(WEBHOOK_TOKEN_FILE)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token, encoding="utf-8")
    injected = {
        "AZURE_CLIENT_ID": annotations.get("azure.workload.identity/client-id", ""),
        "AZURE_TENANT_ID": annotations.get("azure.workload.identity/tenant-id", default_tenant),
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_AUTHORITY_HOST": WEBHOOK_AUTHORITY,
    }
    for name, value in injected.items():
        pod.environ.setdefault(name, value)
