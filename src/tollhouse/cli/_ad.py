"""`tollhouse ad`: applications, their credentials and service principals, as `az ad` does.

Each command makes the Graph calls az makes (`/v1.0/applications`, `addPassword`,
`removePassword`, `PATCH keyCredentials`, `/federatedIdentityCredentials`,
`/servicePrincipals`) and prints what az prints.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization

from tollhouse.cli._certificates import certificate_der, write_new_pem
from tollhouse.cli._command import Subparsers, add_command, add_group
from tollhouse.cli._errors import CliError
from tollhouse.cli._graph import (
    find_application,
    find_service_principal,
    list_applications,
    odata_string,
)
from tollhouse.cli._input import read_bytes, read_json, read_json_object
from tollhouse.cli._output import field, warn
from tollhouse.cli._session import Session
from tollhouse.pki import self_signed_certificate

# az's default lifetime for a new secret or certificate (`--years`).
DEFAULT_CREDENTIAL_YEARS = 1
# Dates stop at year 9999; no credential has a reason to outlive a century.
MAX_CREDENTIAL_YEARS = 100
# The subject az gives a certificate made by `--create-cert`.
CREATED_CERTIFICATE_NAME = "CLI-Login"

APP_COLUMNS = (
    field("DisplayName"),
    field("AppId"),
    field("Id"),
    field("CreatedDateTime"),
)
PRINCIPAL_COLUMNS = APP_COLUMNS
CREDENTIAL_COLUMNS = (
    field("KeyId"),
    field("DisplayName"),
    field("StartDateTime"),
    field("EndDateTime"),
)
FEDERATED_COLUMNS = (
    field("Name"),
    field("Issuer"),
    field("Subject"),
    field("Audiences"),
    field("Id"),
)


def register(subparsers: Subparsers) -> None:
    ad = add_group(subparsers, "ad", "Manage applications and service principals.")
    _register_app(add_group(ad, "app", "Manage applications."))
    _register_sp(add_group(ad, "sp", "Manage service principals."))


# --- applications ----------------------------------------------------------------------------


def _register_app(app: Subparsers) -> None:
    create = add_command(app, "create", _app_create, "Create an application.", columns=APP_COLUMNS)
    create.add_argument("--display-name", required=True, help="the application's name")
    _application_options(create)

    listing = add_command(app, "list", _app_list, "List applications.", columns=APP_COLUMNS)
    listing.add_argument("--display-name", help="only applications whose name starts so")
    listing.add_argument("--app-id", help="only the application with this appId")
    listing.add_argument("--identifier-uri", help="only the application with this URI")

    show = add_command(app, "show", _app_show, "Show an application.", columns=APP_COLUMNS)
    _id_option(show)

    update = add_command(app, "update", _app_update, "Update an application.")
    _id_option(update)
    update.add_argument("--display-name", help="a new name")
    _application_options(update)

    delete = add_command(app, "delete", _app_delete, "Delete an application.")
    _id_option(delete)

    _register_credential(add_group(app, "credential", "Manage secrets and certificates."))
    _register_federated(
        add_group(app, "federated-credential", "Manage federated identity credentials.")
    )


def _id_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--id", required=True, help="the application's appId, object id or identifier URI"
    )


def _application_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--identifier-uris", nargs="+", metavar="URI", help="space-separated api:// or https://"
    )
    parser.add_argument("--app-roles", metavar="JSON", help="a JSON array of app roles, or @file")
    parser.add_argument(
        "--requested-access-token-version",
        type=int,
        choices=(1, 2),
        help="the access token version the application's API accepts",
    )


def _application_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.display_name is not None:
        body["displayName"] = args.display_name
    if args.identifier_uris is not None:
        body["identifierUris"] = list(args.identifier_uris)
    if args.app_roles is not None:
        body["appRoles"] = _app_roles(read_json("--app-roles", args.app_roles))
    if args.requested_access_token_version is not None:
        body["api"] = {"requestedAccessTokenVersion": args.requested_access_token_version}
    return body


def _app_roles(document: Any) -> list[dict[str, Any]]:
    """az gives a role without an id a new GUID, and takes `"isEnabled": "true"` (the form
    of its documentation's example) for true."""
    if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
        raise CliError("--app-roles: expected a JSON array of objects.")
    roles = []
    for role in document:
        role = dict(role)
        role.setdefault("id", str(uuid.uuid4()))
        enabled = role.get("isEnabled", True)
        if isinstance(enabled, str):
            role["isEnabled"] = enabled.strip().lower() == "true"
        roles.append(role)
    return roles


def _app_create(args: argparse.Namespace, session: Session) -> Any:
    """As az: an application of the same name (and identifier URIs) is patched, not
    duplicated, so that a setup script can run twice."""
    client = session.client
    body = _application_body(args)
    existing = list_applications(client, f"displayName eq {odata_string(args.display_name)}")
    if args.identifier_uris:
        wanted = set(args.identifier_uris)
        existing = [a for a in existing if wanted <= set(a.get("identifierUris", []))]
    if len(existing) > 1:
        ids = ", ".join(a["id"] for a in existing)
        raise CliError(
            f"More than one application has the display name '{args.display_name}': "
            f"(id) {ids}; remove them first."
        )
    if existing:
        object_id = existing[0]["id"]
        warn(f"Found an existing application instance: (id) {object_id}. We will patch it.")
        client.graph("PATCH", f"/applications/{object_id}", body=body)
        return client.graph("GET", f"/applications/{object_id}")
    return client.graph("POST", "/applications", body=body)


def _app_list(args: argparse.Namespace, session: Session) -> Any:
    odata_filter = None
    if args.app_id is not None:
        odata_filter = f"appId eq {odata_string(args.app_id)}"
    apps = list_applications(session.client, odata_filter)
    if args.display_name is not None:
        # az filters with startswith(displayName, …), which the directory does not offer.
        apps = [a for a in apps if str(a.get("displayName", "")).startswith(args.display_name)]
    if args.identifier_uri is not None:
        apps = [a for a in apps if args.identifier_uri in a.get("identifierUris", [])]
    return apps


def _app_show(args: argparse.Namespace, session: Session) -> Any:
    return find_application(session.client, args.id)


def _app_update(args: argparse.Namespace, session: Session) -> Any:
    body = _application_body(args)
    if not body:
        raise CliError("Nothing to update: give at least one property to change.")
    app = find_application(session.client, args.id)
    session.client.graph("PATCH", f"/applications/{app['id']}", body=body)
    return None


def _app_delete(args: argparse.Namespace, session: Session) -> Any:
    app = find_application(session.client, args.id)
    session.client.graph("DELETE", f"/applications/{app['id']}")
    return None


# --- secrets and certificates ----------------------------------------------------------------


def _register_credential(credential: Subparsers) -> None:
    reset = add_command(
        credential,
        "reset",
        _credential_reset,
        "Reset an application's secret, or set its certificate.",
    )
    _id_option(reset)
    reset.add_argument(
        "--append",
        action="store_true",
        help="keep the existing credentials (without it, every secret is removed and a "
        "certificate replaces the others)",
    )
    reset.add_argument("--display-name", help="the credential's name")
    reset.add_argument(
        "--years",
        type=_years,
        default=DEFAULT_CREDENTIAL_YEARS,
        help=f"years the secret or created certificate is valid (default "
        f"{DEFAULT_CREDENTIAL_YEARS})",
    )
    kind = reset.add_mutually_exclusive_group()
    kind.add_argument(
        "--cert", metavar="CERT", help="a certificate: PEM text, or @file (PEM or DER)"
    )
    kind.add_argument(
        "--create-cert",
        action="store_true",
        help="create a self-signed certificate and write it with its key to a new file",
    )
    reset.add_argument(
        "--cert-file",
        metavar="PATH",
        help="with --create-cert, where to write the key and certificate (default ./<appId>.pem)",
    )

    listing = add_command(
        credential,
        "list",
        _credential_list,
        "List an application's secrets (their metadata) or certificates.",
        columns=CREDENTIAL_COLUMNS,
    )
    _id_option(listing)
    listing.add_argument("--cert", action="store_true", help="list certificates, not secrets")

    delete = add_command(
        credential, "delete", _credential_delete, "Delete a secret or a certificate."
    )
    _id_option(delete)
    delete.add_argument("--key-id", required=True, help="the credential's keyId")
    delete.add_argument("--cert", action="store_true", help="the keyId is a certificate's")


def _years(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= MAX_CREDENTIAL_YEARS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_CREDENTIAL_YEARS}")
    return value


def _years_after(start: dt.datetime, years: int) -> dt.datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def _credential_reset(args: argparse.Namespace, session: Session) -> Any:
    """az's `_reset_credential`: without --append every secret goes first (also when a
    certificate is set), then the new secret is added, or the certificates are replaced."""
    if args.cert_file is not None and not args.create_cert:
        raise CliError("--cert-file is only for --create-cert.")
    der = certificate_der(read_bytes("--cert", args.cert)) if args.cert is not None else None
    client = session.client
    app = find_application(client, args.id)
    if not args.append and app["appId"].lower() == session.profile.client_id.lower():
        warn(
            f"This removes the secret the profile '{session.profile_path}' signs in with; "
            "the next command needs the new one written into it."
        )
    written = None
    if args.create_cert:
        now = dt.datetime.now(dt.UTC)
        pair = self_signed_certificate(
            CREATED_CERTIFICATE_NAME, validity=_years_after(now, args.years) - now
        )
        der = pair.certificate.public_bytes(serialization.Encoding.DER)
        path = Path(args.cert_file) if args.cert_file else Path(f"{app['appId']}.pem")
        written = write_new_pem(path, pair)
    try:
        if not args.append:
            for credential in app.get("passwordCredentials", []):
                client.graph(
                    "POST",
                    f"/applications/{app['id']}/removePassword",
                    body={"keyId": credential["keyId"]},
                )
        if der is None:
            return _add_password(args, session, app)
        keys = [
            _key_credential(k["key"], k.get("displayName"))
            for k in (app.get("keyCredentials", []) if args.append else [])
        ]
        keys.append(_key_credential(base64.b64encode(der).decode("ascii"), args.display_name))
        _patch_keys(session, app, keys)
    except BaseException:
        if written is not None:
            # A private key whose certificate was not registered is of no use to anyone.
            written.unlink(missing_ok=True)
        raise
    result = {"appId": app["appId"], "tenant": session.tenant_id}
    if written is not None:
        result["fileWithCertAndPrivateKey"] = str(written)
    return result


def _add_password(args: argparse.Namespace, session: Session, app: dict[str, Any]) -> Any:
    end = _years_after(dt.datetime.now(dt.UTC), args.years)
    spec: dict[str, Any] = {"endDateTime": end.isoformat(timespec="seconds").replace("+00:00", "Z")}
    if args.display_name is not None:
        spec["displayName"] = args.display_name
    added = session.client.graph(
        "POST", f"/applications/{app['id']}/addPassword", body={"passwordCredential": spec}
    )
    # The one place a secret is printed, as az prints it: once, when it is made.
    return {"appId": app["appId"], "password": added["secretText"], "tenant": session.tenant_id}


def _key_credential(key: str, display_name: str | None) -> dict[str, Any]:
    credential = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": key}
    if display_name:
        credential["displayName"] = display_name
    return credential


def _patch_keys(session: Session, app: dict[str, Any], keys: list[dict[str, Any]]) -> None:
    # Graph's PATCH keyCredentials replaces the whole set.
    session.client.graph("PATCH", f"/applications/{app['id']}", body={"keyCredentials": keys})


def _credential_list(args: argparse.Namespace, session: Session) -> Any:
    app = find_application(session.client, args.id)
    if args.cert:
        return [{k: v for k, v in c.items() if k != "key"} for c in app["keyCredentials"]]
    return app["passwordCredentials"]


def _credential_delete(args: argparse.Namespace, session: Session) -> Any:
    client = session.client
    app = find_application(client, args.id)
    wanted = args.key_id.lower()
    if not args.cert:
        client.graph(
            "POST", f"/applications/{app['id']}/removePassword", body={"keyId": args.key_id}
        )
        return None
    kept = [k for k in app["keyCredentials"] if k["keyId"].lower() != wanted]
    if len(kept) == len(app["keyCredentials"]):
        raise CliError(f"The application has no certificate with keyId '{args.key_id}'.")
    _patch_keys(session, app, [_key_credential(k["key"], k.get("displayName")) for k in kept])
    return None


# --- federated identity credentials ----------------------------------------------------------


def _register_federated(federated: Subparsers) -> None:
    create = add_command(
        federated,
        "create",
        _federated_create,
        "Create a federated identity credential.",
        columns=FEDERATED_COLUMNS,
    )
    _id_option(create)
    create.add_argument(
        "--parameters",
        metavar="JSON",
        help="the credential as az takes it: JSON or @file with name, issuer, subject, "
        "audiences and description",
    )
    shorthand = create.add_argument_group("or, instead of --parameters")
    shorthand.add_argument("--name", help="the credential's name")
    shorthand.add_argument("--issuer", help="the external token's iss")
    shorthand.add_argument("--subject", help="the external token's sub")
    shorthand.add_argument(
        "--audiences", nargs="+", metavar="AUDIENCE", help="default api://AzureADTokenExchange"
    )
    shorthand.add_argument("--description")

    listing = add_command(
        federated,
        "list",
        _federated_list,
        "List an application's federated identity credentials.",
        columns=FEDERATED_COLUMNS,
    )
    _id_option(listing)

    show = add_command(
        federated,
        "show",
        _federated_show,
        "Show a federated identity credential.",
        columns=FEDERATED_COLUMNS,
    )
    _id_option(show)
    _federated_id_option(show)

    delete = add_command(
        federated, "delete", _federated_delete, "Delete a federated identity credential."
    )
    _id_option(delete)
    _federated_id_option(delete)


def _federated_id_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--federated-credential-id", required=True, help="the credential's id or name"
    )


# What az's documentation and the workload identity webhook use.
DEFAULT_FEDERATED_AUDIENCE = "api://AzureADTokenExchange"


def _federated_body(args: argparse.Namespace) -> dict[str, Any]:
    shorthand = {
        "name": args.name,
        "issuer": args.issuer,
        "subject": args.subject,
        "audiences": args.audiences,
        "description": args.description,
    }
    given = {k: v for k, v in shorthand.items() if v is not None}
    if args.parameters is not None:
        if given:
            raise CliError("Give either --parameters or --name/--issuer/--subject, not both.")
        return read_json_object("--parameters", args.parameters)
    missing = [f"--{k}" for k in ("name", "issuer", "subject") if k not in given]
    if missing:
        raise CliError(f"Give --parameters, or {', '.join(missing)}.")
    given.setdefault("audiences", [DEFAULT_FEDERATED_AUDIENCE])
    return given


def _federated_create(args: argparse.Namespace, session: Session) -> Any:
    body = _federated_body(args)
    app = find_application(session.client, args.id)
    return session.client.graph(
        "POST", f"/applications/{app['id']}/federatedIdentityCredentials", body=body
    )


def _federated_list(args: argparse.Namespace, session: Session) -> Any:
    app = find_application(session.client, args.id)
    found = session.client.graph("GET", f"/applications/{app['id']}/federatedIdentityCredentials")
    return found["value"]


def _federated_path(app: dict[str, Any], key: str) -> str:
    return f"/applications/{app['id']}/federatedIdentityCredentials/{quote(key, safe='')}"


def _federated_show(args: argparse.Namespace, session: Session) -> Any:
    app = find_application(session.client, args.id)
    return session.client.graph("GET", _federated_path(app, args.federated_credential_id))


def _federated_delete(args: argparse.Namespace, session: Session) -> Any:
    app = find_application(session.client, args.id)
    session.client.graph("DELETE", _federated_path(app, args.federated_credential_id))
    return None


# --- service principals ----------------------------------------------------------------------


def _register_sp(sp: Subparsers) -> None:
    create = add_command(
        sp,
        "create",
        _sp_create,
        "Create the service principal of an application.",
        columns=PRINCIPAL_COLUMNS,
    )
    create.add_argument("--id", required=True, help="the application's appId or identifier URI")

    show = add_command(sp, "show", _sp_show, "Show a service principal.", columns=PRINCIPAL_COLUMNS)
    show.add_argument("--id", required=True, help="the appId, or the principal's object id")

    listing = add_command(
        sp, "list", _sp_list, "List service principals.", columns=PRINCIPAL_COLUMNS
    )
    listing.add_argument("--filter", help="an OData filter: \"appId eq '…'\"")
    listing.add_argument("--display-name", help="only principals whose name starts so")
    listing.add_argument(
        "--all", action="store_true", help="accepted as az accepts it; every principal is listed"
    )

    delete = add_command(sp, "delete", _sp_delete, "Delete a service principal.")
    delete.add_argument("--id", required=True, help="the appId, or the principal's object id")


def _sp_create(args: argparse.Namespace, session: Session) -> Any:
    try:
        app_id = find_application(session.client, args.id)["appId"]
    except CliError:
        app_id = args.id  # as az: let the directory say whether the appId exists
    return session.client.graph("POST", "/servicePrincipals", body={"appId": app_id})


def _require_principal(session: Session, identifier: str) -> dict[str, Any]:
    found = find_service_principal(session.client, identifier)
    if found is None:
        raise CliError(f"Service principal '{identifier}' doesn't exist.")
    return found


def _sp_show(args: argparse.Namespace, session: Session) -> Any:
    return _require_principal(session, args.id)


def _sp_list(args: argparse.Namespace, session: Session) -> Any:
    params = {"$filter": args.filter} if args.filter else None
    found = list(session.client.graph("GET", "/servicePrincipals", params=params)["value"])
    if args.display_name is not None:
        found = [sp for sp in found if str(sp.get("displayName", "")).startswith(args.display_name)]
    return found


def _sp_delete(args: argparse.Namespace, session: Session) -> Any:
    principal = _require_principal(session, args.id)
    session.client.graph("DELETE", f"/servicePrincipals/{principal['id']}")
    return None
