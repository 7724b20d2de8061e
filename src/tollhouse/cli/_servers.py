"""Commands that run a server: `tollhouse directory` (and its key rotation) and
`tollhouse kube-issuer`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from tollhouse.cli._command import Subparsers, add_command
from tollhouse.cli._errors import CliError
from tollhouse.cli._session import Session
from tollhouse.settings import SettingsError, SettingsSource, read_env_file

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def register(subparsers: Subparsers) -> None:
    directory = add_command(
        subparsers,
        "directory",
        _serve_directory,
        "Run the directory: Entra-compatible token service and Azure-style RBAC.",
    )
    _directory_options(directory)
    actions = directory.add_subparsers(dest="directory_command", metavar="COMMAND")
    keys = actions.add_parser("keys", help="Manage the token signing keys.")
    key_actions = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    rotate = key_actions.add_parser(
        "rotate",
        help="Publish a new signing key; it signs after directory.keys.publishAhead seconds.",
    )
    rotate.set_defaults(run=_rotate_keys, columns=None)
    _directory_options(rotate)

    issuer = add_command(
        subparsers,
        "kube-issuer",
        _serve_kube_issuer,
        "Run a stand-in Kubernetes service-account issuer and keep a projected token file.",
    )
    issuer.add_argument("--host", default="127.0.0.1")
    issuer.add_argument("--port", type=int, default=8444)
    issuer.add_argument("--issuer-url", help="default: https://<host>:<port>/")
    issuer.add_argument("--tls-cert", type=Path, help="default: issued by the local CA")
    issuer.add_argument("--tls-key", type=Path)
    issuer.add_argument("--data-dir", type=Path, default=Path(".tollhouse/kube-issuer"))
    issuer.add_argument("--token-file", type=Path, help="default: <data dir>/token")
    issuer.add_argument("--namespace", default=None)
    issuer.add_argument("--service-account", default=None)
    issuer.add_argument("--lifetime", type=int, default=3600, help="token lifetime, seconds")
    issuer.add_argument("--log-level", default="info")


def _directory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (directory.listen.host)")
    parser.add_argument("--port", type=int, help="HTTPS port (directory.listen.port)")
    parser.add_argument("--data-dir", type=Path, help="directory.dataDir")
    parser.add_argument("--database-url", help="directory.database.url")
    parser.add_argument("--env-file", type=Path, help="settings as KEY=value lines")
    parser.add_argument("--log-level", default="info")


def _config(args: argparse.Namespace) -> Any:
    from tollhouse.directory import DirectoryConfig

    try:
        env_file = read_env_file(args.env_file) if args.env_file else None
        source = SettingsSource(os.environ, env_file)
        return DirectoryConfig.from_settings(
            source,
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            database_url=args.database_url,
        )
    except (SettingsError, OSError) as exc:
        raise CliError(str(exc)) from exc


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


def _serve_directory(args: argparse.Namespace, session: Session) -> None:
    from tollhouse.directory import build_directory_server

    _logging(args.log_level)
    config = _config(args)
    _, server = build_directory_server(config, config.data_dir.parent / "pki")
    logging.getLogger("tollhouse.directory").info(
        "directory listening on https://%s:%d (authority %s)",
        config.host,
        config.port,
        config.authority,
    )
    server.run()


def _rotate_keys(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from tollhouse.directory import build_directory

    _logging(args.log_level)
    config = _config(args)
    directory, _ = build_directory(config, config.data_dir.parent / "pki")
    try:
        key = directory.rotate_keys()
        return {"kid": key.kid, "signsFrom": key.signs_from}
    finally:
        directory.store.close()


def _serve_kube_issuer(args: argparse.Namespace, session: Session) -> None:
    from tollhouse.kubeissuer import (
        DEFAULT_NAMESPACE,
        DEFAULT_SERVICE_ACCOUNT,
        KubeIssuerConfig,
        run,
    )
    from tollhouse.pki import CertificateAuthority

    _logging(args.log_level)
    data: Path = args.data_dir
    data.mkdir(parents=True, exist_ok=True)
    cert, key = args.tls_cert, args.tls_key
    if cert is None or key is None:
        cert, key = data / "tls.pem", data / "tls.key"
        if not cert.exists() or not key.exists():
            ca = CertificateAuthority.load_or_create(data.parent / "pki")
            ca.issue_server([args.host, "127.0.0.1", "localhost"]).write(cert, key)
    config = KubeIssuerConfig(
        host=args.host,
        port=args.port,
        issuer_url=args.issuer_url or f"https://{args.host}:{args.port}/",
        tls_cert_path=cert,
        tls_key_path=key,
        signing_key_path=data / "sa-signing.key",
        token_file=args.token_file or data / "token",
        namespace=args.namespace or DEFAULT_NAMESPACE,
        service_account=args.service_account or DEFAULT_SERVICE_ACCOUNT,
        lifetime_seconds=args.lifetime,
    )
    try:
        asyncio.run(run(config))
    except KeyboardInterrupt:
        return
