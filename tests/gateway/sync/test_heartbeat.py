"""Heartbeats reach the control plane and say who the instance is and how it is
(apim-self-hosted-gateway.md §3; DESIGN §2)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from tests.controlplane.conftest import RunningControlPlane
from tests.gateway.sync.helpers import (
    Headers,
    Recorder,
    agent_for,
    eventually,
    gateway_status,
    new_gateway,
    settings_for,
)
from tollhouse import __version__
from tollhouse.gateway._settings import parse_gateway_token
from tollhouse.gateway.sync import ConfigClient, GatewayKeyCredentials, SyncAgent
from tollhouse.gateway.telemetry import HeartbeatSender, Instance, build_heartbeat


async def test_heartbeats_are_recorded_with_the_instance_and_its_state(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url,
        control_plane.directory.ca_bundle,
        {"config.service.auth": token},
        tmp_path,
        **{
            "runtime.deployment.mechanism": "Helm",
            "runtime.deployment.orchestrator.type": "Kubernetes",
        },
    )
    agent, client, _ = agent_for(settings, Recorder())
    instance = Instance.current(settings.deployment)
    beats = HeartbeatSender(client, agent, instance, interval=0.1)
    await beats.start()  # before the agent: the first says "starting"
    await eventually(lambda: beats.sent >= 1)
    first = await asyncio.to_thread(gateway_status, control_plane, operator, gateway)
    await agent.start()
    try:
        assert await agent.wait_ready(10)
        sent = beats.sent
        await eventually(lambda: beats.sent >= sent + 2)
        status = await asyncio.to_thread(gateway_status, control_plane, operator, gateway)
    finally:
        await beats.stop()
        await agent.stop()
        await client.aclose()
    assert first["instances"][0]["status"]["state"] == "starting"
    assert first["instances"][0]["appliedRevision"] is None
    assert status["nodeCount"] == 1
    (reported,) = status["instances"]
    assert reported["instanceId"] == instance.id
    assert uuid.UUID(instance.id)
    assert reported["hostname"] == instance.hostname != ""
    assert reported["version"] == __version__
    assert reported["appliedRevision"] == agent.applied_revision
    assert reported["status"]["state"] == "healthy"
    assert reported["status"]["rejectedRevision"] is None
    assert settings.credential_expires_at is not None
    assert reported["status"]["credentialExpiresAt"] == settings.credential_expires_at.isoformat(
        timespec="seconds"
    )
    assert reported["deployment"] == {
        "runtime.deployment.mechanism": "Helm",
        "runtime.deployment.orchestrator.type": "Kubernetes",
    }


def test_each_process_is_a_new_instance() -> None:
    assert Instance.current().id != Instance.current().id


async def test_a_heartbeat_that_cannot_be_delivered_is_logged_not_raised(tmp_path: Path) -> None:
    token = parse_gateway_token("t", "gw&209901010000&" + "A" * 86 + "==")
    client = ConfigClient(
        "https://cp.example",
        "gw",
        GatewayKeyCredentials(token),
        transport=httpx.MockTransport(lambda _: httpx.Response(503, content=b"down")),
    )
    agent = SyncAgent(client, None, Recorder())
    beats = HeartbeatSender(client, agent, Instance.current())
    assert await beats.send() is None
    assert beats.last_error is not None and "503" in beats.last_error
    beat = build_heartbeat(beats.instance, agent, client.credentials)
    assert beat.status.state == "starting"
    assert beat.status.credential_expires_at == "2099-01-01T00:00:00+00:00"
    await client.aclose()


async def test_the_control_plane_may_ask_for_a_shorter_interval() -> None:
    token = parse_gateway_token("t", "gw&209901010000&" + "A" * 86 + "==")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"revision": 0, "heartbeatIntervalSeconds": 1})

    client = ConfigClient(
        "https://cp.example",
        "gw",
        GatewayKeyCredentials(token),
        transport=httpx.MockTransport(answer),
    )
    beats = HeartbeatSender(
        client, SyncAgent(client, None, Recorder()), Instance.current(), interval=60
    )
    await beats.start()
    try:
        await eventually(lambda: len(seen) >= 2, seconds=3)
    finally:
        await beats.stop()
        await client.aclose()
