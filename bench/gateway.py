"""Data plane: the gateway process under load, against nginx doing the same job.

Starts, on loopback and pinned (load generator and backend on core 0, the system under test
on core 1):

- the backend: nginx, one worker, a fixed JSON body of about 100 bytes;
- the reference: a second nginx, one worker, proxying to the backend over a keep-alive
  upstream;
- the gateway: the real `tollhouse gateway` process, its control plane unreachable, serving
  a configuration from its backup file (written with the gateway's own `BackupStore`);
- for the swaps only: the directory and the control plane as `tollhouse dev` starts them
  (`_system.py`, on the load core), and a gateway following the control plane's change feed.

Then measures, with wrk (one thread, `CONNECTIONS` connections, `SECONDS` per run, a warm-up
first, `REPEATS` runs interleaved, medians):

1. requests/s through a pass-through API, and through an API with a subscription key,
   rate-limit-by-key, set-header and one expression, each as a ratio to the reference;
2. p50 / p99 latency at half the gateway's peak rate, through the gateway and calling the
   backend directly at the same rate; the difference is what the gateway adds;
3. the gateway's peak RSS under that load, and its RSS serving 1,000 APIs / 10,000
   operations loaded from its backup;
4. compiling and swapping a 10,000-operation configuration (in-process, the gateway's own
   `Pipeline.apply`), and requests failed while a running gateway under load swaps it 20 times,
   fed by the real directory and control plane (`_system.py`): the control plane's store
   filled with the same 1,000 APIs before it starts, each swap one management write;
5. start to ready from a backup: process spawn to the first 200 on the status probe.

Prints one markdown table and writes JSON to bench/results/gateway-<UTC time>.json.

    python bench/gateway.py            # BENCH_SECONDS=3 for a quick run
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import (
    LOOPBACK,
    BenchError,
    Children,
    OpenEndedWrk,
    WrkResult,
    free_port,
    http_get,
    machine_facts,
    nginx_backend,
    nginx_proxy,
    require_tools,
    status_kib,
    wait_status,
    wrk,
)
from _report import Figure, write
from _report import run as run_benchmark
from _system import GatewayProcess, Management, System, pollers, start_gateways, start_system
from tollhouse.contracts import (
    ApiConfig,
    GatewayConfiguration,
    OperationConfig,
    ProductConfig,
    SubscriptionConfig,
    hash_key,
)
from tollhouse.controlplane import model
from tollhouse.controlplane.store import ControlPlaneStore, Write
from tollhouse.gateway._pipeline import Pipeline
from tollhouse.gateway.http import UpstreamPool
from tollhouse.gateway.sync import BackupStore
from tollhouse.gateway.telemetry._metrics import RequestMetrics

# --- how the load is made ------------------------------------------------------------------
CONNECTIONS = 50
THREADS = 1
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
REPEATS = max(3, int(os.environ.get("BENCH_REPEATS", "3")))
WARMUP_SECONDS = min(SECONDS, 3.0)
LOAD_CORE, SUT_CORE = 0, 1
# Latency is measured at this fraction of the gateway's peak pass-through rate.
LATENCY_LOAD = 0.5
STARTS = 3
COMPILES = 5
SWAPS = 20
# A swap the gateway has not served within this long fails the run.
SWAP_TIMEOUT_SECONDS = 30.0
# How often the marker API of a swap is asked whether it is served.
SWAP_POLL_SECONDS = 0.01
# Load before the first swap and after the last one.
LOAD_SETTLE_SECONDS = 1.0
# Resources per transaction when filling the control plane's store.
FILL_BATCH = 5000

# --- targets (the issue) -------------------------------------------------------------------
PASS_THROUGH_RATIO = 0.35
POLICIES_RATIO = 0.30
P99_ADDED_MS = 2.0
RSS_MIB = 150.0
SWAP_SECONDS = 1.0
READY_SECONDS = 1.5

# --- the configurations --------------------------------------------------------------------
GATEWAY = "bench"
SERVICE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/bench"
    "/providers/Microsoft.ApiManagement/service/bench"
)
# A GatewayKey of the right shape: nobody checks it, the control plane is unreachable.
TOKEN = f"GatewayKey {GATEWAY}&209912312359&" + base64.b64encode(b"unchecked").decode()
KEY_HEADER = "Ocp-Apim-Subscription-Key"
SUBSCRIPTION_KEY = "0123456789abcdef0123456789abcdef"
STATUS_PATH = "/status-0123456789abcdef"
PASS_PATH = "/pass/data"
POLICY_PATH = "/policy/data"
POLICY = (
    "<policies><inbound><base />"
    # A limit that never trips, counted per subscription.
    '<rate-limit-by-key calls="1000000000" renewal-period="300" '
    'counter-key="@(context.Subscription.Id)" />'
    '<set-header name="x-bench" exists-action="override"><value>tollhouse</value></set-header>'
    '<set-header name="x-request" exists-action="override"><value>'
    '@(context.Request.Headers.GetValueOrDefault("x-a","") + context.RequestId)'
    "</value></set-header>"
    "</inbound><backend><base /></backend><outbound><base /></outbound>"
    "<on-error><base /></on-error></policies>"
)
LARGE_POLICY = (
    '<policies><inbound><base /><set-header name="x-api" exists-action="override">'
    "<value>@(context.Api.Name)</value></set-header></inbound><backend><base /></backend>"
    "<outbound><base /></outbound><on-error><base /></on-error></policies>"
)
LARGE_APIS, LARGE_OPERATIONS = 1000, 10
OPERATIONS = [
    ("list", "GET", "/items"),
    ("create", "POST", "/items"),
    ("get", "GET", "/items/{id}"),
    ("replace", "PUT", "/items/{id}"),
    ("delete", "DELETE", "/items/{id}"),
    ("part", "GET", "/items/{id}/parts/{partId}"),
    ("history", "GET", "/items/{id}/history"),
    ("search", "GET", "/search?q={query}"),
    ("file", "GET", "/files/{*path}"),
    ("root", "GET", "/"),
]


def api(name: str, path: str, backend: str, **more: Any) -> ApiConfig:
    return ApiConfig(
        name=name,
        display_name=name,
        path=path,
        protocols=("http", "https"),
        service_url=backend,
        subscription_required=more.pop("subscription_required", False),
        subscription_key_header=KEY_HEADER,
        subscription_key_query="subscription-key",
        operations=more.pop("operations", (OperationConfig("data", "data", "GET", "/data"),)),
        **more,
    )


def small_configuration(backend: str) -> GatewayConfiguration:
    """(a) a pass-through API; (b) an API behind a subscription key, with policies."""
    return GatewayConfiguration(
        gateway=GATEWAY,
        revision=1,
        service_id=SERVICE,
        apis=(
            api("pass", "pass", backend),
            api("policy", "policy", backend, subscription_required=True, policy=POLICY),
        ),
        products=(ProductConfig("bench", "Bench", "published", True, ("policy",)),),
        subscriptions=(
            SubscriptionConfig(
                "bench-sub",
                "Bench",
                "product",
                "bench",
                "active",
                hash_key(SUBSCRIPTION_KEY),
                hash_key(SUBSCRIPTION_KEY[::-1]),
            ),
        ),
    )


def large_configuration(backend: str, revision: int = 1) -> GatewayConfiguration:
    """(c) 1,000 APIs of 10 operations, each with a policy, 1,000 subscriptions, and the
    pass-through API of (a); `marker<revision>` tells a client which revision serves it."""
    apis = [api("pass", "pass", backend), api(f"marker{revision}", f"marker{revision}", backend)]
    for index in range(LARGE_APIS):
        apis.append(
            api(
                f"api{index}",
                f"service{index}",
                f"http://backend{index}.internal",
                subscription_required=True,
                policy=LARGE_POLICY,
                operations=tuple(
                    OperationConfig(n, n, m, t) for n, m, t in OPERATIONS[:LARGE_OPERATIONS]
                ),
            )
        )
    return GatewayConfiguration(
        gateway=GATEWAY,
        revision=revision,
        service_id=SERVICE,
        apis=tuple(apis),
        products=(
            ProductConfig("starter", "Starter", "published", True, tuple(a.name for a in apis[2:])),
        ),
        subscriptions=tuple(
            SubscriptionConfig(
                f"sub{i}",
                f"sub{i}",
                "product",
                "starter",
                "active",
                hash_key(f"key-{i}"),
                hash_key(f"other-{i}"),
            )
            for i in range(1000)
        ),
    )


def operation_count(config: GatewayConfiguration) -> int:
    return sum(len(a.operations) for a in config.apis)


def resource(path: str, properties: Mapping[str, Any]) -> Write:
    """A resource as the management API stores a PUT of it (the model's own validation)."""
    parsed = model.parse_resource_path(path)
    normalized = model.normalize_resource(parsed, properties)
    return Write(
        parsed.relative, parsed.kind, dict(normalized.properties), dict(normalized.secrets)
    )


def api_resources(name: str, path: str, backend: str, **more: Any) -> list[Write]:
    operations = more.pop("operations", [("data", "GET", "/data")])
    policy = more.pop("policy", None)
    writes = [
        resource(
            f"apis/{name}",
            {
                "displayName": name,
                "path": path,
                "protocols": ["http", "https"],
                "serviceUrl": backend,
                "subscriptionRequired": more.pop("subscription_required", False),
            },
        )
    ]
    writes += [
        resource(
            f"apis/{name}/operations/{op}",
            {"displayName": op, "method": method, "urlTemplate": template},
        )
        for op, method, template in operations
    ]
    if policy is not None:
        writes.append(resource(f"apis/{name}/policies/policy", {"value": policy, "format": "xml"}))
    return writes


def large_resources(backend: str) -> list[Write]:
    """(c) as the control plane's resources, every API assigned to the gateway resource
    `GATEWAY`; and `marker1` … `marker<SWAPS>`, not assigned: each swap assigns one."""
    writes = [
        resource(f"gateways/{GATEWAY}", {"locationData": {"name": "bench"}}),
        resource(
            "products/starter",
            {"displayName": "Starter", "state": "published", "subscriptionRequired": True},
        ),
        *api_resources("pass", "pass", backend),
        resource(f"gateways/{GATEWAY}/apis/pass", {}),
    ]
    for index in range(LARGE_APIS):
        name = f"api{index}"
        writes += api_resources(
            name,
            f"service{index}",
            f"http://backend{index}.internal",
            subscription_required=True,
            policy=LARGE_POLICY,
            operations=OPERATIONS[:LARGE_OPERATIONS],
        )
        writes += [
            resource(f"gateways/{GATEWAY}/apis/{name}", {}),
            resource(f"products/starter/apis/{name}", {}),
            resource(
                f"subscriptions/sub{index}",
                {
                    "scope": "/products/starter",
                    "displayName": f"sub{index}",
                    "state": "active",
                    "primaryKey": f"key-{index}",
                    "secondaryKey": f"other-{index}",
                },
            ),
        ]
    for swap in range(1, SWAPS + 1):
        writes += api_resources(f"marker{swap}", f"marker{swap}", backend)
    return writes


def fill_store(url: str, backend: str) -> None:
    """The control plane's store, before it starts, with `large_resources`."""
    started = time.monotonic()
    writes = large_resources(backend)
    store = ControlPlaneStore.open(url)
    try:
        for first in range(0, len(writes), FILL_BATCH):
            store.apply(writes[first : first + FILL_BATCH])
        revision = store.revision()
    finally:
        store.close()
    print(
        f"  control plane's store: {len(writes):,} resources at revision {revision} "
        f"in {time.monotonic() - started:.1f} s",
        flush=True,
    )


# --- the gateway process -------------------------------------------------------------------


def gateway_argv() -> list[str]:
    script = Path(sys.executable).with_name("tollhouse")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tollhouse.cli"]
    return [*command, "gateway", "--host", LOOPBACK]


@dataclass
class Gateway:
    process: Any
    port: int
    log: Path
    spawned: float
    ready: float = 0.0

    @property
    def pid(self) -> int:
        pid: int = self.process.pid
        return pid

    @property
    def start_to_ready(self) -> float:
        return self.ready - self.spawned


def start_gateway(
    children: Children,
    workdir: Path,
    name: str,
    *,
    backup: GatewayConfiguration,
) -> Gateway:
    """The gateway, serving `backup` with its control plane unreachable."""
    directory = workdir / name
    backup_dir = directory / "backup"
    backup_dir.mkdir(parents=True, exist_ok=True)
    BackupStore(backup_dir).save(backup)
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            # Nothing listens there: the first call fails at once and the backup is served.
            "config.service.endpoint": f"https://{LOOPBACK}:{free_port()}",
            "config.service.auth": TOKEN,
            "config.backup.path": str(backup_dir),
            "net.server.http.port": str(port),
            "net.server.https.port": str(free_port()),
            "telemetry.metrics.port": "0",
            "telemetry.logs.std.level": "info",
        }
    )
    log = directory / "gateway.log"
    spawned = time.monotonic()
    process = children.start(gateway_argv(), core=SUT_CORE, env=env, log=log)
    gateway = Gateway(process, port, log, spawned)
    gateway.ready = wait_status(port, STATUS_PATH, process)
    if "serving the configuration backup" not in log.read_text():
        raise BenchError(f"the gateway answers but did not say it serves its backup: {log}")
    return gateway


def expect(port: int, path: str, status: int, headers: Mapping[str, str] | None = None) -> None:
    got, body = http_get(port, path, headers)
    if got != status:
        raise BenchError(f"GET {path} answered {got}, not {status}: {body[:300]!r}")


# --- measuring -----------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def load(url: str, workdir: Path, **more: Any) -> WrkResult:
    return wrk(
        url,
        seconds=more.pop("seconds", SECONDS),
        connections=CONNECTIONS,
        threads=THREADS,
        core=LOAD_CORE,
        workdir=workdir,
        **more,
    )


def interleaved(runs: Mapping[str, Callable[[], WrkResult]]) -> dict[str, list[WrkResult]]:
    """`REPEATS` rounds of every run in turn, so that drift touches each alike."""
    results: dict[str, list[WrkResult]] = {name: [] for name in runs}
    for round_ in range(REPEATS):
        for name, run in runs.items():
            result = run()
            results[name].append(result)
            print(
                f"  round {round_ + 1} {name}: {result.rate:,.0f} req/s, "
                f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                f"failed {result.failed}",
                flush=True,
            )
    return results


def failures(results: list[WrkResult]) -> int:
    return sum(r.failed for r in results)


def summary(results: list[WrkResult]) -> dict[str, Any]:
    return {
        "requests_per_second": [round(r.rate, 1) for r in results],
        "p50_ms": [r.p50_ms for r in results],
        "p99_ms": [r.p99_ms for r in results],
        "socket_errors": sum(r.socket_errors for r in results),
        "status_errors": sum(r.bad_status for r in results),
    }


def compile_and_swap(backend: str) -> tuple[list[float], int]:
    """Seconds for the gateway's own compile-and-swap (`Pipeline.apply`) of the 10,000-
    operation configuration, each a new revision, on the gateway's core."""
    configs = [large_configuration(backend, revision) for revision in range(1, COMPILES + 2)]
    pipeline = Pipeline(UpstreamPool(), RequestMetrics())
    pipeline.apply(configs[0])  # the first apply also imports and warms what compiling needs
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SUT_CORE})
    try:
        seconds = []
        for config in configs[1:]:
            start = time.perf_counter()
            pipeline.apply(config)
            seconds.append(time.perf_counter() - start)
    finally:
        os.sched_setaffinity(0, affinity)
    return seconds, operation_count(configs[0])


async def swaps_under_load(
    children: Children, system: System, workdir: Path
) -> tuple[WrkResult, list[float], list[float], int]:
    """A gateway fed by the control plane swaps the large configuration `SWAPS` times while
    wrk loads its pass-through API: each swap is one management write, assigning the next
    marker API to the gateway, counted served when that API answers 200 through it.
    (wrk's result, write → served and the PUT's own seconds per swap, revisions applied.)"""
    management = Management(system)
    try:
        token = await management.token(GATEWAY)
        started = time.monotonic()
        (gateway,) = start_gateways(children, system, {GATEWAY: token}, core=SUT_CORE)
        await served(gateway, PASS_PATH, time.monotonic())
        print(f"  gateway serving after {time.monotonic() - started:.1f} s", flush=True)
        # The last of the large APIs is there: it asks for a subscription key.
        expect(gateway.port, f"/service{LARGE_APIS - 1}/items", 401)
        load_run = OpenEndedWrk(
            children,
            f"http://{LOOPBACK}:{gateway.port}{PASS_PATH}",
            connections=CONNECTIONS,
            threads=THREADS,
            core=LOAD_CORE,
            workdir=workdir,
        )
        written_to_served, put_seconds = [], []
        try:
            await asyncio.sleep(LOAD_SETTLE_SECONDS)
            for swap in range(1, SWAPS + 1):
                written = time.monotonic()
                await management.call("PUT", f"gateways/{GATEWAY}/apis/marker{swap}", {})
                put_seconds.append(time.monotonic() - written)
                written_to_served.append(await served(gateway, f"/marker{swap}/data", written))
                if swap % 5 == 0:
                    print(f"  swap {swap} of {SWAPS}", flush=True)
            await asyncio.sleep(LOAD_SETTLE_SECONDS)
        finally:
            result = load_run.finish()
        applied = log_count(gateway.log, "configuration revision", "applied (from the control")
        children.stop(gateway.process)
        return result, written_to_served, put_seconds, applied
    finally:
        await management.close()


async def served(gateway: GatewayProcess, path: str, since: float) -> float:
    """Seconds from `since` until `path` answers 200 through `gateway`."""
    deadline = since + SWAP_TIMEOUT_SECONDS
    with pollers([gateway.port]) as (poller,):
        while time.monotonic() < deadline:
            try:
                status = (await poller.get(path)).status
            except (OSError, asyncio.IncompleteReadError):
                status = 0
            if status == 200:
                return time.monotonic() - since
            await asyncio.sleep(SWAP_POLL_SECONDS)
    raise BenchError(f"{path} did not answer 200 within {SWAP_TIMEOUT_SECONDS:g} s of its write")


def log_count(log: Path, *parts: str) -> int:
    return sum(all(p in line for p in parts) for line in log.read_text().splitlines())


def mib(kib: int) -> float:
    return kib / 1024


# --- the run -------------------------------------------------------------------------------


def measure(children: Children, workdir: Path) -> list[Figure]:
    figures: list[Figure] = []
    backend_port, _ = nginx_backend(children, workdir / "nginx-backend", core=LOAD_CORE)
    backend = f"http://{LOOPBACK}:{backend_port}"
    proxy_port, _ = nginx_proxy(children, workdir / "nginx-proxy", backend_port, core=SUT_CORE)

    small = small_configuration(backend)
    starts = []
    for attempt in range(STARTS):
        gateway = start_gateway(children, workdir, f"gateway-small-{attempt}", backup=small)
        starts.append(gateway.start_to_ready)
        if attempt < STARTS - 1:
            children.stop(gateway.process)
    key = {KEY_HEADER: SUBSCRIPTION_KEY}
    expect(gateway.port, PASS_PATH, 200)
    expect(gateway.port, POLICY_PATH, 401)
    expect(gateway.port, POLICY_PATH, 200, key)

    urls = {
        "direct": f"http://{LOOPBACK}:{backend_port}/data",
        "nginx": f"http://{LOOPBACK}:{proxy_port}/data",
        "gateway": f"http://{LOOPBACK}:{gateway.port}{PASS_PATH}",
        "policies": f"http://{LOOPBACK}:{gateway.port}{POLICY_PATH}",
    }
    print(f"warm-up, {WARMUP_SECONDS:g} s each", flush=True)
    for name in ("nginx", "gateway", "policies"):
        headers = key if name == "policies" else None
        load(urls[name], workdir, seconds=WARMUP_SECONDS, headers=headers)

    print(f"peak throughput: {REPEATS} rounds of {SECONDS:g} s, {CONNECTIONS} connections")
    peak = interleaved(
        {
            "nginx": lambda: load(urls["nginx"], workdir),
            "gateway": lambda: load(urls["gateway"], workdir),
            "policies": lambda: load(urls["policies"], workdir, headers=key),
        }
    )
    nginx_rate = median([r.rate for r in peak["nginx"]])
    for name, label, target in (
        ("gateway", "requests/s, pass-through API", PASS_THROUGH_RATIO),
        (
            "policies",
            "requests/s, key + rate-limit-by-key + set-header + expression",
            POLICIES_RATIO,
        ),
    ):
        rate = median([r.rate for r in peak[name]])
        failed = failures(peak[name]) + failures(peak["nginx"])
        figures.append(
            Figure(
                label,
                f"nginx {nginx_rate:,.0f}",
                f"{rate:,.0f}" + (f" ({failed} failed)" if failed else ""),
                f"{rate / nginx_rate:.2f} × nginx (≥ {target:.2f})",
                rate / nginx_rate >= target and failed == 0,
                {"reference": summary(peak["nginx"]), "gateway": summary(peak[name])},
            )
        )

    gateway_rate = median([r.rate for r in peak["gateway"]])
    rate = gateway_rate * LATENCY_LOAD
    delay_ms = max(1, round(CONNECTIONS * 1000 / rate))
    print(f"latency at {rate:,.0f} req/s ({delay_ms} ms between requests per connection)")
    paced = interleaved(
        {
            "direct": lambda: load(urls["direct"], workdir, delay_ms=delay_ms),
            "gateway": lambda: load(urls["gateway"], workdir, delay_ms=delay_ms),
        }
    )
    failed = failures(paced["direct"]) + failures(paced["gateway"])
    achieved = median([r.rate for r in paced["gateway"]])
    for what, target in (("p50", None), ("p99", P99_ADDED_MS)):
        direct = median([getattr(r, f"{what}_ms") for r in paced["direct"]])
        through = median([getattr(r, f"{what}_ms") for r in paced["gateway"]])
        added = through - direct
        figures.append(
            Figure(
                f"{what} latency added, at half of peak ({achieved:,.0f} req/s)",
                f"direct {direct:.2f} ms",
                f"{through:.2f} ms" + (f" ({failed} failed)" if failed else ""),
                f"+{added:.2f} ms" + (f" (≤ {target:g} ms)" if target is not None else ""),
                (added <= target and failed == 0) if target is not None else None,
                {
                    "target_rate": rate,
                    "delay_ms": delay_ms,
                    "direct": summary(paced["direct"]),
                    "gateway": summary(paced["gateway"]),
                },
            )
        )

    peak_rss = mib(status_kib(gateway.pid, "VmHWM"))
    figures.append(
        Figure(
            "peak RSS under load (both APIs' runs)",
            "—",
            f"{peak_rss:.0f} MiB",
            f"≤ {RSS_MIB:g} MiB",
            peak_rss <= RSS_MIB,
        )
    )
    children.stop(gateway.process)
    figures.append(
        Figure(
            "start to ready from backup, 2 APIs",
            "—",
            f"{median(starts):.2f} s",
            f"≤ {READY_SECONDS:g} s",
            median(starts) <= READY_SECONDS,
            {"seconds": starts},
        )
    )

    large = large_configuration(backend)
    operations = operation_count(large)
    print(f"{len(large.apis):,} APIs / {operations:,} operations from backup, {STARTS} starts")
    large_starts, rss, hwm = [], [], []
    for attempt in range(STARTS):
        gateway = start_gateway(children, workdir, f"gateway-large-{attempt}", backup=large)
        large_starts.append(gateway.start_to_ready)
        expect(gateway.port, PASS_PATH, 200)
        time.sleep(1.0)
        rss.append(mib(status_kib(gateway.pid, "VmRSS")))
        hwm.append(mib(status_kib(gateway.pid, "VmHWM")))
        children.stop(gateway.process)
    figures.append(
        Figure(
            f"RSS with {len(large.apis):,} APIs / {operations:,} operations (peak while loading)",
            "—",
            f"{median(rss):.0f} MiB ({median(hwm):.0f} MiB)",
            f"≤ {RSS_MIB:g} MiB",
            max(median(rss), median(hwm)) <= RSS_MIB,
            {"rss_mib": rss, "peak_mib": hwm},
        )
    )
    figures.append(
        Figure(
            f"start to ready from backup, {operations:,} operations",
            "—",
            f"{median(large_starts):.2f} s",
            f"≤ {READY_SECONDS:g} s",
            median(large_starts) <= READY_SECONDS,
            {"seconds": large_starts},
        )
    )

    print(f"compile and swap, {COMPILES} times in-process")
    seconds, _ = compile_and_swap(backend)
    figures.append(
        Figure(
            f"compile + swap {operations:,} operations (in-process, median of {COMPILES})",
            "—",
            f"{median(seconds) * 1000:.0f} ms",
            f"≤ {SWAP_SECONDS * 1000:.0f} ms",
            median(seconds) <= SWAP_SECONDS,
            {"seconds": seconds},
        )
    )

    print(f"{SWAPS} swaps under load: directory and control plane, as tollhouse dev starts them")
    system = start_system(children, workdir / "system", fill=lambda url: fill_store(url, backend))
    result, visible, put_seconds, applied = asyncio.run(swaps_under_load(children, system, workdir))
    figures.append(
        Figure(
            f"requests failed during {SWAPS} swaps of a "
            f"{LARGE_APIS * LARGE_OPERATIONS:,}-operation configuration under load "
            "(fed by the control plane)",
            "—",
            f"{result.failed} of {result.requests:,}"
            + (f" (status {dict(sorted(result.non_2xx.items()))})" if result.non_2xx else ""),
            "0",
            result.failed == 0 and applied >= SWAPS + 1,
            {
                "requests": result.requests,
                "socket_errors": result.socket_errors,
                "status_errors": result.bad_status,
                "non_2xx_by_status": {str(k): v for k, v in sorted(result.non_2xx.items())},
                "requests_per_second": result.rate,
                "p99_ms": result.p99_ms,
                "max_ms": result.max_ms,
                "write_to_served_seconds": visible,
                "put_seconds": put_seconds,
                "revisions_applied": applied,
            },
        )
    )
    figures.append(
        Figure(
            "swap under load: write → served (feed, build, fetch, decode, compile)",
            "—",
            f"median {median(visible):.2f} s, max {max(visible):.2f} s; "
            f"slowest request {result.max_ms / 1000:.2f} s",
            "—",
            None,
        )
    )
    return figures


def main() -> int:
    # Ctrl-C stops the run and its children even when started where SIGINT is ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    require_tools()
    started = dt.datetime.now(dt.UTC)
    facts = machine_facts()
    # This process only waits for wrk and makes management calls: load side. So do the
    # directory and the control plane it starts, which inherit its core.
    os.sched_setaffinity(0, {LOAD_CORE})
    print(
        f"gateway data plane: {facts['cpu']}, {facts['cores']} cores, {facts['nginx']}, "
        f"{facts['wrk'].split(' Copyright')[0]}",
        flush=True,
    )
    children = Children()
    with tempfile.TemporaryDirectory(prefix="tollhouse-bench-") as temp, children.guard():
        figures = measure(children, Path(temp))
    method = {
        "connections": CONNECTIONS,
        "threads": THREADS,
        "seconds": SECONDS,
        "warmup_seconds": WARMUP_SECONDS,
        "repeats": REPEATS,
        "load_core": LOAD_CORE,
        "system_under_test_core": SUT_CORE,
        "latency_load": LATENCY_LOAD,
    }
    return write("gateway", started, facts, method, figures)


if __name__ == "__main__":
    run_benchmark("bench/gateway.py", main)
