"""The configuration API as the gateway calls it (DESIGN §2): snapshot, change feed,
heartbeat, telemetry. One method per request; httpx and JSON errors are mapped here to the
sync exception tree (`_errors`), so nothing foreign escapes.

Decoding a snapshot is CPU work proportional to its size; it runs in a worker thread so the
data plane sharing the event loop is not held up (security-and-faults.md case 30).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from tollhouse import __version__
from tollhouse.contracts import (
    ContractError,
    EventPage,
    GatewayConfiguration,
    Heartbeat,
    HeartbeatReply,
    Telemetry,
    parse_configuration,
    parse_event_page,
    parse_heartbeat_reply,
)
from tollhouse.gateway._settings import DEFAULT_INTEGRATION_TIMEOUT_SECONDS, GatewaySettings
from tollhouse.gateway.sync._credentials import ConfigCredentials
from tollhouse.gateway.sync._errors import (
    AccessDenied,
    ConfigApiError,
    ConfigApiUnavailable,
    FeedGone,
    InvalidResponse,
    SyncError,
)

# A snapshot carries every API, policy and certificate of a gateway; 64 MiB is far beyond
# any real one, and bounds what a broken or hostile endpoint can make us buffer.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
# Feed pages, heartbeat replies and error bodies are small.
MAX_SMALL_BODY_BYTES = 1024 * 1024
# Events per feed page; what APIM's gateway asks for (`$top=100`, §3).
DEFAULT_PAGE_SIZE = 100
# Error messages kept from the server, for the log.
MAX_ERROR_MESSAGE = 1000
USER_AGENT = f"tollhouse-gateway/{__version__}"

T = TypeVar("T")


class ConfigClient:
    """Calls for one gateway. `verify` is an SSL context (the CA bundle), True (system roots)
    or False (`disableCertificateValidation`). `timeout` bounds each call; a long poll gets
    its `wait` on top."""

    def __init__(
        self,
        endpoint: str,
        gateway: str,
        credentials: ConfigCredentials,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = DEFAULT_INTEGRATION_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.gateway = gateway
        self.credentials = credentials
        self.timeout = timeout
        self._base = f"/gateways/{quote(gateway, safe='')}"
        self._http = httpx.AsyncClient(
            base_url=self.endpoint,
            verify=verify,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls, settings: GatewaySettings, credentials: ConfigCredentials
    ) -> ConfigClient:
        verify: ssl.SSLContext | bool
        if settings.disable_certificate_validation:
            verify = False
        else:
            verify = ssl.create_default_context(
                cafile=str(settings.ca_bundle) if settings.ca_bundle else None
            )
        return cls(
            settings.endpoint,
            settings.gateway_name,
            credentials,
            verify=verify,
            timeout=settings.integration_timeout,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- the four calls --------------------------------------------------------------------

    async def snapshot(
        self, etag: str | None = None
    ) -> tuple[GatewayConfiguration | None, str | None]:
        """The configuration and its ETag; (None, etag) when `etag` is still current (304)."""
        headers = {"If-None-Match": etag} if etag else {}
        status, response_headers, body = await self._call(
            "GET", "/configuration", headers=headers, limit=MAX_SNAPSHOT_BYTES
        )
        current = response_headers.get("etag")
        if status == 304:
            return None, current or etag
        try:
            config = await asyncio.to_thread(_decode, body, parse_configuration, "snapshot")
        except InvalidResponse as exc:
            raise InvalidResponse(str(exc), revision=etag_revision(current), etag=current) from None
        return config, current or f'"{config.revision}"'

    async def events(self, after: int, wait: float = 0, top: int = DEFAULT_PAGE_SIZE) -> EventPage:
        """Changes after revision `after`; held open up to `wait` seconds when there are none.
        `FeedGone` when `after` has been compacted away."""
        seconds = max(0, int(wait))
        params: dict[str, str | int] = {"$skiptoken": after, "$top": top}
        if seconds:
            params["wait"] = seconds
        _, _, body = await self._call(
            "GET",
            "/events",
            params=params,
            seconds=self.timeout + seconds,
            limit=MAX_SMALL_BODY_BYTES,
        )
        return _decode(body, parse_event_page, "event page")

    async def heartbeat(self, beat: Heartbeat) -> HeartbeatReply:
        _, _, body = await self._call(
            "POST", "/heartbeat", json_body=beat.to_json(), limit=MAX_SMALL_BODY_BYTES
        )
        return _decode(body, parse_heartbeat_reply, "heartbeat reply")

    async def telemetry(self, telemetry: Telemetry) -> None:
        await self._call(
            "POST", "/telemetry", json_body=telemetry.to_json(), limit=MAX_SMALL_BODY_BYTES
        )

    # --- one request -----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        limit: int,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        seconds: float | None = None,
    ) -> tuple[int, httpx.Headers, bytes]:
        """(status, headers, body) of a 2xx or 304; the matching `SyncError` otherwise."""
        all_headers = {"Authorization": await self.credentials.authorization()}
        all_headers.update(headers or {})
        content = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            all_headers["Content-Type"] = "application/json"
        where = f"{method} {self._base}{path}"
        try:
            request = self._http.build_request(
                method,
                self._base + path,
                headers=all_headers,
                params=params,
                content=content,
                timeout=seconds if seconds is not None else self.timeout,
            )
            response = await self._http.send(request, stream=True)
            try:
                body = await _read(response, limit, where)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise ConfigApiUnavailable(
                f"{where}: no answer within {seconds or self.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise ConfigApiUnavailable(f"{where}: {_describe(exc)}") from None
        status = response.status_code
        if 200 <= status < 300 or status == 304:
            return status, response.headers, body
        raise _error(status, response.headers, body)


async def _read(response: httpx.Response, limit: int, where: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InvalidResponse(f"{where}: the answer is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise InvalidResponse(f"{where}: the answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, parse: Callable[[Any], T], what: str) -> T:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidResponse(f"the {what} is not JSON (truncated?)") from None
    try:
        return parse(document)
    except ContractError as exc:
        raise InvalidResponse(f"the {what} breaks the contract at {exc}") from None
    except RecursionError:
        raise InvalidResponse(f"the {what} is nested too deeply") from None


def _error(status: int, headers: httpx.Headers, body: bytes) -> SyncError:
    code, message = "", ""
    try:
        document = json.loads(body)
        error = document.get("error") if isinstance(document, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code") or "")[:100]
            message = str(error.get("message") or "")
    except (ValueError, UnicodeDecodeError):
        message = body[:MAX_ERROR_MESSAGE].decode("utf-8", "replace")
    message = " ".join((message or "no error body").split())[:MAX_ERROR_MESSAGE]
    retry_after = _retry_after(headers.get("retry-after"))
    kind: type[ConfigApiError] = ConfigApiError
    if status in (401, 403):
        kind = AccessDenied
    elif status == 410:
        kind = FeedGone
    return kind(status, code, message, retry_after=retry_after)


def etag_revision(etag: str | None) -> int | None:
    """The revision of a configuration ETag (`"42"`, DESIGN §2), or None."""
    if etag is None:
        return None
    text = etag.strip().removeprefix("W/").strip('"')
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _retry_after(value: str | None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _describe(exc: httpx.HTTPError) -> str:
    reason = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = f"the server's certificate is not trusted ({cause.verify_message})"
    return reason
