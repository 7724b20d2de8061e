"""Processes for the data-plane benchmark: pinned children, nginx, wrk, memory, machine facts.

Every child is started in its own session through `Children`, which stops each of them by its
own process id (SIGTERM, then SIGKILL) on exit, on an exception and on Ctrl-C / SIGTERM, so a
run leaves no nginx or gateway behind.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

# A child that ignores SIGTERM this long is killed.
STOP_GRACE_SECONDS = 5.0
# How long a server may take to accept connections before the run is abandoned.
START_TIMEOUT_SECONDS = 30.0
# Each wrk run may overrun its duration by this much (connect, drain) before it is killed.
WRK_SLACK_SECONDS = 30.0
LOOPBACK = "127.0.0.1"


class BenchError(Exception):
    """The benchmark cannot go on (a tool missing, a server that does not start)."""


class Children:
    """The processes this run started; `stop_all` ends each by its pid (and its group, which
    is its own session), newest first."""

    def __init__(self) -> None:
        self._live: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        argv: Sequence[str],
        *,
        core: int | None,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        command = list(argv)
        if core is not None:
            command = ["taskset", "-c", str(core), *command]
        output = log.open("wb") if log is not None else subprocess.DEVNULL
        try:
            process = subprocess.Popen(
                command,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log is not None and not isinstance(output, int):
                output.close()
        self._live.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self._live:
            self._live.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self._live)):
            self.stop(process)

    @contextlib.contextmanager
    def guard(self) -> Iterator[Children]:
        """Stops every child on the way out; SIGTERM becomes SystemExit so that it does too."""

        def terminated(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        previous = signal.signal(signal.SIGTERM, terminated)
        try:
            yield self
        finally:
            # A second Ctrl-C must not interrupt the clean-up.
            interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.stop_all()
            finally:
                signal.signal(signal.SIGINT, interrupt)
                signal.signal(signal.SIGTERM, previous)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def http_get(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_status(
    port: int,
    path: str,
    process: subprocess.Popen[bytes],
    *,
    timeout: float = START_TIMEOUT_SECONDS,
    interval: float = 0.005,
) -> float:
    """Polls until `path` answers 200; the monotonic time it did. BenchError if the process
    exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{process.args!r} exited with {process.returncode}")
        try:
            status, _ = http_get(port, path)
        except OSError:
            status = 0
        if status == 200:
            return time.monotonic()
        time.sleep(interval)
    raise BenchError(f"nothing answered 200 on port {port}{path} within {timeout:g} s")


# --- nginx ---------------------------------------------------------------------------------

NGINX_COMMON = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
{body}
}}
"""

# The backend: a fixed JSON body of about 100 bytes.
BACKEND_BODY = (
    '{"id":"0f8fad5b-d9cb-469f-a165-70867728950e",'
    '"name":"tollhouse bench","ok":true,"items":[1,2,3]}'
)
NGINX_BACKEND = """
    server {{
        listen {host}:{port} backlog=4096;
        default_type application/json;
        location / {{ return 200 '{body}'; }}
    }}
"""
# The reference: nginx as a reverse proxy with a keep-alive upstream, as a gateway would be.
NGINX_PROXY = """
    upstream backend {{
        server {host}:{backend};
        keepalive 64;
    }}
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"""


def nginx_binary() -> str:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    return shutil.which("nginx") or "/usr/sbin/nginx"


def start_nginx(
    children: Children, prefix: Path, body: str, *, port: int, core: int
) -> subprocess.Popen[bytes]:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_COMMON.format(prefix=prefix, body=body))
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]
    process = children.start(argv, core=core, log=prefix / "stdout.log")
    wait_status(port, "/", process)
    return process


def nginx_backend(
    children: Children, prefix: Path, *, core: int
) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    body = NGINX_BACKEND.format(host=LOOPBACK, port=port, body=BACKEND_BODY)
    return port, start_nginx(children, prefix, body, port=port, core=core)


def nginx_proxy(
    children: Children, prefix: Path, backend: int, *, core: int
) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    body = NGINX_PROXY.format(host=LOOPBACK, port=port, backend=backend)
    return port, start_nginx(children, prefix, body, port=port, core=core)


# --- wrk -----------------------------------------------------------------------------------

WRK_SCRIPT = """
{pacing}
{watch}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


# Names every response outside 2xx (wrk's own count is of >= 400 only). It costs wrk some
# speed, so only runs that are not throughput figures use it.
WRK_WATCH = """
response = function(status, headers, body)
  if status < 200 or status > 299 then io.write("WRK-NON2XX ", status, "\\n") end
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    # Socket errors (connect, read, write, timeout) and responses >= 400 (wrk's own count).
    socket_errors: int
    bad_status: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # With `watch`: how many responses of each status outside 2xx.
    non_2xx: Mapping[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def failed(self) -> int:
        return self.socket_errors + max(self.bad_status, sum(self.non_2xx.values()))


def _wrk_argv(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
    core: int,
    workdir: Path,
    headers: Mapping[str, str] | None,
    delay_ms: int,
    watch: bool = False,
) -> list[str]:
    pacing = f"function delay() return {delay_ms} end" if delay_ms > 0 else ""
    script = workdir / f"wrk-{delay_ms}{'-watch' if watch else ''}.lua"
    script.write_text(WRK_SCRIPT.format(pacing=pacing, watch=WRK_WATCH if watch else ""))
    argv = ["taskset", "-c", str(core), "wrk", f"-t{threads}", f"-c{connections}"]
    argv += [f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script)]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    return argv


def _wrk_result(stdout: str, stderr: str, returncode: int | None) -> WrkResult:
    data = None
    non_2xx: dict[int, int] = {}
    for line in stdout.splitlines():
        if line.startswith("WRK-RESULT "):
            data = json.loads(line.removeprefix("WRK-RESULT "))
        elif line.startswith("WRK-NON2XX "):
            status = int(line.split()[1])
            non_2xx[status] = non_2xx.get(status, 0) + 1
    if data is None:
        raise BenchError(f"wrk failed ({returncode}): {stderr.strip() or stdout.strip()}")
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        bad_status=data["status"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        non_2xx=non_2xx,
    )


def wrk(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
    core: int,
    workdir: Path,
    headers: Mapping[str, str] | None = None,
    delay_ms: int = 0,
) -> WrkResult:
    """One wrk run. `delay_ms`: each connection waits this long before each request (wrk's
    `delay()` hook), which holds the load to about connections / (delay + latency) per second."""
    argv = _wrk_argv(
        url,
        seconds=seconds,
        connections=connections,
        threads=threads,
        core=core,
        workdir=workdir,
        headers=headers,
        delay_ms=delay_ms,
    )
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + WRK_SLACK_SECONDS,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {' '.join(argv)}") from exc
    return _wrk_result(done.stdout, done.stderr, done.returncode)


class OpenEndedWrk:
    """wrk running until `finish`, which interrupts it as Ctrl-C would (wrk then reports as
    at the end of its duration)."""

    # Longer than any run of the benchmark; `finish` ends it.
    LIMIT_SECONDS = 3600

    def __init__(
        self,
        children: Children,
        url: str,
        *,
        connections: int,
        threads: int,
        core: int,
        workdir: Path,
    ) -> None:
        self.children = children
        self.log = workdir / "wrk-open-ended.log"
        argv = _wrk_argv(
            url,
            seconds=self.LIMIT_SECONDS,
            connections=connections,
            threads=threads,
            core=core,
            workdir=workdir,
            headers=None,
            delay_ms=0,
            watch=True,
        )
        # taskset execs wrk: the pid is wrk's.
        self.process = children.start(argv[3:], core=core, log=self.log)

    def finish(self) -> WrkResult:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(WRK_SLACK_SECONDS)
        finally:
            self.children.stop(self.process)
        text = self.log.read_text()
        return _wrk_result(text, text, self.process.returncode)


# --- memory --------------------------------------------------------------------------------


def status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status: VmRSS (now) or VmHWM (peak resident set)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {field}")


# --- the machine ---------------------------------------------------------------------------


def _first_line(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def machine_facts() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "nginx": _first_line([nginx_binary(), "-v"]),
        "wrk": _first_line(["wrk", "-v"]),
    }


def require_tools() -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if not Path(nginx_binary()).exists():
        missing.insert(0, "nginx")
    if missing:
        raise BenchError(f"missing {', '.join(missing)}: `make bench` installs them with apt-get")
    if not {0, 1} <= os.sched_getaffinity(0):
        raise BenchError(
            "cores 0 and 1 are needed (load on one, the system under test on the other)"
        )
