"""`tollhouse ad`: applications, secrets, certificates, federated credentials, principals."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.cli.conftest import Tollhouse, unique
from tests.conftest import RunningDirectory
from tollhouse.pki import certificate_thumbprints, self_signed_certificate

ARM_SCOPE = "https://management.azure.com/.default"


def new_app(tollhouse: Tollhouse, *extra: str, principal: bool = True) -> dict[str, Any]:
    app: dict[str, Any] = tollhouse(
        "ad", "app", "create", "--display-name", unique("app"), *extra
    ).json()
    if principal:
        tollhouse("ad", "sp", "create", "--id", app["appId"]).json()
    return app


def show(tollhouse: Tollhouse, app_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = tollhouse("ad", "app", "show", "--id", app_id).json()
    return shown


def secret_signs_in(directory: RunningDirectory, app_id: str, secret: str) -> bool:
    credential = ClientSecretCredential(
        directory.tenant_id,
        app_id,
        secret,
        authority=directory.url,
        disable_instance_discovery=True,
        connection_verify=directory.ca_bundle,
    )
    try:
        credential.get_token(ARM_SCOPE)
    except ClientAuthenticationError:
        return False
    return True


# --- applications ----------------------------------------------------------------------------


def test_an_app_is_shown_by_app_id_object_id_or_identifier_uri(tollhouse: Tollhouse) -> None:
    uri = f"api://{unique('uri')}"
    app = new_app(tollhouse, "--identifier-uris", uri, principal=False)
    for identifier in (app["appId"], app["id"], uri):
        assert show(tollhouse, identifier)["id"] == app["id"]


def test_an_unknown_app_is_a_clear_error(tollhouse: Tollhouse) -> None:
    missing = tollhouse("ad", "app", "show", "--id", "api://no-such-app")
    assert missing.status == 1
    assert missing.out == ""
    assert missing.err == (
        "ERROR: No application has the appId, object id or identifier URI 'api://no-such-app'.\n"
    )
    by_guid = tollhouse("ad", "app", "show", "--id", "00000000-0000-0000-0000-0000000000aa")
    assert by_guid.status == 1
    assert by_guid.err.startswith("ERROR: ")


def test_creating_an_app_whose_name_exists_patches_it_as_az_does(tollhouse: Tollhouse) -> None:
    name = unique("twice")
    first = tollhouse("ad", "app", "create", "--display-name", name).json()
    again = tollhouse(
        "ad", "app", "create", "--display-name", name, "--requested-access-token-version", "2"
    )
    assert again.json()["id"] == first["id"]
    assert again.json()["api"]["requestedAccessTokenVersion"] == 2
    assert f"Found an existing application instance: (id) {first['id']}" in again.err
    listed = tollhouse("ad", "app", "list", "--display-name", name).json()
    assert [a["id"] for a in listed] == [first["id"]]
    # With identifier URIs, only an app that has them all is the same app.
    other = tollhouse(
        "ad", "app", "create", "--display-name", name, "--identifier-uris", f"api://{name}"
    ).json()
    assert other["id"] != first["id"]


def test_app_roles_without_ids_get_new_ones(tollhouse: Tollhouse, tmp_path: Path) -> None:
    (tmp_path / "roles.json").write_text(
        '[{"allowedMemberTypes": ["Application"], "description": "Reads", '
        '"displayName": "Reader", "isEnabled": "true", "value": "Data.Read"}]'
    )
    app = new_app(tollhouse, "--app-roles", f"@{tmp_path / 'roles.json'}", principal=False)
    [role] = app["appRoles"]
    assert role["value"] == "Data.Read"
    assert role["isEnabled"] is True
    assert len(role["id"]) == 36


def test_an_app_is_updated_and_deleted(tollhouse: Tollhouse) -> None:
    app = new_app(tollhouse, principal=False)
    renamed = unique("renamed")
    assert (
        tollhouse("ad", "app", "update", "--id", app["appId"], "--display-name", renamed).out == ""
    )
    assert show(tollhouse, app["appId"])["displayName"] == renamed
    deleted = tollhouse("ad", "app", "delete", "--id", app["appId"])
    assert (deleted.status, deleted.out) == (0, "")
    assert tollhouse("ad", "app", "show", "--id", app["appId"]).status == 1


def test_table_output_has_headers_and_one_row_per_app(tollhouse: Tollhouse) -> None:
    prefix = unique("table")
    for suffix in ("a", "b"):
        tollhouse("ad", "app", "create", "--display-name", f"{prefix}-{suffix}").json()
    table = tollhouse("ad", "app", "list", "--display-name", prefix, "-o", "table")
    assert table.status == 0, table.err
    header, rule, *rows = table.out.splitlines()
    assert header.split() == ["DisplayName", "AppId", "Id", "CreatedDateTime"]
    assert set(rule) == {"-", " "}
    assert [row.split()[0] for row in rows] == [f"{prefix}-a", f"{prefix}-b"]
    # The global option may also come first, as in az.
    first = tollhouse("-o", "table", "ad", "app", "list", "--display-name", prefix)
    assert first.out == table.out


# --- secrets -----------------------------------------------------------------------------------


def test_a_reset_without_append_replaces_the_secrets(
    tollhouse: Tollhouse, directory_server: RunningDirectory
) -> None:
    app = new_app(tollhouse)
    old = tollhouse("ad", "app", "credential", "reset", "--id", app["appId"]).json()["password"]
    kept = tollhouse(
        "ad", "app", "credential", "reset", "--id", app["appId"], "--append",
        "--display-name", "second", "--years", "2",
    ).json()["password"]  # fmt: skip
    assert len(show(tollhouse, app["appId"])["passwordCredentials"]) == 2
    assert secret_signs_in(directory_server, app["appId"], old)
    assert secret_signs_in(directory_server, app["appId"], kept)

    new = tollhouse("ad", "app", "credential", "reset", "--id", app["appId"]).json()["password"]
    assert len(show(tollhouse, app["appId"])["passwordCredentials"]) == 1
    assert not secret_signs_in(directory_server, app["appId"], old)
    assert not secret_signs_in(directory_server, app["appId"], kept)
    assert secret_signs_in(directory_server, app["appId"], new)


def test_the_secret_is_not_in_the_output_of_app_show(tollhouse: Tollhouse) -> None:
    app = new_app(tollhouse, principal=False)
    password = tollhouse("ad", "app", "credential", "reset", "--id", app["appId"]).json()[
        "password"
    ]
    for output in ("json", "table"):
        shown = tollhouse("ad", "app", "show", "--id", app["appId"], "-o", output)
        assert shown.status == 0
        assert password not in shown.out + shown.err
    [credential] = show(tollhouse, app["appId"])["passwordCredentials"]
    assert credential["secretText"] is None
    listed = tollhouse("ad", "app", "credential", "list", "--id", app["appId"])
    assert password not in listed.out


def test_a_secret_is_deleted_by_its_key_id(tollhouse: Tollhouse) -> None:
    app = new_app(tollhouse, principal=False)
    tollhouse("ad", "app", "credential", "reset", "--id", app["appId"]).json()
    [credential] = tollhouse("ad", "app", "credential", "list", "--id", app["appId"]).json()
    deleted = tollhouse(
        "ad", "app", "credential", "delete", "--id", app["appId"], "--key-id", credential["keyId"]
    )
    assert (deleted.status, deleted.out) == (0, "")
    assert tollhouse("ad", "app", "credential", "list", "--id", app["appId"]).json() == []


# --- certificates ------------------------------------------------------------------------------


def uploaded_keys(tollhouse: Tollhouse, app_id: str) -> list[bytes]:
    return [base64.b64decode(k["key"]) for k in show(tollhouse, app_id)["keyCredentials"]]


def test_create_cert_writes_a_usable_pem(
    tollhouse: Tollhouse,
    directory_server: RunningDirectory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = new_app(tollhouse)
    tollhouse("ad", "app", "credential", "reset", "--id", app["appId"]).json()
    created = tollhouse("ad", "app", "credential", "reset", "--id", app["appId"], "--create-cert")
    result = created.json()
    assert set(result) == {"appId", "fileWithCertAndPrivateKey", "tenant"}
    pem = Path(result["fileWithCertAndPrivateKey"])
    assert pem == tmp_path / f"{app['appId']}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    data = pem.read_bytes()
    assert b"PRIVATE KEY" in data
    assert b"PRIVATE KEY" not in created.out.encode()
    der = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    shown = show(tollhouse, app["appId"])
    assert [k["customKeyIdentifier"] for k in shown["keyCredentials"]] == [
        certificate_thumbprints(der)[0]
    ]
    assert shown["passwordCredentials"] == []  # az: a reset without --append drops secrets

    credential = CertificateCredential(
        directory_server.tenant_id,
        app["appId"],
        str(pem),
        authority=directory_server.url,
        disable_instance_discovery=True,
        connection_verify=directory_server.ca_bundle,
    )
    assert credential.get_token(ARM_SCOPE).token.count(".") == 2

    # The file is never overwritten, and nothing changes when it cannot be written.
    again = tollhouse("ad", "app", "credential", "reset", "--id", app["appId"], "--create-cert")
    assert again.status == 1
    assert "already exists" in again.err
    assert pem.read_bytes() == data
    assert uploaded_keys(tollhouse, app["appId"]) == [der]


def test_create_cert_writes_where_cert_file_says(tollhouse: Tollhouse, tmp_path: Path) -> None:
    app = new_app(tollhouse, principal=False)
    target = tmp_path / "gateway.pem"
    result = tollhouse(
        "ad", "app", "credential", "reset", "--id", app["appId"], "--create-cert",
        "--cert-file", str(target),
    ).json()  # fmt: skip
    assert result["fileWithCertAndPrivateKey"] == str(target)
    assert target.exists()


def test_a_certificate_replaces_the_others_unless_appended(
    tollhouse: Tollhouse, tmp_path: Path
) -> None:
    app = new_app(tollhouse, principal=False)
    first, second, third = (self_signed_certificate(f"cert-{n}") for n in range(3))

    def der(pair: Any) -> bytes:
        return bytes(pair.certificate.public_bytes(serialization.Encoding.DER))

    # A PEM file holding the private key beside the certificate: the key is never sent.
    (tmp_path / "first.pem").write_bytes(first.combined_pem)
    result = tollhouse(
        "ad", "app", "credential", "reset", "--id", app["appId"], "--cert",
        f"@{tmp_path / 'first.pem'}",
    ).json()  # fmt: skip
    assert set(result) == {"appId", "tenant"}
    assert uploaded_keys(tollhouse, app["appId"]) == [der(first)]

    # PEM text, appended.
    tollhouse(
        "ad", "app", "credential", "reset", "--id", app["appId"], "--append",
        "--cert", second.certificate_pem.decode(),
    ).json()  # fmt: skip
    assert uploaded_keys(tollhouse, app["appId"]) == [der(first), der(second)]

    # A DER file, replacing both.
    (tmp_path / "third.cer").write_bytes(der(third))
    tollhouse(
        "ad", "app", "credential", "reset", "--id", app["appId"], "--cert",
        f"@{tmp_path / 'third.cer'}",
    ).json()  # fmt: skip
    assert uploaded_keys(tollhouse, app["appId"]) == [der(third)]


def test_a_file_without_a_certificate_is_refused_before_anything_changes(
    tollhouse: Tollhouse, tmp_path: Path
) -> None:
    app = new_app(tollhouse, principal=False)
    (tmp_path / "key.pem").write_bytes(self_signed_certificate("k").private_key_pem)
    refused = tollhouse(
        "ad", "app", "credential", "reset", "--id", app["appId"], "--cert",
        f"@{tmp_path / 'key.pem'}",
    )  # fmt: skip
    assert refused.status == 1
    assert refused.err.startswith("ERROR: --cert: not an X.509 certificate")
    assert "PRIVATE KEY" not in refused.err


def test_cert_and_create_cert_together_are_a_usage_error(tollhouse: Tollhouse) -> None:
    both = tollhouse(
        "ad", "app", "credential", "reset", "--id", "x", "--cert", "y", "--create-cert"
    )
    assert both.status == 2
    assert "not allowed with argument" in both.err


# --- federated identity credentials -----------------------------------------------------------


def test_a_federated_credential_is_shown_and_deleted_by_name(tollhouse: Tollhouse) -> None:
    app = new_app(tollhouse, principal=False)
    created = tollhouse(
        "ad", "app", "federated-credential", "create", "--id", app["id"],
        "--name", "sa-token", "--issuer", "https://issuer.example",
        "--subject", "system:serviceaccount:ns:sa",
    ).json()  # fmt: skip
    assert created["audiences"] == ["api://AzureADTokenExchange"]
    shown = tollhouse(
        "ad", "app", "federated-credential", "show", "--id", app["appId"],
        "--federated-credential-id", "sa-token",
    ).json()  # fmt: skip
    assert shown["id"] == created["id"]
    deleted = tollhouse(
        "ad", "app", "federated-credential", "delete", "--id", app["appId"],
        "--federated-credential-id", "sa-token",
    )  # fmt: skip
    assert (deleted.status, deleted.out) == (0, "")
    assert tollhouse("ad", "app", "federated-credential", "list", "--id", app["appId"]).json() == []


def test_a_bad_federated_credential_reports_the_directory_message(tollhouse: Tollhouse) -> None:
    app = new_app(tollhouse, principal=False)
    refused = tollhouse(
        "ad", "app", "federated-credential", "create", "--id", app["appId"],
        "--parameters", '{"name": "x", "issuer": "https://i", "subject": "s"}',
    )  # fmt: skip
    assert refused.status == 1
    assert refused.err.startswith("ERROR: ")
    assert "name" in refused.err


# --- service principals -----------------------------------------------------------------------


def test_a_principal_is_shown_by_app_id_or_object_id(tollhouse: Tollhouse) -> None:
    app = new_app(tollhouse, principal=False)
    sp = tollhouse("ad", "sp", "create", "--id", app["appId"]).json()
    for identifier in (app["appId"], sp["id"]):
        assert tollhouse("ad", "sp", "show", "--id", identifier).json()["id"] == sp["id"]
    listed = tollhouse("ad", "sp", "list", "--filter", f"appId eq '{app['appId']}'").json()
    assert [p["id"] for p in listed] == [sp["id"]]
    missing = tollhouse("ad", "sp", "show", "--id", "00000000-0000-0000-0000-0000000000bb")
    assert (missing.status, missing.err) == (
        1,
        "ERROR: Service principal '00000000-0000-0000-0000-0000000000bb' doesn't exist.\n",
    )


def test_credential_options_are_checked_before_anything_is_sent(
    tollhouse: Tollhouse, tmp_path: Path
) -> None:
    for years in ("0", "101", "x"):
        refused = tollhouse("ad", "app", "credential", "reset", "--id", "x", "--years", years)
        assert refused.status == 2
        assert "--years" in refused.err
    stray = tollhouse(
        "ad", "app", "credential", "reset", "--id", "x", "--cert-file", str(tmp_path / "f.pem")
    )
    assert (stray.status, stray.err) == (1, "ERROR: --cert-file is only for --create-cert.\n")
