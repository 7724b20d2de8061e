"""deploy/kubernetes: the seed documents' two manifests with our image and nothing else
changed, and the directory, control plane and gateway for a cluster without Azure."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.kube import (
    APP_ID,
    DEPLOY,
    IMAGE,
    PLACEHOLDERS,
    ROOT,
    SEEDS,
    TENANT,
    Document,
    container_environment,
    fill_placeholders,
    find,
    find_all,
    load_documents,
    load_file,
    schema_errors,
    workload_identity_webhook,
)
from tollhouse.controlplane import ControlPlaneConfig
from tollhouse.directory import DirectoryConfig
from tollhouse.gateway._settings import AuthMode, GatewaySettings
from tollhouse.pki import CertificateAuthority
from tollhouse.settings import SettingsSource

KUBERNETES = DEPLOY / "kubernetes"
TOLLHOUSE = KUBERNETES / "tollhouse"
APIM_IMAGE = "mcr.microsoft.com/azure-api-management/gateway:v2"
ENTRA = KUBERNETES / "apim-gateway-entra-id.yaml"
WORKLOAD_IDENTITY = KUBERNETES / "apim-gateway-workload-identity.yaml"

Loader = Callable[[Mapping[str, str]], GatewaySettings]


def manifests() -> list[Path]:
    return sorted(KUBERNETES.rglob("*.yaml"))


def filled(path: Path) -> list[Document]:
    return load_documents(fill_placeholders(path.read_text(encoding="utf-8"), PLACEHOLDERS))


def seed_manifest(marker: str) -> str:
    """The YAML block of the seed document whose manifest holds `marker`."""
    if not SEEDS.is_dir():
        pytest.fail(f"the seed documents are expected at {SEEDS} (shared/ beside the repository)")
    blocks = [
        block
        for seed in sorted(SEEDS.glob("*.txt"))
        for block in re.findall(r"```yml\n(.*?)```", seed.read_text(encoding="utf-8"), re.S)
        if marker in block
    ]
    assert len(blocks) == 1, f"expected one seed manifest with {marker}"
    return blocks[0]


# --- every manifest --------------------------------------------------------------------------


@pytest.mark.parametrize("path", manifests(), ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    documents = load_file(path)
    assert documents
    assert schema_errors(documents) == []


@pytest.mark.parametrize("path", manifests(), ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_every_container_runs_our_image_at_the_package_version(path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert IMAGE.endswith(f":{version}")
    for deployment in find_all(load_file(path), "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == IMAGE


# --- the seed documents' manifests -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "marker"),
    [(ENTRA, "config.service.auth: azureAdApp"), (WORKLOAD_IDENTITY, "workloadIdentity")],
    ids=["entra-id", "workload-identity"],
)
def test_a_seed_manifest_is_the_seed_text_with_only_the_image_changed(
    path: Path, marker: str
) -> None:
    seed = seed_manifest(marker).splitlines()
    ours = path.read_text(encoding="utf-8").splitlines()
    assert len(ours) == len(seed)
    changed = [(s, o) for s, o in zip(seed, ours, strict=True) if s.rstrip() != o.rstrip()]
    assert changed == [
        (f"        image: {APIM_IMAGE}", f"        image: {IMAGE}"),
    ]


def test_the_entra_app_manifest_gives_the_gateway_an_azure_ad_app_with_a_secret(
    tmp_path: Path, load_gateway_settings: Loader
) -> None:
    pod = container_environment(filled(ENTRA), tmp_path)
    settings = load_gateway_settings(pod.environ)
    assert settings.auth is AuthMode.AZURE_AD_APP
    assert settings.gateway_name == "mygw"
    assert settings.endpoint == "https://contoso.configuration.azure-api.net"
    assert settings.identity is not None
    assert settings.identity.client_secret == "app-secret-value"
    assert (settings.identity.tenant_id, settings.identity.client_id) == (TENANT, APP_ID)


def test_the_workload_identity_manifest_gives_the_gateway_the_webhook_identity(
    tmp_path: Path, load_gateway_settings: Loader
) -> None:
    documents = filled(WORKLOAD_IDENTITY)
    pod = container_environment(documents, tmp_path)
    account = find(documents, "ServiceAccount", pod.service_account)
    workload_identity_webhook(pod, account, default_tenant=TENANT, token="projected.jwt.token")
    settings = load_gateway_settings(pod.environ)
    assert settings.auth is AuthMode.WORKLOAD_IDENTITY
    assert settings.gateway_name == "mygw"
    assert settings.identity is not None
    assert settings.identity.client_id == APP_ID
    assert settings.identity.federated_token_file is not None
    assert settings.identity.federated_token_file.read_text() == "projected.jwt.token"


# --- Tollhouse without Azure ------------------------------------------------------------------


class RecordingSource(SettingsSource):
    """A settings source that remembers every key asked for."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)
        self.asked: set[str] = set()

    def get(self, key: str) -> str | None:
        self.asked.add(key)
        return super().get(key)


@pytest.fixture(scope="module")
def stack() -> list[Document]:
    return [doc for path in sorted(TOLLHOUSE.glob("*.yaml")) for doc in filled(path)]


@pytest.fixture
def tls_secrets(ca: CertificateAuthority) -> dict[tuple[str, str], dict[str, str]]:
    """The Secrets docs/deployment.md has the user create: the CA and two server certificates
    for the Services' names."""
    secrets = {("Secret", "tollhouse-ca"): {"ca.crt": ca.pair.certificate_pem.decode()}}
    for service in ("tollhouse-directory", "tollhouse-control-plane"):
        pair = ca.issue_server(
            [f"{service}.tollhouse.svc", f"{service}.tollhouse.svc.cluster.local"]
        )
        secrets["Secret", f"{service}-tls"] = {
            "tls.crt": pair.certificate_pem.decode(),
            "tls.key": pair.private_key_pem.decode(),
        }
    return secrets


def service_url(documents: list[Document], url: str) -> Document:
    """The Service a `https://<name>.<namespace>.svc:<port>` URL reaches (asserting it does)."""
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.hostname is not None
    name, namespace, *rest = parts.hostname.split(".")
    assert rest in (["svc"], ["svc", "cluster", "local"]), url
    service = find(documents, "Service", name)
    assert service["metadata"]["namespace"] == namespace
    assert parts.port in [p["port"] for p in service["spec"]["ports"]], url
    return service


def directory_config(stack: list[Document]) -> DirectoryConfig:
    return DirectoryConfig.from_settings(
        SettingsSource(find(stack, "ConfigMap", "tollhouse-directory")["data"])
    )


def check_files_and_state(pod_env: Mapping[str, str], data_key: str, pod_root: Path) -> None:
    for key, value in pod_env.items():
        if key.endswith(("Path", "caBundle")):
            assert Path(value).is_file(), f"{key} names {value}, which the pod does not have"
    data_dir = Path(pod_env[data_key])
    assert data_dir.is_relative_to(pod_root), f"{data_key} is not on a volume"


def test_the_directory_reads_every_setting_it_is_given_and_has_its_files(
    stack: list[Document], tls_secrets: dict, tmp_path: Path
) -> None:
    pod = container_environment(
        stack, tmp_path, deployment="tollhouse-directory", external=tls_secrets
    )
    source = RecordingSource(pod.environ)
    config = DirectoryConfig.from_settings(source)
    given = {k for k in pod.environ if k.startswith("directory.")}
    assert given - source.asked == set()
    check_files_and_state(pod.environ, "directory.dataDir", tmp_path)
    assert "persistentVolumeClaim" in pod.mounts["/var/lib/tollhouse"]
    assert config.host == "0.0.0.0"
    for url in config.urls:
        service_url(stack, url)
    # The administrator's profile, and the CLI's copy of it, are kept on the volume.
    for profile in (config.admin_profile_path, Path(pod.environ["TOLLHOUSE_PROFILE"])):
        assert profile.is_relative_to(tmp_path / "var/lib/tollhouse"), profile


def test_the_control_plane_reads_every_setting_and_reaches_the_directory(
    stack: list[Document], tls_secrets: dict, tmp_path: Path
) -> None:
    pod = container_environment(
        stack, tmp_path, deployment="tollhouse-control-plane", external=tls_secrets
    )
    source = RecordingSource(pod.environ)
    config = ControlPlaneConfig.from_settings(source)
    given = {k for k in pod.environ if k.startswith("controlplane.")}
    assert given - source.asked == set()
    check_files_and_state(pod.environ, "controlplane.dataDir", tmp_path)
    assert config.identity.client_secret == "control-plane-secret-value"
    directory = directory_config(stack)
    assert config.identity.authority == directory.authority
    assert config.service_id == (
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/tollhouse"
        "/providers/Microsoft.ApiManagement/service/tollhouse"
    )


def test_the_gateway_authenticates_as_an_app_of_the_directory_and_trusts_its_ca(
    stack: list[Document], tls_secrets: dict, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    pod = container_environment(
        stack, tmp_path, deployment="tollhouse-gateway", external=tls_secrets
    )
    settings = load_gateway_settings(pod.environ)
    assert settings.auth is AuthMode.AZURE_AD_APP
    assert settings.identity is not None
    assert settings.identity.client_secret == "gateway-secret-value"
    assert settings.ca_bundle is not None
    directory = directory_config(stack)
    assert settings.identity.authority == directory.authority
    control_plane = service_url(stack, settings.endpoint)
    assert control_plane["metadata"]["name"] == "tollhouse-control-plane"
    directory_pod = find(stack, "Deployment", "tollhouse-directory")["spec"]["template"]["spec"]
    cli_env = {e["name"]: e.get("value") for e in directory_pod["containers"][0]["env"]}
    assert cli_env["TOLLHOUSE_CONTROL_PLANE"] == settings.endpoint
    # Instances find each other through the headless Service, over the two UDP ports.
    discovery = find(stack, "Service", settings.neighborhood_host)
    assert discovery["spec"]["clusterIP"] == "None"
    assert {(p["port"], p["protocol"]) for p in discovery["spec"]["ports"]} == {
        (4290, "UDP"),
        (4291, "UDP"),
    }


def test_the_stack_applies_in_order_namespace_first() -> None:
    files = sorted(p.name for p in TOLLHOUSE.glob("*.yaml"))
    assert files[0] == "00-namespace.yaml"
    namespaces = {
        doc["metadata"].get("namespace")
        for path in TOLLHOUSE.glob("*.yaml")
        for doc in load_file(path)
        if doc["kind"] != "Namespace"
    }
    assert namespaces == {find(load_file(TOLLHOUSE / files[0]), "Namespace")["metadata"]["name"]}


def test_no_manifest_holds_a_credential() -> None:
    """Secrets in the manifests carry placeholders only: the real values are the user's."""
    for path in manifests():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc["kind"] == "Secret":
                values = (doc.get("stringData") or {}) | (doc.get("data") or {})
                assert all(re.fullmatch(r"<[a-z0-9-]+>", v) for v in values.values()), path
