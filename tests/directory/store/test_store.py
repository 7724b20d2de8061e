"""The directory store behaves the same on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tollhouse.directory import Conflict, NotFound
from tollhouse.directory._errors import BadRequest
from tollhouse.directory.federation import FederatedCredential
from tollhouse.directory.rbac import (
    DenyAssignment,
    Permission,
    RoleAssignment,
    parse_role_definition,
)
from tollhouse.directory.store import AppRole, DirectoryStore
from tollhouse.directory.tokens import new_signing_key, verify_secret
from tollhouse.pki import self_signed_certificate

NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DirectoryStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'directory.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    opened = DirectoryStore.open(url)
    yield opened
    opened.close()


@pytest.fixture
def tenant(store: DirectoryStore) -> str:
    return store.create_tenant("Contoso", ["contoso.example"], now=NOW).id


def fic(name: str, subject: str = "system:serviceaccount:ns:sa") -> FederatedCredential:
    return FederatedCredential(
        id=str(uuid.uuid4()),
        name=name,
        issuer="https://issuer.example/",
        subject=subject,
        audiences=("api://AzureADTokenExchange",),
        description="",
    )


def test_a_tenant_is_found_by_id_and_by_domain_in_any_case(
    store: DirectoryStore, tenant: str
) -> None:
    assert store.find_tenant(tenant) is not None
    found = store.find_tenant("CONTOSO.example")
    assert found is not None and found.id == tenant
    assert store.find_tenant("fabrikam.example") is None


def test_migrating_twice_is_harmless(store: DirectoryStore, tenant: str) -> None:
    from tollhouse.directory.store._migrate import migrate

    migrate(store.engine)
    assert store.find_tenant(tenant) is not None


def test_a_password_is_stored_hashed_and_shown_once(store: DirectoryStore, tenant: str) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    credential, secret = store.add_password(tenant, app.id, now=NOW)
    stored = store.get_application(tenant, object_id=app.id).password_credentials[0]
    assert stored.hint == secret[:3]
    assert secret not in stored.secret_hash
    assert verify_secret(secret, stored.secret_hash)
    assert not verify_secret(secret + "x", stored.secret_hash)
    assert stored.end == credential.end
    assert secret not in repr(stored)


def test_a_password_that_ends_in_the_past_is_refused(store: DirectoryStore, tenant: str) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    with pytest.raises(BadRequest):
        store.add_password(tenant, app.id, now=NOW, end=NOW - 1)


def test_key_credentials_record_both_thumbprints_and_validity(
    store: DirectoryStore, tenant: str
) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    pair = self_signed_certificate("cert")
    der = pair.certificate.public_bytes(serialization.Encoding.DER)
    updated = store.add_key_credentials(tenant, app.id, [(der, "mine")])
    key = updated.key_credentials[0]
    assert len(key.sha1) == 40 and len(key.sha256) == 64
    assert key.start == pair.certificate.not_valid_before_utc.timestamp()
    with pytest.raises(Conflict):
        store.add_key_credentials(tenant, app.id, [(der, "again")])
    replaced = store.add_key_credentials(
        tenant, app.id, [(der, "again")], replace=True
    ).key_credentials
    assert [k.display_name for k in replaced] == ["again"]


def test_a_garbage_certificate_is_refused(store: DirectoryStore, tenant: str) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    with pytest.raises(BadRequest):
        store.add_key_credentials(tenant, app.id, [(b"not a certificate", "x")])


def test_at_most_twenty_federated_credentials_per_app(store: DirectoryStore, tenant: str) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    for index in range(20):
        store.create_federated_credential(tenant, app.id, fic(f"fic-{index}", f"s{index}"))
    with pytest.raises(BadRequest):
        store.create_federated_credential(tenant, app.id, fic("fic-20", "s20"))


def test_federated_credential_names_and_issuer_subject_pairs_are_unique(
    store: DirectoryStore, tenant: str
) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    store.create_federated_credential(tenant, app.id, fic("one"))
    with pytest.raises(Conflict):
        store.create_federated_credential(tenant, app.id, fic("one", "other"))
    with pytest.raises(Conflict):
        store.create_federated_credential(tenant, app.id, fic("two"))
    store.delete_federated_credential(tenant, app.id, "one")
    assert store.list_federated_credentials(tenant, app.id) == []


def test_deleting_an_application_removes_its_principal_and_grants(
    store: DirectoryStore, tenant: str
) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    sp = store.create_service_principal(tenant, app.app_id, now=NOW)
    store.create_role_assignment(
        tenant,
        RoleAssignment(
            str(uuid.uuid4()), "/subscriptions/s", sp.id, "acdd72a7-3385-48ef-bd42-f606fba81ae7"
        ),
        now=NOW,
    )
    store.delete_application(tenant, app.id)
    with pytest.raises(NotFound):
        store.get_service_principal(tenant, principal_id=sp.id)
    assert store.list_role_assignments(tenant) == []


def test_one_service_principal_per_application(store: DirectoryStore, tenant: str) -> None:
    app = store.create_application(tenant, "app", now=NOW)
    store.create_service_principal(tenant, app.app_id, now=NOW)
    with pytest.raises(Conflict):
        store.create_service_principal(tenant, app.app_id, now=NOW)


def test_objects_of_another_tenant_are_not_visible(store: DirectoryStore, tenant: str) -> None:
    other = store.create_tenant("Fabrikam", ["fabrikam.example"], now=NOW).id
    app = store.create_application(tenant, "app", now=NOW)
    with pytest.raises(NotFound):
        store.get_application(other, object_id=app.id)
    assert store.client_record(other, app.app_id) is None


def test_identifier_uris_are_unique_in_a_tenant(store: DirectoryStore, tenant: str) -> None:
    store.create_application(tenant, "a", identifier_uris=["api://thing"], now=NOW)
    with pytest.raises(Conflict):
        store.create_application(tenant, "b", identifier_uris=["api://thing/"], now=NOW)
    found = store.find_resource_application(tenant, "API://THING")
    assert found is not None and found.display_name == "a"


def test_app_roles_are_assigned_to_principals(store: DirectoryStore, tenant: str) -> None:
    role = AppRole(id=str(uuid.uuid4()), value="Gateway.Read")
    api = store.create_application(tenant, "api", app_roles=[role], now=NOW)
    client = store.create_application(tenant, "client", now=NOW)
    sp = store.create_service_principal(tenant, client.app_id, now=NOW)
    store.assign_app_role(sp.id, api.app_id, role)
    assert store.app_roles_for(sp.id, api.app_id) == ["Gateway.Read"]
    with pytest.raises(Conflict):
        store.assign_app_role(sp.id, api.app_id, role)


def test_role_definitions_round_trip_and_names_are_unique(
    store: DirectoryStore, tenant: str
) -> None:
    definition = parse_role_definition(
        {
            "Name": "Reader of gateways",
            "IsCustom": True,
            "Actions": ["Microsoft.ApiManagement/service/gateways/read"],
            "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000001"],
        }
    )
    store.put_role_definition(tenant, definition)
    assert store.list_role_definitions(tenant) == [definition]
    clash = parse_role_definition(
        {
            "Name": "READER OF GATEWAYS",
            "IsCustom": True,
            "Actions": ["*/read"],
            "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000001"],
        }
    )
    with pytest.raises(Conflict):
        store.put_role_definition(tenant, clash)


def test_a_role_in_use_cannot_be_deleted(store: DirectoryStore, tenant: str) -> None:
    definition = parse_role_definition(
        {
            "Name": "r",
            "IsCustom": True,
            "Actions": ["*/read"],
            "AssignableScopes": ["/subscriptions/s"],
        }
    )
    store.put_role_definition(tenant, definition)
    assignment = RoleAssignment(
        str(uuid.uuid4()), "/subscriptions/s", str(uuid.uuid4()), definition.id
    )
    store.create_role_assignment(tenant, assignment, now=NOW)
    with pytest.raises(Conflict):
        store.delete_role_definition(tenant, definition.id)
    store.delete_role_assignment(tenant, assignment.id)
    store.delete_role_definition(tenant, definition.id)
    assert store.list_role_definitions(tenant) == []


def test_the_same_assignment_twice_is_a_conflict(store: DirectoryStore, tenant: str) -> None:
    principal, role = str(uuid.uuid4()), "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    store.create_role_assignment(
        tenant, RoleAssignment(str(uuid.uuid4()), "/subscriptions/s", principal, role), now=NOW
    )
    with pytest.raises(Conflict):
        store.create_role_assignment(
            tenant, RoleAssignment(str(uuid.uuid4()), "/SUBSCRIPTIONS/s", principal, role), now=NOW
        )


def test_deny_assignments_round_trip(store: DirectoryStore, tenant: str) -> None:
    deny = DenyAssignment(
        id=str(uuid.uuid4()),
        name="no writes",
        scope="/subscriptions/s",
        permissions=(Permission(actions=("*/write",), not_actions=("x/write",)),),
        principals=("00000000-0000-0000-0000-000000000000",),
        exclude_principals=(str(uuid.uuid4()),),
        do_not_apply_to_child_scopes=True,
    )
    store.put_deny_assignment(tenant, deny)
    assert store.list_deny_assignments(tenant) == [deny]


def test_signing_keys_are_saved_and_retired_ones_forgotten(store: DirectoryStore) -> None:
    old = new_signing_key(NOW)
    store.save_signing_keys([old], drop_before=NOW)
    assert [k.kid for k in store.load_signing_keys()] == [old.kid]
    from dataclasses import replace

    new = new_signing_key(NOW + 10)
    store.save_signing_keys([replace(old, retire_at=NOW + 100), new], drop_before=NOW + 50)
    assert {k.kid for k in store.load_signing_keys()} == {old.kid, new.kid}
    store.save_signing_keys([], drop_before=NOW + 200)
    assert [k.kid for k in store.load_signing_keys()] == [new.kid]
