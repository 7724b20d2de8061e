"""`tollhouse control-plane`: run one API Management service instance.

Its system-assigned managed identity is a service principal of the directory; the control
plane holds its credential. It comes from `--identity-profile`, a JSON file shaped as the
directory's administrator profile (`{authority, tenantId, clientId, clientSecret, caBundle}`,
a relative `caBundle` relative to the file), which wins over the `controlplane.identity.*`
settings; the rest of the configuration is the `controlplane.*` settings (docs/settings.md)
with the command's options winning. The TLS certificate, when none is configured, is issued by
the local CA in `<data dir>/../pki`, the directory's under the default layout.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from tollhouse.cli._command import Subparsers, add_command
from tollhouse.cli._errors import CliError
from tollhouse.cli._profile import load_profile
from tollhouse.cli._servers import LOG_FORMAT
from tollhouse.cli._session import Session
from tollhouse.settings import SettingsError, SettingsSource, read_env_file


def register(subparsers: Subparsers) -> None:
    server = add_command(
        subparsers,
        "control-plane",
        _serve,
        "Run the control plane: one API Management service, its management API and the "
        "configuration API gateways call.",
    )
    server.add_argument("--host", help="listen address (controlplane.listen.host)")
    server.add_argument("--port", type=int, help="HTTPS port (controlplane.listen.port)")
    server.add_argument("--data-dir", type=Path, help="controlplane.dataDir")
    server.add_argument("--database-url", help="controlplane.database.url")
    server.add_argument("--env-file", type=Path, help="settings as KEY=value lines")
    server.add_argument(
        "--identity-profile",
        type=Path,
        metavar="PATH",
        help="the managed identity's credentials, shaped as the directory's admin.json "
        "(default: the controlplane.identity.* settings)",
    )
    server.add_argument("--log-level", default="info")


def identity_settings(path: Path) -> dict[str, str]:
    """The `controlplane.identity.*` settings an identity profile stands for."""
    if not path.is_file():
        raise CliError(f"--identity-profile: no file at '{path}'.")
    profile = load_profile(path)
    settings = {
        "controlplane.identity.authority": profile.authority,
        "controlplane.identity.tenantId": profile.tenant_id,
        "controlplane.identity.clientId": profile.client_id,
        "controlplane.identity.clientSecret": profile.client_secret,
    }
    if profile.ca_bundle is not None:
        settings["controlplane.identity.caBundle"] = str(profile.ca_bundle.resolve())
    return settings


def control_plane_config(args: argparse.Namespace) -> Any:
    from tollhouse.controlplane import ControlPlaneConfig
    from tollhouse.identity import IdentityError

    try:
        env_file = read_env_file(args.env_file) if args.env_file else None
        environ = dict(os.environ)
        if args.identity_profile is not None:
            # Dotted keys in the first layer win over upper-snake ones and the env-file.
            environ.update(identity_settings(args.identity_profile))
        return ControlPlaneConfig.from_settings(
            SettingsSource(environ, env_file),
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            database_url=args.database_url,
        )
    except (SettingsError, OSError) as exc:
        raise CliError(str(exc)) from exc
    except IdentityError as exc:
        raise CliError(f"controlplane.identity: {exc}") from None


def _serve(args: argparse.Namespace, session: Session) -> None:
    from tollhouse.controlplane import build_control_plane_server

    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    config = control_plane_config(args)
    _, server = build_control_plane_server(config, config.data_dir.parent / "pki")
    logging.getLogger("tollhouse.controlplane").info(
        "control plane listening on https://%s:%d for %s (managed identity %s at %s)",
        config.host,
        config.port,
        config.service_id,
        config.identity.client_id,
        config.identity.authority,
    )
    server.run()
