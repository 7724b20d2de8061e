"""Calls to the directory's Graph and ARM routes, with tokens from azure-identity.

One method per API: `graph(...)` presents a token for `https://graph.microsoft.com/.default`,
`arm(...)` one for `https://management.azure.com/.default`, exactly as az does against Azure.
Tokens come from a `TokenCredential` (the real `ClientSecretCredential` in `open_client`),
never from a hand-written OAuth client. Error responses become `RequestError`; transport and
sign-in failures become `CliError`/`SignInError`; no header or secret is ever echoed.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.identity import ClientSecretCredential

from tollhouse.cli._errors import CliError, RequestError, SignInError
from tollhouse.cli._profile import Profile

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ARM_SCOPE = "https://management.azure.com/.default"
# The Microsoft.Authorization api-version az sends; the directory serves one version.
ARM_API_VERSION = "2022-04-01"
# A directory on the same network answers in milliseconds; this only bounds a hung one.
DEFAULT_TIMEOUT_SECONDS = 30.0
AUTHORIZATION_PROVIDER = "/providers/Microsoft.Authorization"


class DirectoryClient:
    def __init__(
        self,
        base_url: str,
        credential: TokenCredential,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credential = credential
        self._http = httpx.Client(
            base_url=self.base_url, verify=verify, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def graph(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """`path` is under `/v1.0`, e.g. `/applications`."""
        return self._send(GRAPH_SCOPE, method, "/v1.0" + path, params, body)

    def arm(
        self,
        method: str,
        scope: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """`path` is under `{scope}/providers/Microsoft.Authorization`, e.g. `/roleDefinitions`."""
        url = quote(scope.rstrip("/"), safe="/") + AUTHORIZATION_PROVIDER + path
        query = {"api-version": ARM_API_VERSION, **(params or {})}
        return self._send(ARM_SCOPE, method, url, query, body)

    def _send(
        self, scope: str, method: str, url: str, params: Mapping[str, str] | None, body: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._token(scope)}"}
        try:
            response = self._http.request(method, url, params=params, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise CliError(f"Cannot reach the directory at {self.base_url}: {exc}.") from None
        if response.is_success:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise CliError(
                    f"The directory answered {method} {response.url.path} with a body that is "
                    "not JSON."
                ) from None
        raise _error(response)

    def _token(self, scope: str) -> str:
        try:
            return self._credential.get_token(scope).token
        except AzureError as exc:
            # azure-identity's message carries the AADSTS error; never the secret.
            first_line = str(exc.message or exc).strip().splitlines()[0]
            raise SignInError(f"Cannot get a token for {scope}: {first_line}") from None


def _error(response: httpx.Response) -> RequestError:
    code, message = "", ""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        code = str(document["error"].get("code") or "")
        message = str(document["error"].get("message") or "")
    if not message:
        message = f"The directory answered HTTP {response.status_code} {response.reason_phrase}."
    return RequestError(response.status_code, code, message)


def sign_in(profile: Profile) -> ClientSecretCredential:
    """The profile's application as an azure-identity credential against its directory."""
    options: dict[str, Any] = {}
    if profile.ca_bundle is not None:
        options["connection_verify"] = str(profile.ca_bundle)
    return ClientSecretCredential(
        profile.tenant_id,
        profile.client_id,
        profile.client_secret,
        authority=profile.authority,
        # entra.md §6.2: instance discovery would ask login.microsoftonline.com about us.
        disable_instance_discovery=True,
        **options,
    )


def tls_verification(profile: Profile) -> ssl.SSLContext | bool:
    """The profile's CA bundle, or the system's CAs when it names none."""
    if profile.ca_bundle is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(profile.ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise CliError(
            f"Cannot load the CA bundle '{profile.ca_bundle}' named by the profile: {exc}."
        ) from None
