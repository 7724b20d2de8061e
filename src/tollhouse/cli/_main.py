"""The `tollhouse` command: the parser, and the one place a command's outcome is printed.

Each command group lives in its own module with a `register(subparsers)` function; adding a
group is one more entry in `COMMAND_GROUPS`. A leaf command's handler returns its result,
printed here as JSON or a table; a `CliError` is printed as `ERROR: <message>` (exit 1),
a usage error by argparse (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from tollhouse import __version__
from tollhouse.cli import _ad, _apim, _control_plane, _dev, _gateway, _policy, _role, _servers
from tollhouse.cli._command import Rendered, Subparsers, add_global_options
from tollhouse.cli._errors import CliError
from tollhouse.cli._output import printable, render
from tollhouse.cli._session import Session

COMMAND_GROUPS: tuple[Callable[[Subparsers], None], ...] = (
    _ad.register,
    _role.register,
    _servers.register,
    _control_plane.register,
    _apim.register,
    _gateway.register,
    _policy.register,
    _dev.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tollhouse",
        description="Self-hosted API management. Commands mirror az: 'tollhouse ad …' and "
        "'tollhouse role …' for the directory, 'tollhouse apim …' for the control plane.",
    )
    parser.add_argument("--version", action="version", version=f"tollhouse {__version__}")
    add_global_options(parser, defaults=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMAND_GROUPS:
        register(subparsers)
    return parser


def _quiet_azure_logging() -> None:
    """azure-identity logs each failure it raises; with logging unconfigured, Python would
    print that record beside our own `ERROR:` line."""
    azure = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in azure.handlers):
        azure.addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_azure_logging()
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed them
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    session = Session(args.profile)
    try:
        result = args.run(args, session)
        if isinstance(result, Rendered):
            print(result.text)
            return result.exit_status
        text = render(result, args.output, args.columns)
    except CliError as exc:
        print(f"ERROR: {printable(exc.message)}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    finally:
        session.close()
    if text is not None:
        print(text)
    return 0
