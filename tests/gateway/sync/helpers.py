"""Building a gateway's settings, client and agent against a running control plane."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.controlplane.conftest import RunningControlPlane
from tests.controlplane.test_configuration_api import gateway_token, make_gateway, manage, ok
from tollhouse.contracts import GatewayConfiguration
from tollhouse.gateway._settings import GatewaySettings
from tollhouse.gateway.sync import (
    Backoff,
    BackupStore,
    ConfigClient,
    ConfigCredentials,
    SyncAgent,
)

Headers = Callable[[], dict[str, str]]
# Retries in tests: fast, still exponential.
FAST = Backoff(initial=0.05, maximum=0.3)


def new_gateway(cp: RunningControlPlane, operator: Headers) -> tuple[str, str]:
    """A gateway and a GatewayKey token for it (`GatewayKey …`)."""
    name = make_gateway(cp, operator)
    return name, gateway_token(cp, operator, name)


def settings_for(
    endpoint: str, ca_bundle: str, auth: dict[str, str], tmp: Path, **extra: str
) -> GatewaySettings:
    return GatewaySettings.load(
        {
            "config.service.endpoint": endpoint,
            "config.service.caBundle": ca_bundle,
            "config.backup.path": str(tmp / "backup"),
            **auth,
            **extra,
        }
    )


def connect(settings: GatewaySettings) -> ConfigClient:
    return ConfigClient.from_settings(settings, ConfigCredentials.from_settings(settings))


class Recorder:
    """The gateway's apply step: keeps what it is given; refuses what `refuse` names."""

    def __init__(self, refuse: Callable[[GatewayConfiguration], str | None] | None = None):
        self.applied: list[GatewayConfiguration] = []
        self.refuse = refuse

    def __call__(self, config: GatewayConfiguration) -> None:
        reason = self.refuse(config) if self.refuse else None
        if reason:
            raise ValueError(reason)
        self.applied.append(config)

    @property
    def current(self) -> GatewayConfiguration | None:
        return self.applied[-1] if self.applied else None


def agent_for(
    settings: GatewaySettings, apply: Recorder, **options: Any
) -> tuple[SyncAgent, ConfigClient, BackupStore]:
    client = connect(settings)
    backup = BackupStore(settings.backup_path)
    options.setdefault("backoff", FAST)
    options.setdefault("events_wait", 5)
    return SyncAgent(client, backup, apply, **options), client, backup


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.02)


def add_api(cp: RunningControlPlane, operator: Headers, gateway: str, api: str) -> None:
    """An API with one operation, assigned to `gateway`."""
    ok(
        manage(
            cp,
            operator,
            "PUT",
            f"apis/{api}",
            {"properties": {"path": api, "serviceUrl": "http://127.0.0.1:9"}},
        )
    )
    ok(
        manage(
            cp,
            operator,
            "PUT",
            f"apis/{api}/operations/get",
            {"properties": {"method": "GET", "urlTemplate": "/", "displayName": "get"}},
        )
    )
    ok(manage(cp, operator, "PUT", f"gateways/{gateway}/apis/{api}", {}))


def remove_api(cp: RunningControlPlane, operator: Headers, api: str) -> None:
    response = manage(cp, operator, "DELETE", f"apis/{api}")
    assert response.status_code in (200, 204), response.text


def gateway_status(cp: RunningControlPlane, operator: Headers, gateway: str) -> dict[str, Any]:
    return ok(manage(cp, operator, "GET", f"gateways/{gateway}/status"))


def api_names(config: GatewayConfiguration | None) -> set[str]:
    return {a.name for a in config.apis} if config is not None else set()


class Gate(httpx.AsyncBaseTransport):
    """A transport in front of the real one: holds feed requests while closed, and records
    (path, status) of every answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.open = asyncio.Event()
        self.open.set()
        self.held = 0
        self.answers: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events") and not self.open.is_set():
            self.held += 1
            await self.open.wait()
        response = await self.inner.handle_async_request(request)
        self.answers.append((request.url.path.rsplit("/", 1)[-1], response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
