"""Finding applications and service principals by the identifiers az accepts."""

from __future__ import annotations

import re
from typing import Any

from tollhouse.cli._errors import CliError, RequestError
from tollhouse.cli._http import DirectoryClient

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(text: str) -> bool:
    return bool(_GUID.match(text))


def odata_string(value: str) -> str:
    """An OData string literal: quoted, with quotes doubled (OData ABNF, SQUOTE-in-string)."""
    return "'" + value.replace("'", "''") + "'"


def list_applications(client: DirectoryClient, odata_filter: str | None = None) -> list[Any]:
    params = {"$filter": odata_filter} if odata_filter else None
    return list(client.graph("GET", "/applications", params=params)["value"])


def find_application(client: DirectoryClient, identifier: str) -> dict[str, Any]:
    """An application by appId, object id or identifier URI, in az's order: a GUID is tried
    as an appId first, then as an object id."""
    if is_guid(identifier):
        found = list_applications(client, f"appId eq {odata_string(identifier)}")
        if found:
            return dict(found[0])
        try:
            return dict(client.graph("GET", f"/applications/{identifier}"))
        except RequestError as exc:
            if exc.status != 404:
                raise
    else:
        # The directory filters on appId and displayName only; identifier URIs are few.
        for app in list_applications(client):
            if identifier in app.get("identifierUris", []):
                return dict(app)
    raise CliError(f"No application has the appId, object id or identifier URI '{identifier}'.")


def find_service_principal(client: DirectoryClient, identifier: str) -> dict[str, Any] | None:
    """A service principal by its application's appId, else by its own object id."""
    found = client.graph(
        "GET", "/servicePrincipals", params={"$filter": f"appId eq {odata_string(identifier)}"}
    )["value"]
    if found:
        return dict(found[0])
    if not is_guid(identifier):
        return None
    try:
        return dict(client.graph("GET", f"/servicePrincipals/{identifier}"))
    except RequestError as exc:
        if exc.status == 404:
            return None
        raise
