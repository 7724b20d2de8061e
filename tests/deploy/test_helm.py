"""deploy/helm/tollhouse-gateway: the APIM chart's value names and defaults, rendered by a
real Helm, valid against the Kubernetes schemas, and giving the gateway's process the
environment it expects for each way of authenticating — including the seed documents' own
`helm install` lines."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kube import (
    APP_ID,
    DEPLOY,
    IMAGE,
    PLACEHOLDERS,
    SEEDS,
    TENANT,
    Document,
    Pod,
    container_environment,
    fill_placeholders,
    find,
    find_all,
    load_documents,
    schema_errors,
    workload_identity_webhook,
)
from tollhouse.gateway._settings import AuthMode, GatewaySettings
from tollhouse.pki import CertificateAuthority, self_signed_certificate

CHART = DEPLOY / "helm" / "tollhouse-gateway"
RELEASE = "azure-api-management-gateway"
FULLNAME = f"{RELEASE}-tollhouse-gateway"
URI = "https://contoso.configuration.azure-api.net"
TOKEN = "GatewayKey mygw&209912312359&c2lnbmF0dXJlIG9mIHRoZSB0b2tlbg=="
HELM_TIMEOUT = 60
# The seeds' helm lines, with the chart repository's name for ours.
APIM_CHART = "azure-apim-gateway/azure-api-management-gateway"
SEED_HELM_PLACEHOLDERS = {
    **PLACEHOLDERS,
    "gateway-url": URI,
    "entra-id-secret": "app-secret-value",
}

Loader = Callable[[Mapping[str, str]], GatewaySettings]


def helm_run(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=HELM_TIMEOUT, check=False
    )


def render(helm: Path, *args: str, release: str = RELEASE) -> list[Document]:
    """`helm template`, which must succeed, and every object valid against the schemas."""
    done = helm_run(helm, "template", release, str(CHART), *args)
    assert done.returncode == 0, done.stderr
    documents = load_documents(done.stdout)
    assert schema_errors(documents) == []
    return documents


def render_error(helm: Path, *args: str) -> str:
    done = helm_run(helm, "template", RELEASE, str(CHART), *args)
    assert done.returncode != 0, "the chart rendered"
    return done.stderr


def sets(values: Mapping[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def pod_of(
    documents: list[Document],
    root: Path,
    external: Mapping[tuple[str, str], Mapping[str, str | bytes]] | None = None,
) -> Pod:
    pod = container_environment(documents, root, external=external)
    accounts = find_all(documents, "ServiceAccount")
    workload_identity_webhook(
        pod,
        accounts[0] if accounts else None,
        default_tenant=TENANT,
        token="projected.jwt.token",
    )
    return pod


def deployment_spec(documents: list[Document]) -> dict[str, Any]:
    return find(documents, "Deployment")["spec"]["template"]["spec"]


GATEWAY_TOKEN = {"gateway.configuration.uri": URI, "gateway.auth.key": TOKEN}
AZURE_AD_APP = {
    "gateway.name": "mygw",
    "gateway.configuration.uri": URI,
    "gateway.auth.type": "AzureAdApp",
    "gateway.auth.azureAd.tenant.id": TENANT,
    "gateway.auth.azureAd.app.id": APP_ID,
    "gateway.auth.azureAd.app.secret": "app-secret-value",
}
WORKLOAD_IDENTITY = {
    "gateway.name": "mygw",
    "gateway.configuration.uri": URI,
    "gateway.auth.type": "WorkloadIdentity",
    "gateway.auth.azureAd.app.id": APP_ID,
}


# --- lint -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [GATEWAY_TOKEN, AZURE_AD_APP, WORKLOAD_IDENTITY],
    ids=["GatewayToken", "AzureAdApp", "WorkloadIdentity"],
)
def test_helm_lint_passes_strictly_for_each_auth_type(helm: Path, values: dict[str, str]) -> None:
    done = helm_run(helm, "lint", "--strict", str(CHART), *sets(values))
    assert done.returncode == 0, done.stdout + done.stderr


# --- the seed documents' helm lines ----------------------------------------------------------


def seed_helm_block(auth_type: str) -> str:
    if not SEEDS.is_dir():
        pytest.fail(f"the seed documents are expected at {SEEDS} (shared/ beside the repository)")
    blocks = [
        block
        for seed in sorted(SEEDS.glob("*.txt"))
        for block in re.findall(r"```[Cc]onsole\n(.*?)```", seed.read_text(encoding="utf-8"), re.S)
        if "helm install" in block and f"gateway.auth.type='{auth_type}'" in block
    ]
    assert len(blocks) == 1
    return fill_placeholders(blocks[0], SEED_HELM_PLACEHOLDERS)


def as_template(argv: list[str]) -> list[str]:
    """`helm install --name X <APIM chart> --set …` → the arguments after `helm template X
    <our chart>`."""
    assert argv[:3] == ["helm", "install", "--name"], argv
    assert argv[4] == APIM_CHART, argv
    assert argv[3] == RELEASE
    return argv[5:]


def shell_commands(block: str) -> list[list[str]]:
    """The commands a shell runs from `block`: a line without a trailing backslash ends one."""
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_seed_entra_helm_line_as_written_deploys_an_azure_ad_app(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    """The seed's block, read as one command as its author meant: it sets
    `gateway.name=='…'` (a doubled '=') and the secret as
    `config.service.auth.azureAd.clientSecret`; both are understood."""
    block = seed_helm_block("AzureAdApp")
    argv = shlex.split(block.replace("\\\n", " ").replace("\n", " "))
    assert "gateway.name==mygw" in argv
    documents = render(helm, *as_template(argv))
    settings = load_gateway_settings(pod_of(documents, tmp_path).environ)
    assert settings.auth is AuthMode.AZURE_AD_APP
    assert settings.gateway_name == "mygw"
    assert settings.endpoint == URI
    assert settings.identity is not None
    assert (settings.identity.tenant_id, settings.identity.client_id) == (TENANT, APP_ID)
    assert settings.identity.client_secret == "app-secret-value"
    secret = find(documents, "Secret")
    assert set(secret["data"]) == {"azure-ad-app-secret"}
    assert "app-secret-value" not in yaml.safe_dump(find(documents, "ConfigMap"))


def test_the_seed_entra_helm_line_as_a_shell_runs_it_fails_naming_the_missing_secret(
    helm: Path,
) -> None:
    """A shell ends the command at the line without a backslash, before the secret: the
    chart refuses to render a gateway that could not authenticate."""
    commands = shell_commands(seed_helm_block("AzureAdApp"))
    assert len(commands) == 2 and commands[1][0] == "--set"
    error = render_error(helm, *as_template(commands[0]))
    assert "AzureAdApp needs gateway.auth.azureAd.app.secret" in error


def test_the_seed_workload_identity_helm_line_deploys_a_workload_identity(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    commands = shell_commands(seed_helm_block("WorkloadIdentity"))
    assert len(commands) == 1
    documents = render(helm, *as_template(commands[0]))
    account = find(documents, "ServiceAccount")
    assert account["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"] == APP_ID
    spec = find(documents, "Deployment")["spec"]["template"]
    assert spec["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert spec["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert find_all(documents, "Secret") == []
    settings = load_gateway_settings(pod_of(documents, tmp_path).environ)
    assert settings.auth is AuthMode.WORKLOAD_IDENTITY
    assert settings.gateway_name == "mygw"
    assert settings.identity is not None
    assert settings.identity.client_id == APP_ID
    assert settings.identity.tenant_id == TENANT


# --- each auth type ---------------------------------------------------------------------------


def test_a_gateway_token_goes_through_a_secret_to_config_service_auth(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    documents = render(helm, *sets(GATEWAY_TOKEN))
    assert TOKEN not in yaml.safe_dump(find(documents, "ConfigMap"))
    env = deployment_spec(documents)["containers"][0]["env"]
    assert env[0]["name"] == "config.service.auth"
    assert env[0]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": "gateway-key"}
    settings = load_gateway_settings(pod_of(documents, tmp_path).environ)
    assert settings.auth is AuthMode.GATEWAY_KEY
    assert settings.gateway_token is not None
    assert settings.gateway_token.authorization == TOKEN
    assert settings.gateway_name == "mygw"


def test_a_gateway_token_without_its_scheme_gets_it(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    """The ARM generateToken API answers the token without `GatewayKey `."""
    bare = TOKEN.removeprefix("GatewayKey ")
    documents = render(helm, *sets({**GATEWAY_TOKEN, "gateway.auth.key": bare}))
    settings = load_gateway_settings(pod_of(documents, tmp_path).environ)
    assert settings.gateway_token is not None
    assert settings.gateway_token.authorization == TOKEN


def test_a_gateway_token_in_an_existing_secret(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    documents = render(
        helm,
        *sets(
            {
                "gateway.configuration.uri": URI,
                "secret.createSecret": "false",
                "secret.existingSecretName": "my-gateway-token",
            }
        ),
    )
    assert find_all(documents, "Secret") == []
    external = {("Secret", "my-gateway-token"): {"gateway-key": TOKEN}}
    settings = load_gateway_settings(pod_of(documents, tmp_path, external).environ)
    assert settings.auth is AuthMode.GATEWAY_KEY


def test_an_azure_ad_app_with_the_apim_value_names(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    authority = "https://login.microsoftonline.us"
    documents = render(helm, *sets({**AZURE_AD_APP, "gateway.auth.azureAd.authority": authority}))
    settings = load_gateway_settings(pod_of(documents, tmp_path).environ)
    assert settings.auth is AuthMode.AZURE_AD_APP
    assert settings.identity is not None
    assert settings.identity.authority == authority
    assert settings.identity.client_secret == "app-secret-value"
    env = deployment_spec(documents)["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": "azure-ad-app-secret"}


def test_an_azure_ad_app_with_a_certificate_given_to_the_chart(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    pair = self_signed_certificate("gateway-app")
    pem = tmp_path / "app.pem"
    pem.write_bytes(pair.combined_pem)
    values = {k: v for k, v in AZURE_AD_APP.items() if not k.endswith("app.secret")}
    documents = render(
        helm, *sets(values), "--set-file", f"gateway.auth.azureAd.app.certificate.pem={pem}"
    )
    assert set(find(documents, "Secret")["data"]) == {"azure-ad-app-certificate"}
    pod = pod_of(documents, tmp_path / "pod")
    settings = load_gateway_settings(pod.environ)
    assert settings.auth is AuthMode.AZURE_AD_APP
    assert settings.identity is not None
    assert settings.identity.client_secret is None
    assert settings.identity.certificate_path is not None
    assert settings.identity.certificate_path.read_bytes() == pair.combined_pem
    assert settings.credential_expires_at == pair.certificate.not_valid_after_utc
    assert "config.service.auth.azureAd.certificatePassword" not in pod.environ


def test_an_azure_ad_app_with_a_password_protected_pfx_from_a_secret_of_ones_own(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    pair = self_signed_certificate("gateway-app")
    values = {k: v for k, v in AZURE_AD_APP.items() if not k.endswith("app.secret")}
    documents = render(
        helm,
        *sets(
            {
                **values,
                "gateway.auth.azureAd.app.certificate.existingSecretName": "gateway-app-cert",
                "gateway.auth.azureAd.app.certificate.key": "app.pfx",
                "gateway.auth.azureAd.app.certificate.passwordKey": "password",
            }
        ),
    )
    assert find_all(documents, "Secret") == []
    external = {
        ("Secret", "gateway-app-cert"): {
            "app.pfx": pair.pfx(b"pfx-password"),
            "password": "pfx-password",
        }
    }
    settings = load_gateway_settings(pod_of(documents, tmp_path, external).environ)
    assert settings.auth is AuthMode.AZURE_AD_APP
    assert settings.identity is not None
    assert settings.identity.certificate_password == "pfx-password"
    assert settings.credential_expires_at == pair.certificate.not_valid_after_utc


def test_workload_identity_names_the_tenant_on_the_service_account_when_given(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    other = "11111111-2222-4333-8444-555555555555"
    documents = render(helm, *sets({**WORKLOAD_IDENTITY, "gateway.auth.azureAd.tenant.id": other}))
    account = find(documents, "ServiceAccount")
    assert account["metadata"]["annotations"]["azure.workload.identity/tenant-id"] == other
    settings = load_gateway_settings(pod_of(documents, tmp_path).environ)
    assert settings.identity is not None
    assert settings.identity.tenant_id == other


def test_a_private_ca_for_the_configuration_endpoint(
    helm: Path, tmp_path: Path, ca: CertificateAuthority, load_gateway_settings: Loader
) -> None:
    documents = render(
        helm,
        *sets(
            {
                **AZURE_AD_APP,
                "gateway.configuration.caBundle.existingSecretName": "tollhouse-ca",
                "gateway.auth.azureAd.authority": "https://tollhouse-directory.tollhouse.svc:8443",
            }
        ),
    )
    external = {("Secret", "tollhouse-ca"): {"ca.crt": ca.pair.certificate_pem.decode()}}
    settings = load_gateway_settings(pod_of(documents, tmp_path, external).environ)
    assert settings.ca_bundle is not None
    assert settings.ca_bundle.read_bytes() == ca.pair.certificate_pem
    assert settings.identity is not None
    assert settings.identity.ca_bundle == settings.ca_bundle


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"gateway.auth.key": TOKEN}, "gateway.configuration.uri is required"),
        ({**GATEWAY_TOKEN, "gateway.auth.type": "Kerberos"}, "gateway.auth.type must be"),
        ({"gateway.configuration.uri": URI}, "gateway.auth.key is required with GatewayToken"),
        ({**AZURE_AD_APP, "gateway.name": ""}, "gateway.name is required"),
        (
            {**AZURE_AD_APP, "gateway.auth.azureAd.tenant.id": ""},
            "gateway.auth.azureAd.tenant.id is required",
        ),
        (
            {**WORKLOAD_IDENTITY, "gateway.auth.azureAd.app.id": ""},
            "gateway.auth.azureAd.app.id is required with WorkloadIdentity",
        ),
        (
            {**AZURE_AD_APP, "gateway.auth.azureAd.app.certificate.existingSecretName": "c"},
            "not both",
        ),
        (
            {**GATEWAY_TOKEN, "secret.createSecret": "false"},
            "secret.existingSecretName is required",
        ),
    ],
    ids=[
        "no-uri",
        "unknown-type",
        "no-token",
        "no-gateway-name",
        "no-tenant",
        "no-client-id",
        "secret-and-certificate",
        "no-secret-name",
    ],
)
def test_the_chart_refuses_what_would_not_start(
    helm: Path, values: dict[str, str], message: str
) -> None:
    assert message in render_error(helm, *sets(values))


# --- values -------------------------------------------------------------------------------


def dotted(values: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(values, dict) or not values:
        return {prefix: values}
    flat: dict[str, Any] = {}
    for key, value in values.items():
        flat.update(dotted(value, f"{prefix}.{key}" if prefix else key))
    return flat


def test_values_have_the_apim_chart_names_and_defaults() -> None:
    """apim-self-hosted-gateway.md §5 (chart 1.15.1), for the values both charts have."""
    defaults = dotted(yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8")))
    expected = {
        "replicaCount": 3,
        "image.pullPolicy": "IfNotPresent",
        "imagePullSecrets": [],
        "nameOverride": "",
        "fullnameOverride": "",
        "gateway.name": "",
        "gateway.deployment.terminationGracePeriodSeconds": 60,
        "gateway.deployment.strategy": {},
        "gateway.deployment.network.proxy.http": "",
        "gateway.deployment.network.proxy.https": "",
        "gateway.deployment.network.proxy.bypass": "",
        "gateway.deployment.dns.hostAliases": [],
        "gateway.deployment.annotations": {},
        "gateway.configuration.uri": "",
        "gateway.configuration.backup.enabled": False,
        "gateway.configuration.backup.persistentVolumeClaim.existingName": "",
        "gateway.configuration.backup.persistentVolumeClaim.create": True,
        "gateway.configuration.backup.persistentVolumeClaim.storageClassName": None,
        "gateway.configuration.backup.persistentVolumeClaim.accessMode": "ReadWriteMany",
        "gateway.configuration.backup.persistentVolumeClaim.size": "50Mi",
        "gateway.configuration.additional": {},
        "gateway.auth.type": "GatewayToken",
        "gateway.auth.key": "",
        "gateway.auth.azureAd.tenant.id": "",
        "gateway.auth.azureAd.authority": "",
        "gateway.auth.azureAd.app.id": "",
        "gateway.auth.azureAd.app.secret": "",
        "secret.createSecret": True,
        "secret.existingSecretName": "",
        "observability.logs.std.format": "text",
        "observability.logs.std.level": "info",
        "observability.azureMonitor.metrics.enabled": True,
        "observability.opentelemetry.enabled": False,
        "observability.statsD.enabled": False,
        "service.type": "ClusterIP",
        "service.loadBalancer.allocateNodePorts": True,
        "service.ports.http": 8080,
        "service.ports.https": 8081,
        "service.ports.instance.synchronization": 4290,
        "service.ports.instance.heartbeat": 4291,
        "service.annotations": {},
        "serviceAccount.name": "",
        "serviceAccount.create": True,
        "serviceAccount.annotations": {},
        "serviceAccount.labels": {},
        "probes.readiness.httpGet.path": "/status-0123456789abcdef",
        "probes.readiness.httpGet.port": "http",
        "probes.liveness.httpGet.path": "/status-0123456789abcdef",
        "probes.liveness.httpGet.port": "http",
        "probes.startup.httpGet.path": "/status-0123456789abcdef",
        "probes.startup.httpGet.port": "http",
        "resources": {},
        "highAvailability.enabled": True,
        "highAvailability.disruption.maximumUnavailable": "25%",
        "highAvailability.podTopologySpread.whenUnsatisfiable": "ScheduleAnyway",
        "nodeSelector": {},
        "tolerations": [],
        "affinity": {},
        "securityContext": {},
        "podSecurityContext": {},
        "commonLabels": {},
        "priorityClassName": "",
    }
    assert {k: defaults.get(k, "<missing>") for k in expected} == expected
    assert defaults["image.repository"] + ":0.1.0" == IMAGE


def test_defaults_render_three_spread_replicas_with_a_disruption_budget_and_probes(
    helm: Path,
) -> None:
    documents = render(helm, *sets(GATEWAY_TOKEN))
    deployment = find(documents, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["image"] == IMAGE
    assert container["args"] == ["gateway"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/status-0123456789abcdef", "port": "http"}
    assert {(p["name"], p["containerPort"], p["protocol"]) for p in container["ports"]} == {
        ("http", 8080, "TCP"),
        ("https", 8081, "TCP"),
        ("rate-limit-dc", 4290, "UDP"),
        ("dc-heartbeat", 4291, "UDP"),
    }
    assert spec["terminationGracePeriodSeconds"] == 60
    [spread] = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert find(documents, "PodDisruptionBudget")["spec"]["maxUnavailable"] == "25%"
    assert find_all(documents, "PersistentVolumeClaim") == []
    assert "volumes" not in spec


def test_the_instance_discovery_service_is_headless_and_is_the_neighborhood_host(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    documents = render(
        helm,
        *sets(
            {
                **GATEWAY_TOKEN,
                "service.ports.instance.synchronization": "14290",
                "service.ports.instance.heartbeat": "14291",
            }
        ),
    )
    settings = load_gateway_settings(pod_of(documents, tmp_path).environ)
    discovery = find(documents, "Service", settings.neighborhood_host)
    assert discovery["spec"]["clusterIP"] == "None"
    assert [(p["port"], p["targetPort"], p["protocol"]) for p in discovery["spec"]["ports"]] == [
        (14290, "rate-limit-dc", "UDP"),
        (14291, "dc-heartbeat", "UDP"),
    ]
    # The gateway's own UDP ports are the container's, whatever the Service's.
    assert (settings.rate_limit_sync_port, settings.neighborhood_heartbeat_port) == (4290, 4291)


def test_service_values(helm: Path) -> None:
    documents = render(
        helm,
        *sets(
            {
                **GATEWAY_TOKEN,
                "service.type": "LoadBalancer",
                "service.ports.http": "80",
                "service.ports.https": "443",
                "service.loadBalancer.ip": "203.0.113.10",
                "service.loadBalancer.allocateNodePorts": "false",
                "service.externalTrafficPolicy": "Local",
                "service.annotations.team": "edge",
            }
        ),
    )
    service = find(documents, "Service", FULLNAME)
    assert service["metadata"]["annotations"] == {"team": "edge"}
    spec = service["spec"]
    assert (spec["type"], spec["externalTrafficPolicy"]) == ("LoadBalancer", "Local")
    assert (spec["loadBalancerIP"], spec["allocateLoadBalancerNodePorts"]) == (
        "203.0.113.10",
        False,
    )
    assert [(p["port"], p["targetPort"]) for p in spec["ports"]] == [(80, "http"), (443, "https")]


def test_the_backup_on_a_claim_owned_by_group_1001(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    documents = render(
        helm, *sets({**GATEWAY_TOKEN, "gateway.configuration.backup.enabled": "true"})
    )
    claim = find(documents, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Mi"
    assert "storageClassName" not in claim["spec"]
    spec = deployment_spec(documents)
    assert spec["securityContext"] == {"fsGroup": 1001}
    pod = pod_of(documents, tmp_path)
    assert (
        pod.mounts["/apim/config"]["persistentVolumeClaim"]["claimName"]
        == claim["metadata"]["name"]
    )
    assert load_gateway_settings(pod.environ).backup_path == Path("/apim/config")


def test_the_backup_on_an_existing_claim_keeps_the_given_pod_security_context(helm: Path) -> None:
    documents = render(
        helm,
        *sets(
            {
                **GATEWAY_TOKEN,
                "gateway.configuration.backup.enabled": "true",
                "gateway.configuration.backup.persistentVolumeClaim.existingName": "shared-backup",
                "podSecurityContext.fsGroup": "2000",
                "podSecurityContext.runAsNonRoot": "true",
            }
        ),
    )
    assert find_all(documents, "PersistentVolumeClaim") == []
    spec = deployment_spec(documents)
    assert spec["securityContext"] == {"fsGroup": 2000, "runAsNonRoot": True}
    [volume] = spec["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == "shared-backup"


def test_pod_values_pass_through(helm: Path) -> None:
    documents = render(
        helm,
        *sets(
            {
                **GATEWAY_TOKEN,
                "highAvailability.enabled": "false",
                "replicaCount": "1",
                "resources.requests.cpu": "2",
                "resources.requests.memory": "2Gi",
                "securityContext.allowPrivilegeEscalation": "false",
                "probes.readiness.periodSeconds": "5",
                "nodeSelector.kubernetes\\.io/os": "linux",
                "priorityClassName": "gateway-critical",
                "gateway.deployment.annotations.team": "edge",
                "image.tag": "0.1.1",
            }
        ),
    )
    assert find_all(documents, "PodDisruptionBudget") == []
    template = find(documents, "Deployment")["spec"]["template"]
    spec = template["spec"]
    container = spec["containers"][0]
    assert "topologySpreadConstraints" not in spec
    assert container["resources"] == {"requests": {"cpu": 2, "memory": "2Gi"}}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}
    assert container["readinessProbe"]["periodSeconds"] == 5
    assert container["image"] == "ghcr.io/tollhouse/tollhouse:0.1.1"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["priorityClassName"] == "gateway-critical"
    assert template["metadata"]["annotations"]["team"] == "edge"


def test_a_service_account_of_ones_own(helm: Path) -> None:
    documents = render(
        helm,
        *sets({**GATEWAY_TOKEN, "serviceAccount.create": "false", "serviceAccount.name": "gw"}),
    )
    assert find_all(documents, "ServiceAccount") == []
    assert deployment_spec(documents)["serviceAccountName"] == "gw"


def test_settings_values_reach_the_gateway(
    helm: Path, tmp_path: Path, load_gateway_settings: Loader
) -> None:
    documents = render(
        helm,
        *sets(
            {
                **GATEWAY_TOKEN,
                "observability.logs.std.format": "json",
                "observability.azureMonitor.metrics.enabled": "false",
                "observability.statsD.enabled": "true",
                "observability.statsD.endpoint": "statsd.monitoring:8125",
                "observability.opentelemetry.enabled": "true",
                "observability.opentelemetry.collector.uri": "http://otel:4317",
                "gateway.deployment.network.proxy.https": "http://proxy:3128",
                # --set splits on commas; a value's own are escaped.
                "gateway.deployment.network.proxy.bypass": "localhost\\,.svc",
            }
        ),
        "--set-string",
        "gateway.configuration.additional.telemetry\\.logs\\.std\\.level=warn",
        "--set-string",
        "gateway.configuration.additional.config\\.service\\.integration\\.timeout=00:05:00",
    )
    pod = pod_of(documents, tmp_path)
    settings = load_gateway_settings(pod.environ)
    assert (settings.logs_std, settings.logs_level) == ("json", "warn")
    assert settings.metrics_cloud is False
    assert (settings.metrics_local, settings.statsd_endpoint) == (
        "statsd",
        "statsd.monitoring:8125",
    )
    assert settings.opentelemetry_collector_uri == "http://otel:4317"
    assert settings.integration_timeout == 300
    assert (pod.environ["HTTPS_PROXY"], pod.environ["NO_PROXY"]) == (
        "http://proxy:3128",
        "localhost,.svc",
    )
    assert settings.deployment["runtime.deployment.mechanism"] == "Helm"
    assert settings.deployment["runtime.deployment.orchestrator.type"] == "Kubernetes"


def test_a_settings_change_rolls_the_pods(helm: Path) -> None:
    first = find(render(helm, *sets(GATEWAY_TOKEN)), "Deployment")
    second = find(
        render(helm, *sets({**GATEWAY_TOKEN, "observability.logs.std.level": "warn"})), "Deployment"
    )
    annotations = [d["spec"]["template"]["metadata"]["annotations"] for d in (first, second)]
    assert annotations[0]["checksum/config"] != annotations[1]["checksum/config"]
