"""Asking the directory, with the service's managed identity, whether a principal may act.

The seeds' authorisation: the configuration API "uses the APIM managed identity to read role
assignments" (apim-self-hosted-gateway.md §2). Here that is one `checkAccess` call to the
directory's ARM surface, with a token of the managed identity. Positive answers are cached
for a short time; refusals never are, so a new assignment takes effect on the next call.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tollhouse.identity import IdentityError, TokenSource

# How long an "Allowed" is reused; a removed assignment takes at most this long to bite.
DEFAULT_ALLOW_CACHE_SECONDS = 10.0
MAX_CACHED_DECISIONS = 10_000
CHECK_TIMEOUT_SECONDS = 10.0


class Access(enum.Enum):
    ALLOWED = "Allowed"
    NOT_ALLOWED = "NotAllowed"
    DENIED = "Denied"


class RbacUnavailable(Exception):
    """The decision could not be made: the managed identity lacks read access to RBAC
    (`identity_lacks_access`), or the directory could not be reached."""

    def __init__(self, message: str, *, identity_lacks_access: bool = False) -> None:
        super().__init__(message)
        self.identity_lacks_access = identity_lacks_access


@dataclass(frozen=True)
class Decision:
    access: Access

    @property
    def allowed(self) -> bool:
        return self.access is Access.ALLOWED


class RbacClient:
    def __init__(
        self,
        endpoint: str,
        identity: TokenSource,
        http: httpx.AsyncClient,
        *,
        allow_cache_seconds: float = DEFAULT_ALLOW_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.identity = identity
        self.http = http
        self.allow_cache_seconds = allow_cache_seconds
        self.clock = clock
        self._allowed: dict[tuple[str, str, str, bool], float] = {}

    async def check(
        self, principal_id: str, action: str, scope: str, *, data_action: bool
    ) -> Decision:
        key = (principal_id.lower(), action.lower(), scope.lower(), data_action)
        cached = self._allowed.get(key)
        if cached is not None and cached > self.clock():
            return Decision(Access.ALLOWED)
        try:
            token = await self.identity.token()
        except IdentityError as exc:
            raise RbacUnavailable(f"the managed identity cannot get a token: {exc}") from exc
        try:
            response = await self.http.post(
                f"{self.endpoint}{scope}/providers/Microsoft.Authorization/checkAccess",
                json={
                    "subject": {"principalId": principal_id},
                    "actions": [{"id": action, "isDataAction": data_action}],
                },
                headers={"Authorization": f"Bearer {token}"},
                timeout=CHECK_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise RbacUnavailable(f"the directory could not be reached: {exc!r}") from exc
        if response.status_code == 403:
            raise RbacUnavailable(_message(response), identity_lacks_access=True)
        if response.status_code != 200:
            raise RbacUnavailable(
                f"the directory answered {response.status_code}: {_message(response)}"
            )
        try:
            access = Access(response.json()["value"][0]["accessDecision"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise RbacUnavailable("the directory's answer is malformed") from exc
        if access is Access.ALLOWED:
            if len(self._allowed) >= MAX_CACHED_DECISIONS:
                self._allowed.clear()
            self._allowed[key] = self.clock() + self.allow_cache_seconds
        return Decision(access)


def _message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        return str(body["error"]["message"])[:500]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
