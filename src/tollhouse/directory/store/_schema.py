"""The directory's tables (SQLAlchemy Core). Alembic migrations in `migrations/` build them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

GUID = String(36)

tenants = Table(
    "tenants",
    metadata,
    Column("id", GUID, primary_key=True),
    Column("display_name", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)

tenant_domains = Table(
    "tenant_domains",
    metadata,
    # Stored lower-cased: domain names compare case-insensitively.
    Column("name", String(253), primary_key=True),
    Column("tenant_id", GUID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
)

applications = Table(
    "applications",
    metadata,
    Column("id", GUID, primary_key=True),
    Column("app_id", GUID, nullable=False, unique=True),
    Column("tenant_id", GUID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("display_name", String(256), nullable=False),
    Column("identifier_uris", Text, nullable=False, default="[]"),
    Column("app_roles", Text, nullable=False, default="[]"),
    # Graph `api.requestedAccessTokenVersion`: null means v1, as in Entra.
    Column("token_version", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
)

service_principals = Table(
    "service_principals",
    metadata,
    Column("id", GUID, primary_key=True),
    Column(
        "app_id",
        GUID,
        ForeignKey("applications.app_id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("tenant_id", GUID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("display_name", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)

password_credentials = Table(
    "password_credentials",
    metadata,
    Column("key_id", GUID, primary_key=True),
    Column(
        "application_id",
        GUID,
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("display_name", String(256), nullable=False, default=""),
    Column("hint", String(8), nullable=False),
    Column("secret_hash", String(200), nullable=False),
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
)

key_credentials = Table(
    "key_credentials",
    metadata,
    Column("key_id", GUID, primary_key=True),
    Column(
        "application_id",
        GUID,
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("display_name", String(256), nullable=False, default=""),
    Column("certificate_der", LargeBinary, nullable=False),
    Column("sha1", String(40), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
)

federated_credentials = Table(
    "federated_credentials",
    metadata,
    Column("id", GUID, primary_key=True),
    Column(
        "application_id",
        GUID,
        ForeignKey("applications.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(120), nullable=False),
    Column("issuer", String(600), nullable=False),
    Column("subject", String(600), nullable=False),
    Column("audiences", Text, nullable=False),
    Column("description", String(600), nullable=False, default=""),
    UniqueConstraint("application_id", "name", name="uq_fic_name"),
    UniqueConstraint("application_id", "issuer", "subject", name="uq_fic_issuer_subject"),
)

app_role_assignments = Table(
    "app_role_assignments",
    metadata,
    Column("id", GUID, primary_key=True),
    Column(
        "principal_id",
        GUID,
        ForeignKey("service_principals.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # The resource's application id; first-party resources have no row in `applications`.
    Column("resource_app_id", GUID, nullable=False),
    Column("app_role_id", GUID, nullable=False),
    Column("app_role_value", String(256), nullable=False),
    UniqueConstraint("principal_id", "resource_app_id", "app_role_id", name="uq_app_role"),
)

role_definitions = Table(
    "role_definitions",
    metadata,
    Column("id", GUID, primary_key=True),
    Column("tenant_id", GUID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("role_name_lower", String(512), nullable=False),
    Column("document", Text, nullable=False),
    UniqueConstraint("tenant_id", "role_name_lower", name="uq_role_name"),
)

role_assignments = Table(
    "role_assignments",
    metadata,
    Column("id", GUID, primary_key=True),
    Column("tenant_id", GUID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(2048), nullable=False),
    Column("principal_id", GUID, nullable=False, index=True),
    Column("principal_type", String(64), nullable=False),
    Column("role_definition_id", GUID, nullable=False),
    Column("created_at", Float, nullable=False),
)

deny_assignments = Table(
    "deny_assignments",
    metadata,
    Column("id", GUID, primary_key=True),
    Column("tenant_id", GUID, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("document", Text, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_key_pem", LargeBinary, nullable=False),
    Column("certificate_pem", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("signs_from", Float, nullable=False),
    Column("retire_at", Float, nullable=True),
)
