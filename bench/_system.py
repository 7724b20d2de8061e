"""The control-plane side of Tollhouse on loopback, started as `tollhouse dev` starts it, and
gateways that follow its change feed.

- the local CA first (`CertificateAuthority.load_or_create`), then `tollhouse directory` as its
  own process, in a state directory laid out as `tollhouse dev` lays it out;
- the seed steps the control plane needs, run in this process through `tollhouse.cli` as the
  walk-through of `tollhouse dev` runs them: the two custom roles, the managed identity with
  its Access Validator role;
- `tollhouse control-plane --identity-profile …` as its own process (SQLite);
- `tollhouse gateway` processes, each its own ports and backup path, signing in with a
  GatewayKey made by `generateToken` through the management API.

Every process is a child of `_harness.Children`, so a run leaves none behind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import os
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import httpx

from _harness import LOOPBACK, BenchError, Children, free_port, http_get
from tollhouse.cli import _dev_walkthrough as walk
from tollhouse.cli._dev import administrator_environment
from tollhouse.cli._dev_files import StateLayout
from tollhouse.cli._dev_processes import child_environment, log_tail
from tollhouse.cli._management import DEFAULT_SERVICE_ID, DEFAULT_SUBSCRIPTION
from tollhouse.pki import CertificateAuthority

STATUS_PATH = "/status-0123456789abcdef"
ARM_SCOPE = "https://management.azure.com/.default"
# A first start makes keys and databases; fifty gateways starting at once on two cores take
# a while each.
SERVER_START_SECONDS = 90.0
GATEWAY_START_SECONDS = 180.0
# A gateway whose port another process took before it bound it is started again, this often.
PORT_ATTEMPTS = 3
PORT_TAKEN = "address already in use"
# How often a starting server is asked whether it is ready.
READY_POLL_SECONDS = 0.1
# The gateways' long poll: the gateway's default (config.service.events.wait).
EVENTS_WAIT_SECONDS = 30
# Management calls made by the benchmark wait this long at most.
MANAGEMENT_TIMEOUT_SECONDS = 60.0
# A generated gateway token lasts this long: longer than any run.
TOKEN_DAYS = 2


def tollhouse_argv(*argv: str) -> list[str]:
    return [sys.executable, "-m", "tollhouse.cli", *argv]


@dataclass
class System:
    layout: StateLayout
    directory: str
    control_plane: str
    service_id: str
    ca: Path
    admin: dict[str, Any]
    environ: dict[str, str]

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _wait(process: Any, what: str, ready: Callable[[], bool], timeout: float, log: Path) -> None:
    """Until `ready()`; BenchError, with the end of the child's log (its directory is removed
    on exit), if the child exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            problem = f"the {what} exited with {process.returncode}"
        elif time.monotonic() > deadline:
            problem = f"the {what} is not ready after {timeout:g} s"
        else:
            time.sleep(READY_POLL_SECONDS)
            continue
        tail = "\n".join(f"  | {line}" for line in log_tail(log))
        raise BenchError(f"{problem}; the end of its log:\n{tail}")


def _answers(url: str, tls: ssl.SSLContext) -> bool:
    try:
        return httpx.get(url, verify=tls, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def start_system(
    children: Children,
    root: Path,
    *,
    say: Callable[[str], None] | None = None,
    fill: Callable[[str], None] | None = None,
) -> System:
    """The directory and the control plane, set up as `tollhouse dev` sets them up; `say`
    shows the walk-through's lines as they run. `fill`, given the control plane's database
    URL, writes to its store before the control plane starts (and reads the revision)."""
    layout = StateLayout(root)
    layout.create()
    CertificateAuthority.load_or_create(layout.pki)
    tls = ssl.create_default_context(cafile=str(layout.ca))
    environ = child_environment(os.environ, [LOOPBACK, "localhost"])
    directory_port, control_plane_port = free_port(), free_port()
    directory_url = f"https://{LOOPBACK}:{directory_port}"
    control_plane_url = f"https://{LOOPBACK}:{control_plane_port}"

    directory = children.start(
        tollhouse_argv("directory", "--host", LOOPBACK, "--port", str(directory_port),
                       "--data-dir", str(layout.directory)),
        core=None, env=environ, log=layout.logs / "directory.log",
    )  # fmt: skip
    _wait(
        directory,
        "directory",
        lambda: layout.admin_profile.exists() and _answers(f"{directory_url}/health", tls),
        SERVER_START_SECONDS,
        layout.logs / "directory.log",
    )
    admin = json.loads(layout.admin_profile.read_text())
    service_id = str(DEFAULT_SERVICE_ID)
    administrator = {
        "TOLLHOUSE_PROFILE": str(layout.admin_profile.resolve()),
        "TOLLHOUSE_CONTROL_PLANE": control_plane_url,
        "TOLLHOUSE_SERVICE_ID": service_id,
    }

    def check() -> None:
        if directory.poll() is not None:
            raise BenchError(f"the directory exited with {directory.returncode}")

    runner = walk.Runner(walk.Journal(layout.journal), say or (lambda line: None), check)
    with administrator_environment(administrator):
        walk.create_roles(runner, layout, DEFAULT_SUBSCRIPTION)
        walk.managed_identity(
            runner,
            layout,
            DEFAULT_SUBSCRIPTION,
            admin.get("authority", directory_url),
            admin["tenantId"],
        )
    if fill is not None:
        # Where `tollhouse control-plane --data-dir` keeps it (`ControlPlaneConfig.db_url`).
        fill(f"sqlite:///{(layout.control_plane / 'control-plane.db').resolve()}")
    control_plane = children.start(
        tollhouse_argv("control-plane", "--identity-profile", str(layout.identity_profile),
                       "--host", LOOPBACK, "--port", str(control_plane_port),
                       "--data-dir", str(layout.control_plane)),
        core=None, env=environ, log=layout.logs / "control-plane.log",
    )  # fmt: skip
    _wait(
        control_plane,
        "control plane",
        lambda: _answers(f"{control_plane_url}/health", tls),
        SERVER_START_SECONDS,
        layout.logs / "control-plane.log",
    )
    return System(layout, directory_url, control_plane_url, service_id, layout.ca, admin, environ)


class Management:
    """The management API as the administrator (Owner at /), over one keep-alive client."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.client = httpx.AsyncClient(
            base_url=system.control_plane,
            verify=system.tls(),
            timeout=MANAGEMENT_TIMEOUT_SECONDS,
            trust_env=False,
        )
        self._token = ""
        self._token_expires = 0.0

    async def _bearer(self) -> str:
        if time.monotonic() > self._token_expires:
            admin = self.system.admin
            async with httpx.AsyncClient(verify=self.system.tls(), trust_env=False) as client:
                response = await client.post(
                    f"{self.system.directory}/{admin['tenantId']}/oauth2/v2.0/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": admin["clientId"],
                        "client_secret": admin["clientSecret"],
                        "scope": ARM_SCOPE,
                    },
                )
            if response.status_code != 200:
                raise BenchError(f"administrator sign-in: {response.status_code} {response.text}")
            answer = response.json()
            self._token = answer["access_token"]
            # Renewed well before it ends.
            self._token_expires = time.monotonic() + int(answer.get("expires_in", 3600)) / 2
        return self._token

    async def call(self, method: str, path: str, body: object = None) -> Any:
        headers = {"Authorization": f"Bearer {await self._bearer()}"}
        response = await self.client.request(
            method, f"{self.system.service_id}/{path}", json=body, headers=headers
        )
        if response.status_code not in (200, 201, 202, 204):
            raise BenchError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    async def gateway(self, name: str, apis: Sequence[str]) -> str:
        """A gateway resource with `apis` assigned; answers its `GatewayKey …` token."""
        await self.call(
            "PUT", f"gateways/{name}", {"properties": {"locationData": {"name": "bench"}}}
        )
        for api in apis:
            await self.call("PUT", f"gateways/{name}/apis/{api}", {})
        return await self.token(name)

    async def token(self, name: str) -> str:
        """A `GatewayKey …` token of the gateway resource `name`, from `generateToken`."""
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=TOKEN_DAYS)
        answer = await self.call(
            "POST",
            f"gateways/{name}/generateToken",
            {"keyType": "primary", "expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        return f"GatewayKey {answer['value']}"

    async def api(self, name: str, backend: str, operations: Sequence[str] = ("data",)) -> None:
        await self.call(
            "PUT",
            f"apis/{name}",
            {
                "properties": {
                    "path": name,
                    "serviceUrl": backend,
                    "protocols": ["http", "https"],
                    "displayName": name,
                    "subscriptionRequired": False,
                }
            },
        )
        for operation in operations:
            await self.operation(name, operation)

    async def operation(self, api: str, name: str) -> None:
        await self.call(
            "PUT",
            f"apis/{api}/operations/{name}",
            {"properties": {"method": "GET", "urlTemplate": f"/{name}", "displayName": name}},
        )

    async def policy(self, api: str, xml: str) -> None:
        await self.call(
            "PUT", f"apis/{api}/policies/policy", {"properties": {"value": xml, "format": "xml"}}
        )

    async def close(self) -> None:
        await self.client.aclose()


@dataclass
class GatewayProcess:
    name: str
    process: Any
    port: int
    log: Path


def start_gateways(
    children: Children,
    system: System,
    tokens: Mapping[str, str],
    *,
    core: int | None = None,
    settings: Mapping[str, str] | None = None,
) -> list[GatewayProcess]:
    """One `tollhouse gateway` per (instance name, token), all started at once; answers once
    each answers 200 on its status probe."""

    def launch(name: str, token: str) -> GatewayProcess:
        directory = system.layout.root / "gateways" / name
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {
            **system.environ,
            "config.service.endpoint": system.control_plane,
            "config.service.caBundle": str(system.ca.resolve()),
            "config.service.auth": token,
            "config.service.events.wait": str(EVENTS_WAIT_SECONDS),
            "config.backup.path": str(directory / "backup"),
            "net.server.http.port": str(port),
            "net.server.https.port": str(free_port()),
            "telemetry.metrics.port": "0",
            "telemetry.logs.std.level": "info",
            **(settings or {}),
        }
        log = directory / "gateway.log"
        process = children.start(
            tollhouse_argv("gateway", "--host", LOOPBACK), core=core, env=env, log=log
        )
        return GatewayProcess(name, process, port, log)

    started = [launch(name, token) for name, token in tokens.items()]
    for index, gateway in enumerate(started):
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                _wait(
                    gateway.process,
                    f"gateway {gateway.name}",
                    functools.partial(_probe, gateway.port),
                    GATEWAY_START_SECONDS,
                    gateway.log,
                )
                break
            except BenchError:
                if attempt == PORT_ATTEMPTS or PORT_TAKEN not in gateway.log.read_text():
                    raise
                # Between choosing a free port and the gateway binding it, another process
                # took it (an outgoing connection's ephemeral port): again, on other ports.
                children.stop(gateway.process)
                gateway = started[index] = launch(gateway.name, tokens[gateway.name])
    return started


def _probe(port: int) -> bool:
    try:
        status, _ = http_get(port, STATUS_PATH)
    except OSError:
        return False
    return status == 200


# --- polling a gateway cheaply -------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]


class Poller:
    """GET on one keep-alive connection to one gateway, framed by h11: no client library's
    cost on the two cores the system under test shares."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn = h11.Connection(h11.CLIENT)

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(LOOPBACK, self.port)
        self._conn = h11.Connection(h11.CLIENT)

    async def get(self, path: str) -> Answer:
        """One request; a connection that failed is made again once."""
        for attempt in (1, 2):
            try:
                return await self._get(path)
            except (OSError, asyncio.IncompleteReadError, h11.ProtocolError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str) -> Answer:
        if self._writer is None or self._conn.our_state is not h11.IDLE:
            self.close()
            await self._connect()
        assert self._reader is not None and self._writer is not None
        request = h11.Request(
            method="GET", target=path, headers=[("Host", f"{LOOPBACK}:{self.port}")]
        )
        self._writer.write(self._conn.send(request) + self._conn.send(h11.EndOfMessage()))
        await self._writer.drain()
        answer: Answer | None = None
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                data = await self._reader.read(65536)
                if not data:
                    raise OSError("connection closed by the gateway")
                self._conn.receive_data(data)
            elif isinstance(event, h11.Response):
                answer = Answer(
                    event.status_code,
                    {k.decode().lower(): v.decode() for k, v in event.headers},
                )
            elif isinstance(event, h11.EndOfMessage):
                break
        assert answer is not None
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        else:
            self.close()
        return answer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer = self._reader = None


@contextmanager
def pollers(ports: Sequence[int]) -> Iterator[list[Poller]]:
    made = [Poller(port) for port in ports]
    try:
        yield made
    finally:
        for poller in made:
            poller.close()
