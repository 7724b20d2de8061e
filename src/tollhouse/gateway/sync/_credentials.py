"""The `Authorization` header of each configuration API call (apim-self-hosted-gateway.md §4).

A GatewayKey token is sent as it is. Entra tokens (an app's secret or certificate, or a workload
identity's federated token file) come from azure-identity through `tollhouse.identity`; it
caches them and asks for a new one ahead of expiry (entra.md §6.1), and re-reads the token file
when it does (§5.2). Token acquisition happens in the sync agent, never on the request path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
from abc import ABC, abstractmethod
from pathlib import Path

from azure.core.exceptions import AzureError

from tollhouse.gateway._settings import AuthMode, GatewaySettings, GatewayToken
from tollhouse.gateway.sync._errors import CredentialError
from tollhouse.identity import IdentityError, TokenSource, build_credential

# A projected service-account token is a few KiB; read no more to learn its expiry.
MAX_TOKEN_FILE_BYTES = 64 * 1024


class ConfigCredentials(ABC):
    """Makes the Authorization header; knows when the credential behind it runs out."""

    @abstractmethod
    async def authorization(self) -> str:
        """The header value; `CredentialError` when none can be made."""

    @abstractmethod
    def expires_at(self) -> dt.datetime | None:
        """When the credential stops working, if that can be known (heartbeats report it)."""

    async def close(self) -> None:  # noqa: B027 - most credentials hold nothing to release
        """Releases the credential's HTTP sessions."""

    @staticmethod
    def from_settings(settings: GatewaySettings) -> ConfigCredentials:
        if settings.auth is AuthMode.GATEWAY_KEY:
            assert settings.gateway_token is not None
            return GatewayKeyCredentials(settings.gateway_token)
        assert settings.identity is not None
        source = TokenSource(build_credential(settings.identity), settings.scope)
        token_file = settings.identity.federated_token_file
        return EntraCredentials(
            source,
            timeout=settings.integration_timeout,
            expires_at=settings.credential_expires_at,
            token_file=token_file,
        )


class GatewayKeyCredentials(ConfigCredentials):
    """`Authorization: GatewayKey <gw>&<yyyyMMddHHmm>&<sig>`; expires at its expiry."""

    def __init__(self, token: GatewayToken) -> None:
        self.token = token

    async def authorization(self) -> str:
        return self.token.authorization

    def expires_at(self) -> dt.datetime | None:
        return self.token.expires_at


class EntraCredentials(ConfigCredentials):
    """`Authorization: Bearer <token>` for `<tokenAudience>/.default`.

    The expiry reported is the certificate's notAfter (known at start) or, for workload
    identity, the `exp` of the token file as it is now (the kubelet rotates it); a client
    secret's end date is not visible to its holder.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        timeout: float,
        expires_at: dt.datetime | None = None,
        token_file: Path | None = None,
    ) -> None:
        self.source = source
        self.timeout = timeout
        self._expires_at = expires_at
        self.token_file = token_file

    async def authorization(self) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                token = await self.source.token()
        except IdentityError as exc:
            raise CredentialError(f"the token service refused the credential: {exc}") from exc
        except TimeoutError:
            raise CredentialError(
                f"no token from the authority within {self.timeout:g} s"
            ) from None
        except (AzureError, OSError, ValueError) as exc:
            raise CredentialError(f"no token from the authority: {exc}") from exc
        return f"Bearer {token}"

    def expires_at(self) -> dt.datetime | None:
        if self.token_file is not None:
            return token_file_expiry(self.token_file)
        return self._expires_at

    async def close(self) -> None:
        await self.source.close()


def token_file_expiry(path: Path) -> dt.datetime | None:
    """The `exp` of the JWT in `path`, read now (never cached: the kubelet rotates the file);
    None when it cannot be read. Nothing is verified: this is for reporting only."""
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_TOKEN_FILE_BYTES).decode("ascii").strip()
        payload = text.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    except (
        OSError,
        UnicodeDecodeError,
        IndexError,
        binascii.Error,
        ValueError,
        KeyError,
        TypeError,
        OverflowError,
    ):
        return None
