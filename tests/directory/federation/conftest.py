"""Real HTTPS servers for the federation tests: kube issuers and misbehaving issuers.

Every server runs uvicorn in the test's event loop on 127.0.0.1, over TLS with a private CA
(`tollhouse.pki`), and records the paths it was asked for, so that a test can prove an issuer
was never contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.directory.federation import IssuerMetadataCache
from tollhouse.kubeissuer import ServiceAccountIssuer, create_app
from tollhouse.pki import CertificateAuthority

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Pki:
    ca_path: Path
    cert_path: Path
    key_path: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create()
    (directory / "ca.pem").write_bytes(ca.certificate_pem)
    ca.issue_server(["127.0.0.1", "localhost"]).write(
        directory / "server.pem", directory / "server.key"
    )
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def _new_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="session")
def issuer_key() -> bytes:
    return _new_key_pem()


@pytest.fixture(scope="session")
def other_key() -> bytes:
    """A second key: the issuer's next key, or an attacker's."""
    return _new_key_pem()


class Recording:
    """An ASGI app that notes each request's path, then hands it to `app` (swappable)."""

    def __init__(self) -> None:
        self.app: ASGIApp = not_found
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)

    def count(self, suffix: str) -> int:
        return sum(path.endswith(suffix) for path in self.paths)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await send_bytes(send, b"", status=404)


async def send_bytes(
    send: Send,
    body: bytes,
    *,
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


def json_app(routes: dict[str, Any]) -> ASGIApp:
    """Serves each path's JSON document; 404 elsewhere."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] not in routes:
            await not_found(scope, receive, send)
            return
        body = json.dumps(routes[scope["path"]]).encode()
        await send_bytes(send, body, headers=[(b"content-type", b"application/json")])

    return app


@dataclass
class Server:
    base: str  # scheme://127.0.0.1:port, no final slash
    recording: Recording

    @property
    def requests(self) -> int:
        return len(self.recording.paths)


class Servers:
    """Starts servers for one test; all are stopped when the test ends."""

    def __init__(self, stack: contextlib.AsyncExitStack, pki: Pki) -> None:
        self._stack = stack
        self._pki = pki

    async def start(self, app: ASGIApp | None = None, *, tls: bool = True) -> Server:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        recording = Recording()
        if app is not None:
            recording.app = app
        config = uvicorn.Config(
            recording,
            ssl_certfile=str(self._pki.cert_path) if tls else None,
            ssl_keyfile=str(self._pki.key_path) if tls else None,
            lifespan="off",
            log_config=None,
            timeout_graceful_shutdown=1,
        )
        await self._stack.enter_async_context(_serving(uvicorn.Server(config), listener))
        return Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}", recording)

    async def kube_issuer(
        self, key_pem: bytes, path: str = "/cluster/"
    ) -> tuple[ServiceAccountIssuer, Server]:
        server = await self.start()
        issuer = ServiceAccountIssuer(server.base + path, key_pem)
        server.recording.app = create_app(issuer)
        return issuer, server


@contextlib.asynccontextmanager
async def _serving(server: uvicorn.Server, listener: socket.socket) -> AsyncIterator[None]:
    task = asyncio.create_task(server.serve([listener]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the test server stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def servers(pki: Pki) -> AsyncIterator[Servers]:
    async with contextlib.AsyncExitStack() as stack:
        yield Servers(stack, pki)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def cache(pki: Pki, clock: FakeClock, servers: Servers) -> AsyncIterator[IssuerMetadataCache]:
    # Set up after `servers`, so closed before them: a server stopping while a client holds
    # an idle TLS connection waits for its graceful-shutdown timeout.
    async with IssuerMetadataCache(verify=pki.ca_path, clock=clock) as cache:
        yield cache
