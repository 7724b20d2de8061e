"""`run(config)`: the kube issuer as a process — HTTPS server plus token file writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tollhouse.kubeissuer._app import create_app
from tollhouse.kubeissuer._issuer import (
    DEFAULT_AUDIENCE,
    DEFAULT_LIFETIME_SECONDS,
    MIN_KEY_BITS,
    ServiceAccountIssuer,
)
from tollhouse.kubeissuer._tokenfile import TokenFileWriter

# The seed's manifests (shared/seeds, workload identity) run the gateway as this service
# account in this namespace.
DEFAULT_NAMESPACE = "apim-gateway-wi"
DEFAULT_SERVICE_ACCOUNT = "apim-gateway-workload-identity"
# In-flight requests are tiny static documents; shutdown waits at most this long for them.
GRACEFUL_SHUTDOWN_SECONDS = 5

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class KubeIssuerConfig:
    """Everything `run` needs. Paths may be relative to the working directory."""

    host: str = "127.0.0.1"
    port: int = 8444
    issuer_url: str
    tls_cert_path: Path
    tls_key_path: Path
    # Created (RSA 2048, mode 0600) when missing, so the issuer keeps its key across restarts.
    signing_key_path: Path
    token_file: Path
    namespace: str = DEFAULT_NAMESPACE
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    audience: str = DEFAULT_AUDIENCE
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS
    # None: the kubelet's rule (80 % of the lifetime). Tests set a few seconds.
    rewrite_after_seconds: float | None = None


def load_or_create_signing_key(path: Path) -> bytes:
    """The PEM signing key at `path`; a new RSA key is written there (0600) if there is none."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600; linking it into place fails if another process won the
    # race, and then that process's key is the one used.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp_name, path)
    finally:
        os.unlink(temp_name)
    return path.read_bytes()


async def run(config: KubeIssuerConfig, *, ready: asyncio.Event | None = None) -> None:
    """Serve the issuer over HTTPS and keep `config.token_file` fresh, until told to stop.

    The token file is written before the server accepts connections; `ready` is set once
    both are done. It stops on SIGINT/SIGTERM (uvicorn's handlers, main thread only) or when
    cancelled; either way it stops accepting, lets in-flight requests finish, then returns
    (or re-raises the cancellation).
    """
    issuer = ServiceAccountIssuer(
        config.issuer_url, load_or_create_signing_key(config.signing_key_path)
    )
    writer = TokenFileWriter(
        config.token_file,
        partial(
            _mint,
            issuer,
            config.namespace,
            config.service_account,
            config.audience,
            config.lifetime_seconds,
        ),
        lifetime_seconds=config.lifetime_seconds,
        rewrite_after_seconds=config.rewrite_after_seconds,
    )
    config.token_file.parent.mkdir(parents=True, exist_ok=True)
    writer.write()

    # Bound here rather than by uvicorn, so that a port in use is an OSError for the caller
    # instead of uvicorn's sys.exit.
    family = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)[0][0]
    listener = socket.create_server((config.host, config.port), family=family)
    server = _Server(
        uvicorn.Config(
            create_app(issuer),
            ssl_certfile=os.fspath(config.tls_cert_path),
            ssl_keyfile=os.fspath(config.tls_key_path),
            lifespan="off",
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ),
        ready,
    )
    writer_task = asyncio.create_task(writer.run(), name="kubeissuer-token-file")
    serve_task = asyncio.create_task(server.serve([listener]), name="kubeissuer-server")
    _log.info("kube issuer %s on https://%s:%d", config.issuer_url, config.host, config.port)
    try:
        await asyncio.shield(serve_task)
    except asyncio.CancelledError:
        server.should_exit = True
        await serve_task
        raise
    finally:
        writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer_task
        listener.close()


def _mint(
    issuer: ServiceAccountIssuer,
    namespace: str,
    service_account: str,
    audience: str,
    lifetime_seconds: int,
    now: float,
) -> str:
    return issuer.mint(
        namespace,
        service_account,
        audience=audience,
        lifetime_seconds=lifetime_seconds,
        now=now,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, telling `ready` when it listens."""

    def __init__(self, config: uvicorn.Config, ready: asyncio.Event | None) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._ready is not None:
            self._ready.set()
