"""`tollhouse dev`: the system on one machine, under `.tollhouse/`, with a local TLS CA.

Runs the directory (bootstrapped tenant and administrator) and the stand-in Kubernetes
issuer, whose service-account token file feeds workload identity, in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path

from tollhouse.cli._command import Subparsers, add_command
from tollhouse.cli._servers import LOG_FORMAT
from tollhouse.cli._session import Session

DEFAULT_ROOT = Path(".tollhouse")
DIRECTORY_PORT = 8443
KUBE_ISSUER_PORT = 8444

log = logging.getLogger("tollhouse.dev")


def register(subparsers: Subparsers) -> None:
    dev = add_command(
        subparsers, "dev", _run, "Run the system on this machine (HTTPS on loopback)."
    )
    dev.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="state directory")
    dev.add_argument("--directory-port", type=int, default=DIRECTORY_PORT)
    dev.add_argument("--kube-issuer-port", type=int, default=KUBE_ISSUER_PORT)
    dev.add_argument("--log-level", default="info")


def _run(args: argparse.Namespace, session: Session) -> None:
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.root, args.directory_port, args.kube_issuer_port))


async def _main(root: Path, directory_port: int, issuer_port: int) -> None:
    from tollhouse.directory import DirectoryConfig, build_directory_server
    from tollhouse.kubeissuer import KubeIssuerConfig, run
    from tollhouse.pki import CertificateAuthority

    pki = root / "pki"
    config = DirectoryConfig(port=directory_port, data_dir=root / "directory")
    directory, server = build_directory_server(config, pki)

    issuer_dir = root / "kube-issuer"
    issuer_dir.mkdir(parents=True, exist_ok=True)
    cert, key = issuer_dir / "tls.pem", issuer_dir / "tls.key"
    if not cert.exists():
        CertificateAuthority.load_or_create(pki).issue_server(["127.0.0.1", "localhost"]).write(
            cert, key
        )
    issuer = KubeIssuerConfig(
        port=issuer_port,
        issuer_url=f"https://127.0.0.1:{issuer_port}/",
        tls_cert_path=cert,
        tls_key_path=key,
        signing_key_path=issuer_dir / "sa-signing.key",
        token_file=issuer_dir / "token",
    )
    ready = asyncio.Event()
    issuer_task = asyncio.create_task(run(issuer, ready=ready))
    await ready.wait()
    log.info(
        "directory %s  tenant %s  (administrator profile %s, CA %s)",
        config.authority,
        directory.store.list_tenants()[0].id,
        config.admin_profile_path,
        pki / "ca.pem",
    )
    log.info("kube issuer %s  service-account token file %s", issuer.issuer_url, issuer.token_file)
    try:
        await server.serve()
    finally:
        issuer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await issuer_task
