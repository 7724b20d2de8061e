"""The sync agent against a real control plane: bootstrap, feed, 410, rejection, outages,
backups (issue 4 "Configuration sync"; security-and-faults.md cases 28–31)."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningDirectory
from tests.controlplane.conftest import Roles, RunningControlPlane, start_control_plane
from tests.gateway.sync.helpers import (
    FAST,
    Gate,
    Headers,
    Recorder,
    add_api,
    agent_for,
    api_names,
    eventually,
    gateway_status,
    new_gateway,
    remove_api,
    settings_for,
)
from tollhouse.contracts import GatewayConfiguration
from tollhouse.controlplane import ControlPlane, build_control_plane_server
from tollhouse.controlplane.model import parse_resource_path
from tollhouse.controlplane.store import ControlPlaneStore, RevisionWatcher
from tollhouse.gateway.sync import (
    DEGRADED,
    FROM_BACKUP,
    FROM_CONTROL_PLANE,
    HEALTHY,
    STALE,
    STARTING,
    BackupStore,
    ConfigClient,
    ConfigCredentials,
    SyncAgent,
)
from tollhouse.gateway.telemetry import HeartbeatSender, Instance
from tollhouse.serving import start_in_thread
from tollhouse.serving._server import free_port


async def test_the_agent_bootstraps_applies_and_writes_the_backup(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    await asyncio.to_thread(add_api, control_plane, operator, gateway, f"boot-{gateway}")
    settings = settings_for(
        control_plane.url,
        control_plane.directory.ca_bundle,
        {"config.service.auth": token},
        tmp_path,
    )
    apply = Recorder()
    agent, client, backup = agent_for(settings, apply)
    assert not agent.ready and agent.status().state == STARTING
    await agent.start()
    try:
        assert await agent.wait_ready(10)
        status = agent.status()
        assert status.state == HEALTHY and status.source == FROM_CONTROL_PLANE
        assert api_names(apply.current) == {f"boot-{gateway}"}
        assert agent.applied_revision == apply.applied[-1].revision
        await eventually(lambda: backup.load(gateway) == apply.current)
    finally:
        await agent.stop()
        await client.aclose()


async def test_a_management_change_is_applied_through_the_feed_within_seconds(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url,
        control_plane.directory.ca_bundle,
        {"config.service.auth": token},
        tmp_path,
    )
    apply = Recorder()
    agent, client, _ = agent_for(settings, apply, events_wait=20)
    await agent.start()
    try:
        assert await agent.wait_ready(10)
        await asyncio.sleep(0.3)  # the agent is now in its long poll
        changed = time.monotonic()
        await asyncio.to_thread(add_api, control_plane, operator, gateway, f"new-{gateway}")
        await eventually(lambda: f"new-{gateway}" in api_names(apply.current), seconds=5)
        assert time.monotonic() - changed < 3
    finally:
        await agent.stop()
        await client.aclose()


async def test_a_compacted_feed_position_takes_the_snapshot_again(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url,
        control_plane.directory.ca_bundle,
        {"config.service.auth": token},
        tmp_path,
    )
    context = ssl.create_default_context(cafile=control_plane.directory.ca_bundle)
    gate = Gate(httpx.AsyncHTTPTransport(verify=context))
    client = ConfigClient(
        settings.endpoint, gateway, ConfigCredentials.from_settings(settings), transport=gate
    )
    apply = Recorder()
    agent = SyncAgent(client, BackupStore(settings.backup_path), apply, backoff=FAST, events_wait=5)
    await agent.start()
    try:
        assert await agent.wait_ready(10)
        gate.open.clear()
        await asyncio.to_thread(add_api, control_plane, operator, gateway, f"a-{gateway}")
        # The change ends the poll in flight; the next one waits at the gate.
        await eventually(lambda: gate.held == 1)
        for name in (f"b-{gateway}", f"c-{gateway}"):
            await asyncio.to_thread(add_api, control_plane, operator, gateway, name)
        await asyncio.to_thread(control_plane.service.store.compact, 1)
        gate.open.set()
        await eventually(lambda: f"c-{gateway}" in api_names(apply.current))
        assert ("events", 410) in gate.answers
        assert api_names(apply.current) == {f"a-{gateway}", f"b-{gateway}", f"c-{gateway}"}
    finally:
        await agent.stop()
        await client.aclose()


async def test_a_configuration_that_fails_to_apply_is_rejected_and_reported(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url,
        control_plane.directory.ca_bundle,
        {"config.service.auth": token},
        tmp_path,
    )

    def refuse(config: GatewayConfiguration) -> str | None:
        broken = [a.name for a in config.apis if a.name.startswith("broken-")]
        return f"policy of {broken[0]} does not compile" if broken else None

    apply = Recorder(refuse)
    agent, client, backup = agent_for(settings, apply)
    beats = HeartbeatSender(client, agent, Instance.current(), interval=0.2)
    await agent.start()
    try:
        assert await agent.wait_ready(10)
        await asyncio.to_thread(add_api, control_plane, operator, gateway, f"broken-{gateway}")
        await eventually(lambda: agent.rejected_revision is not None)
        status = agent.status()
        assert status.state == DEGRADED
        rejected = agent.rejected_revision
        good = agent.applied_revision
        assert rejected is not None and good is not None and good < rejected
        assert f"broken-{gateway}" not in api_names(apply.current)
        assert status.rejected_reason == f"ValueError: policy of broken-{gateway} does not compile"
        assert status.rejected_total == 1
        saved = backup.load(gateway)
        assert saved is not None and saved.revision == good

        await beats.start()
        await eventually(lambda: beats.sent >= 1)
        report = await asyncio.to_thread(gateway_status, control_plane, operator, gateway)
        (instance,) = report["instances"]
        assert instance["appliedRevision"] == good
        assert instance["status"]["state"] == "degraded"
        assert instance["status"]["rejectedRevision"] == agent.rejected_revision
        assert f"broken-{gateway}" in instance["status"]["rejectedReason"]

        # Fixing it: the next revision applies and the rejection is over.
        await asyncio.to_thread(remove_api, control_plane, operator, f"broken-{gateway}")
        await eventually(lambda: agent.rejected_revision is None)
        assert agent.status().state == HEALTHY
        assert agent.applied_revision is not None and agent.applied_revision > rejected
    finally:
        await beats.stop()
        await agent.stop()
        await client.aclose()


# --- without the control plane ---------------------------------------------------------------


def offline_settings(
    tmp_path: Path, ca_bundle: str
) -> tuple[str, Recorder, SyncAgent, ConfigClient]:
    gateway = f"gw-{uuid.uuid4().hex[:8]}"
    token = f"GatewayKey {gateway}&209901010000&" + "A" * 86 + "=="
    settings = settings_for(
        f"https://127.0.0.1:{free_port()}", ca_bundle, {"config.service.auth": token}, tmp_path
    )
    apply = Recorder()
    agent, client, _ = agent_for(settings, apply)
    return gateway, apply, agent, client


def backed_up(tmp_path: Path, gateway: str, revision: int = 41) -> GatewayConfiguration:
    config = GatewayConfiguration(gateway=gateway, revision=revision, service_id="/s")
    BackupStore(tmp_path / "backup").save(config)
    return config


async def test_unreachable_at_start_with_a_backup_serves_it_and_reports_stale(
    directory_server: RunningDirectory, tmp_path: Path
) -> None:
    gateway, apply, agent, client = offline_settings(tmp_path, directory_server.ca_bundle)
    config = backed_up(tmp_path, gateway)
    await agent.start()
    try:
        assert await agent.wait_ready(5)
        assert apply.current == config
        status = agent.status()
        assert (status.state, status.source, status.stale) == (STALE, FROM_BACKUP, True)
        assert status.applied_revision == 41
        assert status.last_error is not None
        errors = status.sync_errors_total
        await eventually(lambda: agent.status().sync_errors_total > errors + 1)  # still trying
    finally:
        await agent.stop()
        await client.aclose()


async def test_unreachable_at_start_without_a_backup_stays_not_ready(
    directory_server: RunningDirectory, tmp_path: Path
) -> None:
    _, apply, agent, client = offline_settings(tmp_path, directory_server.ca_bundle)
    await agent.start()
    try:
        assert not await agent.wait_ready(1)
        assert agent.status().state == STARTING and not agent.ready
        assert agent.status().sync_errors_total >= 2
        assert apply.applied == []
    finally:
        await agent.stop()
        await client.aclose()


@pytest.mark.parametrize("damage", ["tampered", "truncated"])
async def test_a_damaged_backup_is_not_served(
    directory_server: RunningDirectory, tmp_path: Path, damage: str
) -> None:
    gateway, apply, agent, client = offline_settings(tmp_path, directory_server.ca_bundle)
    backed_up(tmp_path, gateway)
    path = tmp_path / "backup" / "snapshot.lock.json"
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"/s"', b'"/x"') if damage == "tampered" else data[:-20])
    await agent.start()
    try:
        assert not await agent.wait_ready(1)
        assert apply.applied == []
        assert agent.backup is not None and agent.backup.refused is not None
    finally:
        await agent.stop()
        await client.aclose()


async def test_the_backup_of_another_gateway_is_not_served(
    directory_server: RunningDirectory, tmp_path: Path
) -> None:
    _, apply, agent, client = offline_settings(tmp_path, directory_server.ca_bundle)
    backed_up(tmp_path, "someone-else")
    await agent.start()
    try:
        assert not await agent.wait_ready(1)
        assert apply.applied == []
    finally:
        await agent.stop()
        await client.aclose()


async def test_a_backup_confirmed_by_the_control_plane_is_not_applied_twice(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    _, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url,
        control_plane.directory.ca_bundle,
        {"config.service.auth": token},
        tmp_path,
    )
    first = Recorder()
    agent, client, _ = agent_for(settings, first)
    await agent.start()
    assert await agent.wait_ready(10)
    await agent.stop()
    await client.aclose()
    # Restarted with the control plane slow to answer: the backup first, then confirmation.
    again = Recorder()
    agent, client, _ = agent_for(settings, again, backup_after=0)
    await agent.start()
    try:
        assert await agent.wait_ready(10)
        await eventually(lambda: agent.status().source == FROM_CONTROL_PLANE)
        assert [c.revision for c in again.applied] == [first.applied[-1].revision]
        assert agent.status().state == HEALTHY
    finally:
        await agent.stop()
        await client.aclose()


# --- an outage -------------------------------------------------------------------------------


async def test_an_outage_keeps_the_configuration_and_the_changes_missed_flow_in_after(
    directory_server: RunningDirectory,
    seed_roles: Roles,
    operator: Headers,
    tmp_path: Path,
) -> None:
    cp = await asyncio.to_thread(
        start_control_plane,
        directory_server,
        tmp_path / "cp",
        service_name=f"outage-{uuid.uuid4().hex[:6]}",
        validated=True,
        roles=seed_roles,
    )
    config = cp.service.config
    client: ConfigClient | None = None
    agent: SyncAgent | None = None
    try:
        gateway, token = await asyncio.to_thread(new_gateway, cp, operator)
        await asyncio.to_thread(add_api, cp, operator, gateway, "before")
        settings = settings_for(
            cp.url, directory_server.ca_bundle, {"config.service.auth": token}, tmp_path
        )
        apply = Recorder()
        agent, client, _ = agent_for(settings, apply)
        await agent.start()
        assert await agent.wait_ready(10)
        assert api_names(apply.current) == {"before"}

        await asyncio.to_thread(cp.handle.stop)
        cp.service.store.close()
        await eventually(lambda: agent is not None and agent.stale)
        assert agent.ready and api_names(apply.current) == {"before"}

        # Changes made while the gateway cannot see them (straight into the store).
        store = ControlPlaneStore.open(config.db_url)
        offline = ControlPlane(config, store, RevisionWatcher(store))
        offline.put(parse_resource_path("apis/missed"), {"path": "missed"})
        offline.put(parse_resource_path(f"gateways/{gateway}/apis/missed"), {})
        store.close()
        await asyncio.sleep(0.5)
        assert api_names(apply.current) == {"before"}

        service, server = build_control_plane_server(
            config, Path(directory_server.ca_bundle).parent
        )
        handle = await asyncio.to_thread(start_in_thread, server)
        cp = RunningControlPlane(service, handle, cp.url, cp.identity, directory_server)
        await eventually(lambda: "missed" in api_names(apply.current), seconds=15)
        await eventually(lambda: agent is not None and agent.status().state == HEALTHY)
    finally:
        if agent is not None:
            await agent.stop()
        if client is not None:
            await client.aclose()
        await asyncio.to_thread(cp.handle.stop)
        cp.service.store.close()
