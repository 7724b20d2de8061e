"""The HTTP layer's settings reach a deployed gateway: `tollhouse gateway` as a real process,
configured only by its keys (docs/settings.md), as Kubernetes would start it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.controlplane.conftest import RunningControlPlane
from tests.e2e.conftest import (
    TOLLHOUSE,
    Backend,
    GatewayRun,
    Headers,
    gateway_token,
    publish,
    start_gateway,
)

CLIENT_SAYS = "203.0.113.7"


def forwarded_for(run: GatewayRun, api: str, key: str) -> str:
    response = run.get(
        f"/{api}/hello",
        headers={"Ocp-Apim-Subscription-Key": key, "X-Forwarded-For": CLIENT_SAYS},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["headers"]["x-forwarded-for"])


def test_forwarding_headers_are_believed_only_from_trusted_proxies_and_limits_apply(
    control_plane: RunningControlPlane,
    operator: Headers,
    backend: Backend,
    gateways: list[GatewayRun],
    tmp_path: Path,
) -> None:
    service = publish(control_plane, operator, backend)
    token = gateway_token(control_plane, operator, service.gateway)
    # Three instances of one gateway, started together: the test client (127.0.0.1) is a
    # trusted proxy of the first only; the third holds backends to very few response headers.
    trusting = start_gateway(
        control_plane,
        tmp_path,
        {
            "config.service.auth": token,
            "net.server.http.forwarded.trustedProxies": "127.0.0.1/32",
            "net.server.http.maxRequestTargetSize": "256",
        },
    )
    distrusting = start_gateway(
        control_plane,
        tmp_path,
        {"config.service.auth": token, "net.server.http.forwarded.trustedProxies": "10.0.0.0/8"},
    )
    strict = start_gateway(
        control_plane,
        tmp_path,
        {"config.service.auth": token, "net.client.http.maxResponseHeaders": "1"},
    )
    gateways.extend([trusting, distrusting, strict])
    for run in (trusting, distrusting, strict):
        run.wait_ready()

    # From a trusted proxy the client's list is kept and the peer appended; from anyone else
    # it is replaced by the peer (RFC 9700 §4.13).
    assert forwarded_for(trusting, service.api, service.key) == f"{CLIENT_SAYS}, 127.0.0.1"
    assert forwarded_for(distrusting, service.api, service.key) == "127.0.0.1"

    # net.server.http.maxRequestTargetSize: a longer target is answered 414 by that instance.
    long_path = f"/{service.api}/{'a' * 300}"
    headers = {"Ocp-Apim-Subscription-Key": service.key}
    assert trusting.get(long_path, headers=headers).status_code == 414
    assert distrusting.get(long_path, headers=headers).status_code == 200

    # net.client.http.maxResponseHeaders: the backend's answer (several header lines) breaks
    # the pool's limit, which is a 502, not the backend's 200.
    assert strict.get(f"/{service.api}/hello", headers=headers).status_code == 502


def test_an_invalid_limit_stops_the_gateway_with_one_line_naming_the_key(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "config.service.endpoint": "cp.example",
        "config.service.auth": "GatewayKey gw&209901010000&U1NTUw==",
        "config.backup.path": str(tmp_path),
        "net.server.http.bodyLowWater": "70000",
    }
    done = subprocess.run(
        [TOLLHOUSE, "gateway", "--host", "127.0.0.1"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    output = (done.stdout + done.stderr).decode()
    assert done.returncode != 0
    assert "Traceback" not in output
    assert "net.server.http.bodyLowWater" in output
    assert len([line for line in output.splitlines() if line.strip()]) == 1, output
