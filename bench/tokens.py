"""Client-credentials tokens per second from a running directory, over HTTPS.

Starts a directory in its own process (SQLite, local CA), makes an application with a secret
and one with a certificate, then drives the token endpoint with concurrent keep-alive
connections for a fixed time per scenario. The reference, measured in the same run, is the
same server answering `GET /health`: what the HTTP stack costs without any token work.

    python bench/tokens.py [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SERVER = """
import sys
from pathlib import Path
from tollhouse.directory import DirectoryConfig, build_directory_server
work, port = Path(sys.argv[1]), int(sys.argv[2])
config = DirectoryConfig(port=port, data_dir=work / "directory", max_auth_failures=10**9)
_, server = build_directory_server(config, work / "pki")
server.run()
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def drive(
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    *,
    url: str,
    context: ssl.SSLContext,
    seconds: float,
    concurrency: int,
) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, verify=context, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await request(client)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), failures, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tollhouse-bench-"))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(work), str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        return asyncio.run(run(work, port, args.seconds, args.concurrency))
    finally:
        process.terminate()
        process.wait(10)


async def run(work: Path, port: int, seconds: float, concurrency: int) -> int:
    url = f"https://127.0.0.1:{port}"
    profile_path = work / "directory" / "admin.json"
    for _ in range(300):
        if profile_path.exists():
            break
        await asyncio.sleep(0.1)
    profile = json.loads(profile_path.read_text())
    context = ssl.create_default_context(cafile=str(work / "pki" / "ca.pem"))
    tenant = profile["tenantId"]
    token_path = f"/{tenant}/oauth2/v2.0/token"

    async with httpx.AsyncClient(base_url=url, verify=context, timeout=30) as client:
        for _ in range(300):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        graph = await bearer(client, token_path, profile, "https://graph.microsoft.com/.default")
        secret_app, secret = await make_app(client, graph, with_secret=True)
        cert_app, pair = await make_app(client, graph, with_secret=False)

    der = pair.certificate.public_bytes(serialization.Encoding.DER)
    x5t = jwt.utils.base64url_encode(hashlib.sha1(der).digest()).decode()

    def assertion() -> str:
        now = time.time()
        claims = {
            "aud": f"{url}{token_path}",
            "iss": cert_app,
            "sub": cert_app,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, pair.private_key_pem, algorithm="RS256", headers={"x5t": x5t})

    one_assertion = assertion()
    scope = "https://azure-api.net/configuration/.default"
    scenarios: list[tuple[str, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]] = [
        ("reference: GET /health", lambda c: c.get("/health")),
        (
            "client secret",
            lambda c: c.post(
                token_path,
                data={
                    "grant_type": "client_credentials",
                    "client_id": secret_app,
                    "client_secret": secret,
                    "scope": scope,
                },
            ),
        ),
        (
            "certificate assertion",
            lambda c: c.post(
                token_path,
                data={
                    "grant_type": "client_credentials",
                    "client_id": cert_app,
                    "client_assertion_type": JWT_BEARER,
                    "client_assertion": one_assertion,
                    "scope": scope,
                },
            ),
        ),
        (
            "wrong secret (401)",
            lambda c: c.post(
                token_path,
                data={
                    "grant_type": "client_credentials",
                    "client_id": secret_app,
                    "client_secret": "wrong",
                    "scope": scope,
                },
            ),
        ),
    ]
    print(
        f"directory on {url}, {concurrency} connections, {seconds:.0f} s per scenario, "
        f"{os.cpu_count()} CPUs\n"
    )
    header = (
        f"{'scenario':<26} {'requests':>9} {'non-200':>8} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, request in scenarios:
        count, failures, latencies = await drive(
            request, url=url, context=context, seconds=seconds, concurrency=concurrency
        )
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(
            f"{name:<26} {count:>9} {failures:>8} {count / seconds:>9.0f} {p50:>8.1f} {p99:>8.1f}"
        )
    return 0


async def bearer(
    client: httpx.AsyncClient, path: str, profile: dict[str, Any], scope: str
) -> dict[str, str]:
    response = await client.post(
        path,
        data={
            "grant_type": "client_credentials",
            "client_id": profile["clientId"],
            "client_secret": profile["clientSecret"],
            "scope": scope,
        },
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def make_app(
    client: httpx.AsyncClient, headers: dict[str, str], *, with_secret: bool
) -> tuple[str, Any]:
    from tollhouse.pki import self_signed_certificate

    app = (
        await client.post("/v1.0/applications", json={"displayName": "bench"}, headers=headers)
    ).json()
    (
        await client.post("/v1.0/servicePrincipals", json={"appId": app["appId"]}, headers=headers)
    ).raise_for_status()
    if with_secret:
        added = await client.post(
            f"/v1.0/applications/{app['id']}/addPassword", json={}, headers=headers
        )
        return app["appId"], added.json()["secretText"]
    pair = self_signed_certificate("bench")
    import base64

    der = pair.certificate.public_bytes(serialization.Encoding.DER)
    patched = await client.patch(
        f"/v1.0/applications/{app['id']}",
        json={
            "keyCredentials": [
                {
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                    "key": base64.b64encode(der).decode(),
                }
            ]
        },
        headers=headers,
    )
    patched.raise_for_status()
    return app["appId"], pair


if __name__ == "__main__":
    raise SystemExit(main())
