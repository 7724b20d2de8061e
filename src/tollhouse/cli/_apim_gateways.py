"""`tollhouse apim gateway`: self-hosted gateways, the APIs they serve, their keys and tokens.

`gateway show` is a composite, as the portal's gateway blade is: the resource and what its
instances report (`GET gateways/{gw}/status`, a Tollhouse extension: node count, instances,
a warning when the latest token expires soon). `gateway token generate` prints the whole
`GatewayKey {gw}&{expiry}&{signature}` value that a gateway's `config.service.auth` takes
(ARM answers the token without its scheme).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from tollhouse.cli._command import Subparsers, add_group
from tollhouse.cli._errors import CliError
from tollhouse.cli._management import (
    ManagementClient,
    add_apim_command,
    add_yes_option,
    delete_or_warn,
    flatten,
    linked_apis,
    resource_path,
)
from tollhouse.cli._output import field, warn

# apim-self-hosted-gateway.md §4: "Maximum token expiry time is set to 30 days".
MAX_TOKEN_DAYS = 30
# A token asked for the full 30 days is made this much shorter, so that a client clock a
# little ahead of the control plane's does not make it "more than 30 days ahead".
CLOCK_SKEW_ALLOWANCE = dt.timedelta(minutes=5)
KEY_TYPES = ("primary", "secondary")
TOKEN_SCHEME = "GatewayKey"

GATEWAY_COLUMNS = (
    field("Name"),
    field("Location", "locationData.name"),
    field("Description"),
)
STATUS_COLUMNS = (
    *GATEWAY_COLUMNS[:2],
    field("NodeCount"),
    field("TokenExpiryWarning"),
)
API_COLUMNS = (field("Name"), field("DisplayName"), field("Path"), field("ServiceUrl"))
KEY_COLUMNS = (field("Primary"), field("Secondary"))
TOKEN_COLUMNS = (field("KeyType"), field("Expiry"), field("Value"))


def register(apim: Subparsers) -> None:
    gateway = add_group(apim, "gateway", "Manage self-hosted gateways.")

    create = add_apim_command(
        gateway, "create", _create, "Create or update a gateway.", columns=GATEWAY_COLUMNS
    )
    _gateway_id(create)
    create.add_argument(
        "--location-name", required=True, help="where the gateway runs (locationData.name)"
    )
    create.add_argument("--city")
    create.add_argument("--district")
    create.add_argument("--country-or-region")
    create.add_argument("--description")

    add_apim_command(gateway, "list", _list, "List gateways.", columns=GATEWAY_COLUMNS)

    show = add_apim_command(
        gateway,
        "show",
        _show,
        "Show a gateway with the instances that report to the control plane.",
        columns=STATUS_COLUMNS,
    )
    _gateway_id(show)

    delete = add_apim_command(gateway, "delete", _delete, "Delete a gateway.")
    _gateway_id(delete)
    add_yes_option(delete)

    _register_apis(add_group(gateway, "api", "Manage the APIs a gateway serves."))
    _register_token(add_group(gateway, "token", "Generate gateway tokens."))
    _register_keys(add_group(gateway, "key", "Manage a gateway's keys."))


def _gateway_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway-id", required=True, help="the gateway's name")


def _path(args: argparse.Namespace, *rest: str) -> str:
    return resource_path("gateways", args.gateway_id, *rest)


def _create(args: argparse.Namespace, client: ManagementClient) -> Any:
    location = {"name": args.location_name}
    for key, value in (
        ("city", args.city),
        ("district", args.district),
        ("countryOrRegion", args.country_or_region),
    ):
        if value is not None:
            location[key] = value
    properties: dict[str, Any] = {"locationData": location}
    if args.description is not None:
        properties["description"] = args.description
    return flatten(client.put(_path(args), properties))


def _list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return [flatten(gateway) for gateway in client.list_all("gateways")]


def _show(args: argparse.Namespace, client: ManagementClient) -> Any:
    gateway = flatten(client.get(_path(args)))
    status = client.get(_path(args, "status"))
    gateway["nodeCount"] = status.get("nodeCount", 0)
    gateway["instances"] = status.get("instances", [])
    gateway["tokenExpiryWarning"] = status.get("tokenExpiryWarning")
    if gateway["tokenExpiryWarning"]:
        warn(f"Gateway '{args.gateway_id}': {gateway['tokenExpiryWarning']}.")
    return gateway


def _delete(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(client, _path(args), f"Gateway '{args.gateway_id}'")
    return None


# --- gateway api -------------------------------------------------------------------------


def _register_apis(api: Subparsers) -> None:
    add = add_apim_command(
        api, "add", _api_add, "Make a gateway serve an API.", columns=API_COLUMNS
    )
    _gateway_id(add)
    add.add_argument("--api-id", required=True)

    remove = add_apim_command(api, "remove", _api_remove, "Stop a gateway serving an API.")
    _gateway_id(remove)
    remove.add_argument("--api-id", required=True)

    listing = add_apim_command(
        api, "list", _api_list, "List the APIs a gateway serves.", columns=API_COLUMNS
    )
    _gateway_id(listing)


def _api_add(args: argparse.Namespace, client: ManagementClient) -> Any:
    client.put(_path(args, "apis", args.api_id), {"provisioningState": "created"})
    # Azure REST Gateway Api - Create Or Update answers the API's contract.
    return flatten(client.get(resource_path("apis", args.api_id)))


def _api_remove(args: argparse.Namespace, client: ManagementClient) -> Any:
    delete_or_warn(
        client,
        _path(args, "apis", args.api_id),
        f"API '{args.api_id}' on gateway '{args.gateway_id}'",
    )
    return None


def _api_list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return linked_apis(client, _path(args, "apis"))


# --- gateway token -----------------------------------------------------------------------


def _register_token(token: Subparsers) -> None:
    generate = add_apim_command(
        token,
        "generate",
        _token_generate,
        "Generate a token for the gateway's config.service.auth setting.",
        columns=TOKEN_COLUMNS,
    )
    _gateway_id(generate)
    _key_type(generate, "the key that signs the token")
    when = generate.add_mutually_exclusive_group()
    when.add_argument(
        "--expiry",
        type=_expiry,
        help="when the token expires, ISO 8601 (UTC unless it says otherwise), at most "
        f"{MAX_TOKEN_DAYS} days ahead",
    )
    when.add_argument(
        "--days",
        type=_days,
        default=MAX_TOKEN_DAYS,
        help=f"days the token is valid, 1 to {MAX_TOKEN_DAYS} (default: {MAX_TOKEN_DAYS})",
    )


def _key_type(parser: argparse.ArgumentParser, summary: str) -> None:
    parser.add_argument(
        "--key-type", choices=KEY_TYPES, default="primary", help=f"{summary} (default: primary)"
    )


def _key_to_replace(parser: argparse.ArgumentParser) -> None:
    # Required: replacing a key by default would end the tokens it signed by accident.
    parser.add_argument("--key-type", choices=KEY_TYPES, required=True, help="the key to replace")


def _expiry(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 date and time, such as 2030-01-31T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_TOKEN_DAYS}")
    return days


def token_expiry(days: int, now: dt.datetime) -> dt.datetime:
    """`days` ahead of `now`, to the minute, kept clear of the 30-day limit."""
    wanted = now + dt.timedelta(days=days)
    latest = now + dt.timedelta(days=MAX_TOKEN_DAYS) - CLOCK_SKEW_ALLOWANCE
    return min(wanted, latest).replace(second=0, microsecond=0)


def _token_generate(args: argparse.Namespace, client: ManagementClient) -> Any:
    expiry = args.expiry or token_expiry(args.days, dt.datetime.now(dt.UTC))
    answer = client.post(
        _path(args, "generateToken"),
        {"keyType": args.key_type, "expiry": expiry.isoformat()},
    )
    value = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(value, str) or not value:
        raise CliError("The control plane answered generateToken without a token.")
    return {
        "value": f"{TOKEN_SCHEME} {value}",
        "keyType": args.key_type,
        "expiry": expiry.isoformat(),
    }


# --- gateway key -------------------------------------------------------------------------


def _register_keys(key: Subparsers) -> None:
    listing = add_apim_command(
        key, "list", _keys_list, "Show a gateway's primary and secondary keys.", columns=KEY_COLUMNS
    )
    _gateway_id(listing)

    regenerate = add_apim_command(
        key,
        "regenerate",
        _keys_regenerate,
        "Replace one of a gateway's keys; tokens it signed stop working. Shows the keys.",
        columns=KEY_COLUMNS,
    )
    _gateway_id(regenerate)
    _key_to_replace(regenerate)


def _keys_list(args: argparse.Namespace, client: ManagementClient) -> Any:
    return client.post(_path(args, "listKeys"))


def _keys_regenerate(args: argparse.Namespace, client: ManagementClient) -> Any:
    client.post(_path(args, "regenerateKey"), {"keyType": args.key_type})
    # As `az storage account keys renew`: the keys after the change.
    return client.post(_path(args, "listKeys"))
