"""`tollhouse apim nv`: named values, which policies use as `{{displayName}}`.

A secret value is never part of a named value's GET; `show-secret` reads it (`listValue`).
"""

from __future__ import annotations

import argparse
from typing import Any

from tollhouse.cli._command import Subparsers, add_group
from tollhouse.cli._management import (
    ManagementClient,
    add_apim_command,
    add_yes_option,
    boolean,
    delete_or_warn,
    flatten,
    resource_path,
)
from tollhouse.cli._output import field

NAMED_VALUE_COLUMNS = (
    field("Name"),
    field("DisplayName"),
    field("Secret"),
    field("Value"),
    field("Tags"),
)


def register(apim: Subparsers) -> None:
    nv = add_group(apim, "nv", "Manage named values.")

    create = add_apim_command(
        nv, "create", _create, "Create or update a named value.", columns=NAMED_VALUE_COLUMNS
    )
    _named_value_id(create)
    create.add_argument(
        "--display-name", required=True, help="the name policies use: {{display-name}}"
    )
    create.add_argument("--value", required=True)
    create.add_argument(
        "--secret",
        type=boolean,
        default=False,
        metavar="{true,false}",
        help="whether the value is a secret, shown only by show-secret (default: false)",
    )
    create.add_argument("--tags", nargs="+", metavar="TAG")

    add_apim_command(nv, "list", _list, "List named values.", columns=NAMED_VALUE_COLUMNS)

    show = add_apim_command(nv, "show", _show, "Show a named value.", columns=NAMED_VALUE_COLUMNS)
    _named_value_id(show)

    secret = add_apim_command(
        nv, "show-secret", _show_secret, "Show a named value's value, secret or not."
    )
    _named_value_id(secret)

    delete = add_apim_command(nv, "delete", _delete, "Delete a named value.")
    _named_value_id(delete)
    add_yes_option(delete)


def _named_value_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--named-value-id", required=True, help="the named value's name")


def _path(args: argparse.Namespace, *rest: str) -> str:
    return resource_path("namedValues", args.named_value_id, *rest)


def _create(args: argparse.Namespace, client: ManagementClient) -> Any:
    properties: dict[str, Any] = {
        "displayName": args.display_name,
        "value": args.value,
        "secret": args.secret,
    }
    if args.tags is not None:
        properties["tags"] = args.tags
    return flatten(client.put(_path(args), properties))


def _list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return [flatten(nv) for nv in client.list_all("namedValues")]


def _show(args: argparse.Namespace, client: ManagementClient) -> Any:
    return flatten(client.get(_path(args)))


def _show_secret(args: argparse.Namespace, client: ManagementClient) -> Any:
    return client.post(_path(args, "listValue"))


def _delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(client, _path(args), f"Named value '{args.named_value_id}'")
    return None
