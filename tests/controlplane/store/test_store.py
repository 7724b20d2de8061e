"""The control-plane store: revisions, the change feed, compaction and instances, on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tollhouse.contracts import Heartbeat, InstanceStatus, MetricPoint, Telemetry
from tollhouse.controlplane.store import ControlPlaneStore, RevisionWatcher, Write


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlPlaneStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cp.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    opened = ControlPlaneStore.open(url)
    yield opened
    opened.close()


def api(name: str) -> Write:
    return Write(f"apis/{name}", "apis", {"path": name}, {})


def test_every_write_makes_one_new_revision_with_its_events(store: ControlPlaneStore) -> None:
    assert store.revision() == 0
    first = store.apply([api("echo")])
    second = store.apply([api("a"), api("b")])
    assert (first, second) == (1, 2)
    events, current, compacted = store.events_after(0, 100)
    assert current == 2 and compacted == 0
    assert [(e.revision, e.path, e.action) for e in events] == [
        (1, "apis/echo", "upsert"),
        (2, "apis/a", "upsert"),
        (2, "apis/b", "upsert"),
    ]


def test_paths_compare_case_insensitively_and_keep_their_case(store: ControlPlaneStore) -> None:
    store.apply([api("Echo")])
    found = store.get("APIS/ECHO")
    assert found is not None and found.path == "apis/Echo"
    store.apply([Write("apis/ECHO", "apis", {"path": "new"}, {})])
    assert len(store.children("", "apis")) == 1


def test_deleting_a_resource_deletes_its_descendants(store: ControlPlaneStore) -> None:
    store.apply(
        [api("echo"), Write("apis/echo/operations/get", "apis/operations", {"method": "GET"}, {})]
    )
    store.apply([api("echo-2")])
    store.apply([Write("apis/echo", "apis", delete=True)])
    assert store.get("apis/echo/operations/get") is None
    assert store.get("apis/echo-2") is not None


def test_secrets_are_kept_apart_from_properties(store: ControlPlaneStore) -> None:
    store.apply(
        [Write("subscriptions/s", "subscriptions", {"scope": "/apis"}, {"primaryKey": "k"})]
    )
    found = store.get("subscriptions/s")
    assert found is not None
    assert found.secrets == {"primaryKey": "k"} and "primaryKey" not in found.properties


def test_compaction_drops_old_events_and_says_through_which_revision(
    store: ControlPlaneStore,
) -> None:
    for index in range(10):
        store.apply([api(f"a{index}")])
    through = store.compact(keep=3)
    assert through == 7
    events, current, compacted = store.events_after(7, 100)
    assert [e.revision for e in events] == [8, 9, 10]
    assert (current, compacted) == (10, 7)


def test_load_all_is_consistent_with_its_revision(store: ControlPlaneStore) -> None:
    store.apply([api("a"), api("b")])
    revision, resources = store.load_all()
    assert revision == 1 and [r.path for r in resources] == ["apis/a", "apis/b"]


def test_heartbeats_record_instances_and_telemetry_accumulates(store: ControlPlaneStore) -> None:
    beat = Heartbeat("i-1", "host-1", "0.1.0", 3, InstanceStatus(), {"runtime.deployment.x": "y"})
    store.record_heartbeat("GW", beat, now=100.0)
    store.record_heartbeat("gw", beat, now=160.0)
    (record,) = store.instances("gw")
    assert (record.first_seen, record.last_seen) == (100.0, 160.0)
    assert record.heartbeat.deployment == {"runtime.deployment.x": "y"}
    point = MetricPoint("echo", "get", "2xx", 2, 10.0, 7.0)
    store.record_telemetry("gw", Telemetry("i-1", "a", "b", (point,)), now=1.0)
    store.record_telemetry("gw", Telemetry("i-1", "b", "c", (point,)), now=2.0)
    (metric,) = store.metrics("gw")
    assert metric["count"] == 4 and metric["durationMsSum"] == 20.0


async def test_a_local_write_wakes_a_waiter_at_once(store: ControlPlaneStore) -> None:
    watcher = RevisionWatcher(store, poll_seconds=60)
    await watcher.start()
    try:
        waiter = asyncio.create_task(watcher.wait_beyond(0, 10))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        revision = await asyncio.to_thread(store.apply, [api("echo")])
        watcher.notify(revision)
        assert await waiter == 1
        assert time.monotonic() - started < 1
        assert await watcher.wait_beyond(1, 0.05) == 1
    finally:
        await watcher.stop()


async def test_a_write_on_another_replica_wakes_a_waiter_through_notify(
    postgres_database: str,
) -> None:
    writer = ControlPlaneStore.open(postgres_database)
    reader = ControlPlaneStore.open(postgres_database)
    watcher = RevisionWatcher(reader, listen_url=postgres_database, poll_seconds=60)
    await watcher.start()
    try:
        await asyncio.sleep(0.3)  # the LISTEN connection is up
        waiter = asyncio.create_task(watcher.wait_beyond(0, 10))
        started = time.monotonic()
        await asyncio.to_thread(writer.apply, [api("echo")])
        assert await waiter == 1
        assert time.monotonic() - started < 2
    finally:
        await watcher.stop()
        writer.close()
        reader.close()


async def test_releasing_answers_waiters_at_once_so_shutdown_does_not_wait(
    store: ControlPlaneStore,
) -> None:
    watcher = RevisionWatcher(store, poll_seconds=60)
    await watcher.start()
    try:
        waiter = asyncio.create_task(watcher.wait_beyond(0, 30))
        await asyncio.sleep(0.05)
        watcher.release_all()
        assert await asyncio.wait_for(waiter, 5) == 0
        assert await asyncio.wait_for(watcher.wait_beyond(0, 30), 5) == 0
    finally:
        await watcher.stop()
