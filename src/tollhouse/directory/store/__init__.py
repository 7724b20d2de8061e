"""Persistence of directory objects, RBAC and signing keys (SQLite or PostgreSQL)."""

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
from tollhouse.directory.store._store import (
    DEFAULT_SECRET_LIFETIME_SECONDS,
    DirectoryStore,
    certificate_der_from_pem,
    iso_time,
)

__all__ = [
    "DEFAULT_SECRET_LIFETIME_SECONDS",
    "AppRole",
    "AppRoleAssignment",
    "Application",
    "ClientRecord",
    "DirectoryStore",
    "KeyCredential",
    "PasswordCredential",
    "ServicePrincipal",
    "Tenant",
    "certificate_der_from_pem",
    "iso_time",
]
