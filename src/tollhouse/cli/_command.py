"""How a command is declared: a group, or a leaf with its handler and its table columns.

A leaf's handler takes the parsed arguments and the session and returns what to print
(None: nothing). Every leaf also accepts the global options, so that `-o table` may come
last as in az.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from tollhouse.cli._output import OUTPUT_FORMATS, Column
from tollhouse.cli._profile import PROFILE_ENV
from tollhouse.cli._session import Session

Handler = Callable[[argparse.Namespace, Session], Any]


@dataclass(frozen=True)
class Rendered:
    """A handler's result already formatted by the command, printed as is, with the exit
    status it means (a checker's findings are output, not an `ERROR:`)."""

    text: str
    exit_status: int = 0


# A string: `_SubParsersAction` is generic to type checkers only.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """On the root parser with defaults; on leaves without, so they only override."""
    group = parser.add_argument_group("global arguments")
    group.add_argument(
        "--output",
        "-o",
        choices=OUTPUT_FORMATS,
        default="json" if defaults else argparse.SUPPRESS,
        help="output format (default: json)",
    )
    group.add_argument(
        "--profile",
        metavar="PATH",
        default=None if defaults else argparse.SUPPRESS,
        help=f"administrator profile (default: ${PROFILE_ENV}, else "
        ".tollhouse/directory/admin.json)",
    )


def add_group(subparsers: Subparsers, name: str, summary: str) -> Subparsers:
    parser = subparsers.add_parser(name, help=summary, description=summary)
    return parser.add_subparsers(dest="command", metavar="COMMAND", required=True)


def add_command(
    subparsers: Subparsers,
    name: str,
    run: Handler,
    summary: str,
    *,
    columns: Sequence[Column] | None = None,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=summary, description=summary)
    parser.set_defaults(run=run, columns=columns)
    add_global_options(parser, defaults=False)
    return parser
