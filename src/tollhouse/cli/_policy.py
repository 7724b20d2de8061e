"""`tollhouse policy check FILE|DIR …`: compile policy documents offline, as the gateway would.

The checking itself is `_policy_check`, imported when the command runs (it loads the whole
policy engine). Named values come from `--named-values`: a JSON object of name → value, or the
array `az apim nv list` prints.

Exit status: 0 when every document compiles, 1 when any has a problem, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tollhouse.cli._command import Rendered, Subparsers, add_group
from tollhouse.cli._errors import CliError
from tollhouse.cli._output import printable
from tollhouse.cli._session import Session
from tollhouse.contracts import NamedValueConfig

if TYPE_CHECKING:
    from tollhouse.cli._policy_check import Report

# A named-values file is a listing of one service's named values (APIM allows 5,000 of a few
# KiB each); anything larger is not one.
MAX_NAMED_VALUES_BYTES = 16 * 1024 * 1024
OUTPUT_CHOICES = ("text", "json")


class UsageError(CliError):
    """A path that does not exist, an unreadable or malformed named-values file."""

    exit_status = 2


def register(subparsers: Subparsers) -> None:
    policy = add_group(subparsers, "policy", "Work with APIM policy documents offline.")
    check = policy.add_parser(
        "check",
        help="Check that policy documents compile as the gateway would compile them.",
        description="Compile APIM policy documents offline, as the gateway would, and print "
        "per file 'ok' or each problem with its line and column: unsupported policy or "
        "attribute, unsupported expression construct, malformed XML, unknown named value. "
        "Files whose root is <fragment> are policy fragments, named by the file's stem. "
        "Exit status: 0 when every document compiles, 1 when any has a problem, 2 for a "
        "usage error.",
    )
    check.set_defaults(run=_run, columns=None)
    check.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="FILE|DIR",
        help="policy documents; a directory is searched recursively for *.xml",
    )
    check.add_argument(
        "--named-values",
        type=Path,
        metavar="FILE",
        help="a JSON object of name → value, or the array 'az apim nv list' prints; with it "
        "a {{name}} it does not define is a problem. Without it every {{name}} is replaced "
        "by a placeholder value, so the rest of the document is still checked. Secret "
        "values are checked with a placeholder and never printed",
    )
    check.add_argument(
        "--output",
        "-o",
        dest="check_output",
        choices=OUTPUT_CHOICES,
        default="text",
        help="'text': one line per file or problem and a summary; 'json': one JSON document "
        "for CI (default: text)",
    )


def _run(args: argparse.Namespace, session: Session) -> Rendered:
    from tollhouse.cli._policy_check import check_files

    files = find_files(args.paths)
    named_values = None if args.named_values is None else load_named_values(args.named_values)
    reports = check_files(files, named_values)
    status = 0 if all(r.ok for r in reports) else 1
    if args.check_output == "json":
        text = json.dumps([r.to_json() for r in reports], indent=2, ensure_ascii=False)
    else:
        text = format_text(reports)
    return Rendered(text, status)


def find_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, and the `*.xml` files under the directories named, sorted."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*.xml") if p.is_file())
        elif path.is_file():
            found.add(path)
        else:
            raise UsageError(f"'{path}': no such file or directory.")
    return sorted(found)


def load_named_values(path: Path) -> list[NamedValueConfig]:
    """A JSON object of name → value (null: a secret whose value is not known), or an array
    of `{name | displayName, value, secret}` objects as `az apim nv list` prints them."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_NAMED_VALUES_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--named-values: cannot read '{path}': {exc.strerror}.") from None
    if len(data) > MAX_NAMED_VALUES_BYTES:
        raise UsageError(f"--named-values: '{path}' is larger than {MAX_NAMED_VALUES_BYTES} bytes.")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise UsageError(f"--named-values: '{path}' is not valid JSON.") from None
    if isinstance(document, dict):
        return [_named_value(path, name, name, value, False) for name, value in document.items()]
    if isinstance(document, list):
        return [_listed_named_value(path, i, item) for i, item in enumerate(document)]
    raise UsageError(f"--named-values: '{path}' must hold a JSON object or array.")


def _listed_named_value(path: Path, index: int, item: object) -> NamedValueConfig:
    if not isinstance(item, dict):
        raise UsageError(f"--named-values: '{path}': item {index} is not an object.")
    name = item.get("name", item.get("displayName"))
    display_name = item.get("displayName", name)
    if not isinstance(name, str) or not isinstance(display_name, str):
        raise UsageError(f"--named-values: '{path}': item {index} has no name or displayName.")
    secret = item.get("secret", False)
    if not isinstance(secret, bool):
        raise UsageError(f"--named-values: '{path}': item {index}: secret is not a boolean.")
    return _named_value(path, name, display_name, item.get("value"), secret)


def _named_value(
    path: Path, name: str, display_name: str, value: object, secret: bool
) -> NamedValueConfig:
    # `az apim nv list` shows a secret's value as null; a secret is never compiled with its
    # value, so that no message can carry it.
    if value is None or secret:
        return NamedValueConfig(name, display_name, "", secret=True)
    if not isinstance(value, str):
        # The name only: the value may be a secret.
        raise UsageError(f"--named-values: '{path}': the value of '{name}' is not a string.")
    return NamedValueConfig(name, display_name, value, secret=False)


def format_text(reports: Sequence[Report]) -> str:
    lines = []
    for report in reports:
        name = printable(report.file)
        if report.ok:
            lines.append(f"{name}: ok")
        for problem in report.problems:
            where = "" if problem.line is None else f"{problem.line}:{problem.column}:"
            context = f" (section {problem.section})" if problem.section else ""
            lines.append(f"{name}:{where} {printable(problem.message)}{context}")
    failed = sum(1 for r in reports if not r.ok)
    lines.append(
        f"{len(reports)} files, {len(reports) - failed} ok, {failed} with problems"
        if len(reports) != 1
        else f"1 file, {1 - failed} ok, {failed} with problems"
    )
    return "\n".join(lines)
