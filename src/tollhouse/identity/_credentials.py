from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"


class IdentityError(Exception):
    """A token could not be obtained; the message carries Entra's reason, never a secret."""


@dataclass(frozen=True)
class ClientCredentials:
    """An Entra application's credentials: a secret, a certificate file, or a federated token
    file (workload identity). Exactly one of the three."""

    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    certificate_path: Path | None = None
    certificate_password: str | None = field(default=None, repr=False)
    federated_token_file: Path | None = None
    authority: str = DEFAULT_AUTHORITY
    # A private CA to trust for the authority (a local directory); None: the system roots.
    ca_bundle: Path | None = None

    def __post_init__(self) -> None:
        given = [
            self.client_secret is not None,
            self.certificate_path is not None,
            self.federated_token_file is not None,
        ]
        if sum(given) != 1:
            raise IdentityError(
                "give exactly one of a client secret, a certificate or a federated token file"
            )


def build_credential(credentials: ClientCredentials) -> AsyncTokenCredential:
    """The azure-identity async credential for `credentials`."""
    from azure.identity.aio import (
        CertificateCredential,
        ClientAssertionCredential,
        ClientSecretCredential,
    )

    options: dict[str, Any] = {"authority": credentials.authority}
    if credentials.ca_bundle is not None:
        options["connection_verify"] = str(credentials.ca_bundle)
    if credentials.client_secret is not None:
        return ClientSecretCredential(
            credentials.tenant_id, credentials.client_id, credentials.client_secret, **options
        )
    if credentials.certificate_path is not None:
        password = credentials.certificate_password
        return CertificateCredential(
            credentials.tenant_id,
            credentials.client_id,
            str(credentials.certificate_path),
            password=password.encode() if password else None,
            **options,
        )
    assert credentials.federated_token_file is not None
    token_file = credentials.federated_token_file

    def read_token_file() -> str:
        # The kubelet rotates the projected token: read it on every acquisition, never keep
        # it (WorkloadIdentityCredential would keep it for up to ten minutes, entra.md §5.2).
        return token_file.read_text(encoding="utf-8").strip()

    return ClientAssertionCredential(
        credentials.tenant_id, credentials.client_id, read_token_file, **options
    )


class TokenSource:
    """Bearer tokens for one scope; azure-identity caches and refreshes them."""

    def __init__(self, credential: AsyncTokenCredential, scope: str) -> None:
        self.credential = credential
        self.scope = scope

    async def token(self) -> str:
        try:
            access = await self.credential.get_token(self.scope)
        except ClientAuthenticationError as exc:
            raise IdentityError(str(exc.message or exc)) from exc
        return access.token

    async def close(self) -> None:
        await self.credential.close()


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context
