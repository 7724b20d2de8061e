"""What the store hands out: frozen values, never rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tollhouse.directory.federation import FederatedCredential


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class AppRole:
    id: str
    value: str
    display_name: str = ""
    description: str = ""
    allowed_member_types: tuple[str, ...] = ("Application",)
    is_enabled: bool = True

    def graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "value": self.value,
            "displayName": self.display_name,
            "description": self.description,
            "allowedMemberTypes": list(self.allowed_member_types),
            "isEnabled": self.is_enabled,
        }


@dataclass(frozen=True)
class PasswordCredential:
    key_id: str
    display_name: str
    hint: str
    start: float
    end: float
    secret_hash: str = field(repr=False)


@dataclass(frozen=True)
class KeyCredential:
    key_id: str
    display_name: str
    certificate_der: bytes = field(repr=False)
    sha1: str = ""
    sha256: str = ""
    start: float = 0.0
    end: float = 0.0


@dataclass(frozen=True)
class Application:
    id: str
    app_id: str
    tenant_id: str
    display_name: str
    identifier_uris: tuple[str, ...]
    app_roles: tuple[AppRole, ...]
    token_version: int | None
    created_at: float
    password_credentials: tuple[PasswordCredential, ...] = ()
    key_credentials: tuple[KeyCredential, ...] = ()


@dataclass(frozen=True)
class ServicePrincipal:
    id: str
    app_id: str
    tenant_id: str
    display_name: str
    created_at: float


@dataclass(frozen=True)
class ClientRecord:
    """Everything the token endpoint needs to authenticate one client, in one read."""

    application: Application
    service_principal: ServicePrincipal | None
    federated_credentials: tuple[FederatedCredential, ...]


@dataclass(frozen=True)
class AppRoleAssignment:
    id: str
    principal_id: str
    resource_app_id: str
    app_role_id: str
    app_role_value: str
