"""What bounds the data plane: nginx, a bare Python proxy and the gateway side by side.

On the same loopback and pinning as bench/gateway.py (wrk and the backend on core 0, the
server under test on core 1), three servers proxy the same GET to the nginx backend:

- nginx, one worker, keep-alive upstream (the reference of bench/gateway.py);
- `_bare_proxy.py`: the gateway's event loop and parser with nothing else, the floor any
  Python proxy on them stands on;
- the gateway, pass-through API, served from its backup.

For each: requests/s (median of `REPEATS` interleaved runs), and the server's CPU time per
request, split into user and kernel time (from /proc/PID/stat over each run). The gap between
the bare proxy and the gateway is the gateway's own work per request; the kernel share is the
loopback TCP path, which grows per request when the load side idles.

    python bench/ceiling.py            # BENCH_SECONDS=3 for a quick run
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _harness import (
    LOOPBACK,
    Children,
    WrkResult,
    free_port,
    machine_facts,
    nginx_backend,
    nginx_proxy,
    require_tools,
    wait_status,
)
from _report import Figure, write
from _report import run as run_benchmark
from gateway import (
    CONNECTIONS,
    LOAD_CORE,
    PASS_PATH,
    REPEATS,
    SECONDS,
    SUT_CORE,
    THREADS,
    WARMUP_SECONDS,
    load,
    small_configuration,
    start_gateway,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and kernel CPU seconds a process and its children (nginx's worker) have used."""
    user = kernel = 0.0
    for process in (pid, *_children(pid)):
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command: fields 14 and 15 of stat(5), utime and stime, in clock ticks.
        user += int(fields[11]) / CLOCK_TICKS
        kernel += int(fields[12]) / CLOCK_TICKS
    return user, kernel


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def measured(pid: int, url: str, workdir: Path) -> tuple[WrkResult, float, float]:
    """A wrk run against `url`, and the server's user and kernel microseconds per request
    over it."""
    user, kernel = cpu_seconds(pid)
    result = load(url, workdir)
    user_after, kernel_after = cpu_seconds(pid)
    requests = max(1, result.requests)
    return result, (user_after - user) / requests * 1e6, (kernel_after - kernel) / requests * 1e6


def measure(children: Children, workdir: Path) -> list[Figure]:
    backend_port, _ = nginx_backend(children, workdir / "nginx-backend", core=LOAD_CORE)
    proxy_port, nginx = nginx_proxy(children, workdir / "nginx-proxy", backend_port, core=SUT_CORE)
    bare_port = free_port()
    script = str(Path(__file__).with_name("_bare_proxy.py"))
    bare = children.start(
        [sys.executable, script, str(bare_port), str(backend_port)],
        core=SUT_CORE,
        log=workdir / "bare.log",
    )
    wait_status(bare_port, "/", bare)
    backend = f"http://{LOOPBACK}:{backend_port}"
    gateway = start_gateway(children, workdir, "gateway", backup=small_configuration(backend))
    servers = {
        "nginx": (nginx.pid, f"http://{LOOPBACK}:{proxy_port}/data"),
        "bare Python proxy": (bare.pid, f"http://{LOOPBACK}:{bare_port}/data"),
        "gateway, pass-through": (gateway.pid, f"http://{LOOPBACK}:{gateway.port}{PASS_PATH}"),
    }
    print(f"warm-up, {WARMUP_SECONDS:g} s each", flush=True)
    for _, url in servers.values():
        load(url, workdir, seconds=WARMUP_SECONDS)
    samples: dict[str, list[tuple[WrkResult, float, float]]] = {name: [] for name in servers}
    for round_ in range(REPEATS):
        for name, (pid, url) in servers.items():
            sample = measured(pid, url, workdir)
            samples[name].append(sample)
            result, user, kernel = sample
            print(
                f"  round {round_ + 1} {name}: {result.rate:,.0f} req/s, "
                f"{user:.1f} µs user + {kernel:.1f} µs kernel per request",
                flush=True,
            )
    nginx_rate = statistics.median(r.rate for r, _, _ in samples["nginx"])
    figures = []
    for name, runs in samples.items():
        rate = statistics.median(r.rate for r, _, _ in runs)
        user = statistics.median(u for _, u, _ in runs)
        kernel = statistics.median(k for _, _, k in runs)
        figures.append(
            Figure(
                f"requests/s, {name}",
                f"nginx {nginx_rate:,.0f}",
                f"{rate:,.0f}; CPU per request {user:.1f} µs user + {kernel:.1f} µs kernel",
                f"{rate / nginx_rate:.2f} × nginx",
                None,
                {"rate": rate, "user_us": user, "kernel_us": kernel, "runs": len(runs)},
            )
        )
    return figures


def main() -> int:
    require_tools()
    started = dt.datetime.now(dt.UTC)
    facts = machine_facts()
    os.sched_setaffinity(0, {LOAD_CORE})
    print(f"data-plane ceiling: {facts['cpu']}, {facts['cores']} cores", flush=True)
    children = Children()
    with tempfile.TemporaryDirectory(prefix="tollhouse-ceiling-") as temp, children.guard():
        figures = measure(children, Path(temp))
    method = {
        "connections": CONNECTIONS,
        "threads": THREADS,
        "seconds": SECONDS,
        "repeats": REPEATS,
        "load_core": LOAD_CORE,
        "system_under_test_core": SUT_CORE,
    }
    return write("ceiling", started, facts, method, figures)


if __name__ == "__main__":
    run_benchmark("bench/ceiling.py", main)
