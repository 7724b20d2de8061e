"""The service core without HTTP: gateway status from heartbeats over time."""

from __future__ import annotations

from pathlib import Path

from tollhouse.contracts import Heartbeat
from tollhouse.controlplane import ControlPlane, ControlPlaneConfig
from tollhouse.controlplane.model import ResourcePath
from tollhouse.controlplane.store import ControlPlaneStore, RevisionWatcher
from tollhouse.identity import ClientCredentials


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_instance_is_stale_after_three_missed_heartbeats(tmp_path: Path) -> None:
    config = ControlPlaneConfig(
        identity=ClientCredentials(tenant_id="t", client_id="c", client_secret="s"),
        database_url=f"sqlite:///{tmp_path / 'cp.db'}",
        heartbeat_seconds=60,
    )
    store = ControlPlaneStore.open(config.db_url)
    clock = Clock()
    service = ControlPlane(config, store, RevisionWatcher(store), clock=clock)
    service.put(ResourcePath("gateways", ("edge",)), {"locationData": {"name": "lab"}})
    service.heartbeat("edge", Heartbeat("a", "host-a", "1", 1))
    service.heartbeat("edge", Heartbeat("b", "host-b", "1", 1))
    clock.now += 150
    service.heartbeat("edge", Heartbeat("b", "host-b", "1", 1))
    clock.now += 40
    status = service.status("edge")
    assert {i["instanceId"]: i["stale"] for i in status.instances} == {"a": True, "b": False}
    assert status.node_count == 1
    store.close()


def test_a_new_subscription_gets_the_control_planes_clock_as_created_date(
    tmp_path: Path,
) -> None:
    config = ControlPlaneConfig(
        identity=ClientCredentials(tenant_id="t", client_id="c", client_secret="s"),
        database_url=f"sqlite:///{tmp_path / 'cp.db'}",
    )
    store = ControlPlaneStore.open(config.db_url)
    clock = Clock()
    service = ControlPlane(config, store, RevisionWatcher(store), clock=clock)
    path = ResourcePath("subscriptions", ("s1",))
    created, _ = service.put(path, {"scope": "/apis", "displayName": "S"})
    assert created.properties["createdDate"] == "2027-01-15T08:00:00Z"  # 1_800_000_000
    clock.now += 86_400
    service.put(path, {"scope": "/apis", "displayName": "S", "state": "active"})
    service.patch(path, {"state": "suspended"})
    assert service.get(path).properties["createdDate"] == "2027-01-15T08:00:00Z"
    store.close()
