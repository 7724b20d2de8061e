"""`tollhouse apim product`: products and the APIs they publish."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from tollhouse.cli._command import Subparsers, add_group
from tollhouse.cli._management import (
    ManagementClient,
    add_apim_command,
    add_yes_option,
    boolean,
    delete_or_warn,
    flatten,
    linked_apis,
    resource_path,
)
from tollhouse.cli._output import field

PRODUCT_STATES = ("published", "notPublished")

PRODUCT_COLUMNS = (
    field("Name"),
    field("DisplayName"),
    field("State"),
    field("SubscriptionRequired"),
    field("ApprovalRequired"),
)
API_COLUMNS = (field("Name"), field("DisplayName"), field("Path"), field("ServiceUrl"))


def register(apim: Subparsers) -> None:
    product = add_group(apim, "product", "Manage products.")

    create = add_apim_command(
        product, "create", _create, "Create or update a product.", columns=PRODUCT_COLUMNS
    )
    create.add_argument("--product-id", help="the product's name (default: generated)")
    create.add_argument("--product-name", required=True, help="the product's display name")
    create.add_argument("--description")
    create.add_argument("--legal-terms", help="terms of use shown to subscribers")
    create.add_argument(
        "--state", choices=PRODUCT_STATES, help="whether it is published (default: notPublished)"
    )
    create.add_argument(
        "--subscription-required",
        type=boolean,
        metavar="{true,false}",
        help="whether calls need a subscription key (default: true)",
    )
    create.add_argument(
        "--approval-required",
        type=boolean,
        metavar="{true,false}",
        help="whether subscriptions need approval (default: false)",
    )
    create.add_argument(
        "--subscriptions-limit", type=int, help="subscriptions a user may hold at once"
    )

    add_apim_command(product, "list", _list, "List products.", columns=PRODUCT_COLUMNS)

    show = add_apim_command(product, "show", _show, "Show a product.", columns=PRODUCT_COLUMNS)
    _product_id(show)

    delete = add_apim_command(product, "delete", _delete, "Delete a product.")
    _product_id(delete)
    add_yes_option(delete)

    _register_apis(add_group(product, "api", "Manage the APIs of a product."))


def _product_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--product-id", required=True, help="the product's name")


def _create(args: argparse.Namespace, client: ManagementClient) -> Any:
    # az `apim product create`: the product id is generated when left out.
    name = args.product_id or uuid.uuid4().hex
    properties: dict[str, Any] = {"displayName": args.product_name}
    for key, value in (
        ("description", args.description),
        ("terms", args.legal_terms),
        ("state", args.state),
        ("subscriptionRequired", args.subscription_required),
        ("approvalRequired", args.approval_required),
        ("subscriptionsLimit", args.subscriptions_limit),
    ):
        if value is not None:
            properties[key] = value
    return flatten(client.put(resource_path("products", name), properties))


def _list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return [flatten(product) for product in client.list_all("products")]


def _show(args: argparse.Namespace, client: ManagementClient) -> Any:
    return flatten(client.get(resource_path("products", args.product_id)))


def _delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(
        client, resource_path("products", args.product_id), f"Product '{args.product_id}'"
    )
    return None


# --- product api -------------------------------------------------------------------------


def _register_apis(api: Subparsers) -> None:
    add = add_apim_command(api, "add", _api_add, "Add an API to a product.", columns=API_COLUMNS)
    _product_id(add)
    add.add_argument("--api-id", required=True)

    remove = add_apim_command(api, "remove", _api_remove, "Remove an API from a product.")
    _product_id(remove)
    remove.add_argument("--api-id", required=True)

    listing = add_apim_command(
        api, "list", _api_list, "List the APIs of a product.", columns=API_COLUMNS
    )
    _product_id(listing)


def _link(args: argparse.Namespace) -> str:
    return resource_path("products", args.product_id, "apis", args.api_id)


def _api_add(args: argparse.Namespace, client: ManagementClient) -> Any:
    client.put(_link(args), {})
    # Azure REST Product Api - Create Or Update answers the API's contract.
    return flatten(client.get(resource_path("apis", args.api_id)))


def _api_remove(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(client, _link(args), f"API '{args.api_id}' in product '{args.product_id}'")
    return None


def _api_list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return linked_apis(client, resource_path("products", args.product_id, "apis"))
