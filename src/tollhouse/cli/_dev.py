"""`tollhouse dev`: the whole system on this machine, set up as the seed documents describe.

1. Every port is checked first (a busy one is a one-line error before anything starts), and
   a state made before must be started with the ports its URLs were written with.
2. The state directory and its local CA; the directory, the stand-in Kubernetes issuer and
   the echo backend, each its own process; `<state>/env` once the directory has written the
   administrator's profile.
3. The seed walk-through (`_dev_walkthrough`), each command printed as it runs: the two
   custom roles, the managed identity and its Access Validator role, the control plane (its
   own process), the gateway resource, the gateway's app (secret, certificate, federated
   credential) and its Gateway Configuration Reader role, a sample API, a product, a
   subscription. A second start finds all of it in the journal and runs none of it again.
4. The gateway, its own process, signing in as `--auth` says; `<state>/dev.json`.
5. Once the gateway's probe answers 200: the URLs, the curl line, then `ready`. From then on
   it watches: a signal stops every child (exit 0); a child that exits is reported with the
   end of its log, the others are stopped (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import ssl
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tollhouse.cli import _dev_walkthrough as walk
from tollhouse.cli._command import Subparsers, add_command
from tollhouse.cli._dev_files import (
    AUTH_MODES,
    GATEWAY_NAME,
    STATUS_PROBE,
    SUBSCRIPTION_KEY_HEADER,
    Credentials,
    Endpoints,
    Facts,
    GatewayPorts,
    StateLayout,
    absolute,
    dev_document,
    env_file,
    gateway_env_text,
    gateway_settings,
    system_roots,
    trust_bundle,
    write_private,
    write_public,
)
from tollhouse.cli._dev_processes import (
    Child,
    ChildExited,
    Interrupted,
    NotReady,
    StopRequest,
    Supervisor,
    child_environment,
    log_tail,
)
from tollhouse.cli._dev_walkthrough import Journal, Runner
from tollhouse.cli._errors import CliError
from tollhouse.cli._management import DEFAULT_SERVICE_ID, DEFAULT_SUBSCRIPTION
from tollhouse.cli._profile import load_profile
from tollhouse.cli._session import Session
from tollhouse.pki import CertificateAuthority

DEFAULT_STATE_DIR = Path(".tollhouse")
LOOPBACK = "127.0.0.1"
# (name, what listens, default): `--<name>-port`.
PORT_OPTIONS = (
    ("directory", "the directory", 8443),
    ("kube-issuer", "the stand-in Kubernetes issuer", 8444),
    ("control-plane", "the control plane", 9443),
    ("gateway-http", "the gateway's HTTP listener", 8080),
    ("gateway-https", "the gateway's HTTPS listener", 8081),
    ("gateway-metrics", "the gateway's Prometheus /metrics (0: none)", 0),
    ("echo", "the echo backend", 8090),
)
# Ports the first start writes into the state: the directory's authority (in every token
# and profile), the issuer the federated credential names, the control plane the profiles
# name, the sample API's backend.
STATE_PORTS = ("directory", "kube-issuer", "control-plane", "echo")
# Seconds a child has to become ready (a first start makes keys and databases).
START_TIMEOUT_SECONDS = 90.0
# Seconds a readiness request may take.
PROBE_TIMEOUT_SECONDS = 2.0


def register(subparsers: Subparsers) -> None:
    dev = add_command(
        subparsers,
        "dev",
        _run,
        "Run the directory, the control plane and a gateway on this machine, set up as the "
        "seed documents describe (first start), with a sample API to call.",
    )
    dev.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        metavar="PATH",
        help=f"databases, keys, logs and the files it writes (default: {DEFAULT_STATE_DIR})",
    )
    dev.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default="secret",
        help="how the gateway signs in: the app's secret or certificate (azureAdApp), "
        "workload identity, or a gateway token (default: secret)",
    )
    for name, what, default in PORT_OPTIONS:
        dev.add_argument(
            f"--{name}-port",
            type=_port,
            default=default,
            metavar="PORT",
            help=f"{what} (default: {default})",
        )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number")
    return value


def _ports(args: argparse.Namespace) -> dict[str, int]:
    ports = {
        name: int(getattr(args, f"{name.replace('-', '_')}_port")) for name, _, _ in PORT_OPTIONS
    }
    for name, port in ports.items():
        if port == 0 and name != "gateway-metrics":
            raise CliError(f"--{name}-port: give a port; its URL is written into the state.")
    return ports


def check_ports(ports: Mapping[str, int], host: str = LOOPBACK) -> None:
    """A one-line error for a port given twice or already taken, before anything starts."""
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port == 0:
            continue
        if port in seen:
            raise CliError(f"--{seen[port]}-port and --{name}-port are both {port}.")
        seen[port] = name
    for name, port in ports.items():
        if port and not port_free(host, port):
            raise CliError(
                f"Port {port} on {host} is in use (--{name}-port): stop what listens there, "
                f"or give --{name}-port another port."
            )


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen there now. SO_REUSEADDR, as the servers set it: a port
    whose last connections linger in TIME_WAIT is free to them."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def say(line: str = "") -> None:
    # Flushed: a program reading the output waits for `ready`.
    print(line, flush=True)


def _run(args: argparse.Namespace, session: Session) -> None:
    ports = _ports(args)
    check_ports(ports)
    layout = StateLayout(args.state_dir)
    journal = Journal(layout.journal)
    made_with = {name: port for name, port in journal.ports.items() if name in STATE_PORTS}
    changed = [name for name, port in made_with.items() if ports.get(name) != port]
    if changed:
        given = " ".join(f"--{name}-port {made_with[name]}" for name in changed)
        raise CliError(
            f"The state in '{layout.root}' was made with {given}: start with the same, or "
            "give another --state-dir."
        )
    stop = StopRequest()
    with stop.installed():
        supervisor = Supervisor(layout.logs, stop)
        try:
            _Dev(args.auth, layout, ports, journal, supervisor).run()
        except Interrupted:
            say("\nstopping")
        except ChildExited as exc:
            _report(exc.describe(), log_tail(exc.child.log), exc.child.log)
            raise CliError(f"{exc.describe()}; the others were stopped.") from None
        except NotReady as exc:
            _report(exc.message, log_tail(exc.child.log), exc.child.log)
            raise
        finally:
            supervisor.stop_all()
    say("stopped")


def _report(what: str, tail: Sequence[str], log: Path) -> None:
    print(f"tollhouse dev: {what}; the last lines of {log}:", file=sys.stderr)
    for line in tail:
        print(f"  | {line}", file=sys.stderr)
    sys.stderr.flush()


@contextlib.contextmanager
def administrator_environment(values: Mapping[str, str]) -> Iterator[None]:
    """What `source <state>/env` gives a shell, for the commands run in this process."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _answers(url: str, verify: ssl.SSLContext | bool) -> bool:
    try:
        response = httpx.get(url, verify=verify, timeout=PROBE_TIMEOUT_SECONDS, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@dataclass
class _Dev:
    auth: str
    layout: StateLayout
    ports: dict[str, int]
    journal: Journal
    supervisor: Supervisor
    tls: ssl.SSLContext = field(init=False)
    environ: dict[str, str] = field(init=False)
    runner: Runner = field(init=False)

    def run(self) -> None:
        self._prepare()
        endpoints = self._endpoints()
        authority, tenant_id, admin = self._start_stand_ins(endpoints)
        administrator = {
            "TOLLHOUSE_PROFILE": absolute(self.layout.admin_profile),
            "TOLLHOUSE_CONTROL_PLANE": endpoints.control_plane,
            "TOLLHOUSE_SERVICE_ID": endpoints.service_id,
        }
        with administrator_environment(administrator):
            app, key, token = self._walk_through(endpoints, authority, tenant_id)
        facts = Facts(authority, tenant_id, admin, app, self.layout.certificate, key)
        self._start_gateway(facts, endpoints, token)
        self._summary(endpoints, tenant_id, key)
        say("ready")
        self.supervisor.watch()

    def _prepare(self) -> None:
        layout = self.layout
        first = self.journal.fresh
        layout.create()
        if first:
            self.journal.ports = {name: self.ports[name] for name in STATE_PORTS}
        # Made here, before any child: each of them would otherwise race to make it.
        ca = CertificateAuthority.load_or_create(layout.pki)
        roots = system_roots()
        bundle = trust_bundle(ca.certificate_pem, roots.read_bytes() if roots else None)
        write_public(layout.trust, bundle.decode("ascii", errors="replace"))
        self.tls = ssl.create_default_context(cafile=str(layout.ca))
        self.environ = child_environment(os.environ, [LOOPBACK, "localhost"])
        self.runner = walk.Runner(self.journal, say, self.supervisor.check)
        if first:
            say(f"tollhouse dev: first start in {layout.root}: the seed walk-through, as it runs")
        else:
            say(
                f"tollhouse dev: starting from the state in {layout.root} (the walk-through "
                f"it ran: {layout.walkthrough})"
            )

    def _endpoints(self) -> Endpoints:
        ports = self.ports
        return Endpoints(
            directory=f"https://{LOOPBACK}:{ports['directory']}",
            kube_issuer=f"https://{LOOPBACK}:{ports['kube-issuer']}/",
            control_plane=f"https://{LOOPBACK}:{ports['control-plane']}",
            service_id=str(DEFAULT_SERVICE_ID),
            gateway_http=f"http://{LOOPBACK}:{ports['gateway-http']}",
            gateway_https=f"https://{LOOPBACK}:{ports['gateway-https']}",
            echo=f"http://{LOOPBACK}:{ports['echo']}",
        )

    def _start_stand_ins(self, endpoints: Endpoints) -> tuple[str, str, Credentials]:
        """The stand-in issuer, the directory, the echo backend; `<state>/env` once the
        directory has written the administrator's profile. Answers the authority, the tenant
        and the administrator."""
        layout, ports = self.layout, self.ports
        self.runner.section(walk.PROCESSES)
        # Servers before their clients: the stop, in reverse, then never waits on a client's
        # idle keep-alive connection (the directory fetches the issuer's keys).
        issuer = self._serve(
            "kube issuer",
            ["kube-issuer", "--host", LOOPBACK, "--port", str(ports["kube-issuer"]),
             "--data-dir", str(layout.kube_issuer)],
        )  # fmt: skip
        directory = self._serve(
            "directory",
            ["directory", "--host", LOOPBACK, "--port", str(ports["directory"]),
             "--data-dir", str(layout.directory)],
        )  # fmt: skip
        echo_argv = ["-m", "tollhouse.cli._echo", "--host", LOOPBACK, "--port", str(ports["echo"])]
        self.runner.show("start:echo", shlex.join(["python", *echo_argv]) + " &")
        echo = self.supervisor.start("echo backend", [sys.executable, *echo_argv], self.environ)
        self._wait(
            directory,
            lambda: (
                layout.admin_profile.exists()
                and _answers(f"{endpoints.directory}/health", self.tls)
            ),
        )
        self._wait(
            issuer,
            lambda: (
                layout.token_file.exists()
                and _answers(f"{endpoints.kube_issuer}.well-known/openid-configuration", self.tls)
            ),
        )
        self._wait(echo, lambda: _answers(f"{endpoints.echo}/", False))

        profile = load_profile(layout.admin_profile)
        admin = Credentials(profile.client_id, profile.client_secret)
        text = env_file(profile.authority, profile.tenant_id, admin, endpoints, layout)
        write_private(layout.env, text)
        self.runner.show("source", f"source {layout.env}")
        return profile.authority, profile.tenant_id, admin

    def _walk_through(
        self, endpoints: Endpoints, authority: str, tenant_id: str
    ) -> tuple[Credentials, str, str | None]:
        """The seed's steps, the control plane started once its identity exists. Answers the
        gateway's app, the subscription key and, for `--auth gateway-key`, a gateway token."""
        layout, runner = self.layout, self.runner
        walk.create_roles(runner, layout, DEFAULT_SUBSCRIPTION)
        walk.managed_identity(runner, layout, DEFAULT_SUBSCRIPTION, authority, tenant_id)
        runner.section(walk.INSTANCE)
        control_plane = self._serve(
            "control plane",
            ["control-plane", "--identity-profile", str(layout.identity_profile),
             "--host", LOOPBACK, "--port", str(self.ports["control-plane"]),
             "--data-dir", str(layout.control_plane)],
        )  # fmt: skip
        self._wait(control_plane, lambda: _answers(f"{endpoints.control_plane}/health", self.tls))
        walk.gateway_resource(runner)
        app = walk.gateway_app(runner, layout, endpoints.kube_issuer)
        walk.reader_role(runner, app.client_id, endpoints.service_id)
        key = walk.sample_api(runner, endpoints.echo)
        # How the gateway is deployed is this start's: its lines are made anew.
        self.journal.forget_section(walk.GATEWAY)
        runner.section(walk.GATEWAY)
        token = walk.gateway_token(runner) if self.auth == "gateway-key" else None
        return app, key, token

    def _start_gateway(self, facts: Facts, endpoints: Endpoints, token: str | None) -> None:
        layout, ports = self.layout, self.ports
        gateway_ports = GatewayPorts(
            ports["gateway-http"], ports["gateway-https"], ports["gateway-metrics"]
        )
        settings, injected = gateway_settings(
            self.auth, facts, endpoints, layout, gateway_ports, token
        )
        write_private(layout.gateway_env, gateway_env_text(settings))
        document = dev_document(facts, endpoints, layout)
        write_private(layout.dev_json, json.dumps(document, indent=2) + "\n")
        gateway = self._serve(
            "gateway",
            ["gateway", "--env-file", str(layout.gateway_env), "--host", LOOPBACK],
            injected,
        )
        walk.write_walkthrough(self.journal, layout.walkthrough, layout.root)
        self._wait(gateway, lambda: _answers(f"{endpoints.gateway_http}{STATUS_PROBE}", False))

    def _serve(
        self, name: str, argv: list[str], injected: Mapping[str, str] | None = None
    ) -> Child:
        """`tollhouse <argv>` as a child, shown as a person would start it."""
        shown = ["tollhouse", *argv]
        if injected:
            shown = ["env", *(f"{k}={v}" for k, v in injected.items()), *shown]
        self.runner.show(f"start:{name}", shlex.join(shown) + " &")
        command = [sys.executable, "-m", "tollhouse.cli", *argv]
        return self.supervisor.start(name, command, {**self.environ, **(injected or {})})

    def _wait(self, child: Child, ready: Callable[[], bool]) -> None:
        self.supervisor.wait_until(child, ready, START_TIMEOUT_SECONDS, "ready")

    def _summary(self, endpoints: Endpoints, tenant_id: str, key: str) -> None:
        pids = {child.name: child.pid for child in self.supervisor.children}
        rows = [
            ("directory", f"{endpoints.directory}  (tenant {tenant_id})"),
            ("kube issuer", endpoints.kube_issuer),
            ("echo backend", endpoints.echo),
            ("control plane", f"{endpoints.control_plane}  ({endpoints.service_id})"),
            (
                "gateway",
                f"{endpoints.gateway_http}  {endpoints.gateway_https}  "
                f"({GATEWAY_NAME}, --auth {self.auth})",
            ),
        ]
        say(f"\nRunning, each its own process (logs in {self.layout.logs}):")
        for name, url in rows:
            say(f"  {name:<14} pid {pids[name]:<8} {url}")
        say("\nCall the sample API through the gateway:")
        header = shlex.quote(f"{SUBSCRIPTION_KEY_HEADER}: {key}")
        say(f"  curl -H {header} {endpoints.sample_api}")
        say("\nBe its administrator (tollhouse ad|role|apim, azure-identity programs):")
        say(f"  source {self.layout.env}")
        say(f"\nAll of it as JSON: {self.layout.dev_json}")
        say(f"The walk-through it ran: {self.layout.walkthrough}")
        say("Stop with Ctrl-C.")
