"""`tollhouse directory` and `tollhouse kube-issuer` as real processes, the way a user runs
them: start, serve over TLS, answer the real clients, stop cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
from azure.identity import ClientSecretCredential

from tollhouse.serving._server import free_port

TOLLHOUSE = str(Path(sys.executable).parent / "tollhouse")
START_TIMEOUT = 60.0


def wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


def wait_healthy(url: str, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, verify=context, timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as Kubernetes sends it. uvicorn finishes in-flight requests, then re-raises
    the signal, so a clean stop ends by SIGTERM (or 0)."""
    process.send_signal(signal.SIGTERM)
    return process.wait(30)


CLEAN_STOP = (0, -signal.SIGTERM)


def test_the_directory_process_serves_tokens_and_rotates_keys(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "directory"
    env = {**os.environ, "DIRECTORY_TENANT_DOMAIN": "contoso.example"}
    process = subprocess.Popen(
        [TOLLHOUSE, "directory", "--port", str(port), "--data-dir", str(data)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(data / "admin.json", process)
        profile = json.loads((data / "admin.json").read_text())
        assert oct((data / "admin.json").stat().st_mode & 0o777) == "0o600"
        context = ssl.create_default_context(cafile=profile["caBundle"])
        wait_healthy(f"https://127.0.0.1:{port}/health", context)

        credential = ClientSecretCredential(
            "contoso.example",
            profile["clientId"],
            profile["clientSecret"],
            authority=profile["authority"],
            disable_instance_discovery=True,
            connection_verify=profile["caBundle"],
        )
        token = credential.get_token("https://management.azure.com/.default").token
        credential.close()
        assert jwt.decode(token, options={"verify_signature": False})["tid"] == profile["tenantId"]

        rotated = subprocess.run(
            [TOLLHOUSE, "directory", "keys", "rotate", "--data-dir", str(data)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rotated.returncode == 0, rotated.stderr
        new_kid = json.loads(rotated.stdout)["kid"]
        again = subprocess.run(
            [TOLLHOUSE, "directory", "keys", "rotate", "--data-dir", str(data)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["kid"] != new_kid
    finally:
        status = stop(process)
        output = process.stdout.read().decode() if process.stdout else ""
    assert status in CLEAN_STOP, output
    assert "Traceback" not in output
    assert profile["clientSecret"] not in output


def test_an_invalid_setting_stops_the_directory_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [TOLLHOUSE, "directory", "--data-dir", str(tmp_path)],
        env={**os.environ, "DIRECTORY_TOKENS_LIFETIME": "60"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "directory.tokens.lifetime" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_kube_issuer_process_writes_a_token_file_and_serves_its_keys(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "kube"
    process = subprocess.Popen(
        [
            TOLLHOUSE,
            "kube-issuer",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--namespace",
            "apim",
            "--service-account",
            "gw",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(data / "token", process)
        context = ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.pem"))
        issuer = f"https://127.0.0.1:{port}/"
        wait_healthy(f"{issuer}.well-known/openid-configuration", context)
        discovery = httpx.get(f"{issuer}.well-known/openid-configuration", verify=context).json()
        assert discovery["issuer"] == issuer
        jwks = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=context)
        token = (data / "token").read_text()
        claims = jwt.decode(
            token,
            jwks.get_signing_key_from_jwt(token).key,
            algorithms=["RS256"],
            audience="api://AzureADTokenExchange",
            issuer=issuer,
        )
        assert claims["sub"] == "system:serviceaccount:apim:gw"
    finally:
        status = stop(process)
    assert status in CLEAN_STOP
