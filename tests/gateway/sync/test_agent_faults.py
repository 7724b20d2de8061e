"""The sync agent facing what a healthy control plane never sends (security-and-faults.md
cases 29 and 30): older or foreign snapshots, broken bodies, 429 with Retry-After, 5xx storms,
a server that never answers. A scripted configuration API stands in for the control plane."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.sync.helpers import FAST, Recorder, eventually
from tollhouse.contracts import GatewayConfiguration
from tollhouse.gateway._settings import parse_gateway_token
from tollhouse.gateway.sync import (
    DEGRADED,
    FROM_BACKUP,
    HEALTHY,
    BackupStore,
    ConfigClient,
    GatewayKeyCredentials,
    SyncAgent,
)

GATEWAY = "gw-scripted"
TOKEN = parse_gateway_token("test", f"{GATEWAY}&209901010000&" + "A" * 86 + "==")


def snapshot(revision: int, gateway: str = GATEWAY) -> dict[str, Any]:
    return GatewayConfiguration(gateway=gateway, revision=revision, service_id="/s").to_json()


class ScriptedApi:
    """The configuration API's answers, changed by the test as it goes."""

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.document: dict[str, Any] = snapshot(revision)
        self.body: bytes | None = None  # a raw snapshot body instead of `document`
        self.failures: list[httpx.Response] = []  # answered first, one per request
        self.requests: list[tuple[float, str]] = []

    def publish(self, revision: int, gateway: str = GATEWAY) -> None:
        self.revision = revision
        self.document = snapshot(revision, gateway)
        self.body = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        self.requests.append((time.monotonic(), kind))
        if self.failures:
            return self.failures.pop(0)
        if kind == "configuration":
            etag = f'"{self.revision}"'
            if request.headers.get("if-none-match") == etag:
                return httpx.Response(304, headers={"ETag": etag})
            body = self.body if self.body is not None else json.dumps(self.document).encode()
            return httpx.Response(200, content=body, headers={"ETag": etag})
        if kind == "events":
            after = int(request.url.params["$skiptoken"])
            if after > self.revision:
                return httpx.Response(
                    400, json={"error": {"code": "BadRequest", "message": "ahead"}}
                )
            if after == self.revision:
                await asyncio.sleep(0.05)  # a short long poll
                return httpx.Response(200, json={"value": [], "revision": after})
            event = {
                "revision": self.revision,
                "kind": "apis",
                "path": "apis/x",
                "action": "upsert",
            }
            return httpx.Response(200, json={"value": [event], "revision": self.revision})
        return httpx.Response(200, json={"revision": self.revision, "heartbeatIntervalSeconds": 1})


def client_for(api: ScriptedApi) -> ConfigClient:
    return ConfigClient(
        "https://cp.example",
        GATEWAY,
        GatewayKeyCredentials(TOKEN),
        transport=httpx.MockTransport(api),
    )


@contextlib.asynccontextmanager
async def running(agent: SyncAgent) -> AsyncIterator[SyncAgent]:
    await agent.start()
    try:
        yield agent
    finally:
        await agent.stop()
        await agent.client.aclose()


def agent_on(api: ScriptedApi, tmp_path: Path, apply: Recorder, **options: Any) -> SyncAgent:
    options.setdefault("backoff", FAST)
    return SyncAgent(client_for(api), BackupStore(tmp_path), apply, **options)


async def test_an_older_revision_is_rejected_and_the_newer_one_kept(tmp_path: Path) -> None:
    api = ScriptedApi(10)
    apply = Recorder()
    async with running(agent_on(api, tmp_path, apply)) as agent:
        assert await agent.wait_ready(5)
        api.publish(5)  # the control plane restored from an older state
        await eventually(lambda: agent.rejected_revision == 5)
        assert agent.applied_revision == 10
        assert agent.status().state == DEGRADED
        assert "older than the applied revision 10" in (agent.rejected_reason or "")
        api.publish(11)
        await eventually(lambda: agent.applied_revision == 11)
        assert agent.rejected_revision is None and agent.status().state == HEALTHY
    assert [c.revision for c in apply.applied] == [10, 11]


async def test_the_snapshot_of_another_gateway_is_rejected(tmp_path: Path) -> None:
    api = ScriptedApi(3)
    apply = Recorder()
    async with running(agent_on(api, tmp_path, apply)) as agent:
        assert await agent.wait_ready(5)
        api.publish(4, gateway="someone-else")
        await eventually(lambda: agent.rejected_revision == 4)
        assert agent.applied_revision == 3
        assert "someone-else" in (agent.rejected_reason or "")


@pytest.mark.parametrize(
    "body",
    [
        b'{"schemaVersion": 1, "gateway": "gw-scripted", "revi',
        json.dumps({**snapshot(4), "apis": [{"name": "a"}]}).encode(),
    ],
    ids=["truncated", "schema-invalid"],
)
async def test_a_broken_snapshot_is_rejected_whole_and_the_last_good_kept(
    tmp_path: Path, body: bytes
) -> None:
    api = ScriptedApi(3)
    apply = Recorder()
    async with running(agent_on(api, tmp_path, apply)) as agent:
        assert await agent.wait_ready(5)
        api.revision, api.body = 4, body
        await eventually(lambda: agent.rejected_revision == 4)
        status = agent.status()
        assert status.applied_revision == 3 and status.state == DEGRADED
        assert status.rejected_total == 1
        fetched = sum(1 for _, kind in api.requests if kind == "configuration")
        await asyncio.sleep(0.3)  # not fetched again until the next change
        assert sum(1 for _, kind in api.requests if kind == "configuration") == fetched
        api.publish(5)
        await eventually(lambda: agent.applied_revision == 5)
    assert [c.revision for c in apply.applied] == [3, 5]


async def test_a_429_retry_after_is_obeyed(tmp_path: Path) -> None:
    api = ScriptedApi(1)
    api.failures.append(
        httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"code": "Throttled"}})
    )
    apply = Recorder()
    async with running(agent_on(api, tmp_path, apply)) as agent:
        assert await agent.wait_ready(5)
    (first, _), (second, _) = api.requests[:2]
    assert second - first >= 0.9


async def test_a_5xx_storm_is_ridden_out_with_growing_pauses(tmp_path: Path) -> None:
    api = ScriptedApi(1)
    api.failures.extend(httpx.Response(503, content=b"busy") for _ in range(5))
    apply = Recorder()
    async with running(agent_on(api, tmp_path, apply)) as agent:
        assert await agent.wait_ready(5)
        assert agent.status().sync_errors_total == 5
    times = [t for t, _ in api.requests[:6]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[-1] > gaps[0]


async def test_a_control_plane_that_never_answers_times_out_and_the_backup_is_served(
    tmp_path: Path,
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing: not even the TLS handshake

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    BackupStore(tmp_path).save(GatewayConfiguration(gateway=GATEWAY, revision=9, service_id="/s"))
    client = ConfigClient(
        f"https://127.0.0.1:{port}", GATEWAY, GatewayKeyCredentials(TOKEN), timeout=0.5
    )
    apply = Recorder()
    agent = SyncAgent(client, BackupStore(tmp_path), apply, backoff=FAST, backup_after=0.1)
    try:
        async with running(agent):
            started = time.monotonic()
            assert await agent.wait_ready(5)
            assert time.monotonic() - started < 0.5  # before the call itself timed out
            assert agent.status().source == FROM_BACKUP
            await eventually(lambda: agent.status().last_error is not None)
            assert "no answer within 0.5 s" in (agent.status().last_error or "")
            assert agent.stale
    finally:
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()
