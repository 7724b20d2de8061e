"""`tollhouse gateway`: the self-hosted gateway, configured by APIM's settings keys."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from tollhouse.cli._command import Subparsers, add_command
from tollhouse.cli._errors import CliError
from tollhouse.cli._servers import LOG_FORMAT
from tollhouse.cli._session import Session
from tollhouse.settings import SettingsError

# A gateway serves its clients wherever it runs (a pod, a VM).
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


def register(subparsers: Subparsers) -> None:
    gateway = add_command(
        subparsers,
        "gateway",
        _run,
        "Run the self-hosted gateway (settings: config.service.*, gateway.name, …).",
    )
    gateway.add_argument("--env-file", type=Path, help="settings as KEY=value lines")
    gateway.add_argument(
        "--host",
        default=ALL_INTERFACES,
        help="listen address (default: all interfaces)",
    )


def _run(args: argparse.Namespace, session: Session) -> None:
    from tollhouse.gateway._runtime import run_gateway
    from tollhouse.gateway._settings import GatewaySettings

    # Every key is checked here, the HTTP limits and trusted proxies included: a bad value is
    # one line naming its key, before anything listens.
    try:
        settings = GatewaySettings.load(os.environ, args.env_file)
    except (SettingsError, OSError) as exc:
        raise CliError(str(exc)) from exc
    level = {
        "all": "DEBUG",
        "debug": "DEBUG",
        "info": "INFO",
        "warn": "WARNING",
        "error": "ERROR",
        "fatal": "CRITICAL",
    }.get(settings.logs_level.lower(), "INFO")
    logging.basicConfig(level=level, format=LOG_FORMAT)
    import uvloop

    try:
        uvloop.run(run_gateway(settings, host=args.host))
    except KeyboardInterrupt:
        return
    except OSError as exc:  # a port in use, an address not available
        raise CliError(f"cannot listen: {exc}") from exc
