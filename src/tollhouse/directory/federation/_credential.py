"""Federated identity credentials: the Graph object and its validation rules.

entra.md §3.1 (Microsoft Graph v1.0 `federatedIdentityCredential`). Everything here is a value:
the store enforces the per-application limits (`MAX_FEDERATED_CREDENTIALS_PER_APP`, unique
issuer + subject), the validator does the matching.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tollhouse.directory.federation._errors import CredentialError

# entra.md §3.1 "Limits and matching": "Max 20 FICs per application or UAMI."
MAX_FEDERATED_CREDENTIALS_PER_APP = 20
# entra.md §3.1: "Recommended/default api://AzureADTokenExchange".
DEFAULT_AUDIENCE = "api://AzureADTokenExchange"

# entra.md §3.1, the field table.
NAME_MIN_LENGTH = 3
NAME_MAX_LENGTH = 120
ISSUER_MAX_LENGTH = 600
SUBJECT_MAX_LENGTH = 600
AUDIENCE_MAX_LENGTH = 600
DESCRIPTION_MAX_LENGTH = 600

# "URL-friendly (alphanumeric, `-`, `_`; first character alphanumeric)". ASCII only.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class FederatedCredential:
    """One federated identity credential of an application.

    A token matches it when its `iss`, `sub` and one of its `aud` values equal `issuer`,
    `subject` and `audiences[0]` exactly: case-sensitive, trailing slash significant, no
    wildcards (entra.md §3.1).
    """

    id: str
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...] = (DEFAULT_AUDIENCE,)
    description: str | None = None

    def to_graph(self) -> dict[str, Any]:
        """The Graph JSON shape of this credential."""
        return {
            "id": self.id,
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
            "description": self.description,
        }


def parse_federated_credential(doc: Mapping[str, Any]) -> FederatedCredential:
    """A `FederatedCredential` from Graph JSON, or `CredentialError` naming the bad field.

    `id` is kept when given (a GUID), otherwise a new one is made, as Graph does on create.
    `audiences` defaults to `["api://AzureADTokenExchange"]`. Other properties are ignored,
    except `claimsMatchingExpression` (flexible FIC, entra.md §3.3), which is not supported.
    """
    if not isinstance(doc, Mapping):
        raise CredentialError("body", "a federated identity credential must be a JSON object")
    if doc.get("claimsMatchingExpression") is not None:
        raise CredentialError(
            "claimsMatchingExpression",
            "flexible federated identity credentials are not supported; set 'subject'",
        )
    return FederatedCredential(
        id=_parse_id(doc.get("id")),
        name=_parse_name(doc.get("name")),
        issuer=_parse_issuer(doc.get("issuer")),
        subject=_required_text(doc.get("subject"), "subject", 1, SUBJECT_MAX_LENGTH),
        audiences=_parse_audiences(doc.get("audiences")),
        description=_parse_description(doc.get("description")),
    )


def _parse_id(value: object) -> str:
    if value is None:
        return str(uuid.uuid4())
    if not isinstance(value, str):
        raise CredentialError("id", "must be a string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CredentialError("id", "must be a GUID") from None


def _required_text(value: object, field: str, min_length: int, max_length: int) -> str:
    if value is None:
        raise CredentialError(field, "is required")
    if not isinstance(value, str):
        raise CredentialError(field, "must be a string")
    if not min_length <= len(value) <= max_length:
        raise CredentialError(
            field, f"must be {min_length} to {max_length} characters long, not {len(value)}"
        )
    return value


def _parse_name(value: object) -> str:
    name = _required_text(value, "name", NAME_MIN_LENGTH, NAME_MAX_LENGTH)
    if not _NAME.fullmatch(name):
        raise CredentialError(
            "name",
            "may hold only letters, digits, '-' and '_', and must start with a letter or digit",
        )
    return name


def _parse_issuer(value: object) -> str:
    issuer = _required_text(value, "issuer", 1, ISSUER_MAX_LENGTH)
    # entra.md §3.1: whitespace around the token's `iss` blocks the exchange; inside a URL it
    # can only be a mistake.
    if any(char.isspace() or not char.isprintable() for char in issuer):
        raise CredentialError("issuer", "must not contain whitespace or control characters")
    # entra.md §3.2 step 4: "The issuer must be a publicly reachable HTTPS URL."
    # OpenID Connect Discovery 1.0 §2: "no query or fragment components".
    try:
        parts = urlsplit(issuer)
        _ = parts.port
    except ValueError:
        raise CredentialError("issuer", "must be a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise CredentialError("issuer", "must be an https:// URL with a host")
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        raise CredentialError("issuer", "must have no query or fragment")
    if parts.username is not None or parts.password is not None:
        raise CredentialError("issuer", "must not hold user information")
    return issuer


def _parse_audiences(value: object) -> tuple[str, ...]:
    if value is None:
        return (DEFAULT_AUDIENCE,)
    # entra.md §3.1: "Exactly one value, ≤ 600 characters."
    if not isinstance(value, list) or len(value) != 1:
        raise CredentialError("audiences", "must be a list of exactly one audience")
    return (_required_text(value[0], "audiences", 1, AUDIENCE_MAX_LENGTH),)


def _parse_description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CredentialError("description", "must be a string")
    if len(value) > DESCRIPTION_MAX_LENGTH:
        raise CredentialError(
            "description", f"must be at most {DESCRIPTION_MAX_LENGTH} characters long"
        )
    return value
