"""The container image, checked without a Docker engine: what the Dockerfile declares, what
the build context holds, and that its command starts the gateway."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.kube import ROOT
from tollhouse.serving._server import free_port

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
VENV_BIN = Path(sys.executable).parent
STATUS = "/status-0123456789abcdef"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Instruction:
    name: str
    arguments: str

    def json(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.name} is not in exec (JSON) form"
        return value


def stages(text: str) -> list[list[Instruction]]:
    """Instructions per stage (line continuations joined, comments dropped); ARGs before the
    first FROM are substituted into the FROM lines."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    global_args: dict[str, str] = {}
    result: list[list[Instruction]] = []
    for line in logical:
        name, _, arguments = line.partition(" ")
        instruction = Instruction(name.upper(), arguments.strip())
        if instruction.name == "FROM":
            for arg, value in global_args.items():
                arguments = arguments.replace("${" + arg + "}", value)
            result.append([Instruction("FROM", arguments.strip())])
        elif not result and instruction.name == "ARG":
            arg, _, value = instruction.arguments.partition("=")
            global_args[arg] = value
        else:
            result[-1].append(instruction)
    return result


def final_stage() -> list[Instruction]:
    return stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]


def one(stage: list[Instruction], name: str) -> Instruction:
    found = [i for i in stage if i.name == name]
    assert len(found) == 1, f"expected one {name}, found {len(found)}"
    return found[0]


def test_the_image_is_slim_python_311_built_from_the_repository_with_pip() -> None:
    build, final = stages(DOCKERFILE.read_text(encoding="utf-8"))[-2:]
    assert build[0].arguments.startswith("python:3.11-slim")
    assert final[0].arguments == "python:3.11-slim"
    runs = [i.arguments for i in build if i.name == "RUN"]
    assert any(i.name == "COPY" and i.arguments == ". ." for i in build)
    assert any(shlex.split(r)[-2:] == ["install", "."] for r in runs), runs


def test_it_runs_as_uid_and_gid_1001() -> None:
    final = final_stage()
    assert one(final, "USER").arguments == "1001:1001"
    setup = " ".join(i.arguments for i in final if i.name == "RUN")
    assert "groupadd --gid 1001 " in setup
    assert "useradd --uid 1001 --gid 1001 " in setup


def test_the_backup_volume_is_apim_config_owned_by_1001() -> None:
    final = final_stage()
    assert one(final, "VOLUME").json() == ["/apim/config"]
    setup = " ".join(i.arguments for i in final if i.name == "RUN")
    assert "chown 1001:1001 /apim/config" in setup


def test_it_exposes_http_https_and_the_two_udp_ports() -> None:
    ports = set(one(final_stage(), "EXPOSE").arguments.split())
    assert ports == {"8080", "8081", "4290/udp", "4291/udp"}


def test_the_command_is_tollhouse_gateway_and_the_argument_picks_the_component() -> None:
    final = final_stage()
    assert one(final, "ENTRYPOINT").json() == ["tollhouse"]
    assert one(final, "CMD").json() == ["gateway"]
    listed = subprocess.run(
        [VENV_BIN / "tollhouse", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for component in ("gateway", "control-plane", "directory"):
        assert f"    {component} " in listed


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.strip().startswith("#")]
    # The matcher below knows names, globs and `**/` prefixes, not exceptions.
    assert not [p for p in patterns if p.startswith("!")]
    return patterns


def ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        for pattern in patterns:
            if pattern.startswith("**/"):
                if fnmatch.fnmatchcase(parts[depth - 1], pattern[3:]):
                    return True
            elif fnmatch.fnmatchcase(prefix, pattern.strip("/")):
                return True
    return False


def test_the_build_context_keeps_what_pip_install_reads_and_leaves_out_local_state() -> None:
    patterns = dockerignore_patterns()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    needed = [p for p in tracked if p.startswith("src/")] + ["pyproject.toml", "README.md"]
    assert len(needed) > 2
    assert not [p for p in needed if ignored(p, patterns)]
    for local in (
        ".git/config",
        ".venv/bin/python",
        ".tools/bin/helm",
        ".tollhouse/directory/admin.json",
        "src/tollhouse/__pycache__/x.pyc",
        "tests/conftest.py",
    ):
        assert ignored(local, patterns), local


def gateway_token(gateway: str) -> str:
    """A token of the right shape (the control plane, never reached, would check it)."""
    expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y%m%d%H%M")
    return f"GatewayKey {gateway}&{expiry}&c2lnbmF0dXJl"


def test_the_image_command_starts_the_gateway_which_answers_503_until_configured(
    tmp_path: Path,
) -> None:
    """ENTRYPOINT + CMD, run as they are, with the settings a container gets: a control plane
    that does not answer and an empty backup directory. The gateway listens and its status
    probe says 503 (no configuration), then SIGTERM stops it."""
    final = final_stage()
    command = one(final, "ENTRYPOINT").json() + one(final, "CMD").json()
    assert command[0] == "tollhouse"
    executable = VENV_BIN / command[0]
    http_port, https_port, unreachable = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "config.service.endpoint": f"https://127.0.0.1:{unreachable}",
        "config.service.auth": gateway_token("docker-gw"),
        "config.backup.path": str(tmp_path / "apim-config"),
        "net.server.http.port": str(http_port),
        "net.server.https.port": str(https_port),
        "telemetry.metrics.port": "0",
    }
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(executable), *command[1:]],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        status = None
        while status is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not listening:\n{log.read_text()}"
            try:
                status = httpx.get(f"http://127.0.0.1:{http_port}{STATUS}", timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)
        assert status.status_code == 503, status.text
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"the gateway did not stop on SIGTERM:\n{log.read_text()}")
    assert code in (0, -signal.SIGTERM), log.read_text()
