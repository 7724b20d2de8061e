"""`tollhouse apim subscription`: subscriptions and their keys.

Keys are never part of a subscription's GET; `keys list` reads them (`listSecrets`) and
`keys regenerate` replaces one, then shows both, as `az storage account keys renew` does.
"""

from __future__ import annotations

import argparse
from typing import Any

from tollhouse.cli._command import Subparsers, add_group
from tollhouse.cli._management import (
    ManagementClient,
    add_apim_command,
    add_yes_option,
    delete_or_warn,
    flatten,
    resource_path,
)
from tollhouse.cli._output import field

SUBSCRIPTION_STATES = ("active", "suspended", "submitted", "rejected", "cancelled", "expired")
# ARM's default is `submitted`, which no gateway accepts; an administrator creating one from
# the command line means it to work, as the portal's "Add subscription" does.
DEFAULT_STATE = "active"
KEY_KINDS = {"primary": "regeneratePrimaryKey", "secondary": "regenerateSecondaryKey"}

SUBSCRIPTION_COLUMNS = (
    field("Name"),
    field("DisplayName"),
    field("Scope"),
    field("State"),
)
KEY_COLUMNS = (field("PrimaryKey"), field("SecondaryKey"))


def register(apim: Subparsers) -> None:
    subscription = add_group(apim, "subscription", "Manage subscriptions and their keys.")

    create = add_apim_command(
        subscription,
        "create",
        _create,
        "Create or update a subscription.",
        columns=SUBSCRIPTION_COLUMNS,
    )
    _sid(create)
    create.add_argument(
        "--scope",
        required=True,
        help="/apis (all APIs), /apis/{apiId} or /products/{productId}",
    )
    create.add_argument("--display-name", required=True)
    create.add_argument(
        "--state", choices=SUBSCRIPTION_STATES, default=DEFAULT_STATE, help="default: active"
    )
    create.add_argument("--primary-key", help="default: generated")
    create.add_argument("--secondary-key", help="default: generated")
    create.add_argument(
        "--allow-tracing", action="store_true", help="allow request tracing with its keys"
    )
    # Checked by the control plane, which names the property of a bad one.
    create.add_argument(
        "--start-date",
        help="ISO 8601 UTC, e.g. 2026-01-31T00:00:00Z; quota periods count from it",
    )
    create.add_argument(
        "--expiration-date",
        help="ISO 8601 UTC; recorded only, as in APIM: --state decides whether keys work",
    )

    add_apim_command(
        subscription, "list", _list, "List subscriptions.", columns=SUBSCRIPTION_COLUMNS
    )

    show = add_apim_command(
        subscription, "show", _show, "Show a subscription.", columns=SUBSCRIPTION_COLUMNS
    )
    _sid(show)

    delete = add_apim_command(subscription, "delete", _delete, "Delete a subscription.")
    _sid(delete)
    add_yes_option(delete)

    keys = add_group(subscription, "keys", "Read and replace a subscription's keys.")
    listing = add_apim_command(
        keys, "list", _keys_list, "Show a subscription's keys.", columns=KEY_COLUMNS
    )
    _sid(listing)
    regenerate = add_apim_command(
        keys,
        "regenerate",
        _keys_regenerate,
        "Replace one of a subscription's keys; shows the keys.",
        columns=KEY_COLUMNS,
    )
    _sid(regenerate)
    regenerate.add_argument("--key-kind", required=True, choices=tuple(KEY_KINDS))


def _sid(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sid", required=True, help="the subscription's name")


def _path(args: argparse.Namespace, *rest: str) -> str:
    return resource_path("subscriptions", args.sid, *rest)


def _create(args: argparse.Namespace, client: ManagementClient) -> Any:
    properties: dict[str, Any] = {
        "scope": args.scope,
        "displayName": args.display_name,
        "state": args.state,
        "allowTracing": args.allow_tracing,
    }
    if args.primary_key is not None:
        properties["primaryKey"] = args.primary_key
    if args.secondary_key is not None:
        properties["secondaryKey"] = args.secondary_key
    if args.start_date is not None:
        properties["startDate"] = args.start_date
    if args.expiration_date is not None:
        properties["expirationDate"] = args.expiration_date
    return flatten(client.put(_path(args), properties))


def _list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return [flatten(subscription) for subscription in client.list_all("subscriptions")]


def _show(args: argparse.Namespace, client: ManagementClient) -> Any:
    return flatten(client.get(_path(args)))


def _delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(client, _path(args), f"Subscription '{args.sid}'")
    return None


def _keys_list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return client.post(_path(args, "listSecrets"))


def _keys_regenerate(args: argparse.Namespace, client: ManagementClient) -> Any:
    client.post(_path(args, KEY_KINDS[args.key_kind]))
    return client.post(_path(args, "listSecrets"))
