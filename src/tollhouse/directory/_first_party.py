"""First-party resources every tenant knows without registering them.

Entra has a service principal for Azure Resource Manager and Microsoft Graph in every tenant;
the APIM configuration API's audience (apim-self-hosted-gateway.md §4) is one more. The ARM
and Graph application ids are Microsoft's real ones, so tokens look as they do in Azure.
"""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.directory.store import AppRole


@dataclass(frozen=True)
class FirstPartyResource:
    app_id: str
    display_name: str
    # The first identifier is the token audience (v1 tokens name the resource by it).
    identifiers: tuple[str, ...]
    app_roles: tuple[AppRole, ...] = ()
    token_version: int = 1


ARM = FirstPartyResource(
    app_id="797f4846-ba00-4fd7-ba43-dac1f8f63013",
    display_name="Windows Azure Service Management API",
    identifiers=("https://management.azure.com/", "https://management.core.windows.net/"),
)

# Graph app roles with Microsoft's ids: who may read and write directory objects.
APPLICATION_READ_WRITE_ALL = AppRole(
    id="1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    value="Application.ReadWrite.All",
    display_name="Read and write all applications",
)
APPLICATION_READ_ALL = AppRole(
    id="9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    value="Application.Read.All",
    display_name="Read all applications",
)

GRAPH = FirstPartyResource(
    app_id="00000003-0000-0000-c000-000000000000",
    display_name="Microsoft Graph",
    identifiers=("https://graph.microsoft.com",),
    app_roles=(APPLICATION_READ_WRITE_ALL, APPLICATION_READ_ALL),
)

APIM_CONFIGURATION = FirstPartyResource(
    app_id="d0b6c5b4-5c1e-4b2b-9b58-6a2f0e1c3a01",
    display_name="API Management Configuration API",
    identifiers=("https://azure-api.net/configuration",),
)

FIRST_PARTY: tuple[FirstPartyResource, ...] = (ARM, GRAPH, APIM_CONFIGURATION)


def _same(a: str, b: str) -> bool:
    # Entra matches the resource with or without one trailing slash.
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def find_first_party(resource: str) -> tuple[FirstPartyResource, str] | None:
    """The first-party resource named by `resource`, and the audience its tokens carry."""
    for candidate in FIRST_PARTY:
        if resource.lower() == candidate.app_id:
            return candidate, candidate.identifiers[0]
        for identifier in candidate.identifiers:
            if _same(resource, identifier):
                return candidate, identifier
    return None
