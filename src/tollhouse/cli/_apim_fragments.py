"""`tollhouse apim policy-fragment`: reusable pieces of policy, `policyFragments/{name}`.

A policy includes one with `<include-fragment fragment-id="name" />`. The document is sent as
written; the control plane refuses one that is not a well-formed `<fragment>` of policies
(no section, no `<base />`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tollhouse.cli._apim_policies import POLICY_FORMATS
from tollhouse.cli._command import Subparsers, add_group
from tollhouse.cli._documents import read_text_file
from tollhouse.cli._management import (
    ManagementClient,
    add_apim_command,
    add_yes_option,
    delete_or_warn,
    flatten,
    resource_path,
)
from tollhouse.cli._output import Column, field

FRAGMENT_COLUMNS = (
    field("Name"),
    field("Format"),
    field("Description"),
    Column("Value", lambda row: " ".join(str(row.get("value") or "").split())),
)


def register(apim: Subparsers) -> None:
    fragments = add_group(apim, "policy-fragment", "Manage policy fragments.")

    create = add_apim_command(
        fragments,
        "create",
        _create,
        "Create or replace a policy fragment.",
        columns=FRAGMENT_COLUMNS,
    )
    _fragment_id(create)
    create.add_argument("--xml-file", required=True, type=Path, help="the <fragment> document")
    create.add_argument(
        "--format",
        choices=POLICY_FORMATS,
        default="xml",
        help="xml (expressions XML-escaped) or rawxml (as written) (default: xml)",
    )
    create.add_argument("--description")

    add_apim_command(fragments, "list", _list, "List policy fragments.", columns=FRAGMENT_COLUMNS)

    show = add_apim_command(
        fragments, "show", _show, "Show a policy fragment.", columns=FRAGMENT_COLUMNS
    )
    _fragment_id(show)

    delete = add_apim_command(fragments, "delete", _delete, "Delete a policy fragment.")
    _fragment_id(delete)
    add_yes_option(delete)


def _fragment_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fragment-id", required=True, help="the fragment's name, as include-fragment names it"
    )


def _path(args: argparse.Namespace) -> str:
    return resource_path("policyFragments", args.fragment_id)


def _create(args: argparse.Namespace, client: ManagementClient) -> Any:
    document = read_text_file("--xml-file", args.xml_file)
    properties: dict[str, Any] = {"format": args.format, "value": document}
    if args.description is not None:
        properties["description"] = args.description
    return flatten(client.put(_path(args), properties))


def _list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return [flatten(fragment) for fragment in client.list_all("policyFragments")]


def _show(args: argparse.Namespace, client: ManagementClient) -> Any:
    return flatten(client.get(_path(args)))


def _delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(client, _path(args), f"Policy fragment '{args.fragment_id}'")
    return None
