"""The directory's persistence: one class, sync SQLAlchemy Core, frozen values out.

SQLite by default (WAL, foreign keys on), PostgreSQL for real deployments; the same code and
the same Alembic migrations serve both. Every method is one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from tollhouse.directory._errors import BadRequest, Conflict, NotFound
from tollhouse.directory.federation import (
    MAX_FEDERATED_CREDENTIALS_PER_APP,
    FederatedCredential,
)
from tollhouse.directory.rbac import (
    DenyAssignment,
    Permission,
    RoleAssignment,
    RoleDefinition,
    parse_role_definition,
    role_definition_to_arm,
)
from tollhouse.directory.store import _schema as t
from tollhouse.directory.store._migrate import migrate
from tollhouse.directory.store._records import (
    Application,
    AppRole,
    AppRoleAssignment,
    ClientRecord,
    KeyCredential,
    PasswordCredential,
    ServicePrincipal,
    Tenant,
)
from tollhouse.directory.tokens import SigningKey, generate_secret, hash_secret, secret_hint
from tollhouse.pki import certificate_thumbprints
from tollhouse.storage import create_store_engine

# Entra's default lifetime for a new client secret (`az ad app credential reset`): one year.
DEFAULT_SECRET_LIFETIME_SECONDS = 365 * 24 * 3600
# Entra allows at most 5000 custom roles per tenant (entra.md §7.1).
MAX_CUSTOM_ROLES_PER_TENANT = 5000


def _guid() -> str:
    return str(uuid.uuid4())


def _loads_list(text: str) -> list[Any]:
    value = json.loads(text)
    return value if isinstance(value, list) else []


class DirectoryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> DirectoryStore:
        engine = create_store_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- tenants ---------------------------------------------------------------------------

    def create_tenant(
        self,
        display_name: str,
        domains: Sequence[str],
        *,
        tenant_id: str | None = None,
        now: float,
    ) -> Tenant:
        tenant_id = tenant_id or _guid()
        names = tuple(d.lower() for d in domains)
        with self.engine.begin() as conn:
            try:
                conn.execute(
                    insert(t.tenants).values(
                        id=tenant_id, display_name=display_name, created_at=now
                    )
                )
                for name in names:
                    conn.execute(insert(t.tenant_domains).values(name=name, tenant_id=tenant_id))
            except IntegrityError as exc:
                raise Conflict("A tenant with this id or domain exists.") from exc
        return Tenant(tenant_id, display_name, names)

    def _tenant(self, conn: Connection, tenant_id: str) -> Tenant | None:
        row = conn.execute(select(t.tenants).where(t.tenants.c.id == tenant_id)).first()
        if row is None:
            return None
        domains = conn.execute(
            select(t.tenant_domains.c.name)
            .where(t.tenant_domains.c.tenant_id == tenant_id)
            .order_by(t.tenant_domains.c.name)
        ).scalars()
        return Tenant(row.id, row.display_name, tuple(domains))

    def find_tenant(self, id_or_domain: str) -> Tenant | None:
        """A tenant by GUID or by one of its domain names (case-insensitive)."""
        key = id_or_domain.lower()
        with self.engine.connect() as conn:
            tenant = self._tenant(conn, key)
            if tenant is not None:
                return tenant
            tenant_id = conn.execute(
                select(t.tenant_domains.c.tenant_id).where(t.tenant_domains.c.name == key)
            ).scalar()
            return self._tenant(conn, tenant_id) if tenant_id else None

    def list_tenants(self) -> list[Tenant]:
        with self.engine.connect() as conn:
            ids = conn.execute(select(t.tenants.c.id).order_by(t.tenants.c.created_at)).scalars()
            return [tenant for i in list(ids) if (tenant := self._tenant(conn, i))]

    # --- applications ----------------------------------------------------------------------

    def _application(self, conn: Connection, row: Any) -> Application:
        passwords = conn.execute(
            select(t.password_credentials)
            .where(t.password_credentials.c.application_id == row.id)
            .order_by(t.password_credentials.c.start)
        ).all()
        keys = conn.execute(
            select(t.key_credentials)
            .where(t.key_credentials.c.application_id == row.id)
            .order_by(t.key_credentials.c.start)
        ).all()
        return Application(
            id=row.id,
            app_id=row.app_id,
            tenant_id=row.tenant_id,
            display_name=row.display_name,
            identifier_uris=tuple(_loads_list(row.identifier_uris)),
            app_roles=tuple(AppRole(**r) for r in _loads_list(row.app_roles)),
            token_version=row.token_version,
            created_at=row.created_at,
            password_credentials=tuple(
                PasswordCredential(
                    key_id=p.key_id,
                    display_name=p.display_name,
                    hint=p.hint,
                    start=p.start,
                    end=p.end,
                    secret_hash=p.secret_hash,
                )
                for p in passwords
            ),
            key_credentials=tuple(
                KeyCredential(
                    key_id=k.key_id,
                    display_name=k.display_name,
                    certificate_der=k.certificate_der,
                    sha1=k.sha1,
                    sha256=k.sha256,
                    start=k.start,
                    end=k.end,
                )
                for k in keys
            ),
        )

    @staticmethod
    def _roles_json(roles: Iterable[AppRole]) -> str:
        return json.dumps(
            [
                {
                    "id": r.id,
                    "value": r.value,
                    "display_name": r.display_name,
                    "description": r.description,
                    "allowed_member_types": list(r.allowed_member_types),
                    "is_enabled": r.is_enabled,
                }
                for r in roles
            ]
        )

    def _check_identifier_uris(
        self, conn: Connection, tenant_id: str, uris: Sequence[str], except_id: str | None
    ) -> None:
        # Identifier URIs are unique in a tenant: they name the resource in `scope`.
        wanted = {u.rstrip("/").lower() for u in uris}
        rows = conn.execute(
            select(t.applications.c.id, t.applications.c.identifier_uris).where(
                t.applications.c.tenant_id == tenant_id
            )
        ).all()
        for row in rows:
            if row.id == except_id:
                continue
            taken = {u.rstrip("/").lower() for u in _loads_list(row.identifier_uris)}
            if wanted & taken:
                raise Conflict(
                    "Another application in this tenant uses one of these identifierUris.",
                    "IdentifierUriConflict",
                )

    def create_application(
        self,
        tenant_id: str,
        display_name: str,
        *,
        identifier_uris: Sequence[str] = (),
        app_roles: Sequence[AppRole] = (),
        token_version: int | None = None,
        app_id: str | None = None,
        now: float,
    ) -> Application:
        object_id, app_id = _guid(), app_id or _guid()
        with self.engine.begin() as conn:
            self._check_identifier_uris(conn, tenant_id, identifier_uris, None)
            conn.execute(
                insert(t.applications).values(
                    id=object_id,
                    app_id=app_id,
                    tenant_id=tenant_id,
                    display_name=display_name,
                    identifier_uris=json.dumps(list(identifier_uris)),
                    app_roles=self._roles_json(app_roles),
                    token_version=token_version,
                    created_at=now,
                )
            )
            row = conn.execute(select(t.applications).where(t.applications.c.id == object_id)).one()
            return self._application(conn, row)

    def _application_row(
        self, conn: Connection, tenant_id: str, object_id: str | None, app_id: str | None
    ) -> Any:
        query = select(t.applications).where(t.applications.c.tenant_id == tenant_id)
        if object_id is not None:
            query = query.where(t.applications.c.id == object_id.lower())
        if app_id is not None:
            query = query.where(t.applications.c.app_id == app_id.lower())
        row = conn.execute(query).first()
        if row is None:
            which = object_id or app_id or ""
            raise NotFound(
                f"Resource '{which}' does not exist or one of its queried reference-property "
                "objects are not present.",
                "Request_ResourceNotFound",
            )
        return row

    def get_application(
        self, tenant_id: str, *, object_id: str | None = None, app_id: str | None = None
    ) -> Application:
        with self.engine.connect() as conn:
            return self._application(
                conn, self._application_row(conn, tenant_id, object_id, app_id)
            )

    def list_applications(
        self, tenant_id: str, *, app_id: str | None = None, display_name: str | None = None
    ) -> list[Application]:
        query = (
            select(t.applications)
            .where(t.applications.c.tenant_id == tenant_id)
            .order_by(t.applications.c.created_at)
        )
        if app_id is not None:
            query = query.where(t.applications.c.app_id == app_id.lower())
        if display_name is not None:
            query = query.where(t.applications.c.display_name == display_name)
        with self.engine.connect() as conn:
            return [self._application(conn, row) for row in conn.execute(query).all()]

    def update_application(
        self,
        tenant_id: str,
        object_id: str,
        *,
        display_name: str | None = None,
        identifier_uris: Sequence[str] | None = None,
        app_roles: Sequence[AppRole] | None = None,
        token_version: int | None = None,
    ) -> Application:
        values: dict[str, Any] = {}
        if display_name is not None:
            values["display_name"] = display_name
        if identifier_uris is not None:
            values["identifier_uris"] = json.dumps(list(identifier_uris))
        if app_roles is not None:
            values["app_roles"] = self._roles_json(app_roles)
        if token_version is not None:
            values["token_version"] = token_version
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            if identifier_uris is not None:
                self._check_identifier_uris(conn, tenant_id, identifier_uris, row.id)
            if values:
                conn.execute(
                    sql_update(t.applications).where(t.applications.c.id == row.id).values(values)
                )
            row = conn.execute(select(t.applications).where(t.applications.c.id == row.id)).one()
            return self._application(conn, row)

    def delete_application(self, tenant_id: str, object_id: str) -> None:
        """Deletes the application with its credentials and its service principal."""
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            sp_ids = conn.execute(
                select(t.service_principals.c.id).where(t.service_principals.c.app_id == row.app_id)
            ).scalars()
            for sp_id in list(sp_ids):
                self._delete_principal_grants(conn, tenant_id, sp_id)
            conn.execute(
                delete(t.service_principals).where(t.service_principals.c.app_id == row.app_id)
            )
            for table in (t.password_credentials, t.key_credentials, t.federated_credentials):
                conn.execute(delete(table).where(table.c.application_id == row.id))
            conn.execute(delete(t.applications).where(t.applications.c.id == row.id))

    # --- password credentials --------------------------------------------------------------

    def add_password(
        self,
        tenant_id: str,
        object_id: str,
        *,
        display_name: str = "",
        end: float | None = None,
        now: float,
    ) -> tuple[PasswordCredential, str]:
        """A new secret; its text is returned here and never again."""
        secret = generate_secret()
        credential = PasswordCredential(
            key_id=_guid(),
            display_name=display_name,
            hint=secret_hint(secret),
            start=now,
            end=end if end is not None else now + DEFAULT_SECRET_LIFETIME_SECONDS,
            secret_hash=hash_secret(secret),
        )
        if credential.end <= now:
            raise BadRequest("endDateTime must be in the future.", "InvalidEndDateTime")
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            conn.execute(
                insert(t.password_credentials).values(
                    key_id=credential.key_id,
                    application_id=row.id,
                    display_name=display_name,
                    hint=credential.hint,
                    secret_hash=credential.secret_hash,
                    start=credential.start,
                    end=credential.end,
                )
            )
        return credential, secret

    def remove_password(self, tenant_id: str, object_id: str, key_id: str) -> None:
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            deleted = conn.execute(
                delete(t.password_credentials).where(
                    t.password_credentials.c.application_id == row.id,
                    t.password_credentials.c.key_id == key_id.lower(),
                )
            ).rowcount
            if not deleted:
                raise NotFound(f"No password credential with keyId '{key_id}'.")

    # --- key credentials -------------------------------------------------------------------

    @staticmethod
    def _key_values(der: bytes, display_name: str) -> dict[str, Any]:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise BadRequest("The key is not a DER X.509 certificate.", "InvalidKey") from exc
        sha1, sha256 = certificate_thumbprints(der)
        return {
            "key_id": _guid(),
            "display_name": display_name or cert.subject.rfc4514_string()[:256],
            "certificate_der": der,
            "sha1": sha1,
            "sha256": sha256,
            "start": cert.not_valid_before_utc.timestamp(),
            "end": cert.not_valid_after_utc.timestamp(),
        }

    def add_key_credentials(
        self,
        tenant_id: str,
        object_id: str,
        certificates: Sequence[tuple[bytes, str]],
        *,
        replace: bool = False,
    ) -> Application:
        """Adds certificates (DER, display name); `replace` drops the existing ones first, as
        Graph's `PATCH keyCredentials` does."""
        values = [self._key_values(der, name) for der, name in certificates]
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            if replace:
                conn.execute(
                    delete(t.key_credentials).where(t.key_credentials.c.application_id == row.id)
                )
            existing = set(
                conn.execute(
                    select(t.key_credentials.c.sha256).where(
                        t.key_credentials.c.application_id == row.id
                    )
                ).scalars()
            )
            for value in values:
                if value["sha256"] in existing:
                    raise Conflict("This certificate is already a key credential of the app.")
                existing.add(value["sha256"])
                conn.execute(insert(t.key_credentials).values(application_id=row.id, **value))
            return self._application(conn, row)

    def remove_key_credential(self, tenant_id: str, object_id: str, key_id: str) -> None:
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            deleted = conn.execute(
                delete(t.key_credentials).where(
                    t.key_credentials.c.application_id == row.id,
                    t.key_credentials.c.key_id == key_id.lower(),
                )
            ).rowcount
            if not deleted:
                raise NotFound(f"No key credential with keyId '{key_id}'.")

    # --- federated identity credentials ----------------------------------------------------

    @staticmethod
    def _federated(row: Any) -> FederatedCredential:
        return FederatedCredential(
            id=row.id,
            name=row.name,
            issuer=row.issuer,
            subject=row.subject,
            audiences=tuple(_loads_list(row.audiences)),
            description=row.description,
        )

    def create_federated_credential(
        self, tenant_id: str, object_id: str, credential: FederatedCredential
    ) -> FederatedCredential:
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            count = conn.execute(
                select(func.count()).where(t.federated_credentials.c.application_id == row.id)
            ).scalar_one()
            if count >= MAX_FEDERATED_CREDENTIALS_PER_APP:
                raise BadRequest(
                    f"An application can have at most {MAX_FEDERATED_CREDENTIALS_PER_APP} "
                    "federated identity credentials.",
                    "FederatedIdentityCredentialLimitExceeded",
                )
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t.federated_credentials).values(
                            id=credential.id,
                            application_id=row.id,
                            name=credential.name,
                            issuer=credential.issuer,
                            subject=credential.subject,
                            audiences=json.dumps(list(credential.audiences)),
                            description=credential.description or "",
                        )
                    )
            except IntegrityError as exc:
                raise Conflict(
                    "A federated identity credential with this name, or with this issuer and "
                    "subject, already exists on the application.",
                    "FederatedIdentityCredentialAlreadyExists",
                ) from exc
        return credential

    def list_federated_credentials(
        self, tenant_id: str, object_id: str
    ) -> list[FederatedCredential]:
        with self.engine.connect() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            rows = conn.execute(
                select(t.federated_credentials)
                .where(t.federated_credentials.c.application_id == row.id)
                .order_by(t.federated_credentials.c.name)
            ).all()
            return [self._federated(r) for r in rows]

    def delete_federated_credential(self, tenant_id: str, object_id: str, id_or_name: str) -> None:
        with self.engine.begin() as conn:
            row = self._application_row(conn, tenant_id, object_id, None)
            table = t.federated_credentials
            deleted = conn.execute(
                delete(table).where(
                    table.c.application_id == row.id,
                    (table.c.id == id_or_name) | (table.c.name == id_or_name),
                )
            ).rowcount
            if not deleted:
                raise NotFound(f"No federated identity credential '{id_or_name}'.")

    # --- service principals ----------------------------------------------------------------

    @staticmethod
    def _principal(row: Any) -> ServicePrincipal:
        return ServicePrincipal(
            id=row.id,
            app_id=row.app_id,
            tenant_id=row.tenant_id,
            display_name=row.display_name,
            created_at=row.created_at,
        )

    def create_service_principal(
        self, tenant_id: str, app_id: str, *, now: float, principal_id: str | None = None
    ) -> ServicePrincipal:
        with self.engine.begin() as conn:
            app = self._application_row(conn, tenant_id, None, app_id)
            existing = conn.execute(
                select(t.service_principals.c.id).where(t.service_principals.c.app_id == app.app_id)
            ).first()
            if existing is not None:
                raise Conflict(
                    "A service principal already exists for this application.",
                    "Request_MultipleObjectsWithSameKeyValue",
                )
            principal_id = principal_id or _guid()
            conn.execute(
                insert(t.service_principals).values(
                    id=principal_id,
                    app_id=app.app_id,
                    tenant_id=tenant_id,
                    display_name=app.display_name,
                    created_at=now,
                )
            )
            row = conn.execute(
                select(t.service_principals).where(t.service_principals.c.id == principal_id)
            ).one()
            return self._principal(row)

    def get_service_principal(
        self, tenant_id: str, *, principal_id: str | None = None, app_id: str | None = None
    ) -> ServicePrincipal:
        query = select(t.service_principals).where(t.service_principals.c.tenant_id == tenant_id)
        if principal_id is not None:
            query = query.where(t.service_principals.c.id == principal_id.lower())
        if app_id is not None:
            query = query.where(t.service_principals.c.app_id == app_id.lower())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(
                f"Resource '{principal_id or app_id}' does not exist.", "Request_ResourceNotFound"
            )
        return self._principal(row)

    def list_service_principals(
        self, tenant_id: str, *, app_id: str | None = None
    ) -> list[ServicePrincipal]:
        query = (
            select(t.service_principals)
            .where(t.service_principals.c.tenant_id == tenant_id)
            .order_by(t.service_principals.c.created_at)
        )
        if app_id is not None:
            query = query.where(t.service_principals.c.app_id == app_id.lower())
        with self.engine.connect() as conn:
            return [self._principal(row) for row in conn.execute(query).all()]

    def delete_service_principal(self, tenant_id: str, principal_id: str) -> None:
        with self.engine.begin() as conn:
            self._delete_principal_grants(conn, tenant_id, principal_id.lower())
            deleted = conn.execute(
                delete(t.service_principals).where(
                    t.service_principals.c.tenant_id == tenant_id,
                    t.service_principals.c.id == principal_id.lower(),
                )
            ).rowcount
        if not deleted:
            raise NotFound(f"Resource '{principal_id}' does not exist.", "Request_ResourceNotFound")

    @staticmethod
    def _delete_principal_grants(conn: Connection, tenant_id: str, principal_id: str) -> None:
        # A deleted principal must not leave grants that a re-used id could inherit.
        conn.execute(
            delete(t.app_role_assignments).where(
                t.app_role_assignments.c.principal_id == principal_id
            )
        )
        conn.execute(
            delete(t.role_assignments).where(
                t.role_assignments.c.tenant_id == tenant_id,
                t.role_assignments.c.principal_id == principal_id,
            )
        )

    # --- app role assignments --------------------------------------------------------------

    def assign_app_role(
        self, principal_id: str, resource_app_id: str, role: AppRole
    ) -> AppRoleAssignment:
        assignment = AppRoleAssignment(_guid(), principal_id, resource_app_id, role.id, role.value)
        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t.app_role_assignments).values(
                            id=assignment.id,
                            principal_id=principal_id,
                            resource_app_id=resource_app_id,
                            app_role_id=role.id,
                            app_role_value=role.value,
                        )
                    )
            except IntegrityError as exc:
                raise Conflict(
                    "Permission being assigned already exists on the object.",
                    "Request_BadRequest",
                ) from exc
        return assignment

    def app_roles_for(self, principal_id: str, resource_app_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(t.app_role_assignments.c.app_role_value).where(
                        t.app_role_assignments.c.principal_id == principal_id,
                        t.app_role_assignments.c.resource_app_id == resource_app_id,
                    )
                ).scalars()
            )

    # --- the token endpoint's read ---------------------------------------------------------

    def client_record(self, tenant_id: str, client_app_id: str) -> ClientRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.applications).where(
                    t.applications.c.tenant_id == tenant_id,
                    t.applications.c.app_id == client_app_id.lower(),
                )
            ).first()
            if row is None:
                return None
            sp = conn.execute(
                select(t.service_principals).where(t.service_principals.c.app_id == row.app_id)
            ).first()
            federated = conn.execute(
                select(t.federated_credentials).where(
                    t.federated_credentials.c.application_id == row.id
                )
            ).all()
            return ClientRecord(
                application=self._application(conn, row),
                service_principal=self._principal(sp) if sp is not None else None,
                federated_credentials=tuple(self._federated(f) for f in federated),
            )

    def find_resource_application(self, tenant_id: str, resource: str) -> Application | None:
        """The tenant's application named by `resource`: its appId, or an identifier URI
        (compared without one trailing slash, case-insensitively)."""
        wanted = resource.rstrip("/").lower()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.applications).where(t.applications.c.tenant_id == tenant_id)
            ).all()
            for row in rows:
                uris = [u.rstrip("/").lower() for u in _loads_list(row.identifier_uris)]
                if row.app_id == wanted or wanted in uris:
                    return self._application(conn, row)
        return None

    # --- RBAC ------------------------------------------------------------------------------

    def put_role_definition(self, tenant_id: str, definition: RoleDefinition) -> RoleDefinition:
        document = json.dumps(role_definition_to_arm(definition))
        name = definition.role_name.lower()
        with self.engine.begin() as conn:
            clash = conn.execute(
                select(t.role_definitions.c.id).where(
                    t.role_definitions.c.tenant_id == tenant_id,
                    t.role_definitions.c.role_name_lower == name,
                    t.role_definitions.c.id != definition.id,
                )
            ).first()
            if clash is not None:
                raise Conflict(
                    f"A custom role with the name '{definition.role_name}' already exists.",
                    "RoleDefinitionWithSameNameExists",
                )
            exists = conn.execute(
                select(t.role_definitions.c.id).where(t.role_definitions.c.id == definition.id)
            ).first()
            if exists is not None:
                conn.execute(
                    sql_update(t.role_definitions)
                    .where(t.role_definitions.c.id == definition.id)
                    .values(role_name_lower=name, document=document)
                )
            else:
                count = conn.execute(
                    select(func.count()).where(t.role_definitions.c.tenant_id == tenant_id)
                ).scalar_one()
                if count >= MAX_CUSTOM_ROLES_PER_TENANT:
                    raise BadRequest(
                        "The tenant has reached its limit of custom roles.",
                        "RoleDefinitionLimitExceeded",
                    )
                conn.execute(
                    insert(t.role_definitions).values(
                        id=definition.id,
                        tenant_id=tenant_id,
                        role_name_lower=name,
                        document=document,
                    )
                )
        return definition

    def list_role_definitions(self, tenant_id: str) -> list[RoleDefinition]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.role_definitions.c.id, t.role_definitions.c.document).where(
                    t.role_definitions.c.tenant_id == tenant_id
                )
            ).all()
        return [parse_role_definition(json.loads(r.document), id=r.id) for r in rows]

    def delete_role_definition(self, tenant_id: str, role_id: str) -> None:
        with self.engine.begin() as conn:
            in_use = conn.execute(
                select(t.role_assignments.c.id).where(
                    t.role_assignments.c.tenant_id == tenant_id,
                    t.role_assignments.c.role_definition_id == role_id.lower(),
                )
            ).first()
            if in_use is not None:
                raise Conflict(
                    "There are existing role assignments referencing this role.",
                    "RoleDefinitionHasAssignments",
                )
            deleted = conn.execute(
                delete(t.role_definitions).where(
                    t.role_definitions.c.tenant_id == tenant_id,
                    t.role_definitions.c.id == role_id.lower(),
                )
            ).rowcount
        if not deleted:
            raise NotFound(
                f"The role definition '{role_id}' could not be found.", "RoleDefinitionDoesNotExist"
            )

    @staticmethod
    def _assignment(row: Any) -> RoleAssignment:
        return RoleAssignment(
            id=row.id,
            scope=row.scope,
            principal_id=row.principal_id,
            role_definition_id=row.role_definition_id,
            principal_type=row.principal_type,
        )

    def create_role_assignment(
        self, tenant_id: str, assignment: RoleAssignment, *, now: float
    ) -> RoleAssignment:
        with self.engine.begin() as conn:
            for existing in conn.execute(
                select(t.role_assignments).where(
                    t.role_assignments.c.tenant_id == tenant_id,
                    t.role_assignments.c.principal_id == assignment.principal_id,
                    t.role_assignments.c.role_definition_id == assignment.role_definition_id,
                )
            ).all():
                if existing.scope.lower() == assignment.scope.lower():
                    raise Conflict("The role assignment already exists.", "RoleAssignmentExists")
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(t.role_assignments).values(
                            id=assignment.id,
                            tenant_id=tenant_id,
                            scope=assignment.scope,
                            principal_id=assignment.principal_id,
                            principal_type=assignment.principal_type,
                            role_definition_id=assignment.role_definition_id,
                            created_at=now,
                        )
                    )
            except IntegrityError as exc:
                raise Conflict(
                    "The role assignment already exists.", "RoleAssignmentExists"
                ) from exc
        return assignment

    def list_role_assignments(
        self, tenant_id: str, *, principal_ids: Iterable[str] | None = None
    ) -> list[RoleAssignment]:
        query = select(t.role_assignments).where(t.role_assignments.c.tenant_id == tenant_id)
        if principal_ids is not None:
            query = query.where(
                t.role_assignments.c.principal_id.in_([p.lower() for p in principal_ids])
            )
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.role_assignments.c.created_at)).all()
        return [self._assignment(r) for r in rows]

    def get_role_assignment(self, tenant_id: str, assignment_id: str) -> RoleAssignment:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.role_assignments).where(
                    t.role_assignments.c.tenant_id == tenant_id,
                    t.role_assignments.c.id == assignment_id.lower(),
                )
            ).first()
        if row is None:
            raise NotFound(
                f"The role assignment '{assignment_id}' is not found.", "RoleAssignmentNotFound"
            )
        return self._assignment(row)

    def delete_role_assignment(self, tenant_id: str, assignment_id: str) -> None:
        with self.engine.begin() as conn:
            deleted = conn.execute(
                delete(t.role_assignments).where(
                    t.role_assignments.c.tenant_id == tenant_id,
                    t.role_assignments.c.id == assignment_id.lower(),
                )
            ).rowcount
        if not deleted:
            raise NotFound(
                f"The role assignment '{assignment_id}' is not found.", "RoleAssignmentNotFound"
            )

    def put_deny_assignment(self, tenant_id: str, deny: DenyAssignment) -> DenyAssignment:
        """Deny assignments are made by the system (as Azure's are), never through the API."""
        document = json.dumps(
            {
                "name": deny.name,
                "description": deny.description,
                "scope": deny.scope,
                "permissions": [_permission_json(p) for p in deny.permissions],
                "principals": list(deny.principals),
                "exclude_principals": list(deny.exclude_principals),
                "do_not_apply_to_child_scopes": deny.do_not_apply_to_child_scopes,
            }
        )
        with self.engine.begin() as conn:
            conn.execute(delete(t.deny_assignments).where(t.deny_assignments.c.id == deny.id))
            conn.execute(
                insert(t.deny_assignments).values(
                    id=deny.id, tenant_id=tenant_id, document=document
                )
            )
        return deny

    def list_deny_assignments(self, tenant_id: str) -> list[DenyAssignment]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.deny_assignments).where(t.deny_assignments.c.tenant_id == tenant_id)
            ).all()
        result = []
        for row in rows:
            doc = json.loads(row.document)
            result.append(
                DenyAssignment(
                    id=row.id,
                    name=doc["name"],
                    scope=doc["scope"],
                    permissions=tuple(
                        Permission(**{k: tuple(v) for k, v in p.items()})
                        for p in doc["permissions"]
                    ),
                    principals=tuple(doc["principals"]),
                    exclude_principals=tuple(doc["exclude_principals"]),
                    do_not_apply_to_child_scopes=doc["do_not_apply_to_child_scopes"],
                    description=doc["description"],
                )
            )
        return result

    # --- signing keys ----------------------------------------------------------------------

    def load_signing_keys(self) -> list[SigningKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.signing_keys)).all()
        return [
            SigningKey(
                kid=r.kid,
                private_key_pem=bytes(r.private_key_pem),
                certificate_pem=bytes(r.certificate_pem),
                created_at=r.created_at,
                signs_from=r.signs_from,
                retire_at=r.retire_at,
            )
            for r in rows
        ]

    def save_signing_keys(self, keys: Sequence[SigningKey], *, drop_before: float) -> None:
        """Upserts `keys` and forgets keys retired before `drop_before`."""
        with self.engine.begin() as conn:
            for key in keys:
                conn.execute(delete(t.signing_keys).where(t.signing_keys.c.kid == key.kid))
                conn.execute(
                    insert(t.signing_keys).values(
                        kid=key.kid,
                        private_key_pem=key.private_key_pem,
                        certificate_pem=key.certificate_pem,
                        created_at=key.created_at,
                        signs_from=key.signs_from,
                        retire_at=key.retire_at,
                    )
                )
            conn.execute(
                delete(t.signing_keys).where(
                    t.signing_keys.c.retire_at.is_not(None),
                    t.signing_keys.c.retire_at < drop_before,
                )
            )


def _permission_json(p: Permission) -> dict[str, list[str]]:
    return {
        "actions": list(p.actions),
        "not_actions": list(p.not_actions),
        "data_actions": list(p.data_actions),
        "not_data_actions": list(p.not_data_actions),
    }


def certificate_der_from_pem(pem: bytes) -> bytes:
    """The DER of the first certificate in a PEM file (a private key beside it is ignored)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise BadRequest("The file holds no PEM certificate.", "InvalidKey") from exc
    return cert.public_bytes(serialization.Encoding.DER)


def iso_time(value: float) -> str:
    """Graph's DateTimeOffset format."""
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
