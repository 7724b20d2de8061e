"""`tollhouse dev` as a person runs it: a process that prints the seed walk-through, reaches
`ready`, and serves the sample API through the gateway with the printed subscription key,
for each way the gateway signs in; a second start that reuses the state; a stop that leaves
no child behind; a child that dies, reported.

The starts share one state directory and one set of ports (one first start, then second
starts), so each test asks `DevRuns` for what it needs: the first start's output, or an
instance running with a given `--auth`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from azure.identity import EnvironmentCredential

from tollhouse.cli._dev import PORT_OPTIONS, port_free
from tollhouse.cli._dev_processes import child_environment
from tollhouse.cli._dev_walkthrough import invoke_in_process
from tollhouse.serving._server import free_port

TOLLHOUSE = str(Path(sys.executable).parent / "tollhouse")
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
REPOSITORY = Path(__file__).resolve().parents[2]
ARM_SCOPE = "https://management.azure.com/.default"
AUTH_MODES = ("secret", "certificate", "workload-identity", "gateway-key")
DEV_JSON_KEYS = {
    "authority": None,
    "tenantId": None,
    "caBundle": None,
    "controlPlane": {"url", "serviceId"},
    "gateway": {"name", "http", "https"},
    "admin": {"clientId", "clientSecret"},
    "app": {"clientId", "clientSecret", "certificatePath"},
    "sampleApi": {"url", "subscriptionKey"},
}


@dataclass
class Run:
    auth: str
    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    dev: dict[str, Any] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.out.read_text()

    @property
    def first(self) -> bool:
        return "first start" in self.output.splitlines()[0]


class DevRuns:
    """Starts of `tollhouse dev` on one state directory, one at a time."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.state = work / "state"
        self.ports = {name: free_port() for name, _, _ in PORT_OPTIONS if name != "gateway-metrics"}
        self.current: Run | None = None
        self.first: Run | None = None
        self.count = 0

    def argv(self, auth: str) -> list[str]:
        flags = [f for name, port in self.ports.items() for f in (f"--{name}-port", str(port))]
        return [TOLLHOUSE, "dev", "--state-dir", str(self.state), "--auth", auth, *flags]

    def start(self, auth: str) -> Run:
        self.stop()
        self.count += 1
        out, err = self.work / f"run-{self.count}.out", self.work / f"run-{self.count}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(self.argv(auth), stdout=stdout, stderr=stderr)
        run = Run(auth, process, out, err)
        self.current = run
        deadline = time.monotonic() + READY_TIMEOUT
        while "\nready\n" not in run.output:
            assert process.poll() is None, f"{run.output}\n{run.err.read_text()}"
            assert time.monotonic() < deadline, f"not ready:\n{run.output}"
            time.sleep(0.2)
        run.dev = json.loads((self.state / "dev.json").read_text())
        run.pids = {
            name: int(pid)
            for name, pid in re.findall(r"^  (\S+(?: \S+)?) +pid (\d+) ", run.output, re.M)
        }
        assert set(run.pids) == {
            "directory",
            "kube issuer",
            "echo backend",
            "control plane",
            "gateway",
        }, run.output
        if self.first is None:
            assert run.first, "the state directory was not fresh"
            self.first = run
        return run

    def running(self, auth: str) -> Run:
        if self.current is not None and self.current.auth == auth:
            return self.current
        return self.start(auth)

    def first_start(self) -> Run:
        return self.first or self.start("secret")

    def second_start(self) -> Run:
        self.first_start()
        if self.current is not None and not self.current.first:
            return self.current
        return self.start("secret")

    def stop(self) -> int | None:
        """SIGTERM; the status. Every child must be gone, every port free again."""
        run, self.current = self.current, None
        if run is None:
            return None
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
        status = run.process.wait(STOP_TIMEOUT)
        assert_all_gone(run, self.ports)
        return status


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_all_gone(run: Run, ports: dict[str, int]) -> None:
    running = [name for name, pid in run.pids.items() if alive(pid)]
    assert not running, f"still running: {running}"
    busy = [port for port in ports.values() if not port_free("127.0.0.1", port)]
    assert not busy, f"ports still taken: {busy}"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRuns]:
    runs = DevRuns(tmp_path_factory.mktemp("dev"))
    yield runs
    runs.stop()


def call(run: Run, key: str | None, path: str = "?x=1") -> httpx.Response:
    headers = {"Ocp-Apim-Subscription-Key": key} if key else {}
    return httpx.get(run.dev["sampleApi"]["url"] + path, headers=headers, timeout=30)


def gateway_env(state: Path) -> dict[str, str]:
    lines = (state / "gateway" / "gateway.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


# --- the first start -------------------------------------------------------------------------


SEED_COMMANDS = [
    "tollhouse kube-issuer ",
    "tollhouse directory ",
    "python -m tollhouse.cli._echo ",
    "source ",
    "tollhouse role definition create --role-definition @{state}/roles/"
    "apim-configuration-api-access-validator.json",
    "tollhouse role definition create --role-definition @{state}/roles/"
    "apim-gateway-configuration-reader.json",
    "tollhouse ad app create --display-name tollhouse-managed-identity",
    "tollhouse ad sp create --id ",
    "tollhouse ad app credential reset --id ",
    "tollhouse role assignment create --assignee ",
    "tollhouse control-plane --identity-profile {state}/control-plane/identity.json ",
    "tollhouse apim gateway create --gateway-id mygw ",
    "tollhouse ad app create --display-name mygw-app",
    "tollhouse ad sp create --id ",
    "tollhouse ad app credential reset --id ",
    "tollhouse ad app credential reset --id ",
    "tollhouse ad app federated-credential create --id ",
    "tollhouse role assignment create --assignee ",
    "tollhouse apim api create --api-id echo --path echo ",
    "tollhouse apim api operation create --api-id echo --operation-id get-any --method GET ",
    "tollhouse apim api operation create --api-id echo --operation-id post-any --method POST ",
    "tollhouse apim gateway api add --gateway-id mygw --api-id echo",
    "tollhouse apim product create --product-id starter ",
    "tollhouse apim product api add --product-id starter --api-id echo",
    "tollhouse apim subscription create --sid tollhouse-dev --scope /products/starter ",
    "tollhouse apim subscription keys list --sid tollhouse-dev",
]


def test_a_first_start_prints_each_seed_command_as_it_runs_it(dev: DevRuns) -> None:
    run = dev.first_start()
    commands = [line[2:] for line in run.output.splitlines() if line.startswith("$ ")]
    expected = [c.format(state=dev.state) for c in SEED_COMMANDS]
    assert len(commands) == len(expected) + 1, "\n".join(commands)
    for command, start in zip(commands, expected, strict=False):
        assert command.startswith(start), (command, start)
    assert commands[-1].startswith("tollhouse gateway --env-file ") or commands[-1].startswith(
        "env AZURE_CLIENT_ID="
    )

    app_id = run.dev["app"]["clientId"]
    identity = json.loads((dev.state / "control-plane" / "identity.json").read_text())
    assert (
        f"tollhouse role assignment create --assignee {identity['clientId']} "
        "--role 'API Management Configuration API Access Validator Service Role' "
        "--scope /subscriptions/00000000-0000-0000-0000-000000000001"
    ) in commands
    assert (
        f"tollhouse ad app credential reset --id {app_id} --create-cert "
        f"--cert-file {dev.state}/gateway/app.pem --append"
    ) in commands
    assert (
        f"tollhouse ad app federated-credential create --id {app_id} "
        "--name apim-gateway-federated-credential "
        f"--issuer https://127.0.0.1:{dev.ports['kube-issuer']}/ "
        "--subject system:serviceaccount:apim-gateway-wi:apim-gateway-workload-identity "
        "--audiences api://AzureADTokenExchange"
    ) in commands
    assert (
        f"tollhouse role assignment create --assignee {app_id} "
        "--role 'API Management Gateway Configuration Reader Role' "
        f"--scope {run.dev['controlPlane']['serviceId']}"
    ) in commands


def test_the_walkthrough_document_holds_the_commands_that_ran(dev: DevRuns) -> None:
    run = dev.first_start()
    document = (dev.state / "walkthrough.md").read_text()
    ran = [line[2:] for line in run.output.splitlines() if line.startswith("$ ")]
    # The gateway's lines are those of the latest start; the rest are the first start's.
    for command in ran[:-1]:
        assert command in document
    for heading in ("Create the two custom roles", "Gateway Configuration Reader", "Deploy"):
        assert heading in document
    for secret in (run.dev["admin"]["clientSecret"], run.dev["app"]["clientSecret"]):
        assert secret not in document


def test_dev_json_has_exactly_the_documented_keys_and_secrets_are_private(
    dev: DevRuns,
) -> None:
    run = dev.first_start()
    assert set(run.dev) == set(DEV_JSON_KEYS)
    for key, inner in DEV_JSON_KEYS.items():
        if inner is not None:
            assert set(run.dev[key]) == inner, key
    assert run.dev["authority"] == f"https://127.0.0.1:{dev.ports['directory']}"
    assert run.dev["gateway"] == {
        "name": "mygw",
        "http": f"http://127.0.0.1:{dev.ports['gateway-http']}",
        "https": f"https://127.0.0.1:{dev.ports['gateway-https']}",
    }
    assert Path(run.dev["app"]["certificatePath"]).read_text().count("PRIVATE KEY-----") == 2
    for name in (
        "dev.json",
        "env",
        "walkthrough.json",
        "control-plane/identity.json",
        "gateway/gateway.env",
        "gateway/app.pem",
        "directory/admin.json",
    ):
        mode = stat.S_IMODE((dev.state / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))


# --- each way to sign in -----------------------------------------------------------------------


GATEWAY_AUTH_SETTINGS = {
    "secret": ("azureAdApp", "config.service.auth.azureAd.clientSecret"),
    "certificate": ("azureAdApp", "config.service.auth.azureAd.certificatePath"),
    "workload-identity": ("workloadIdentity", None),
    "gateway-key": ("GatewayKey mygw&", None),
}


@pytest.mark.parametrize("auth", AUTH_MODES)
def test_each_auth_mode_serves_the_sample_api_through_the_gateway(dev: DevRuns, auth: str) -> None:
    run = dev.running(auth)
    settings = gateway_env(dev.state)
    mode, credential = GATEWAY_AUTH_SETTINGS[auth]
    assert settings["config.service.auth"].startswith(mode)
    if credential is not None:
        assert credential in settings
    # No backup to fall back on: `ready` means this way of signing in worked.
    assert settings["config.backup.enabled"] == "false"

    key = run.dev["sampleApi"]["subscriptionKey"]
    assert f"curl -H 'Ocp-Apim-Subscription-Key: {key}' {run.dev['sampleApi']['url']}" in (
        run.output
    )
    response = call(run, key)
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert (echoed["method"], echoed["path"], echoed["query"]) == ("GET", "/hello", "x=1")
    assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert "ocp-apim-subscription-key" not in echoed["headers"]
    posted = httpx.post(
        run.dev["sampleApi"]["url"],
        headers={"Ocp-Apim-Subscription-Key": key},
        content=b"ping",
        timeout=30,
    )
    assert posted.json()["body"] == "ping"
    assert call(run, None).status_code == 401


# --- a second start --------------------------------------------------------------------------


def test_a_second_start_reuses_the_state_and_creates_nothing_twice(dev: DevRuns) -> None:
    first = dev.first_start().dev
    run = dev.second_start()
    assert run.output.startswith("tollhouse dev: starting from the state in ")
    assert "tollhouse role definition create" not in run.output
    assert "tollhouse ad app create" not in run.output
    assert "tollhouse apim subscription create" not in run.output
    assert run.dev["app"] == first["app"]
    assert run.dev["admin"] == first["admin"]
    assert run.dev["sampleApi"]["subscriptionKey"] == first["sampleApi"]["subscriptionKey"]
    assert call(run, run.dev["sampleApi"]["subscriptionKey"]).status_code == 200

    def tollhouse(*argv: str) -> Any:
        profile = str(dev.state / "directory" / "admin.json")
        status, out, err = invoke_in_process(["--profile", profile, *argv])
        assert status == 0, err
        return json.loads(out)

    assert len(tollhouse("ad", "app", "list", "--display-name", "mygw-app")) == 1
    assert len(tollhouse("ad", "app", "list", "--display-name", "tollhouse-managed-identity")) == 1
    roles = tollhouse("role", "definition", "list", "--custom-role-only")
    assert sorted(r["roleName"] for r in roles) == [
        "API Management Configuration API Access Validator Service Role",
        "API Management Gateway Configuration Reader Role",
    ]
    assignments = tollhouse("role", "assignment", "list", "--assignee", first["app"]["clientId"])
    assert [a["roleDefinitionName"] for a in assignments] == [
        "API Management Gateway Configuration Reader Role"
    ]


# --- the administrator's environment ---------------------------------------------------------


def test_the_env_file_signs_environment_credential_in_as_the_administrator(
    dev: DevRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = dev.running(dev.current.auth if dev.current else "secret")
    exported = {}
    for line in (dev.state / "env").read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exported[name] = shlex.split(value)[0]
    assert set(exported) == {
        "AZURE_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "TOLLHOUSE_PROFILE",
        "TOLLHOUSE_CONTROL_PLANE",
        "TOLLHOUSE_SERVICE_ID",
    }
    ca = Path(run.dev["caBundle"]).read_text().strip()
    assert ca in Path(exported["REQUESTS_CA_BUNDLE"]).read_text()
    for name, value in exported.items():
        monkeypatch.setenv(name, value)

    # Instance discovery asks login.microsoftonline.com about the authority; a local one
    # is not Microsoft's to know (as for any authority outside Microsoft's clouds).
    credential = EnvironmentCredential(disable_instance_discovery=True)
    token = credential.get_token(ARM_SCOPE).token
    credential.close()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["appid"], claims["tid"]) == (run.dev["admin"]["clientId"], run.dev["tenantId"])

    # Owner: the control plane's management API answers it.
    service = f"{exported['TOLLHOUSE_CONTROL_PLANE']}{exported['TOLLHOUSE_SERVICE_ID']}"
    answer = httpx.get(
        f"{service}/apis",
        params={"api-version": "2022-08-01"},
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=exported["REQUESTS_CA_BUNDLE"]),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert [api["name"] for api in answer.json()["value"]] == ["echo"]


# --- stopping ----------------------------------------------------------------------------------


def test_sigterm_stops_every_child_cleanly(dev: DevRuns) -> None:
    run = dev.running(dev.current.auth if dev.current else "secret")
    assert dev.stop() == 0
    assert run.output.endswith("stopping\nstopped\n")
    assert run.err.read_text() == ""
    for log in (dev.state / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text(), log.name


def test_a_child_that_dies_is_reported_and_the_others_are_stopped(dev: DevRuns) -> None:
    run = dev.running("secret")
    os.kill(run.pids["gateway"], signal.SIGKILL)
    assert run.process.wait(STOP_TIMEOUT) == 1
    dev.current = None
    assert_all_gone(run, dev.ports)
    err = run.err.read_text()
    died = f"the gateway (pid {run.pids['gateway']}) was killed by SIGKILL"
    assert f"tollhouse dev: {died}; the last lines of {dev.state}/logs/gateway.log:" in err
    assert "  | " in err  # its log's last lines
    assert err.splitlines()[-1] == f"ERROR: {died}; the others were stopped."


# --- before anything starts --------------------------------------------------------------------


def test_a_busy_port_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    ports = {name: free_port() for name, _, _ in PORT_OPTIONS if name != "gateway-metrics"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["control-plane"]))
        taken.listen()
        flags = [f for name, port in ports.items() for f in (f"--{name}-port", str(port))]
        result = subprocess.run(
            [TOLLHOUSE, "dev", "--state-dir", str(tmp_path / "state"), *flags],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"Port {ports['control-plane']} " in result.stderr
    assert "--control-plane-port" in result.stderr
    assert not (tmp_path / "state").exists()


def test_the_children_do_not_inherit_settings_or_an_administrator_environment() -> None:
    caller = {
        "PATH": "/usr/bin",
        "config.service.endpoint": "https://elsewhere",
        "CONFIG_SERVICE_AUTH": "azureAdApp",
        "DIRECTORY_TOKENS_LIFETIME": "60",
        "AZURE_CLIENT_ID": "someone",
        "TOLLHOUSE_PROFILE": "/elsewhere/admin.json",
        "NO_PROXY": "example.com",
    }
    environment = child_environment(caller, ["127.0.0.1", "localhost"])
    assert environment == {
        "PATH": "/usr/bin",
        "NO_PROXY": "example.com,127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }


def test_the_roles_it_creates_are_the_seed_includes_verbatim() -> None:
    packaged = REPOSITORY / "src" / "tollhouse" / "cli" / "roles"
    for name in (
        "apim-configuration-api-access-validator.json",
        "apim-gateway-configuration-reader.json",
    ):
        assert (packaged / name).read_bytes() == (
            REPOSITORY / "deploy" / "roles" / name
        ).read_bytes()
