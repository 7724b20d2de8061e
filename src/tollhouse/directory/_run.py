"""Running the directory as a process: TLS material, store, bootstrap, server."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, replace
from pathlib import Path

import uvicorn

from tollhouse.directory._config import DirectoryConfig
from tollhouse.directory._service import Directory
from tollhouse.directory.api import create_app
from tollhouse.directory.federation import FederatedAssertionValidator, IssuerMetadataCache
from tollhouse.directory.store import DirectoryStore
from tollhouse.pki import CertificateAuthority
from tollhouse.serving import build_server

log = logging.getLogger("tollhouse.directory")


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    key: Path
    ca_bundle: Path | None


def server_tls(config: DirectoryConfig, pki_dir: Path) -> TlsFiles:
    """The configured certificate, or one issued by the local CA for the public URLs' hosts."""
    if config.tls_cert_path and config.tls_key_path:
        return TlsFiles(config.tls_cert_path, config.tls_key_path, None)
    ca = CertificateAuthority.load_or_create(pki_dir)
    cert, key = config.data_dir / "tls.pem", config.data_dir / "tls.key"
    if not cert.exists() or not key.exists():
        hosts = sorted({url.split("://", 1)[1].rsplit(":", 1)[0] for url in config.urls})
        config.data_dir.mkdir(parents=True, exist_ok=True)
        ca.issue_server([*hosts, "127.0.0.1", "localhost"]).write(cert, key)
    return TlsFiles(cert, key, pki_dir / "ca.pem")


def federation_ssl_context(config: DirectoryConfig, extra_ca: Path | None) -> ssl.SSLContext:
    """System trust, plus the configured bundle (and the local CA, for dev issuers)."""
    context = ssl.create_default_context()
    for bundle in (config.federation_ca_bundle, extra_ca):
        if bundle is not None and bundle.exists():
            context.load_verify_locations(cafile=str(bundle))
    return context


def build_directory(config: DirectoryConfig, pki_dir: Path) -> tuple[Directory, TlsFiles]:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    tls = server_tls(config, pki_dir)
    if config.ca_bundle is None and tls.ca_bundle is not None:
        config = replace(config, ca_bundle=tls.ca_bundle)
    store = DirectoryStore.open(config.db_url)
    cache = IssuerMetadataCache(verify=federation_ssl_context(config, tls.ca_bundle))
    directory = Directory(
        config,
        store,
        FederatedAssertionValidator(cache, leeway_seconds=config.assertion_leeway),
    )
    directory.closers.append(cache.aclose)
    directory.bootstrap()
    return directory, tls


def build_directory_server(
    config: DirectoryConfig, pki_dir: Path
) -> tuple[Directory, uvicorn.Server]:
    directory, tls = build_directory(config, pki_dir)
    server = build_server(
        create_app(directory),
        host=config.host,
        port=config.port,
        certfile=tls.certificate,
        keyfile=tls.key,
        header_timeout=config.header_timeout,
        keepalive_timeout=config.keepalive_timeout,
    )
    return directory, server
