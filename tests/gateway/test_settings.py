"""Gateway settings as APIM names them (DESIGN §1): every key's default, the four ways to
authenticate, and for each invalid value one line naming the key and never a secret."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from pathlib import Path

import pytest

from tollhouse.gateway._settings import AuthMode, GatewaySettings
from tollhouse.pki import KeyPair, self_signed_certificate
from tollhouse.settings import SettingsError

SIGNATURE = base64.b64encode(b"S" * 64).decode()
EXPIRY = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).strftime("%Y%m%d%H%M")
TOKEN = f"gw-one&{EXPIRY}&{SIGNATURE}"
SECRET = "s3cr3t-Value~never.shown"


def base(**extra: str) -> dict[str, str]:
    return {
        "config.service.endpoint": "contoso.configuration.azure-api.net",
        "config.service.auth": f"GatewayKey {TOKEN}",
        **extra,
    }


def refused(environ: dict[str, str], env_file: Path | None = None) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        GatewaySettings.load(environ, env_file)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"setting '{caught.value.key}'")
    for secret in (SIGNATURE, SECRET, TOKEN):
        assert secret not in message
    return caught.value


@pytest.fixture(scope="module")
def certificate() -> KeyPair:
    return self_signed_certificate("gateway-app")


# --- defaults --------------------------------------------------------------------------------


def test_every_key_has_its_documented_default() -> None:
    settings = GatewaySettings.load(base())
    assert settings.endpoint == "https://contoso.configuration.azure-api.net"
    assert settings.auth is AuthMode.GATEWAY_KEY
    assert settings.gateway_name == "gw-one"
    assert settings.token_audience == "https://azure-api.net/configuration"
    assert settings.scope == "https://azure-api.net/configuration/.default"
    assert settings.disable_certificate_validation is False
    assert settings.integration_timeout == 100.0
    assert settings.ca_bundle is None
    assert settings.events_wait == 30.0
    assert settings.retry_max_delay == 30.0
    assert settings.heartbeat_interval == 60.0
    assert settings.backup_enabled is True
    assert settings.backup_path == Path("/apim/config")
    assert (settings.http_port, settings.https_port, settings.metrics_port) == (8080, 8081, 9464)
    assert settings.neighborhood_host is None
    assert settings.neighborhood_heartbeat_port == 4291
    assert settings.rate_limit_sync_port == 4290
    assert (settings.logs_std, settings.logs_level) == ("text", "info")
    assert settings.metrics_local == "none"
    assert settings.metrics_cloud is True
    assert settings.opentelemetry_enabled is False
    assert settings.forwarded_proto_enabled is False
    assert settings.deployment == {}
    assert settings.identity is None


def test_every_key_is_read_when_given(tmp_path: Path) -> None:
    settings = GatewaySettings.load(
        base(
            **{
                "config.service.endpoint": "https://cp.example:9443/prefix/",
                "config.service.auth.tokenAudience": "https://azure-api.us/configuration",
                "config.service.endpoint.disableCertificateValidation": "true",
                "config.service.integration.timeout": "00:05:00",
                "config.service.events.wait": "10",
                "config.service.retry.maxDelay": "00:00:05",
                "heartbeat.interval": "2.5",
                "config.backup.enabled": "false",
                "config.backup.path": str(tmp_path),
                "net.server.http.port": "0",
                "net.server.https.port": "9443",
                "telemetry.metrics.port": "0",
                "neighborhood.host": "gw-instance-discovery",
                "neighborhood.heartbeat.port": "5291",
                "policy.rate-limit.sync.port": "5290",
                "telemetry.logs.std": "JSON",
                "telemetry.logs.std.level": "warn",
                "telemetry.metrics.local": "statsd",
                "telemetry.metrics.local.statsd.endpoint": "127.0.0.1:8125",
                "telemetry.metrics.cloud": "false",
                "observability.opentelemetry.enabled": "true",
                "observability.opentelemetry.collector.uri": "http://otel:4317",
                "net.server.http.forwarded.proto.enabled": "true",
            }
        )
    )
    assert settings.endpoint == "https://cp.example:9443/prefix"
    assert settings.scope == "https://azure-api.us/configuration/.default"
    assert settings.disable_certificate_validation is True
    assert settings.integration_timeout == 300.0
    assert settings.events_wait == 10.0
    assert settings.retry_max_delay == 5.0
    assert settings.heartbeat_interval == 2.5
    assert settings.backup_enabled is False
    assert settings.backup_path == tmp_path
    assert (settings.http_port, settings.https_port, settings.metrics_port) == (0, 9443, 0)
    assert settings.neighborhood_host == "gw-instance-discovery"
    assert (settings.neighborhood_heartbeat_port, settings.rate_limit_sync_port) == (5291, 5290)
    assert (settings.logs_std, settings.logs_level) == ("json", "warn")
    assert (settings.metrics_local, settings.statsd_endpoint) == ("statsd", "127.0.0.1:8125")
    assert settings.metrics_cloud is False
    assert settings.opentelemetry_collector_uri == "http://otel:4317"
    assert settings.forwarded_proto_enabled is True


# --- where settings come from ----------------------------------------------------------------


def test_upper_snake_names_are_read() -> None:
    settings = GatewaySettings.load(
        {
            "CONFIG_SERVICE_ENDPOINT": "cp.example",
            "CONFIG_SERVICE_AUTH": f"GatewayKey {TOKEN}",
            "CONFIG_SERVICE_INTEGRATION_TIMEOUT": "00:00:30",
            "POLICY_RATE_LIMIT_SYNC_PORT": "6000",
            "RUNTIME_DEPLOYMENT_MECHANISM": "Docker",
        }
    )
    assert settings.endpoint == "https://cp.example"
    assert settings.integration_timeout == 30.0
    assert settings.rate_limit_sync_port == 6000
    assert settings.deployment == {"runtime.deployment.mechanism": "Docker"}


def test_an_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env = tmp_path / "env.conf"
    env.write_text(
        "# written by the portal\n"
        "config.service.endpoint=cp-from-file.example\n"
        f'config.service.auth="GatewayKey {TOKEN}"\n'
        "runtime.deployment.mechanism=Docker\n"
        "runtime.deployment.artifact.source=Azure Portal\n"
    )
    settings = GatewaySettings.load({"runtime.deployment.mechanism": "Helm"}, env)
    assert settings.endpoint == "https://cp-from-file.example"
    assert settings.gateway_name == "gw-one"
    assert settings.deployment == {
        "runtime.deployment.artifact.source": "Azure Portal",
        "runtime.deployment.mechanism": "Helm",
    }


def test_a_missing_env_file_is_a_settings_error(tmp_path: Path) -> None:
    error = refused({}, tmp_path / "absent.conf")
    assert "absent.conf" in error.key


def test_unknown_keys_are_ignored_with_a_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tollhouse.gateway.settings"):
        GatewaySettings.load(base(**{"config.service.made.up": "1", "PATH": "/bin"}))
    assert "config.service.made.up" in caplog.text
    assert "PATH" not in caplog.text


def test_secrets_are_not_in_the_repr(certificate: KeyPair, tmp_path: Path) -> None:
    assert SIGNATURE not in repr(GatewaySettings.load(base()))
    settings = GatewaySettings.load(entra(**{"config.service.auth.azureAd.clientSecret": SECRET}))
    assert SECRET not in repr(settings)


# --- the four ways to authenticate -----------------------------------------------------------


@pytest.mark.parametrize("scheme", ["GatewayKey", "gatewaykey", "GATEWAYKEY"])
def test_a_gateway_key_literal_names_the_gateway_and_its_expiry(scheme: str) -> None:
    settings = GatewaySettings.load(base(**{"config.service.auth": f"{scheme} {TOKEN}"}))
    assert settings.gateway_token is not None
    assert settings.gateway_token.authorization == f"GatewayKey {TOKEN}"
    expected = dt.datetime.strptime(EXPIRY, "%Y%m%d%H%M").replace(tzinfo=dt.UTC)
    assert settings.credential_expires_at == expected


@pytest.mark.parametrize("value", [TOKEN, f"GatewayKey {TOKEN}"])
def test_key_mode_reads_the_token_with_or_without_its_prefix(value: str) -> None:
    settings = GatewaySettings.load(
        base(**{"config.service.auth": "Key", "config.service.auth.key": value})
    )
    assert settings.auth is AuthMode.GATEWAY_KEY
    assert settings.gateway_token is not None
    assert settings.gateway_token.authorization == f"GatewayKey {TOKEN}"


def test_gateway_name_may_repeat_the_tokens_gateway_in_any_case() -> None:
    settings = GatewaySettings.load(base(**{"gateway.name": "GW-ONE"}))
    assert settings.gateway_name == "GW-ONE"


def entra(**extra: str) -> dict[str, str]:
    return {
        "config.service.endpoint": "cp.example",
        "config.service.auth": "azureAdApp",
        "gateway.name": "gw-one",
        "config.service.auth.azureAd.tenantId": "contoso.onmicrosoft.com",
        "config.service.auth.azureAd.clientId": "00000000-0000-0000-0000-0000000000aa",
        **extra,
    }


def test_azure_ad_app_with_a_secret() -> None:
    settings = GatewaySettings.load(
        entra(
            **{
                "config.service.auth": "AZUREADAPP",
                "config.service.auth.azureAd.clientSecret": SECRET,
            }
        )
    )
    assert settings.auth is AuthMode.AZURE_AD_APP
    assert settings.identity is not None
    assert settings.identity.client_secret == SECRET
    assert settings.identity.authority == "https://login.microsoftonline.com"
    assert settings.credential_expires_at is None


@pytest.mark.parametrize("form", ["pem", "pfx", "pfx with password"])
def test_azure_ad_app_with_a_certificate(certificate: KeyPair, tmp_path: Path, form: str) -> None:
    extra: dict[str, str] = {}
    if form == "pem":
        path = tmp_path / "app.pem"
        path.write_bytes(certificate.combined_pem)
    else:
        password = b"pfx-pass" if "password" in form else None
        path = tmp_path / "app.pfx"
        path.write_bytes(certificate.pfx(password))
        if password:
            extra["config.service.auth.azureAd.certificatePassword"] = password.decode()
    settings = GatewaySettings.load(
        entra(
            **{
                "config.service.auth.azureAd.certificatePath": str(path),
                "config.service.auth.azureAd.authority": "login.example:8443",
                **extra,
            }
        )
    )
    assert settings.identity is not None
    assert settings.identity.certificate_path == path
    assert settings.identity.authority == "https://login.example:8443"
    assert settings.credential_expires_at == certificate.certificate.not_valid_after_utc


def test_workload_identity_reads_what_the_webhook_injects(tmp_path: Path) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("header.payload.signature")
    settings = GatewaySettings.load(
        {
            "config.service.endpoint": "cp.example",
            "config.service.auth": "WorkloadIdentity",
            "gateway.name": "gw-one",
            "AZURE_CLIENT_ID": "client-1",
            "AZURE_TENANT_ID": "tenant-1",
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
            "AZURE_AUTHORITY_HOST": "https://login.example/",
        }
    )
    assert settings.auth is AuthMode.WORKLOAD_IDENTITY
    assert settings.identity is not None
    assert settings.identity.client_id == "client-1"
    assert settings.identity.tenant_id == "tenant-1"
    assert settings.identity.federated_token_file == token_file
    assert settings.identity.authority == "https://login.example"
    assert "header.payload" not in repr(settings)


# --- each invalid value: one line naming the key ---------------------------------------------


def bad_certificate(tmp_path: Path) -> str:
    path = tmp_path / "broken.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    return str(path)


INVALID: list[tuple[str, dict[str, str], str]] = [
    ("no endpoint", {"config.service.endpoint": ""}, "config.service.endpoint"),
    ("http endpoint", {"config.service.endpoint": "http://cp.example"}, "config.service.endpoint"),
    ("endpoint port", {"config.service.endpoint": "cp.example:http"}, "config.service.endpoint"),
    ("endpoint query", {"config.service.endpoint": "cp.example/?a=b"}, "config.service.endpoint"),
    ("no auth", {"config.service.auth": ""}, "config.service.auth"),
    ("unknown auth", {"config.service.auth": "Basic " + SECRET}, "config.service.auth"),
    (
        "token, 2 parts",
        {"config.service.auth": f"GatewayKey gw&{SIGNATURE}"},
        "config.service.auth",
    ),
    (
        "token, bad expiry",
        {"config.service.auth": f"GatewayKey gw&20241301{'0' * 4}&{SIGNATURE}"},
        "config.service.auth",
    ),
    (
        "token, short expiry",
        {"config.service.auth": f"GatewayKey gw&2024&{SIGNATURE}"},
        "config.service.auth",
    ),
    (
        "token, signature not base64",
        {"config.service.auth": f"GatewayKey gw&{EXPIRY}&{SECRET}"},
        "config.service.auth",
    ),
    (
        "token, bad gateway",
        {"config.service.auth": f"GatewayKey gw/x&{EXPIRY}&{SIGNATURE}"},
        "config.service.auth",
    ),
    ("key without key", {"config.service.auth": "key"}, "config.service.auth.key"),
    (
        "key malformed",
        {"config.service.auth": "key", "config.service.auth.key": SECRET},
        "config.service.auth.key",
    ),
    ("gateway mismatch", {"gateway.name": "other"}, "gateway.name"),
    ("gateway invalid", {"gateway.name": "a b"}, "gateway.name"),
    (
        "timeout not a timespan",
        {"config.service.integration.timeout": "100"},
        "config.service.integration.timeout",
    ),
    (
        "timeout zero",
        {"config.service.integration.timeout": "00:00:00"},
        "config.service.integration.timeout",
    ),
    (
        "disable validation",
        {"config.service.endpoint.disableCertificateValidation": "maybe"},
        "config.service.endpoint.disableCertificateValidation",
    ),
    (
        "audience",
        {"config.service.auth.tokenAudience": "azure-api"},
        "config.service.auth.tokenAudience",
    ),
    ("ca bundle absent", {"config.service.caBundle": "/no/such/ca.pem"}, "config.service.caBundle"),
    ("events wait", {"config.service.events.wait": "0"}, "config.service.events.wait"),
    ("retry delay", {"config.service.retry.maxDelay": "soon"}, "config.service.retry.maxDelay"),
    ("heartbeat", {"heartbeat.interval": "0.1"}, "heartbeat.interval"),
    ("backup flag", {"config.backup.enabled": "y"}, "config.backup.enabled"),
    ("http port", {"net.server.http.port": "65536"}, "net.server.http.port"),
    ("https port", {"net.server.https.port": "-1"}, "net.server.https.port"),
    ("metrics port", {"telemetry.metrics.port": "x"}, "telemetry.metrics.port"),
    ("udp port", {"neighborhood.heartbeat.port": "0"}, "neighborhood.heartbeat.port"),
    ("sync port", {"policy.rate-limit.sync.port": "70000"}, "policy.rate-limit.sync.port"),
    ("log format", {"telemetry.logs.std": "xml"}, "telemetry.logs.std"),
    ("log level", {"telemetry.logs.std.level": "verbose"}, "telemetry.logs.std.level"),
    ("local metrics", {"telemetry.metrics.local": "prometheus"}, "telemetry.metrics.local"),
    (
        "statsd endpoint",
        {"telemetry.metrics.local": "statsd"},
        "telemetry.metrics.local.statsd.endpoint",
    ),
    ("cloud metrics", {"telemetry.metrics.cloud": "sometimes"}, "telemetry.metrics.cloud"),
    (
        "otel collector",
        {"observability.opentelemetry.enabled": "true"},
        "observability.opentelemetry.collector.uri",
    ),
    (
        "forwarded proto",
        {"net.server.http.forwarded.proto.enabled": "2"},
        "net.server.http.forwarded.proto.enabled",
    ),
    (
        "too many deployment keys",
        {f"runtime.deployment.k{i}": "v" for i in range(65)},
        "runtime.deployment.*",
    ),
]


@pytest.mark.parametrize(
    ("change", "key"), [(c, k) for _, c, k in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_an_invalid_value_names_its_key(change: dict[str, str], key: str) -> None:
    assert refused(base(**change)).key == key


ENTRA_INVALID: list[tuple[str, dict[str, str], str]] = [
    ("no gateway name", {"gateway.name": ""}, "gateway.name"),
    (
        "no tenant",
        {"config.service.auth.azureAd.tenantId": ""},
        "config.service.auth.azureAd.tenantId",
    ),
    (
        "tenant with a slash",
        {"config.service.auth.azureAd.tenantId": "a/b"},
        "config.service.auth.azureAd.tenantId",
    ),
    (
        "no client",
        {"config.service.auth.azureAd.clientId": ""},
        "config.service.auth.azureAd.clientId",
    ),
    ("neither secret nor certificate", {}, "config.service.auth.azureAd.clientSecret"),
    (
        "both secret and certificate",
        {
            "config.service.auth.azureAd.clientSecret": SECRET,
            "config.service.auth.azureAd.certificatePath": "/etc/hostname",
        },
        "config.service.auth.azureAd.clientSecret",
    ),
    (
        "certificate absent",
        {"config.service.auth.azureAd.certificatePath": "/no/such/app.pem"},
        "config.service.auth.azureAd.certificatePath",
    ),
    (
        "http authority",
        {
            "config.service.auth.azureAd.clientSecret": SECRET,
            "config.service.auth.azureAd.authority": "http://login.example",
        },
        "config.service.auth.azureAd.authority",
    ),
]


@pytest.mark.parametrize(
    ("change", "key"), [(c, k) for _, c, k in ENTRA_INVALID], ids=[i for i, _, _ in ENTRA_INVALID]
)
def test_an_invalid_entra_value_names_its_key(change: dict[str, str], key: str) -> None:
    assert refused(entra(**change)).key == key


def test_a_broken_certificate_names_its_key(tmp_path: Path) -> None:
    error = refused(
        entra(**{"config.service.auth.azureAd.certificatePath": bad_certificate(tmp_path)})
    )
    assert error.key == "config.service.auth.azureAd.certificatePath"


def test_a_wrong_pfx_password_is_refused_without_echoing_it(
    certificate: KeyPair, tmp_path: Path
) -> None:
    path = tmp_path / "app.pfx"
    path.write_bytes(certificate.pfx(b"right-password"))
    error = refused(
        entra(
            **{
                "config.service.auth.azureAd.certificatePath": str(path),
                "config.service.auth.azureAd.certificatePassword": SECRET,
            }
        )
    )
    assert error.key == "config.service.auth.azureAd.certificatePath"


def test_a_ca_bundle_without_certificates_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("nothing here\n")
    assert refused(base(**{"config.service.caBundle": str(path)})).key == "config.service.caBundle"


@pytest.mark.parametrize(
    ("missing", "key"),
    [
        ("AZURE_CLIENT_ID", "AZURE_CLIENT_ID"),
        ("AZURE_TENANT_ID", "AZURE_TENANT_ID"),
        ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE"),
    ],
)
def test_workload_identity_without_what_the_webhook_injects(
    tmp_path: Path, missing: str, key: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("a.b.c")
    environ = {
        "config.service.endpoint": "cp.example",
        "config.service.auth": "workloadIdentity",
        "gateway.name": "gw-one",
        "AZURE_CLIENT_ID": "client-1",
        "AZURE_TENANT_ID": "tenant-1",
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
    }
    del environ[missing]
    assert refused(environ).key == key


def test_workload_identity_with_a_token_file_that_is_not_there(tmp_path: Path) -> None:
    environ = {
        "config.service.endpoint": "cp.example",
        "config.service.auth": "workloadIdentity",
        "gateway.name": "gw-one",
        "AZURE_CLIENT_ID": "client-1",
        "AZURE_TENANT_ID": "tenant-1",
        "AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "absent"),
    }
    assert refused(environ).key == "AZURE_FEDERATED_TOKEN_FILE"


def test_an_expired_gateway_token_still_loads_so_the_backup_can_be_served() -> None:
    expired = f"gw-one&202001010000&{SIGNATURE}"
    settings = GatewaySettings.load(base(**{"config.service.auth": f"GatewayKey {expired}"}))
    assert settings.credential_expires_at == dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
