"""`IssuerMetadataCache`: the I/O adapter that fetches and caches OIDC issuers' keys.

Rules (security-and-faults.md C.4 "SSRF … JWKS/OpenID-config URLs … the K8s issuer discovery
URL in WIF", C.5 cases 19, 20, 26):
* https only: an http:// issuer or jwks_uri is refused before any connection;
* no redirects, a time limit and a byte limit on every document, read as a stream;
* keys are kept for `KEYS_LIFETIME_SECONDS`; an unknown `kid` refetches at most once per
  issuer per `UNKNOWN_KID_REFETCH_SECONDS`, and concurrent lookups share one fetch, so a flood
  of tokens cannot turn into a flood of requests;
* only issuers the caller asks for are fetched. Callers ask only for issuers their
  configuration trusts (`TokenVerifier` its `issuers`, the directory's federation validator
  those its federated credentials name), so the set of cached issuers is bounded by it.
"""

from __future__ import annotations

import asyncio
import math
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tollhouse.oidc._errors import (
    MetadataFetchError,
    ResponseTooLargeError,
    UnknownSigningKeyError,
)
from tollhouse.oidc._metadata import (
    MAX_SIGNING_KEYS,
    discovery_url,
    jwks_uri_of,
    parse_json_object,
    require_https,
    signing_keys_of,
)

# Each document fetch (connect, TLS, headers, body) must end within this time: Entra expects
# issuers to be publicly reachable static documents, so a slow one is a broken one.
FETCH_TIMEOUT_SECONDS = 5.0
# Discovery documents are a few hundred bytes (entra.md §3.2 shows a whole one); Entra's own
# is under 4 KiB.
MAX_DISCOVERY_BYTES = 64 * 1024
# 100 RSA-4096 JWKs (the most Entra reads, entra.md §3.1) take about 80 KiB.
MAX_JWKS_BYTES = 256 * 1024
# entra.md §3.1: "re-fetch the JWKS about every 24 h".
KEYS_LIFETIME_SECONDS = 24 * 3600.0
# security-and-faults.md C.5 case 19: an unknown-kid flood must not become a refresh storm.
UNKNOWN_KID_REFETCH_SECONDS = 5 * 60.0

DEFAULT_USER_AGENT = "tollhouse"

_HEADERS = {
    "Accept": "application/json",
    # Compressed bodies would make the byte limit a limit on the compressed size only.
    "Accept-Encoding": "identity",
}


class SigningKeySource(Protocol):
    """Where verifiers get issuers' keys; `IssuerMetadataCache` is the real one."""

    async def signing_key(self, issuer: str, kid: str) -> RSAPublicKey:
        """The RS256 key `kid` of `issuer`, or an `IssuerMetadataError`."""
        ...


@dataclass(frozen=True)
class _IssuerKeys:
    keys: dict[str, RSAPublicKey]
    fetched_at: float


class IssuerMetadataCache:
    """Signing keys of OIDC issuers, fetched over HTTPS and cached.

    `verify` is a CA bundle path or an `ssl.SSLContext` to trust instead of the public roots
    (the development issuer uses a private CA). `clock` returns seconds and only ever measures
    ages, so a monotonic clock is the default. `user_agent` names the component that fetches.
    Close it with `aclose()` or `async with`.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_seconds: float = FETCH_TIMEOUT_SECONDS,
        max_discovery_bytes: int = MAX_DISCOVERY_BYTES,
        max_jwks_bytes: int = MAX_JWKS_BYTES,
        max_keys: int = MAX_SIGNING_KEYS,
        keys_lifetime_seconds: float = KEYS_LIFETIME_SECONDS,
        unknown_kid_refetch_seconds: float = UNKNOWN_KID_REFETCH_SECONDS,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        if isinstance(verify, ssl.SSLContext):
            context = verify
        elif verify is not None:
            context = ssl.create_default_context(cafile=os.fspath(verify))
        else:
            context = ssl.create_default_context()
        self._client = httpx.AsyncClient(
            verify=context,
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            # No proxies, .netrc or SSL_* variables from the environment: what is contacted
            # and trusted is decided here.
            trust_env=False,
            headers={**_HEADERS, "User-Agent": user_agent},
        )
        self._clock = clock
        self._timeout = timeout_seconds
        self._max_discovery_bytes = max_discovery_bytes
        self._max_jwks_bytes = max_jwks_bytes
        self._max_keys = max_keys
        self._keys_lifetime = keys_lifetime_seconds
        self._refetch_interval = unknown_kid_refetch_seconds
        self._entries: dict[str, _IssuerKeys] = {}
        self._kid_refetched_at: dict[str, float] = {}
        self._in_flight: dict[str, asyncio.Task[_IssuerKeys]] = {}

    async def __aenter__(self) -> IssuerMetadataCache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()
        await self._client.aclose()

    async def signing_key(self, issuer: str, kid: str) -> RSAPublicKey:
        """The RS256 key `kid` of `issuer`, or an `IssuerMetadataError`."""
        require_https(issuer, issuer, "issuer")
        now = self._clock()
        entry = self._entries.get(issuer)
        if entry is None or now - entry.fetched_at >= self._keys_lifetime:
            entry = await self._refresh(issuer)
        key = entry.keys.get(kid)
        if key is None and self._may_refetch(issuer, entry, now):
            # The issuer may have rolled its keys since we fetched them (entra.md §3.1).
            entry = await self._refresh(issuer)
            key = entry.keys.get(kid)
        if key is None:
            raise UnknownSigningKeyError(
                issuer, f"the issuer publishes no usable RS256 key with kid {kid[:64]!a}"
            )
        return key

    def _may_refetch(self, issuer: str, entry: _IssuerKeys, now: float) -> bool:
        if issuer in self._in_flight:
            return True
        last = max(entry.fetched_at, self._kid_refetched_at.get(issuer, -math.inf))
        if now - last < self._refetch_interval:
            return False
        self._kid_refetched_at[issuer] = now
        return True

    async def _refresh(self, issuer: str) -> _IssuerKeys:
        """Fetch the issuer's keys, or join the fetch already under way."""
        task = self._in_flight.get(issuer)
        if task is None:
            task = asyncio.create_task(self._fetch(issuer))
            self._in_flight[issuer] = task
            task.add_done_callback(lambda done: self._fetch_done(issuer, done))
        # One caller giving up must not cancel the fetch the others are waiting for.
        return await asyncio.shield(task)

    def _fetch_done(self, issuer: str, task: asyncio.Task[_IssuerKeys]) -> None:
        if self._in_flight.get(issuer) is task:
            del self._in_flight[issuer]
        if not task.cancelled():
            # Retrieved here so that a failure nobody awaited any more is not logged as lost.
            task.exception()

    async def _fetch(self, issuer: str) -> _IssuerKeys:
        discovery = parse_json_object(
            issuer,
            await self._get(issuer, discovery_url(issuer), self._max_discovery_bytes),
            "discovery document",
        )
        jwks_uri = jwks_uri_of(issuer, discovery)
        jwks = parse_json_object(
            issuer, await self._get(issuer, jwks_uri, self._max_jwks_bytes), "JWKS"
        )
        entry = _IssuerKeys(signing_keys_of(issuer, jwks, self._max_keys), self._clock())
        self._entries[issuer] = entry
        return entry

    async def _get(self, issuer: str, url: str, limit: int) -> bytes:
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._client.stream("GET", url) as response,
            ):
                _check_response(issuer, url, response, limit)
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > limit:
                        raise _too_large(issuer, url, limit)
                return bytes(body)
        except TimeoutError:
            raise MetadataFetchError(
                issuer, f"{url[:200]} did not answer within {self._timeout:g} s"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, ssl.SSLError, OSError) as exc:
            raise MetadataFetchError(
                issuer, f"{url[:200]} could not be fetched: {type(exc).__name__}"
            ) from exc


def _check_response(issuer: str, url: str, response: httpx.Response, limit: int) -> None:
    if response.is_redirect:
        # security-and-faults.md C.4: "no redirects by default".
        raise MetadataFetchError(issuer, f"{url[:200]} redirects; redirects are not followed")
    if response.status_code != 200:
        raise MetadataFetchError(issuer, f"{url[:200]} answered {response.status_code}")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise MetadataFetchError(issuer, f"{url[:200]} sent a {encoding[:32]}-encoded body")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(issuer, url, limit)


def _too_large(issuer: str, url: str, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(issuer, f"{url[:200]} is larger than {limit} bytes")
