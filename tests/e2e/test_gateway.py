"""The gateway end to end: real directory, control plane, backend and gateway processes.

Each of the four ways to authenticate reaches a served API; changes arrive through the feed;
the control plane can go away and come back; broken configurations are refused; SIGTERM
loses no request.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningDirectory, RunningKubeIssuer
from tests.controlplane.conftest import Roles, RunningControlPlane, assign, start_control_plane
from tests.directory.helpers import make_app
from tests.e2e.conftest import (
    Backend,
    GatewayRun,
    Headers,
    Service,
    add_api,
    checked,
    gateway_token,
    manage,
    publish,
    start_gateway,
)
from tollhouse.controlplane import build_control_plane_server
from tollhouse.controlplane.model import ResourcePath
from tollhouse.serving import start_in_thread


def serve(
    cp: RunningControlPlane,
    headers: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp: Path,
    settings: dict[str, str] | None = None,
) -> tuple[Service, GatewayRun]:
    """A published API and a ready gateway authenticating with a GatewayKey token."""
    service = publish(cp, headers, backend)
    run = start_gateway(
        cp,
        tmp,
        {"config.service.auth": gateway_token(cp, headers, service.gateway), **(settings or {})},
    )
    gateways.append(run)
    run.wait_ready()
    return service, run


def call(run: GatewayRun, api: str, key: str | None, path: str = "/hello?x=1") -> httpx.Response:
    headers = {"Ocp-Apim-Subscription-Key": key} if key else {}
    return run.get(f"/{api}{path}", headers=headers)


def eventually(check: object, timeout: float = 20.0) -> float:
    """Seconds until `check()` is true; fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- the four authentication modes ---------------------------------------------------------


def test_gateway_key_mode_serves_an_api_and_strips_the_key(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service = publish(control_plane, operator, backend)
    token = gateway_token(control_plane, operator, service.gateway)
    run = start_gateway(control_plane, tmp_path, {"config.service.auth": token})
    gateways.append(run)
    run.wait_ready()

    response = call(run, service.api, service.key)
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["path"] == "/backend/hello" and seen["query"] == "x=1"
    assert "ocp-apim-subscription-key" not in seen["headers"]
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"

    by_query = run.get(f"/{service.api}/hello?subscription-key={service.key}&y=2")
    assert by_query.status_code == 200
    assert by_query.json()["query"] == "y=2"

    missing = call(run, service.api, None)
    assert missing.status_code == 401
    assert "missing subscription key" in missing.json()["message"]
    assert call(run, service.api, "0" * 32).status_code == 401
    assert run.get("/no-such-api/x").status_code == 404


def test_key_mode_reads_the_token_from_its_own_setting(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service = publish(control_plane, operator, backend)
    token = gateway_token(control_plane, operator, service.gateway)
    run = start_gateway(
        control_plane,
        tmp_path,
        {
            "config.service.auth": "key",
            "config.service.auth.key": token,
        },
    )
    gateways.append(run)
    run.wait_ready()
    assert call(run, service.api, service.key).status_code == 200


def test_azure_ad_app_mode_with_a_secret(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    directory_server: RunningDirectory,
    seed_roles: Roles,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service = publish(control_plane, operator, backend)
    app = make_app(directory_server)
    assign(directory_server, app.principal_id, seed_roles.reader, control_plane.service_id)
    run = start_gateway(
        control_plane,
        tmp_path,
        {
            "config.service.auth": "azureAdApp",
            "gateway.name": service.gateway,
            "config.service.auth.azureAd.authority": directory_server.url,
            "config.service.auth.azureAd.tenantId": directory_server.tenant_id,
            "config.service.auth.azureAd.clientId": app.app_id,
            "config.service.auth.azureAd.clientSecret": app.secret or "",
        },
    )
    gateways.append(run)
    run.wait_ready()
    assert call(run, service.api, service.key).status_code == 200
    assert (app.secret or "x") not in run.log.read_text()


def test_workload_identity_mode_with_the_projected_token_file(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    directory_server: RunningDirectory,
    seed_roles: Roles,
    kube_issuer: RunningKubeIssuer,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service = publish(control_plane, operator, backend)
    app = make_app(
        directory_server, secret=False, federated=(kube_issuer.issuer_url, kube_issuer.subject)
    )
    assign(directory_server, app.principal_id, seed_roles.reader, control_plane.service_id)
    run = start_gateway(
        control_plane,
        tmp_path,
        {
            "config.service.auth": "workloadIdentity",
            "gateway.name": service.gateway,
            "AZURE_CLIENT_ID": app.app_id,
            "AZURE_TENANT_ID": directory_server.tenant_id,
            "AZURE_FEDERATED_TOKEN_FILE": str(kube_issuer.token_file),
            "AZURE_AUTHORITY_HOST": directory_server.url + "/",
            "REQUESTS_CA_BUNDLE": directory_server.ca_bundle,
            "SSL_CERT_FILE": directory_server.ca_bundle,
        },
    )
    gateways.append(run)
    run.wait_ready()
    assert call(run, service.api, service.key).status_code == 200


# --- changes, outages, backups -------------------------------------------------------------


def test_an_api_added_through_the_management_api_is_served_within_a_second(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    fresh = f"fresh-{uuid.uuid4().hex[:6]}"
    assert call(run, fresh, None).status_code == 404
    add_api(control_plane, operator, backend, service.gateway, fresh)
    checked(
        manage(
            control_plane,
            operator,
            "PATCH",
            f"apis/{fresh}",
            {"properties": {"subscriptionRequired": False}},
        )
    )
    elapsed = eventually(lambda: call(run, fresh, None).status_code == 200, timeout=10)
    assert elapsed < 5  # a hang catcher; the figure is reported by the bench and the note


def test_outages_backups_and_catching_up(
    directory_server: RunningDirectory,
    seed_roles: Roles,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    cp = start_control_plane(
        directory_server, tmp_path / "cp", service_name="outage", validated=True, roles=seed_roles
    )
    try:
        service = publish(cp, operator, backend)
        settings = {"config.service.auth": gateway_token(cp, operator, service.gateway)}
        first = start_gateway(cp, tmp_path, settings)
        gateways.append(first)
        first.wait_ready()
        assert call(first, service.api, service.key).status_code == 200

        # The control plane goes away: traffic continues.
        cp.handle.stop()
        for _ in range(5):
            assert call(first, service.api, service.key).status_code == 200

        # A gateway started while it is away serves from the backup.
        assert first.stop() in (0, -15)
        second = start_gateway(cp, tmp_path, settings, backup=first.backup)
        gateways.append(second)
        second.wait_ready()
        assert call(second, service.api, service.key).status_code == 200

        # A tampered backup is refused: no configuration, 503, never an empty 200.
        tampered = tmp_path / "tampered"
        tampered.mkdir()
        original = json.loads((first.backup / "snapshot.lock.json").read_text())
        text = json.dumps(original).replace(service.api, "forged-api")
        (tampered / "snapshot.lock.json").write_text(text)
        third = start_gateway(cp, tmp_path, settings, backup=tampered)
        gateways.append(third)
        assert third.wait_listening().status_code == 503
        time.sleep(1)
        assert third.get("/status-0123456789abcdef").status_code == 503
        assert call(third, service.api, service.key).status_code == 503

        # Changes made while the control plane was away flow in when it returns.
        missed = f"missed-{uuid.uuid4().hex[:6]}"
        cp.service.put(
            ResourcePath("apis", (missed,)),
            {
                "path": missed,
                "serviceUrl": f"{backend.url}/backend",
                "subscriptionRequired": False,
                "protocols": ["http"],
            },
        )
        cp.service.put(
            ResourcePath("apis", (missed,)).child("operations", "any"),
            {"method": "GET", "urlTemplate": "/*", "displayName": "any"},
        )
        cp.service.put(ResourcePath("gateways", (service.gateway,)).child("apis", missed), {})
        _, server = build_control_plane_server(
            cp.service.config, Path(directory_server.ca_bundle).parent
        )
        cp.handle = start_in_thread(server)
        eventually(lambda: call(second, missed, None).status_code == 200, timeout=30)
        eventually(lambda: call(third, missed, None).status_code == 200, timeout=30)
    finally:
        cp.handle.stop()
        cp.service.store.close()


def test_a_broken_configuration_is_rejected_reported_and_the_last_good_kept(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)
    # Two operations whose templates differ only in query order: one route for the gateway.
    for name, template in (("a", "/q?a={a}&b={b}"), ("b", "/q?b={b}&a={a}")):
        checked(
            manage(
                control_plane,
                operator,
                "PUT",
                f"apis/{service.api}/operations/dup-{name}",
                {"properties": {"method": "PUT", "urlTemplate": template, "displayName": name}},
            )
        )

    def reported() -> bool:
        status = checked(
            manage(control_plane, operator, "GET", f"gateways/{service.gateway}/status")
        )
        return any(i["status"]["rejectedRevision"] for i in status["instances"])

    eventually(reported, timeout=30)
    assert call(run, service.api, service.key).status_code == 200
    assert "rejected" in run.log.read_text().lower()


def test_sigterm_under_load_loses_no_request(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service, run = serve(control_plane, operator, backend, gateways, tmp_path)

    async def load() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = [
                asyncio.create_task(
                    client.get(
                        f"{run.http}/{service.api}/slow?sleep=1",
                        headers={"Ocp-Apim-Subscription-Key": service.key},
                    )
                )
                for _ in range(40)
            ]
            await asyncio.sleep(0.4)
            run.process.send_signal(15)
            responses = await asyncio.gather(*tasks)
            return [r.status_code for r in responses]

    statuses = asyncio.run(load())
    assert statuses == [200] * 40
    assert run.process.wait(30) in (0, -15)


@pytest.mark.parametrize("path", ["/status-0123456789abcdef", "/internal-status-0123456789abcdef"])
def test_probes_answer_once_ready(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
    path: str,
) -> None:
    _, run = serve(control_plane, operator, backend, gateways, tmp_path)
    assert run.get(path).status_code == 200


def test_prometheus_metrics_on_their_own_port(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    from tollhouse.serving._server import free_port

    port = free_port()
    service, run = serve(
        control_plane,
        operator,
        backend,
        gateways,
        tmp_path,
        {"telemetry.metrics.port": str(port)},
    )
    assert call(run, service.api, service.key).status_code == 200
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert (
        f'tollhouse_requests_total{{api="{service.api}",operation="get-any",status_class="2xx"}} 1'
        in text
    )
    assert "tollhouse_config_ready 1" in text


def test_https_serves_the_hostname_certificate_by_sni(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    import base64
    import socket
    import ssl

    from cryptography import x509

    from tollhouse.pki import self_signed_certificate

    service = publish(control_plane, operator, backend)
    pair = self_signed_certificate("api.contoso.example")
    pfx = base64.b64encode(pair.pfx(b"pw")).decode()
    name = f"cert-{service.api}"
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"certificates/{name}",
            {"properties": {"data": pfx, "password": "pw"}},
        )
    )
    checked(
        manage(
            control_plane,
            operator,
            "PUT",
            f"gateways/{service.gateway}/hostnameConfigurations/contoso",
            {
                "properties": {
                    "hostname": "api.contoso.example",
                    "certificateId": f"/certificates/{name}",
                }
            },
        )
    )
    run = start_gateway(
        control_plane,
        tmp_path,
        {"config.service.auth": gateway_token(control_plane, operator, service.gateway)},
    )
    gateways.append(run)
    run.wait_ready()

    def subject(server_name: str) -> str:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        port = int(run.https.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()

    eventually(lambda: "api.contoso.example" in subject("api.contoso.example"), timeout=20)
    assert "tollhouse-gateway" in subject("other.example")
