"""`tollhouse apim policy`: policy documents at global, product, API and operation scope.

The scope is named by the ids given: none for the global policy (`policies/policy`),
`--product-id` for a product's, `--api-id` for an API's, `--api-id --operation-id` for an
operation's (`apis/{api}/operations/{op}/policies/policy`). The document is sent as written;
the control plane refuses one that is not a well-formed `<policies>` document.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tollhouse.cli._command import Subparsers, add_group
from tollhouse.cli._documents import read_text_file
from tollhouse.cli._errors import CliError
from tollhouse.cli._management import (
    ManagementClient,
    add_apim_command,
    add_yes_option,
    delete_or_warn,
    flatten,
    resource_path,
)
from tollhouse.cli._output import Column, field

# Azure REST PolicyContentFormat, inline ones (the control plane fetches no links).
POLICY_FORMATS = ("xml", "rawxml")
# Azure REST: every policy resource is named `policy`.
POLICY_NAME = "policy"

POLICY_COLUMNS = (
    field("Id"),
    field("Format"),
    Column("Value", lambda row: " ".join(str(row.get("value") or "").split())),
)


def register(apim: Subparsers) -> None:
    policy = add_group(apim, "policy", "Manage policy documents.")

    set_ = add_apim_command(
        policy, "set", _set, "Set the policy document of a scope.", columns=POLICY_COLUMNS
    )
    set_.add_argument("--xml-file", required=True, type=Path, help="the policy document")
    set_.add_argument(
        "--format",
        choices=POLICY_FORMATS,
        default="xml",
        help="xml (expressions XML-escaped) or rawxml (as written) (default: xml)",
    )
    _scope_options(set_)

    show = add_apim_command(
        policy, "show", _show, "Show the policy document of a scope.", columns=POLICY_COLUMNS
    )
    _scope_options(show)

    delete = add_apim_command(policy, "delete", _delete, "Delete the policy document of a scope.")
    _scope_options(delete)
    add_yes_option(delete)


def _scope_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "scope arguments", "none: the global policy, which applies to every API"
    )
    group.add_argument("--api-id", help="an API's policy")
    group.add_argument("--operation-id", help="with --api-id: an operation's policy")
    group.add_argument("--product-id", help="a product's policy")


def policy_path(args: argparse.Namespace) -> str:
    if args.operation_id is not None and args.api_id is None:
        raise CliError("--operation-id needs --api-id: operations belong to an API.")
    if args.product_id is not None and args.api_id is not None:
        raise CliError("Give --product-id or --api-id, not both: a policy has one scope.")
    if args.product_id is not None:
        return resource_path("products", args.product_id, "policies", POLICY_NAME)
    if args.operation_id is not None:
        return resource_path(
            "apis", args.api_id, "operations", args.operation_id, "policies", POLICY_NAME
        )
    if args.api_id is not None:
        return resource_path("apis", args.api_id, "policies", POLICY_NAME)
    return resource_path("policies", POLICY_NAME)


def _set(args: argparse.Namespace, client: ManagementClient) -> Any:
    path = policy_path(args)
    document = read_text_file("--xml-file", args.xml_file)
    return flatten(client.put(path, {"format": args.format, "value": document}))


def _show(args: argparse.Namespace, client: ManagementClient) -> Any:
    return flatten(client.get(policy_path(args)))


def _delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(client, policy_path(args), "The policy")
    return None
