"""`tollhouse apim api`: APIs, their import from OpenAPI or Swagger, and their operations.

`api import` sends ARM's import shape, as az does: `PUT apis/{api}` whose properties carry
the description (`value`) and its `format`; the control plane creates the API and one
operation per path and method.
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path
from typing import Any

from tollhouse.cli._command import Subparsers, add_group
from tollhouse.cli._documents import read_text_file
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

PROTOCOLS = ("http", "https", "ws", "wss")
# az's --specification-format values and the ARM `format` each becomes (az's
# `apim api import`: a file is sent inline, a URL as a link).
SPECIFICATION_FORMATS = {
    "openapi": ("OpenApi", "openapi", "openapi-link"),
    "openapijson": ("OpenApiJson", "openapi+json", "openapi+json-link"),
    "swagger": ("Swagger", "swagger-json", "swagger-link-json"),
    "wadl": ("Wadl", "wadl-xml", "wadl-link-json"),
    "wsdl": ("Wsdl", "wsdl", "wsdl-link"),
}

API_COLUMNS = (
    field("Name"),
    field("DisplayName"),
    field("Path"),
    field("ServiceUrl"),
    field("Protocols"),
    field("SubscriptionRequired"),
)
OPERATION_COLUMNS = (
    field("Name"),
    field("Method"),
    field("UrlTemplate"),
    field("DisplayName"),
)


def register(apim: Subparsers) -> None:
    api = add_group(apim, "api", "Manage APIs.")

    create = add_apim_command(
        api, "create", _create, "Create or update an API.", columns=API_COLUMNS
    )
    _api_id(create)
    create.add_argument("--path", required=True, help="the API's URL suffix on a gateway")
    create.add_argument("--display-name", required=True)
    _api_options(create)
    create.add_argument("--subscription-key-header-name", help="default Ocp-Apim-Subscription-Key")
    create.add_argument("--subscription-key-query-param-name", help="default subscription-key")

    imported = add_apim_command(
        api,
        "import",
        _import,
        "Import an API and its operations from an OpenAPI or Swagger description.",
        columns=API_COLUMNS,
    )
    _api_id(imported)
    imported.add_argument("--path", required=True, help="the API's URL suffix on a gateway")
    imported.add_argument(
        "--specification-format",
        required=True,
        type=_specification_format,
        metavar="{" + ",".join(v[0] for v in SPECIFICATION_FORMATS.values()) + "}",
        help="OpenApi (OpenAPI 3, YAML or JSON), OpenApiJson, Swagger (2.0, JSON)",
    )
    source = imported.add_mutually_exclusive_group(required=True)
    source.add_argument("--specification-path", type=Path, help="the description's file")
    source.add_argument(
        "--specification-url", help="the description's URL, for the service to fetch"
    )
    imported.add_argument("--display-name", help="default: the description's title")
    _api_options(imported)

    listing = add_apim_command(api, "list", _list, "List APIs.", columns=API_COLUMNS)
    listing.add_argument("--filter-display-name", help="only APIs whose display name holds this")

    show = add_apim_command(api, "show", _show, "Show an API.", columns=API_COLUMNS)
    _api_id(show)

    delete = add_apim_command(api, "delete", _delete, "Delete an API with its operations.")
    _api_id(delete)
    add_yes_option(delete)

    _register_operations(add_group(api, "operation", "Manage the operations of an API."))


def _api_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-id", required=True, help="the API's name (revision: name;rev=n)")


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service-url", help="the backend the API forwards to")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, help="default: https")
    parser.add_argument(
        "--subscription-required",
        type=boolean,
        metavar="{true,false}",
        help="whether calls need a subscription key (default: true)",
    )
    parser.add_argument("--description")


def _specification_format(text: str) -> str:
    key = text.strip().lower()
    if key not in SPECIFICATION_FORMATS:
        choices = ", ".join(v[0] for v in SPECIFICATION_FORMATS.values())
        raise argparse.ArgumentTypeError(f"'{text}' is not one of {choices}")
    return key


def _optional(args: argparse.Namespace) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, value in (
        ("serviceUrl", args.service_url),
        ("protocols", args.protocols),
        ("subscriptionRequired", args.subscription_required),
        ("description", args.description),
        ("displayName", args.display_name),
    ):
        if value is not None:
            properties[key] = value
    return properties


def _create(args: argparse.Namespace, client: ManagementClient) -> Any:
    properties = {"path": args.path, **_optional(args)}
    names = {}
    if args.subscription_key_header_name is not None:
        names["header"] = args.subscription_key_header_name
    if args.subscription_key_query_param_name is not None:
        names["query"] = args.subscription_key_query_param_name
    if names:
        properties["subscriptionKeyParameterNames"] = names
    return flatten(client.put(resource_path("apis", args.api_id), properties))


def _import(args: argparse.Namespace, client: ManagementClient) -> Any:
    _, inline, link = SPECIFICATION_FORMATS[args.specification_format]
    if args.specification_path is not None:
        value, format_ = read_text_file("--specification-path", args.specification_path), inline
    else:
        value, format_ = args.specification_url, link
    properties = {"format": format_, "value": value, "path": args.path, **_optional(args)}
    return flatten(client.put(resource_path("apis", args.api_id), properties))


def _list(args: argparse.Namespace, client: ManagementClient) -> Any:
    apis = [flatten(api) for api in client.list_all("apis")]
    if args.filter_display_name:
        wanted = args.filter_display_name.lower()
        apis = [api for api in apis if wanted in str(api.get("displayName", "")).lower()]
    return apis


def _show(args: argparse.Namespace, client: ManagementClient) -> Any:
    return flatten(client.get(resource_path("apis", args.api_id)))


def _delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(client, resource_path("apis", args.api_id), f"API '{args.api_id}'")
    return None


# --- api operation -----------------------------------------------------------------------


def _register_operations(operation: Subparsers) -> None:
    create = add_apim_command(
        operation,
        "create",
        _operation_create,
        "Create or update an operation of an API.",
        columns=OPERATION_COLUMNS,
    )
    _api_id(create)
    create.add_argument(
        "--operation-id", help="the operation's name within the API (default: generated)"
    )
    create.add_argument("--method", required=True, help="the HTTP method, e.g. GET")
    create.add_argument(
        "--url-template", required=True, help="e.g. /pets/{petId}, relative to the API's path"
    )
    create.add_argument("--display-name", required=True)
    create.add_argument("--description")

    listing = add_apim_command(
        operation,
        "list",
        _operation_list,
        "List the operations of an API.",
        columns=OPERATION_COLUMNS,
    )
    _api_id(listing)

    show = add_apim_command(
        operation, "show", _operation_show, "Show an operation.", columns=OPERATION_COLUMNS
    )
    _api_id(show)
    show.add_argument("--operation-id", required=True)

    delete = add_apim_command(operation, "delete", _operation_delete, "Delete an operation.")
    _api_id(delete)
    delete.add_argument("--operation-id", required=True)
    add_yes_option(delete)


def _operation_path(args: argparse.Namespace) -> str:
    return resource_path("apis", args.api_id, "operations", args.operation_id)


def _operation_create(args: argparse.Namespace, client: ManagementClient) -> Any:
    if args.operation_id is None:
        # az: "Operation identifier within an API"; when left out, it makes a unique one.
        args.operation_id = uuid.uuid4().hex
    properties = {
        "method": args.method,
        "urlTemplate": args.url_template,
        "displayName": args.display_name,
    }
    if args.description is not None:
        properties["description"] = args.description
    return flatten(client.put(_operation_path(args), properties))


def _operation_list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return [flatten(op) for op in client.list_all(resource_path("apis", args.api_id, "operations"))]


def _operation_show(args: argparse.Namespace, client: ManagementClient) -> Any:
    return flatten(client.get(_operation_path(args)))


def _operation_delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(
        client, _operation_path(args), f"Operation '{args.operation_id}' of API '{args.api_id}'"
    )
    return None
