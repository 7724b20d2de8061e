"""Control plane to gateways: how long a management write takes to be served, and whether a
gateway under load drops a request while it swaps configurations.

Starts, on loopback, the directory and the control plane (SQLite) as `tollhouse dev` starts
them (`_system.py`), nginx as the backend (one worker, a fixed JSON body), and real
`tollhouse gateway` processes, each with its own ports and backup path, each its own gateway
resource signing in with a GatewayKey from `generateToken`. Then:

1. write to served, with 1 and with 50 gateways following the change feed: `WRITES` times,
   PUT the policy of an API so that it sets a response header to a fresh value, and poll
   every gateway (h11 on raw keep-alive connections, every `POLL_SECONDS`, fewer when there
   are many gateways: at most `MAX_POLLS_PER_SECOND` in all) until it answers with the new
   value. The figure of a write is the time from sending the PUT until the LAST gateway
   serves it (the first and the median gateway are reported too); p50 / p99 over the
   writes (nearest rank: with 20 writes, p99 is the slowest);
2. swaps under load: one gateway (pinned to core 1; wrk and nginx on core 0) under wrk's
   constant load while `SWAPS` management writes change what it serves (in turn: the policy
   of the API under load, an operation added to another API, the same operation removed);
   requests failed over the whole run (wrk's socket errors and non-2xx/3xx answers), and
   the time each swap took to be served;
3. client-credentials tokens/s at the directory's token endpoint, from `bench/tokens.py`
   (run as it is, its table read).

Prints one markdown table and writes JSON to bench/results/propagation-<UTC time>.json.

    python bench/propagation.py          # BENCH_WRITES=5 BENCH_GATEWAYS=1,5 for a quick run
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import (
    LOOPBACK,
    BenchError,
    Children,
    OpenEndedWrk,
    WrkResult,
    machine_facts,
    nginx_backend,
    require_tools,
    status_kib,
)
from _report import Figure, write
from _report import run as run_benchmark
from _system import (
    Answer,
    GatewayProcess,
    Management,
    Poller,
    System,
    pollers,
    start_gateways,
    start_system,
)

# --- how much is measured (environment variables for quick runs) ---------------------------
WRITES = int(os.environ.get("BENCH_WRITES", "20"))
GATEWAY_COUNTS = tuple(int(n) for n in os.environ.get("BENCH_GATEWAYS", "1,50").split(","))
SWAPS = int(os.environ.get("BENCH_SWAPS", "20"))
# 0 leaves the token endpoint out (`make bench` has run bench/tokens.py already).
TOKEN_SECONDS = float(os.environ.get("BENCH_TOKEN_SECONDS", "5"))
# Each gateway is asked this often whether it serves the new value…
POLL_SECONDS = 0.005
# …but all of them together at most this often: the poller shares the two cores.
MAX_POLLS_PER_SECOND = int(os.environ.get("BENCH_MAX_POLLS", "1000"))
# 1: every gateway process an instance of one gateway resource (replicas, one snapshot per
# revision); otherwise each its own resource (the control plane builds a snapshot for each).
SHARED_RESOURCE = os.environ.get("BENCH_SHARED_RESOURCE", "0") == "1"
# Quiet between two writes, so that each starts from an idle system.
WRITE_GAP_SECONDS = 0.5
# A write no gateway serves within this long fails the run (the long poll is 30 s).
SERVED_TIMEOUT_SECONDS = 60.0
# wrk's load during the swaps, as bench/gateway.py makes it.
CONNECTIONS = 50
THREADS = 1
LOAD_CORE, SUT_CORE = 0, 1
# Load before the first swap and after the last one.
LOAD_SETTLE_SECONDS = 1.0

# --- reference and targets (the issue) -----------------------------------------------------
APIM_POLL_SECONDS = 10.0
P99_SECONDS = 0.5

# --- what the gateways serve ---------------------------------------------------------------
PROPAGATED_API = "prop"
LOAD_API = "load"
TOGGLE_API = "toggle"
TOGGLED_OPERATION = "extra"
HEADER = "x-bench-value"
POLICY = (
    "<policies><inbound><base /></inbound><backend><base /></backend><outbound><base />"
    '<set-header name="' + HEADER + '" exists-action="override"><value>{value}</value>'
    "</set-header></outbound><on-error><base /></on-error></policies>"
)


@dataclass
class Write:
    """One management write and when each gateway first served it (seconds after the PUT
    was sent)."""

    put_seconds: float
    served: list[float]

    @property
    def last(self) -> float:
        return max(self.served)

    @property
    def first(self) -> float:
        return min(self.served)

    @property
    def median(self) -> float:
        return statistics.median(self.served)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def poll_interval(gateways: int) -> float:
    return max(POLL_SECONDS, gateways / MAX_POLLS_PER_SECOND)


Served = Callable[[Answer], bool]


async def served_after(
    poller: Poller, path: str, started: float, interval: float, served: Served
) -> float:
    """Seconds after `started` at which `served(answer)` first held."""
    deadline = started + SERVED_TIMEOUT_SECONDS
    while True:
        answer = await poller.get(path)
        now = time.monotonic()
        if served(answer):
            return now - started
        if now > deadline:
            raise BenchError(
                f"port {poller.port} still answers {answer.status} {answer.headers.get(HEADER)!r} "
                f"on {path} {SERVED_TIMEOUT_SECONDS:g} s after the write"
            )
        await asyncio.sleep(interval)


async def timed_write(
    write: Awaitable[Any], targets: list[Poller], path: str, served: Served, interval: float
) -> Write:
    """Sends the write and polls every target at once, each first poll spread over one
    interval (no burst of requests at the moment of the write); the PUT's own time beside.
    A write that fails stops the run at once."""
    started = time.monotonic()

    async def put() -> float:
        await write
        return time.monotonic() - started

    async def poll(index: int, poller: Poller) -> float:
        await asyncio.sleep(interval * index / len(targets))
        return await served_after(poller, path, started, interval, served)

    put_seconds, *times = await asyncio.gather(
        put(), *(poll(index, poller) for index, poller in enumerate(targets))
    )
    return Write(put_seconds, times)


def header_is(value: str) -> Served:
    return lambda answer: answer.status == 200 and answer.headers.get(HEADER) == value


def status_is(status: int) -> Served:
    return lambda answer: answer.status == status


async def propagation(
    management: Management, gateways: list[GatewayProcess], writes: int
) -> list[Write]:
    """`writes` policy PUTs, each timed until every gateway serves it (one warm-up first)."""
    path = f"/{PROPAGATED_API}/data"
    interval = poll_interval(len(gateways))
    results = []
    with pollers([g.port for g in gateways]) as targets:
        for index in range(writes + 1):
            value = f"w{index}-{uuid.uuid4().hex[:8]}"
            write = management.policy(PROPAGATED_API, POLICY.format(value=value))
            result = await timed_write(write, targets, path, header_is(value), interval)
            if index > 0:
                results.append(result)
                print(
                    f"  write {index}: PUT {result.put_seconds * 1000:.0f} ms, served by the "
                    f"first {result.first * 1000:.0f} ms, median {result.median * 1000:.0f} ms, "
                    f"last {result.last * 1000:.0f} ms",
                    flush=True,
                )
            await asyncio.sleep(WRITE_GAP_SECONDS)
    return results


async def swaps(
    management: Management, gateway: GatewayProcess, count: int
) -> tuple[list[Write], list[str]]:
    """`count` configuration changes, each timed until the gateway serves it."""
    results, kinds = [], []
    interval = poll_interval(1)
    with pollers([gateway.port]) as targets:
        for index in range(count):
            write: Awaitable[Any]
            toggled = f"/{TOGGLE_API}/{TOGGLED_OPERATION}"
            if index % 2 == 0:
                value = f"s{index}-{uuid.uuid4().hex[:8]}"
                write = management.policy(LOAD_API, POLICY.format(value=value))
                kind, path, served = "policy", f"/{LOAD_API}/data", header_is(value)
            elif index % 4 == 1:
                write = management.operation(TOGGLE_API, TOGGLED_OPERATION)
                kind, path, served = "operation added", toggled, status_is(200)
            else:
                write = management.call(
                    "DELETE", f"apis/{TOGGLE_API}/operations/{TOGGLED_OPERATION}"
                )
                kind, path, served = "operation removed", toggled, status_is(404)
            result = await timed_write(write, targets, path, served, interval)
            results.append(result)
            kinds.append(kind)
            print(f"  swap {index + 1} ({kind}): served after {result.last * 1000:.0f} ms")
            await asyncio.sleep(WRITE_GAP_SECONDS)
    return results, kinds


# --- the run -------------------------------------------------------------------------------


def write_figure(count: int, results: list[Write], interval: float) -> Figure:
    last = [w.last for w in results]
    p50, p99 = percentile(last, 50), percentile(last, 99)
    plural = "s" if count != 1 else ""
    return Figure(
        f"write → served by all, {count} gateway{plural} following the feed "
        f"(p50 / p99 of {len(results)} writes)",
        f"APIM: {APIM_POLL_SECONDS:g} s poll",
        f"{p50 * 1000:.0f} ms / {p99 * 1000:.0f} ms",
        f"p99 ≤ {P99_SECONDS * 1000:.0f} ms",
        p99 <= P99_SECONDS,
        {
            "gateways": count,
            "poll_interval_seconds": interval,
            "last_gateway_seconds": last,
            "first_gateway_seconds": [w.first for w in results],
            "median_gateway_seconds": [w.median for w in results],
            "put_seconds": [w.put_seconds for w in results],
            "p50_first_seconds": percentile([w.first for w in results], 50),
            "p50_median_seconds": percentile([w.median for w in results], 50),
            "p50_put_seconds": percentile([w.put_seconds for w in results], 50),
        },
    )


def first_and_median_figure(count: int, results: list[Write]) -> Figure:
    first = percentile([w.first for w in results], 50)
    median = percentile([w.median for w in results], 50)
    put = percentile([w.put_seconds for w in results], 50)
    return Figure(
        f"… of which: the PUT answered / first / median gateway serves (p50), "
        f"{count} gateway{'s' if count != 1 else ''}",
        "—",
        f"{put * 1000:.0f} / {first * 1000:.0f} / {median * 1000:.0f} ms",
        "—",
        None,
    )


def swap_figures(result: WrkResult, timed: list[Write], kinds: list[str]) -> list[Figure]:
    served = [w.last for w in timed]
    return [
        Figure(
            f"requests failed during {len(timed)} configuration swaps under load "
            f"(wrk, {CONNECTIONS} connections)",
            "—",
            f"{result.failed} of {result.requests:,}",
            "0",
            result.failed == 0,
            {
                "requests": result.requests,
                "socket_errors": result.socket_errors,
                "status_errors": result.bad_status,
                "requests_per_second": result.rate,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "max_ms": result.max_ms,
            },
        ),
        Figure(
            "swap under load: write → served (p50 / max)",
            f"APIM: {APIM_POLL_SECONDS:g} s poll",
            f"{percentile(served, 50) * 1000:.0f} ms / {max(served) * 1000:.0f} ms",
            "—",
            None,
            {
                "served_seconds": served,
                "put_seconds": [w.put_seconds for w in timed],
                "kinds": kinds,
            },
        ),
    ]


def token_figures(children: Children, workdir: Path) -> list[Figure]:
    """bench/tokens.py as it is, for `TOKEN_SECONDS` per scenario; its rows read back."""
    log = workdir / "tokens.log"
    script = Path(__file__).with_name("tokens.py")
    argv = [sys.executable, str(script), "--seconds", f"{TOKEN_SECONDS:g}"]
    process = children.start(argv, core=None, log=log)
    process.wait()
    text = log.read_text()
    if process.returncode != 0:
        raise BenchError(f"bench/tokens.py failed ({process.returncode}): {text[-500:]}")
    rows: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        name, numbers = line[:26].strip(), line[26:].split()
        if len(numbers) == 5 and numbers[0].isdigit():
            count, failed, rate, p50, p99 = numbers
            rows[name] = {
                "requests": int(count),
                "non_200": int(failed),
                "per_second": float(rate),
                "p50_ms": float(p50),
                "p99_ms": float(p99),
            }
    reference = rows.get("reference: GET /health")
    figures: list[Figure] = []
    for scenario in ("client secret", "certificate assertion"):
        row = rows.get(scenario)
        if row is None or reference is None:
            raise BenchError(f"bench/tokens.py printed no '{scenario}' row: {text[-500:]}")
        failed = f", {row['non_200']:.0f} non-200" if row["non_200"] else ""
        figures.append(
            Figure(
                f"token endpoint: client-credentials tokens/s ({scenario})",
                f"GET /health {reference['per_second']:,.0f}/s",
                f"{row['per_second']:,.0f}/s (p99 {row['p99_ms']:.0f} ms{failed})",
                "report",
                None,
                {"scenario": row, "reference": reference, "seconds": TOKEN_SECONDS},
            )
        )
    return figures


async def write_to_served(
    children: Children, system: System, management: Management
) -> list[Figure]:
    """Figure 1, for each of `GATEWAY_COUNTS`: gateways are added to those running."""
    figures: list[Figure] = []
    tokens: dict[str, str] = {}
    running: list[GatewayProcess] = []
    try:
        for count in GATEWAY_COUNTS:
            for index in range(len(tokens), count):
                name = f"gw{index:02d}"
                if SHARED_RESOURCE and tokens:
                    tokens[name] = tokens["gw00"]
                else:
                    tokens[name] = await management.gateway(name, [PROPAGATED_API])
            more = {n: t for n, t in tokens.items() if n not in {g.name for g in running}}
            print(f"{count} gateway(s): starting {len(more)}", flush=True)
            started = time.monotonic()
            running += start_gateways(children, system, more)
            print(f"  all ready after {time.monotonic() - started:.1f} s", flush=True)
            results = await propagation(management, running[:count], WRITES)
            figure = write_figure(count, results, poll_interval(count))
            figure.data["gateway_rss_mib"] = (
                sum(status_kib(g.process.pid, "VmRSS") for g in running[:count]) / 1024 / count
            )
            figures += [figure, first_and_median_figure(count, results)]
    finally:
        for gateway in running:
            children.stop(gateway.process)
    return figures


async def swaps_under_load(
    children: Children, system: System, management: Management, workdir: Path
) -> list[Figure]:
    """Figure 2: one gateway, pinned, under wrk's load while `SWAPS` writes change it."""
    print(f"{SWAPS} swaps under load", flush=True)
    token = await management.gateway("swap", [LOAD_API, TOGGLE_API])
    (gateway,) = start_gateways(children, system, {"swap": token}, core=SUT_CORE)
    with pollers([gateway.port]) as (poller,):
        await served_after(poller, f"/{LOAD_API}/data", time.monotonic(), 0.05, status_is(200))
    affinity = os.sched_getaffinity(0)
    # This process only polls and writes: the load side.
    os.sched_setaffinity(0, {LOAD_CORE})
    try:
        load = OpenEndedWrk(
            children,
            f"http://{LOOPBACK}:{gateway.port}/{LOAD_API}/data",
            connections=CONNECTIONS,
            threads=THREADS,
            core=LOAD_CORE,
            workdir=workdir,
        )
        try:
            await asyncio.sleep(LOAD_SETTLE_SECONDS)
            timed, kinds = await swaps(management, gateway, SWAPS)
            await asyncio.sleep(LOAD_SETTLE_SECONDS)
        finally:
            result = load.finish()
    finally:
        os.sched_setaffinity(0, affinity)
        children.stop(gateway.process)
    return swap_figures(result, timed, kinds)


async def follow(children: Children, system: System, workdir: Path) -> list[Figure]:
    backend_port, _ = nginx_backend(children, workdir / "nginx-backend", core=LOAD_CORE)
    backend = f"http://{LOOPBACK}:{backend_port}"
    management = Management(system)
    try:
        await management.api(PROPAGATED_API, backend)
        await management.policy(PROPAGATED_API, POLICY.format(value="initial"))
        await management.api(LOAD_API, backend)
        await management.api(TOGGLE_API, backend)
        figures = await write_to_served(children, system, management)
        if SWAPS > 0:
            figures += await swaps_under_load(children, system, management, workdir)
        return figures
    finally:
        await management.close()


def measure(children: Children, workdir: Path) -> list[Figure]:
    figures: list[Figure] = []
    if TOKEN_SECONDS > 0:
        print(f"token endpoint: bench/tokens.py, {TOKEN_SECONDS:g} s per scenario", flush=True)
        figures = token_figures(children, workdir)
    print("directory and control plane, as tollhouse dev starts them", flush=True)
    system = start_system(children, workdir / "state")
    return asyncio.run(follow(children, system, workdir)) + figures


def main() -> int:
    require_tools()
    started = dt.datetime.now(dt.UTC)
    facts = machine_facts()
    print(f"propagation: {facts['cpu']}, {facts['cores']} cores", flush=True)
    children = Children()
    with tempfile.TemporaryDirectory(prefix="tollhouse-bench-") as temp, children.guard():
        figures = measure(children, Path(temp))
    method = {
        "writes": WRITES,
        "gateway_counts": list(GATEWAY_COUNTS),
        "shared_gateway_resource": SHARED_RESOURCE,
        "swaps": SWAPS,
        "poll_seconds": POLL_SECONDS,
        "max_polls_per_second": MAX_POLLS_PER_SECOND,
        "write_gap_seconds": WRITE_GAP_SECONDS,
        "connections": CONNECTIONS,
        "threads": THREADS,
        "load_core": LOAD_CORE,
        "system_under_test_core": SUT_CORE,
        "token_seconds": TOKEN_SECONDS,
        "database": "sqlite",
    }
    return write("propagation", started, facts, method, figures)


if __name__ == "__main__":
    run_benchmark("bench/propagation.py", main)
