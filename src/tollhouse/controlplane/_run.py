"""Running the control plane as a process: TLS, store, identity, verifiers, server."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import uvicorn

from tollhouse.controlplane._app import create_app
from tollhouse.controlplane._auth import Authorizer
from tollhouse.controlplane._config import ControlPlaneConfig
from tollhouse.controlplane._rbac import RbacClient
from tollhouse.controlplane._service import ControlPlane
from tollhouse.controlplane.store import ControlPlaneStore, RevisionWatcher
from tollhouse.identity import TokenSource, build_credential
from tollhouse.identity._credentials import ssl_context
from tollhouse.oidc import IssuerMetadataCache, TokenVerifier
from tollhouse.pki import CertificateAuthority
from tollhouse.serving import build_server
from tollhouse.storage import is_postgresql

log = logging.getLogger("tollhouse.controlplane")

ARM_SCOPE = "https://management.azure.com/.default"


def server_tls(config: ControlPlaneConfig, pki_dir: Path) -> tuple[Path, Path]:
    if config.tls_cert_path and config.tls_key_path:
        return config.tls_cert_path, config.tls_key_path
    cert, key = config.data_dir / "tls.pem", config.data_dir / "tls.key"
    if not cert.exists() or not key.exists():
        config.data_dir.mkdir(parents=True, exist_ok=True)
        hosts = sorted({config.host, "127.0.0.1", "localhost"})
        CertificateAuthority.load_or_create(pki_dir).issue_server(hosts).write(cert, key)
    return cert, key


def build_control_plane_server(
    config: ControlPlaneConfig, pki_dir: Path
) -> tuple[ControlPlane, uvicorn.Server]:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    cert, key = server_tls(config, pki_dir)
    store = ControlPlaneStore.open(config.db_url)
    watcher = RevisionWatcher(
        store, listen_url=config.db_url if is_postgresql(config.db_url) else None
    )
    service = ControlPlane(config, store, watcher)

    trust = ssl_context(config.identity.ca_bundle)
    cache = IssuerMetadataCache(verify=trust)
    tenants = [config.identity.tenant_id]
    identity = TokenSource(build_credential(config.identity), ARM_SCOPE)
    http = httpx.AsyncClient(verify=trust, trust_env=False)
    authorizer = Authorizer(
        management=TokenVerifier(
            cache,
            issuers=config.issuers,
            audiences=[config.management_audience, config.management_audience.rstrip("/")],
            tenant_ids=tenants,
        ),
        configuration=TokenVerifier(
            cache,
            issuers=config.issuers,
            audiences=[config.configuration_audience],
            tenant_ids=tenants,
        ),
        rbac=RbacClient(
            config.checks_access_at,
            identity,
            http,
            allow_cache_seconds=config.allow_cache_seconds,
        ),
        identity=identity,
    )

    async def start() -> None:
        await watcher.start()
        log.info("control plane for %s at revision %d", config.service_id, watcher.revision)

    async def stop() -> None:
        await watcher.stop()
        await identity.close()
        await http.aclose()
        await cache.aclose()

    app = create_app(service, authorizer, on_start=start, on_stop=stop)
    server = build_server(
        app,
        host=config.host,
        port=config.port,
        certfile=cert,
        keyfile=key,
        header_timeout=config.header_timeout,
        limit_concurrency=config.max_connections,
        on_shutdown=watcher.release_all,
    )
    return service, server
