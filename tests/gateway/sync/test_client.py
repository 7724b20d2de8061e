"""The configuration API client against a real control plane over TLS, and against scripted
answers for what a healthy control plane never sends."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from pathlib import Path

import httpx
import pytest

from tests.controlplane.conftest import RunningControlPlane
from tests.gateway.sync.helpers import (
    Headers,
    add_api,
    connect,
    gateway_status,
    new_gateway,
    settings_for,
)
from tollhouse.contracts import Heartbeat, InstanceStatus, MetricPoint, Telemetry
from tollhouse.gateway.sync import (
    AccessDenied,
    ConfigApiError,
    ConfigApiUnavailable,
    ConfigClient,
    FeedGone,
    GatewayKeyCredentials,
    InvalidResponse,
)
from tollhouse.gateway.sync._client import MAX_SMALL_BODY_BYTES
from tollhouse.serving._server import free_port


def key_auth(token: str) -> dict[str, str]:
    return {"config.service.auth": token}


async def test_the_snapshot_comes_with_an_etag_and_then_304(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url, control_plane.directory.ca_bundle, key_auth(token), tmp_path
    )
    client = connect(settings)
    try:
        config, etag = await client.snapshot()
        assert config is not None and config.gateway == gateway
        assert etag == f'"{config.revision}"'
        again, same = await client.snapshot(etag)
        assert again is None and same == etag
    finally:
        await client.aclose()


async def position(client: ConfigClient) -> int:
    """The current revision (position 0 may have been compacted by an earlier test)."""
    config, _ = await client.snapshot()
    assert config is not None
    return config.revision


async def test_the_feed_long_poll_returns_when_a_change_is_made(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url, control_plane.directory.ca_bundle, key_auth(token), tmp_path
    )
    client = connect(settings)
    try:
        current = await position(client)
        poll = asyncio.create_task(client.events(current, wait=20))
        await asyncio.sleep(0.3)
        assert not poll.done()
        started = time.monotonic()
        await asyncio.to_thread(add_api, control_plane, operator, gateway, f"poll-{gateway}")
        page = await poll
        assert time.monotonic() - started < 5
        assert page.revision > current
        assert any(e.path == f"apis/poll-{gateway}" for e in page.events)
    finally:
        await client.aclose()


async def test_a_compacted_position_raises_feed_gone(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url, control_plane.directory.ca_bundle, key_auth(token), tmp_path
    )
    client = connect(settings)
    try:
        before = await position(client)
        for index in range(2):
            await asyncio.to_thread(
                add_api, control_plane, operator, gateway, f"c{index}-{gateway}"
            )
        control_plane.service.store.compact(keep=1)
        with pytest.raises(FeedGone) as gone:
            await client.events(before)
        assert gone.value.status == 410
    finally:
        await client.aclose()


async def test_a_refused_credential_keeps_the_servers_message(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    _, other = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url, control_plane.directory.ca_bundle, key_auth(token), tmp_path
    )
    # The token of another gateway, presented for this one.
    client = ConfigClient(
        settings.endpoint,
        gateway,
        GatewayKeyCredentials(
            settings_for(
                control_plane.url, control_plane.directory.ca_bundle, key_auth(other), tmp_path
            ).gateway_token  # type: ignore[arg-type]
        ),
        verify=ssl.create_default_context(cafile=control_plane.directory.ca_bundle),
    )
    try:
        with pytest.raises(AccessDenied) as denied:
            await client.snapshot()
        assert denied.value.status == 403
        assert "not" in denied.value.message and gateway in denied.value.message
    finally:
        await client.aclose()


async def test_an_untrusted_certificate_is_unavailable_unless_validation_is_disabled(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    _, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    untrusted = connect(settings_for(control_plane.url, _system_ca(), key_auth(token), tmp_path))
    try:
        with pytest.raises(ConfigApiUnavailable, match="certificate"):
            await untrusted.snapshot()
    finally:
        await untrusted.aclose()
    unchecked = connect(
        settings_for(
            control_plane.url,
            _system_ca(),
            key_auth(token),
            tmp_path,
            **{"config.service.endpoint.disableCertificateValidation": "true"},
        )
    )
    try:
        config, _ = await unchecked.snapshot()
        assert config is not None
    finally:
        await unchecked.aclose()


def _system_ca() -> str:
    path = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    return path


async def test_nothing_listening_is_unavailable(tmp_path: Path) -> None:
    settings = settings_for(
        f"https://127.0.0.1:{free_port()}",
        _system_ca(),
        key_auth("GatewayKey gw&209901010000&" + "A" * 86 + "=="),
        tmp_path,
    )
    client = connect(settings)
    try:
        with pytest.raises(ConfigApiUnavailable):
            await client.snapshot()
    finally:
        await client.aclose()


async def test_heartbeats_and_telemetry_are_recorded(
    control_plane: RunningControlPlane, operator: Headers, tmp_path: Path
) -> None:
    gateway, token = await asyncio.to_thread(new_gateway, control_plane, operator)
    settings = settings_for(
        control_plane.url, control_plane.directory.ca_bundle, key_auth(token), tmp_path
    )
    client = connect(settings)
    try:
        reply = await client.heartbeat(
            Heartbeat("instance-1", "host-1", "0.1.0", 3, InstanceStatus(state="stale"))
        )
        assert reply.heartbeat_interval_seconds == 60
        await client.telemetry(
            Telemetry(
                "instance-1",
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:01:00Z",
                (MetricPoint("echo", "get", "2xx", 3, 12.5, 7.0),),
            )
        )
    finally:
        await client.aclose()
    status = await asyncio.to_thread(gateway_status, control_plane, operator, gateway)
    (instance,) = status["instances"]
    assert instance["instanceId"] == "instance-1"
    assert instance["status"]["state"] == "stale"


# --- scripted answers ------------------------------------------------------------------------


def scripted(handler: httpx.MockTransport) -> ConfigClient:
    credentials = GatewayKeyCredentials(
        settings_for(
            "cp.example",
            _system_ca(),
            key_auth("GatewayKey gw&209901010000&" + "A" * 86 + "=="),
            Path("/tmp"),
        ).gateway_token  # type: ignore[arg-type]
    )
    return ConfigClient("https://cp.example", "gw", credentials, transport=handler)


async def test_every_call_carries_the_credential_and_names_the_gateway() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": [], "revision": 4})

    client = scripted(httpx.MockTransport(answer))
    await client.events(4, wait=7)
    (request,) = seen
    assert request.headers["authorization"].startswith("GatewayKey gw&209901010000&")
    assert request.url.path == "/gateways/gw/events"
    assert request.url.params["$skiptoken"] == "4"
    assert request.url.params["wait"] == "7"
    assert request.extensions["timeout"]["read"] == pytest.approx(100 + 7)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"schemaVersion": 1, "gateway": "gw", "rev', "not JSON"),
        (b'{"schemaVersion": 1, "gateway": "gw", "revision": "7", "serviceId": "x"}', "revision"),
        (b'{"schemaVersion": 2, "gateway": "gw", "revision": 7, "serviceId": "x"}', "version"),
        (b"[]", "object"),
    ],
)
async def test_a_truncated_or_schema_invalid_snapshot_is_an_invalid_response(
    body: bytes, match: str
) -> None:
    client = scripted(httpx.MockTransport(lambda _: httpx.Response(200, content=body)))
    with pytest.raises(InvalidResponse, match=match):
        await client.snapshot()


async def test_an_oversized_answer_is_refused_before_it_is_buffered() -> None:
    huge = b"x" * (MAX_SMALL_BODY_BYTES + 1)
    client = scripted(httpx.MockTransport(lambda _: httpx.Response(200, content=huge)))
    with pytest.raises(InvalidResponse, match="larger than"):
        await client.events(0)


async def test_429_carries_its_retry_after() -> None:
    client = scripted(
        httpx.MockTransport(
            lambda _: httpx.Response(
                429,
                headers={"Retry-After": "12"},
                content=json.dumps({"error": {"code": "TooMany", "message": "slow down"}}),
            )
        )
    )
    with pytest.raises(ConfigApiError) as error:
        await client.heartbeat(Heartbeat("i", "h", "v", None))
    assert (error.value.status, error.value.code, error.value.retry_after) == (
        429,
        "TooMany",
        12.0,
    )


async def test_a_5xx_without_a_json_body_is_still_a_config_api_error() -> None:
    client = scripted(
        httpx.MockTransport(lambda _: httpx.Response(502, content=b"<html>bad gateway</html>"))
    )
    with pytest.raises(ConfigApiError) as error:
        await client.snapshot()
    assert error.value.status == 502
    assert "bad gateway" in error.value.message
