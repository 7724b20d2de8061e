"""Gateway settings as APIM names them (DESIGN §1): every key's default, the four ways to
authenticate, and for each invalid value one line naming the key and never a secret."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from pathlib import Path

import pytest

from tollhouse.gateway._settings import (
    POLICY_LIMIT_KEYS,
    SERVER_LIMIT_KEYS,
    UPSTREAM_LIMIT_KEYS,
    AuthMode,
    GatewaySettings,
    _limit_error,
)
from tollhouse.gateway.http import ServerLimits, UpstreamLimits
from tollhouse.gateway.policies import PolicyLimits
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
    assert settings.gc_young_threshold == 50_000


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
                "runtime.gc.youngThreshold": "2000",
            }
        )
    )
    assert settings.gc_young_threshold == 2000
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


# --- the HTTP layer's limits (net.server.http.*, net.client.http.*) ---------------------------

SERVER_KEYS_GIVEN = {
    "net.server.http.maxRequestTargetSize": "4096",
    "net.server.http.maxHeaderSize": "16384",
    "net.server.http.maxHeaderCount": "50",
    "net.server.http.maxBodySize": "1048576",
    "net.server.http.maxDrainSize": "0",
    "net.server.http.bodyHighWater": "131072",
    "net.server.http.bodyLowWater": "32768",
    "net.server.http.maxPipelinedRequests": "4",
    "net.server.http.maxConnections": "500",
    "net.server.http.maxConnectionsPerClient": "20",
    "net.server.http.listenBacklog": "128",
    "net.server.http.headerTimeout": "5",
    "net.server.http.bodyTimeout": "00:00:30",
    "net.server.http.keepAliveTimeout": "120",
    "net.server.http.writeTimeout": "2.5",
    "net.server.http.tlsHandshakeTimeout": "3",
    "net.server.http.lingerTimeout": "0.5",
    "net.server.http.shutdownGracePeriod": "00:01:00",
}
UPSTREAM_KEYS_GIVEN = {
    "net.client.http.maxConnectionsPerOrigin": "10",
    "net.client.http.maxIdlePerOrigin": "0",
    "net.client.http.idleTimeout": "1.5",
    "net.client.http.connectTimeout": "00:00:02",
    "net.client.http.bodyTimeout": "90",
    "net.client.http.maxResponseHeadSize": "8192",
    "net.client.http.maxResponseHeaders": "40",
}


def test_the_http_limits_default_to_the_constants_next_to_their_code() -> None:
    settings = GatewaySettings.load(base())
    assert settings.server_limits == ServerLimits()
    assert settings.upstream_limits == UpstreamLimits()
    assert settings.server_limits.max_body_size == 100 * 1024 * 1024
    assert settings.server_limits.max_connections_per_client is None
    assert settings.upstream_limits.connect_timeout == 5.0
    assert settings.trusted_proxies == ()


def test_every_server_limit_key_sets_its_field() -> None:
    settings = GatewaySettings.load(base(**SERVER_KEYS_GIVEN))
    assert settings.server_limits == ServerLimits(
        max_request_target=4096,
        max_header_block=16384,
        max_header_count=50,
        max_body_size=1048576,
        max_drain_size=0,
        body_high_water=131072,
        body_low_water=32768,
        max_pipelined_requests=4,
        max_connections=500,
        max_connections_per_client=20,
        listen_backlog=128,
        header_timeout=5.0,
        body_timeout=30.0,
        keepalive_timeout=120.0,
        write_timeout=2.5,
        tls_handshake_timeout=3.0,
        linger_timeout=0.5,
        shutdown_grace=60.0,
    )


def test_every_upstream_limit_key_sets_its_field() -> None:
    settings = GatewaySettings.load(base(**UPSTREAM_KEYS_GIVEN))
    assert settings.upstream_limits == UpstreamLimits(
        max_connections_per_origin=10,
        max_idle_per_origin=0,
        idle_timeout=1.5,
        connect_timeout=2.0,
        body_timeout=90.0,
        max_response_head_size=8192,
        max_response_headers=40,
    )


def test_every_field_of_both_limits_has_a_key() -> None:
    assert set(SERVER_LIMIT_KEYS) == set(ServerLimits.__dataclass_fields__)
    assert set(UPSTREAM_LIMIT_KEYS) == set(UpstreamLimits.__dataclass_fields__)
    assert set(SERVER_LIMIT_KEYS.values()) == set(SERVER_KEYS_GIVEN)
    assert set(UPSTREAM_LIMIT_KEYS.values()) == set(UPSTREAM_KEYS_GIVEN)


def test_limit_keys_are_read_in_upper_snake_form_and_from_an_env_file(tmp_path: Path) -> None:
    env = tmp_path / "env.conf"
    env.write_text("net.client.http.maxResponseHeaders=12\n")
    settings = GatewaySettings.load(
        base(NET_SERVER_HTTP_MAXBODYSIZE="2048", NET_CLIENT_HTTP_IDLETIMEOUT="00:00:01"), env
    )
    assert settings.server_limits.max_body_size == 2048
    assert settings.upstream_limits.idle_timeout == 1.0
    assert settings.upstream_limits.max_response_headers == 12


@pytest.mark.parametrize("word", ["none", "None", "NONE"])
def test_none_lifts_the_limits_that_may_be_lifted(word: str) -> None:
    settings = GatewaySettings.load(
        base(
            **{
                "net.server.http.maxBodySize": word,
                "net.server.http.maxConnectionsPerClient": word,
            }
        )
    )
    assert settings.server_limits.max_body_size is None
    assert settings.server_limits.max_connections_per_client is None


def test_a_body_limit_of_zero_allows_no_body_and_a_grace_of_zero_cancels_at_once() -> None:
    settings = GatewaySettings.load(
        base(
            **{
                "net.server.http.maxBodySize": "0",
                "net.server.http.shutdownGracePeriod": "0",
            }
        )
    )
    assert settings.server_limits.max_body_size == 0
    assert settings.server_limits.shutdown_grace == 0.0


INVALID_LIMITS: list[tuple[str, str]] = [
    ("net.server.http.maxRequestTargetSize", "8k"),
    ("net.server.http.maxRequestTargetSize", "0"),
    ("net.server.http.maxHeaderSize", "-1"),
    ("net.server.http.maxHeaderCount", "0"),
    ("net.server.http.maxBodySize", "-1"),
    ("net.server.http.maxBodySize", "100MiB"),
    ("net.server.http.maxDrainSize", "none"),
    ("net.server.http.maxDrainSize", "-5"),
    ("net.server.http.bodyHighWater", "0"),
    ("net.server.http.bodyLowWater", "-1"),
    ("net.server.http.maxPipelinedRequests", "0"),
    ("net.server.http.maxConnections", "none"),
    ("net.server.http.maxConnections", "0"),
    ("net.server.http.maxConnectionsPerClient", "0"),
    ("net.server.http.listenBacklog", "0"),
    ("net.server.http.headerTimeout", "0"),
    ("net.server.http.headerTimeout", "-1"),
    ("net.server.http.bodyTimeout", "soon"),
    ("net.server.http.keepAliveTimeout", "00:00:00"),
    ("net.server.http.writeTimeout", "nan"),
    ("net.server.http.tlsHandshakeTimeout", "inf"),
    ("net.server.http.lingerTimeout", "1.00:00:01"),
    ("net.server.http.shutdownGracePeriod", "-1"),
    ("net.client.http.maxConnectionsPerOrigin", "0"),
    ("net.client.http.maxIdlePerOrigin", "-1"),
    ("net.client.http.idleTimeout", "0"),
    ("net.client.http.connectTimeout", "0.0"),
    ("net.client.http.bodyTimeout", "1e3"),
    ("net.client.http.maxResponseHeadSize", "0"),
    ("net.client.http.maxResponseHeaders", "many"),
    ("net.server.http.forwarded.trustedProxies", "127.0.0.1/32, proxy.local"),
    ("net.server.http.forwarded.trustedProxies", "10.0.0.0/33"),
]


@pytest.mark.parametrize(("key", "value"), INVALID_LIMITS)
def test_an_invalid_limit_names_its_key(key: str, value: str) -> None:
    assert refused(base(**{key: value})).key == key


@pytest.mark.parametrize(("low", "high"), [("65536", "65536"), ("100", "50")])
def test_a_low_water_mark_not_below_the_high_one_names_the_low_one(low: str, high: str) -> None:
    error = refused(
        base(**{"net.server.http.bodyLowWater": low, "net.server.http.bodyHighWater": high})
    )
    assert error.key == "net.server.http.bodyLowWater"
    assert "net.server.http.bodyHighWater" in str(error)


def test_the_default_low_water_mark_is_checked_against_a_lowered_high_one() -> None:
    error = refused(base(**{"net.server.http.bodyHighWater": "1024"}))
    assert error.key == "net.server.http.bodyLowWater"


def test_a_dataclass_check_becomes_an_error_naming_the_key_of_its_field() -> None:
    with pytest.raises(ValueError) as server:
        ServerLimits(body_low_water=10, body_high_water=10)
    assert _limit_error(server.value, SERVER_LIMIT_KEYS).key == "net.server.http.bodyLowWater"
    with pytest.raises(ValueError) as timeout:
        ServerLimits(body_timeout=0)
    assert _limit_error(timeout.value, SERVER_LIMIT_KEYS).key == "net.server.http.bodyTimeout"
    with pytest.raises(ValueError) as upstream:
        UpstreamLimits(max_idle_per_origin=-1)
    error = _limit_error(upstream.value, UPSTREAM_LIMIT_KEYS)
    assert error.key == "net.client.http.maxIdlePerOrigin"
    assert "\n" not in str(error)
    unnamed = _limit_error(ValueError("something else"), UPSTREAM_LIMIT_KEYS)
    assert unnamed.key == "net.client.http.*"


def test_trusted_proxies_are_networks_and_bare_addresses() -> None:
    settings = GatewaySettings.load(
        base(**{"net.server.http.forwarded.trustedProxies": " 127.0.0.1, 10.1.2.3/8,, ::1 "})
    )
    assert [str(network) for network in settings.trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]


def test_the_limit_keys_are_not_reported_as_unknown(caplog: pytest.LogCaptureFixture) -> None:
    given = {
        **SERVER_KEYS_GIVEN,
        **UPSTREAM_KEYS_GIVEN,
        "net.server.http.forwarded.trustedProxies": "127.0.0.1/32",
        "net.server.http.maxBodySizes": "1",
    }
    with caplog.at_level(logging.DEBUG, logger="tollhouse.gateway.settings"):
        GatewaySettings.load(base(**given))
    unknown = [r.getMessage() for r in caplog.records if "unknown setting" in r.getMessage()]
    assert unknown == ["ignoring unknown setting net.server.http.maxBodySizes"]


@pytest.mark.parametrize("value", ["0", "99", "10000001", "many"])
def test_a_collector_threshold_out_of_range_is_refused(value: str) -> None:
    error = refused(base(**{"runtime.gc.youngThreshold": value}))
    assert error.key == "runtime.gc.youngThreshold"


# --- the policy engine's limits (policies.*, telemetry.metrics.maxCustomSeries) ----------------

POLICY_KEYS_GIVEN = {
    "policies.expressions.maxBodySize": "1024",
    "policies.forward-request.maxBufferedBodySize": "2048",
    "policies.conversion.maxBodySize": "4096",
    "policies.send-request.maxResponseBodySize": "8192",
    "policies.send-request.maxCopiedBodySize": "16384",
    "policies.send-one-way-request.maxInFlight": "3",
    "policies.document.maxSize": "65536",
    "policies.document.maxDepth": "16",
    "policies.document.maxElements": "500",
    "policies.include-fragment.maxNesting": "2",
    "policies.counters.maxKeys": "1000",
    "telemetry.metrics.maxCustomSeries": "50",
}


def test_the_policy_limits_default_to_their_named_constants() -> None:
    settings = GatewaySettings.load(base())
    assert settings.policy_limits == PolicyLimits()
    assert settings.policy_limits.max_expression_body == 10 * 1024 * 1024
    assert settings.policy_limits.max_document_size == 256 * 1024
    assert settings.policy_limits.max_custom_series == 2000


def test_every_policy_limit_key_sets_its_field() -> None:
    settings = GatewaySettings.load(base(**POLICY_KEYS_GIVEN))
    assert settings.policy_limits == PolicyLimits(
        max_expression_body=1024,
        max_buffered_body=2048,
        max_converted_body=4096,
        max_send_response_body=8192,
        max_copied_body=16384,
        max_one_way_in_flight=3,
        max_document_size=65536,
        max_document_depth=16,
        max_document_elements=500,
        max_fragment_nesting=2,
        max_counter_keys=1000,
        max_custom_series=50,
    )


def test_every_field_of_the_policy_limits_has_a_key() -> None:
    assert set(POLICY_LIMIT_KEYS) == set(PolicyLimits.__dataclass_fields__)
    assert set(POLICY_LIMIT_KEYS.values()) == set(POLICY_KEYS_GIVEN)


def test_policy_limit_keys_are_read_in_upper_snake_form_and_from_an_env_file(
    tmp_path: Path,
) -> None:
    env = tmp_path / "env.conf"
    env.write_text("policies.document.maxDepth=8\n")
    settings = GatewaySettings.load(
        base(
            POLICIES_SEND_ONE_WAY_REQUEST_MAXINFLIGHT="4",
            TELEMETRY_METRICS_MAXCUSTOMSERIES="7",
        ),
        env,
    )
    assert settings.policy_limits.max_one_way_in_flight == 4
    assert settings.policy_limits.max_custom_series == 7
    assert settings.policy_limits.max_document_depth == 8


INVALID_POLICY_LIMITS: list[tuple[str, str]] = [
    ("policies.expressions.maxBodySize", "0"),
    ("policies.expressions.maxBodySize", "10MiB"),
    ("policies.forward-request.maxBufferedBodySize", "-1"),
    ("policies.conversion.maxBodySize", "none"),
    ("policies.send-request.maxResponseBodySize", "0"),
    ("policies.send-request.maxCopiedBodySize", "1.5"),
    ("policies.send-one-way-request.maxInFlight", "0"),
    ("policies.document.maxSize", "0"),
    ("policies.document.maxDepth", "0"),
    ("policies.document.maxDepth", "33"),
    ("policies.document.maxElements", "many"),
    ("policies.include-fragment.maxNesting", "17"),
    ("policies.counters.maxKeys", "0"),
    ("telemetry.metrics.maxCustomSeries", "-3"),
]


@pytest.mark.parametrize(("key", "value"), INVALID_POLICY_LIMITS)
def test_an_invalid_policy_limit_names_its_key(key: str, value: str) -> None:
    assert refused(base(**{key: value})).key == key


def test_a_policy_limit_over_its_most_says_how_far_it_may_go() -> None:
    error = refused(base(**{"policies.document.maxDepth": "64"}))
    assert "at most 288" in str(error)
    traded = {"policies.document.maxDepth": "64", "policies.include-fragment.maxNesting": "3"}
    assert GatewaySettings.load(base(**traded)).policy_limits.max_document_depth == 64


def test_the_policy_limit_keys_are_not_reported_as_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    given = {**POLICY_KEYS_GIVEN, "policies.document.maxSizes": "1"}
    with caplog.at_level(logging.DEBUG, logger="tollhouse.gateway.settings"):
        GatewaySettings.load(base(**given))
    unknown = [r.getMessage() for r in caplog.records if "unknown setting" in r.getMessage()]
    assert unknown == ["ignoring unknown setting policies.document.maxSizes"]
