"""Control plane: building and serving one snapshot of 1,000 APIs / 10,000 operations, and
how many long-polling gateways one process holds.

Prepares a service in SQLite (1,000 APIs of 10 operations, all assigned to one gateway, a
product, subscriptions, a policy per API), then:

1. builds the snapshot in-process (load + build + JSON), several times;
2. starts the control plane as its own process and fetches the snapshot over HTTPS with a
   GatewayKey (first fetch builds it, the next ones are served from the per-revision cache),
   with `GET /health` on the same server as the reference;
3. measures how fast a change written through a control plane wakes its waiting gateways
   (the watcher and the service in-process: the "same replica" path);
4. opens N long polls at once over HTTPS, makes one change from another process (found by
   the server's safety-net poll, like a write on another SQLite process), and measures how
   long it takes for every poll to return, for growing N; reports the server's memory.

    python bench/controlplane.py [--apis 1000] [--operations 10] [--polls 250,1000,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from tollhouse.controlplane import model
from tollhouse.controlplane.snapshot import build_configuration
from tollhouse.controlplane.store import ControlPlaneStore, Write
from tollhouse.pki import CertificateAuthority

SERVICE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/tollhouse"
    "/providers/Microsoft.ApiManagement/service/tollhouse"
)
POLICY = (
    '<policies><inbound><base /><set-header name="x-api" exists-action="override">'
    "<value>@(context.Api.Name)</value></set-header></inbound><backend><base /></backend>"
    "<outbound><base /></outbound><on-error><base /></on-error></policies>"
)

SERVER = """
import sys
from pathlib import Path
from tollhouse.controlplane import ControlPlaneConfig, build_control_plane_server
from tollhouse.identity import ClientCredentials
work, port = Path(sys.argv[1]), int(sys.argv[2])
config = ControlPlaneConfig(
    identity=ClientCredentials(tenant_id="00000000-0000-0000-0000-00000000000a",
                               client_id="00000000-0000-0000-0000-00000000000b",
                               client_secret="unused: GatewayKey callers only",
                               authority="https://127.0.0.1:1"),
    port=port, data_dir=work / "cp", database_url=f"sqlite:///{work / 'cp.db'}",
)
_, server = build_control_plane_server(config, work / "pki")
server.run()
"""


def prepare(store: ControlPlaneStore, apis: int, operations: int) -> None:
    def resource(path: str, properties: dict[str, object]) -> Write:
        parsed = model.parse_resource_path(path)
        normalized = model.normalize_resource(parsed, properties)
        return Write(
            parsed.relative, parsed.kind, dict(normalized.properties), dict(normalized.secrets)
        )

    store.apply(
        [
            resource("gateways/edge", {"locationData": {"name": "bench"}}),
            resource("products/starter", {"displayName": "Starter", "state": "published"}),
        ]
    )
    batch: list[Write] = []
    for index in range(apis):
        name = f"api-{index:04d}"
        batch.append(resource(f"apis/{name}", {"path": name, "serviceUrl": "http://127.0.0.1:9"}))
        for op in range(operations):
            batch.append(
                resource(
                    f"apis/{name}/operations/op-{op}",
                    {
                        "method": "GET",
                        "urlTemplate": f"/items/{op}/{{id}}",
                        "displayName": f"op {op}",
                    },
                )
            )
        batch.append(resource(f"apis/{name}/policies/policy", {"value": POLICY}))
        batch.append(resource(f"gateways/edge/apis/{name}", {}))
        batch.append(resource(f"products/starter/apis/{name}", {}))
        if index % 10 == 0:
            batch.append(
                resource(
                    f"subscriptions/sub-{index}", {"scope": f"/apis/{name}", "displayName": name}
                )
            )
        if len(batch) >= 2000:
            store.apply(batch)
            batch = []
    if batch:
        store.apply(batch)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def timed_gets(
    url: str, path: str, headers: dict[str, str], context: ssl.SSLContext, count: int
) -> list[float]:
    times = []
    async with httpx.AsyncClient(base_url=url, verify=context, timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            response.raise_for_status()
            await response.aread()
            times.append(time.perf_counter() - started)
    return times


async def long_polls(
    url: str, headers: dict[str, str], context: ssl.SSLContext, count: int, store: ControlPlaneStore
) -> tuple[int, float, float]:
    revision = store.revision()
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(
        base_url=url, verify=context, timeout=120, limits=limits
    ) as client:

        async def poll() -> float:
            response = await client.get(
                "/gateways/edge/events",
                params={"$skiptoken": revision, "wait": 60},
                headers=headers,
            )
            response.raise_for_status()
            return time.perf_counter()

        tasks = [asyncio.create_task(poll()) for _ in range(count)]
        # Let every poll reach the server and wait.
        await asyncio.sleep(max(3.0, count / 300))
        held = sum(1 for t in tasks if not t.done())
        changed = time.perf_counter()
        await asyncio.to_thread(
            store.apply,
            [
                Write(
                    "namedValues/bump",
                    "namedValues",
                    {"displayName": "bump", "value": str(changed)},
                    {},
                )
            ],
        )
        finished = await asyncio.gather(*tasks)
        return held, min(finished) - changed, max(finished) - changed


async def same_replica(url: str, count: int) -> tuple[float, float]:
    """Wake latency of `count` waiters when the change is written through the same process:
    the service and its watcher, no HTTP."""
    from tollhouse.controlplane import ControlPlane, ControlPlaneConfig
    from tollhouse.controlplane.store import RevisionWatcher
    from tollhouse.identity import ClientCredentials

    config = ControlPlaneConfig(
        identity=ClientCredentials(tenant_id="t", client_id="c", client_secret="unused"),
        database_url=url,
    )
    store = ControlPlaneStore.open(url)
    watcher = RevisionWatcher(store, poll_seconds=3600)
    service = ControlPlane(config, store, watcher)
    await watcher.start()
    try:
        revision = watcher.revision

        async def wait() -> float:
            await service.events("edge", revision, 100, 30)
            return time.perf_counter()

        tasks = [asyncio.create_task(wait()) for _ in range(count)]
        await asyncio.sleep(0.5)
        changed = time.perf_counter()
        path = model.parse_resource_path(f"namedValues/wake-{count}")
        await asyncio.to_thread(service.put, path, {"displayName": f"wake-{count}", "value": "x"})
        finished = await asyncio.gather(*tasks)
        return min(finished) - changed, max(finished) - changed
    finally:
        await watcher.stop()
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apis", type=int, default=1000)
    parser.add_argument("--operations", type=int, default=10)
    parser.add_argument("--polls", default="250,1000,2000")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tollhouse-bench-cp-"))
    CertificateAuthority.load_or_create(work / "pki")
    store = ControlPlaneStore.open(f"sqlite:///{work / 'cp.db'}")
    started = time.perf_counter()
    prepare(store, args.apis, args.operations)
    print(
        f"prepared {args.apis} APIs x {args.operations} operations in "
        f"{time.perf_counter() - started:.1f} s (revision {store.revision()})\n"
    )

    builds, loads, encodes = [], [], []
    for _ in range(3):
        t0 = time.perf_counter()
        revision, resources = store.load_all()
        t1 = time.perf_counter()
        config = build_configuration("edge", SERVICE, revision, resources)
        t2 = time.perf_counter()
        body = json.dumps(config.to_json(), separators=(",", ":")).encode()
        t3 = time.perf_counter()
        loads.append(t1 - t0)
        builds.append(t2 - t1)
        encodes.append(t3 - t2)
    print(f"{'in-process step':<28} {'median ms':>10}")
    print("-" * 39)
    for name, values in (
        ("load resources", loads),
        ("build snapshot", builds),
        ("encode JSON", encodes),
    ):
        print(f"{name:<28} {statistics.median(values) * 1000:>10.1f}")
    print(
        f"{'snapshot size':<28} {len(body) / 1024:>9.0f}K  ({len(config.apis)} APIs, "
        f"{sum(len(a.operations) for a in config.apis)} operations)\n"
    )

    print(f"{'same replica, in-process':<26} {'first ms':>9} {'last ms':>9}")
    print("-" * 46)
    for count in (1, 1000):
        first_ms, last_ms = asyncio.run(same_replica(f"sqlite:///{work / 'cp.db'}", count))
        print(f"{f'{count} waiting gateways':<26} {first_ms * 1000:>9.1f} {last_ms * 1000:>9.1f}")
    print()

    gateway = store.get("gateways/edge")
    assert gateway is not None
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    token = model.generate_gateway_token(
        "edge", gateway.secrets["primary"], expiry, now=dt.datetime.now(dt.UTC)
    )
    headers = {"Authorization": f"GatewayKey {token}"}

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(work), str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(work / "pki" / "ca.pem"))
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", verify=context, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        health = asyncio.run(timed_gets(url, "/health", {}, context, 50))
        first = asyncio.run(timed_gets(url, "/gateways/edge/configuration", headers, context, 1))
        cached = asyncio.run(timed_gets(url, "/gateways/edge/configuration", headers, context, 10))
        print(f"{'over HTTPS (one client)':<34} {'median ms':>10}")
        print("-" * 45)
        print(f"{'reference: GET /health':<34} {statistics.median(health) * 1000:>10.1f}")
        print(f"{'snapshot, first (build)':<34} {first[0] * 1000:>10.1f}")
        print(f"{'snapshot, cached revision':<34} {statistics.median(cached) * 1000:>10.1f}\n")

        server = psutil.Process(process.pid)
        print(
            f"{'long polls':>10} {'held':>6} {'first ms':>9} {'last ms':>9} {'server RSS MiB':>15}"
        )
        print("-" * 53)
        for count in (int(c) for c in args.polls.split(",")):
            held, first_ms, last_ms = asyncio.run(long_polls(url, headers, context, count, store))
            rss = server.memory_info().rss / 2**20
            print(
                f"{count:>10} {held:>6} {first_ms * 1000:>9.0f} {last_ms * 1000:>9.0f} {rss:>15.0f}"
            )
    finally:
        process.terminate()
        process.wait(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
