"""End to end: directory, control plane, a backend and the gateway as a real process."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.controlplane.conftest import (  # noqa: F401 - fixtures
    RunningControlPlane,
    control_plane,
    operator,
    seed_roles,
)
from tollhouse.serving._server import free_port

TOLLHOUSE = str(Path(sys.executable).parent / "tollhouse")
Headers = Callable[[], dict[str, str]]
READY_TIMEOUT = 60.0


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The backend: answers what it received, as JSON."""
    if scope["type"] != "http":
        return
    import asyncio
    from urllib.parse import parse_qs

    delay = parse_qs(scope["query_string"].decode()).get("sleep")
    if delay:
        await asyncio.sleep(float(delay[0]))
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body": body.decode(errors="replace"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": answer})


@dataclass
class Backend:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(echo_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield Backend(f"http://127.0.0.1:{port}", server, thread)
    server.should_exit = True
    thread.join(10)


def manage(
    cp: RunningControlPlane, headers: Headers, method: str, path: str, body: object = None
) -> httpx.Response:
    with cp.client() as client:
        return client.request(method, f"{cp.service_id}/{path}", json=body, headers=headers())


def checked(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.content else None


@dataclass
class Service:
    """One gateway's resources in the control plane: an API to the backend, a subscription."""

    gateway: str
    api: str
    key: str


def publish(
    cp: RunningControlPlane, headers: Headers, backend: Backend, gateway: str | None = None
) -> Service:
    gateway = gateway or f"gw-{uuid.uuid4().hex[:8]}"
    api = f"api-{uuid.uuid4().hex[:6]}"
    checked(
        manage(
            cp,
            headers,
            "PUT",
            f"gateways/{gateway}",
            {"properties": {"locationData": {"name": "lab"}}},
        )
    )
    add_api(cp, headers, backend, gateway, api)
    sub = f"sub-{api}"
    checked(
        manage(
            cp,
            headers,
            "PUT",
            f"subscriptions/{sub}",
            {"properties": {"scope": f"/apis/{api}", "displayName": sub, "state": "active"}},
        )
    )
    keys = checked(manage(cp, headers, "POST", f"subscriptions/{sub}/listSecrets"))
    return Service(gateway, api, keys["primaryKey"])


def add_api(
    cp: RunningControlPlane, headers: Headers, backend: Backend, gateway: str, api: str
) -> None:
    checked(
        manage(
            cp,
            headers,
            "PUT",
            f"apis/{api}",
            {
                "properties": {
                    "path": api,
                    "serviceUrl": f"{backend.url}/backend",
                    "protocols": ["http", "https"],
                    "displayName": api,
                }
            },
        )
    )
    for method in ("GET", "POST"):
        checked(
            manage(
                cp,
                headers,
                "PUT",
                f"apis/{api}/operations/{method.lower()}-any",
                {"properties": {"method": method, "urlTemplate": "/*", "displayName": method}},
            )
        )
    checked(manage(cp, headers, "PUT", f"gateways/{gateway}/apis/{api}", {}))


def gateway_token(cp: RunningControlPlane, headers: Headers, gateway: str) -> str:
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    value = checked(
        manage(
            cp,
            headers,
            "POST",
            f"gateways/{gateway}/generateToken",
            {"keyType": "primary", "expiry": expiry},
        )
    )["value"]
    return f"GatewayKey {value}"


@dataclass
class GatewayRun:
    process: subprocess.Popen[bytes]
    http: str
    https: str
    backup: Path
    log: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.http}{path}", timeout=30, **kwargs)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                status = self.get("/status-0123456789abcdef").status_code
            except httpx.TransportError as exc:
                last = f"not listening ({type(exc).__name__})"
            else:
                if status == 200:
                    return
                last = f"status probe answered {status}"
            time.sleep(0.1)
        raise AssertionError(f"gateway not ready ({last}):\n{self.log.read_text()}")

    def wait_listening(self, timeout: float = READY_TIMEOUT) -> httpx.Response:
        """The first answer of the status probe, whatever it says."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                return self.get("/status-0123456789abcdef")
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"gateway not listening:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


def start_gateway(
    cp: RunningControlPlane, tmp: Path, settings: dict[str, str], *, backup: Path | None = None
) -> GatewayRun:
    http_port, https_port = free_port(), free_port()
    backup = backup or tmp / f"backup-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "config.service.endpoint": cp.url,
        "config.service.caBundle": cp.directory.ca_bundle,
        "config.backup.path": str(backup),
        "net.server.http.port": str(http_port),
        "net.server.https.port": str(https_port),
        "heartbeat.interval": "1",
        "config.service.events.wait": "20",
        "telemetry.logs.std.level": "info",
        # Many gateways run at once here: no fixed Prometheus port unless a test asks.
        "telemetry.metrics.port": "0",
        **settings,
    }
    log = tmp / f"gateway-{uuid.uuid4().hex[:6]}.log"
    process = subprocess.Popen(
        [TOLLHOUSE, "gateway", "--host", "127.0.0.1"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return GatewayRun(
        process,
        f"http://127.0.0.1:{http_port}",
        f"https://127.0.0.1:{https_port}",
        backup,
        log,
        env,
    )


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[GatewayRun]]:
    runs: list[GatewayRun] = []
    yield runs
    for run in runs:
        run.stop()


def context_for(cp: RunningControlPlane) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cp.directory.ca_bundle)
