"""IssuerMetadataCache against real HTTPS servers on 127.0.0.1 (security-and-faults.md C.4)."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import jwt
import pytest

from tollhouse.directory.federation import (
    FETCH_TIMEOUT_SECONDS,
    KEYS_LIFETIME_SECONDS,
    MAX_DISCOVERY_BYTES,
    MAX_JWKS_BYTES,
    MAX_SIGNING_KEYS,
    UNKNOWN_KID_REFETCH_SECONDS,
    InsecureURLError,
    IssuerMetadataCache,
    MetadataFetchError,
    MetadataInvalidError,
    ResponseTooLargeError,
    UnknownSigningKeyError,
)
from tollhouse.kubeissuer import ServiceAccountIssuer, create_app

from .conftest import FakeClock, Pki, Receive, Scope, Send, Servers, json_app, send_bytes

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/openid/v1/jwks"


def test_the_limits_are_the_documented_ones() -> None:
    assert FETCH_TIMEOUT_SECONDS == 5
    assert MAX_DISCOVERY_BYTES == 64 * 1024
    assert MAX_JWKS_BYTES == 256 * 1024
    assert MAX_SIGNING_KEYS == 100
    assert KEYS_LIFETIME_SECONDS == 24 * 3600
    assert UNKNOWN_KID_REFETCH_SECONDS == 300


async def test_the_key_of_a_kube_issuer_is_fetched_through_discovery_and_jwks(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    key = await cache.signing_key(issuer.issuer, issuer.kid)
    assert key.public_numbers() == jwt.PyJWK(issuer.jwks()["keys"][0]).key.public_numbers()
    assert server.recording.paths == ["/cluster" + DISCOVERY, "/cluster" + JWKS]


async def test_an_issuer_with_a_trailing_slash_loses_one_slash_before_the_well_known_path(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key, path="/")
    assert issuer.issuer == server.base + "/"
    await cache.signing_key(issuer.issuer, issuer.kid)
    assert server.recording.paths[0] == DISCOVERY


async def test_keys_are_cached_for_24_hours_then_fetched_again(
    servers: Servers, cache: IssuerMetadataCache, clock: FakeClock, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    await cache.signing_key(issuer.issuer, issuer.kid)
    clock.now += KEYS_LIFETIME_SECONDS - 1
    await cache.signing_key(issuer.issuer, issuer.kid)
    assert server.recording.count(JWKS) == 1
    clock.now += 1
    await cache.signing_key(issuer.issuer, issuer.kid)
    assert server.recording.count(JWKS) == 2
    assert server.recording.count(DISCOVERY) == 2


async def test_concurrent_lookups_of_one_issuer_share_one_fetch(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    keys = await asyncio.gather(*(cache.signing_key(issuer.issuer, issuer.kid) for _ in range(20)))
    assert len({key.public_numbers() for key in keys}) == 1
    assert server.requests == 2


async def test_concurrent_failing_lookups_share_one_failure(
    servers: Servers, cache: IssuerMetadataCache
) -> None:
    server = await servers.start()
    results = await asyncio.gather(
        *(cache.signing_key(server.base + "/", "kid") for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(result, MetadataFetchError) for result in results)
    assert server.requests == 1


async def test_an_unknown_kid_refetches_at_most_once_per_issuer_per_five_minutes(
    servers: Servers,
    cache: IssuerMetadataCache,
    clock: FakeClock,
    issuer_key: bytes,
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    await cache.signing_key(issuer.issuer, issuer.kid)
    with pytest.raises(UnknownSigningKeyError):
        await cache.signing_key(issuer.issuer, "unknown-1")  # keys fetched just now: no refetch
    assert server.recording.count(JWKS) == 1

    clock.now += UNKNOWN_KID_REFETCH_SECONDS
    for kid in ("unknown-2", "unknown-3", "unknown-4"):
        with pytest.raises(UnknownSigningKeyError):
            await cache.signing_key(issuer.issuer, kid)
        clock.now += 60
    assert server.recording.count(JWKS) == 2

    clock.now += UNKNOWN_KID_REFETCH_SECONDS
    with pytest.raises(UnknownSigningKeyError):
        await cache.signing_key(issuer.issuer, "unknown-5")
    assert server.recording.count(JWKS) == 3


async def test_a_rotated_key_is_found_by_the_unknown_kid_refetch(
    servers: Servers,
    cache: IssuerMetadataCache,
    clock: FakeClock,
    issuer_key: bytes,
    other_key: bytes,
) -> None:
    old, server = await servers.kube_issuer(issuer_key)
    await cache.signing_key(old.issuer, old.kid)
    new = ServiceAccountIssuer(old.issuer, other_key)
    server.recording.app = create_app(new)
    clock.now += UNKNOWN_KID_REFETCH_SECONDS
    key = await cache.signing_key(old.issuer, new.kid)
    assert key.public_numbers() == jwt.PyJWK(new.jwks()["keys"][0]).key.public_numbers()
    assert server.recording.count(JWKS) == 2


async def test_only_the_first_100_keys_of_a_jwks_are_used(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    entry = issuer.jwks()["keys"][0]
    many = {"keys": [{**entry, "kid": f"k{index}"} for index in range(101)]}
    server.recording.app = json_app(
        {"/cluster" + DISCOVERY: issuer.discovery_document(), "/cluster" + JWKS: many}
    )
    await cache.signing_key(issuer.issuer, "k99")
    with pytest.raises(UnknownSigningKeyError):
        await cache.signing_key(issuer.issuer, "k100")


async def test_unusable_jwks_entries_are_skipped_and_the_rest_used(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    good = issuer.jwks()["keys"][0]
    entries: list[Any] = [
        "not an object",
        {**good, "kid": "enc", "use": "enc"},
        {**good, "kid": "ps", "alg": "PS256"},
        {**good, "kid": "ec", "kty": "EC"},
        {**good, "kid": "bad-n", "n": "!!"},
        {**good, "kid": "short", "n": good["n"][:100]},
        {key: value for key, value in good.items() if key != "kid"},
        {**good, "kid": 7},
        good,
    ]
    server.recording.app = json_app(
        {"/cluster" + DISCOVERY: issuer.discovery_document(), "/cluster" + JWKS: {"keys": entries}}
    )
    await cache.signing_key(issuer.issuer, issuer.kid)
    for kid in ("enc", "ps", "ec", "bad-n", "short"):
        with pytest.raises(UnknownSigningKeyError):
            await cache.signing_key(issuer.issuer, kid)


async def test_an_http_issuer_is_refused_without_being_contacted(
    servers: Servers, cache: IssuerMetadataCache
) -> None:
    plain = await servers.start(tls=False)
    with pytest.raises(InsecureURLError):
        await cache.signing_key(plain.base + "/", "kid")
    assert plain.requests == 0


async def test_an_http_jwks_uri_is_refused_without_being_contacted(
    servers: Servers, cache: IssuerMetadataCache
) -> None:
    plain = await servers.start(tls=False)
    issuer = await servers.start()
    issuer.recording.app = json_app(
        {DISCOVERY: {"issuer": issuer.base, "jwks_uri": plain.base + JWKS}}
    )
    with pytest.raises(InsecureURLError, match="jwks_uri"):
        await cache.signing_key(issuer.base, "kid")
    assert plain.requests == 0


async def test_a_discovery_document_naming_another_issuer_is_refused(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    for asked in (
        issuer.issuer.replace("127.0.0.1", "localhost"),
        issuer.issuer.removesuffix("/"),
    ):
        with pytest.raises(MetadataInvalidError, match="names issuer"):
            await cache.signing_key(asked, issuer.kid)
    assert server.recording.count(JWKS) == 0


async def test_redirects_are_not_followed(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, target = await servers.kube_issuer(issuer_key)
    location = (issuer.issuer.removesuffix("/") + DISCOVERY).encode()

    async def redirect(scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, b"", status=302, headers=[(b"location", location)])

    redirector = await servers.start(redirect)
    with pytest.raises(MetadataFetchError, match="redirect"):
        await cache.signing_key(redirector.base + "/", issuer.kid)
    assert target.requests == 0


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_an_error_status_is_a_fetch_error(
    servers: Servers, cache: IssuerMetadataCache, status: int
) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, b"{}", status=status)

    server = await servers.start(failing)
    with pytest.raises(MetadataFetchError, match=str(status)):
        await cache.signing_key(server.base, "kid")


def oversized_jwks_app(
    discovery: dict[str, Any], jwks_path: str, size: int, *, declare_length: bool
) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != jwks_path:
            await send_bytes(send, json.dumps(discovery).encode())
            return
        body = b'{"keys":[' + b" " * size + b"]}"
        headers = [(b"content-length", str(len(body)).encode())] if declare_length else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in range(0, len(body), 16384):
            chunk = body[start : start + 16384]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "streamed"])
async def test_a_jwks_over_256_kib_is_refused(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes, declare_length: bool
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    server.recording.app = oversized_jwks_app(
        issuer.discovery_document(),
        "/cluster" + JWKS,
        2 * 1024 * 1024,
        declare_length=declare_length,
    )
    with pytest.raises(ResponseTooLargeError, match=str(MAX_JWKS_BYTES)):
        await cache.signing_key(issuer.issuer, issuer.kid)


async def test_a_jwks_just_under_the_limit_is_read(
    servers: Servers, cache: IssuerMetadataCache, issuer_key: bytes
) -> None:
    issuer, server = await servers.kube_issuer(issuer_key)
    server.recording.app = oversized_jwks_app(
        issuer.discovery_document(), "/cluster" + JWKS, MAX_JWKS_BYTES - 20, declare_length=False
    )
    with pytest.raises(UnknownSigningKeyError):
        await cache.signing_key(issuer.issuer, issuer.kid)


async def test_a_discovery_document_over_64_kib_is_refused(
    servers: Servers, cache: IssuerMetadataCache
) -> None:
    async def huge(scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, b" " * (MAX_DISCOVERY_BYTES + 1) + b"{}")

    server = await servers.start(huge)
    with pytest.raises(ResponseTooLargeError):
        await cache.signing_key(server.base, "kid")


async def test_the_byte_limits_can_be_lowered(
    servers: Servers, pki: Pki, issuer_key: bytes
) -> None:
    issuer, _ = await servers.kube_issuer(issuer_key)
    async with IssuerMetadataCache(verify=pki.ca_path, max_jwks_bytes=100) as small:
        with pytest.raises(ResponseTooLargeError):
            await small.signing_key(issuer.issuer, issuer.kid)


async def test_a_compressed_body_is_refused(servers: Servers, cache: IssuerMetadataCache) -> None:
    async def gzipped(scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, b"\x1f\x8b", headers=[(b"content-encoding", b"gzip")])

    server = await servers.start(gzipped)
    with pytest.raises(MetadataFetchError, match="gzip"):
        await cache.signing_key(server.base, "kid")


async def test_an_issuer_slower_than_the_timeout_is_a_fetch_error(
    servers: Servers, pki: Pki
) -> None:
    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(3)
        await send_bytes(send, b"{}")

    server = await servers.start(slow)
    async with IssuerMetadataCache(verify=pki.ca_path, timeout_seconds=0.3) as impatient:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(MetadataFetchError, match=r"did not answer within 0\.3 s"):
            await impatient.signing_key(server.base, "kid")
        assert loop.time() - started < 2


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
async def test_a_discovery_document_that_is_not_a_json_object_is_refused(
    servers: Servers, cache: IssuerMetadataCache, body: bytes, match: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, body)

    server = await servers.start(app)
    with pytest.raises(MetadataInvalidError, match=match):
        await cache.signing_key(server.base, "kid")


async def test_a_discovery_document_without_jwks_uri_is_refused(
    servers: Servers, cache: IssuerMetadataCache
) -> None:
    server = await servers.start()
    server.recording.app = json_app({DISCOVERY: {"issuer": server.base}})
    with pytest.raises(MetadataInvalidError, match="jwks_uri"):
        await cache.signing_key(server.base, "kid")


async def test_a_jwks_without_keys_is_refused(servers: Servers, cache: IssuerMetadataCache) -> None:
    server = await servers.start()
    server.recording.app = json_app(
        {DISCOVERY: {"issuer": server.base, "jwks_uri": server.base + JWKS}, JWKS: {"k": []}}
    )
    with pytest.raises(MetadataInvalidError, match="'keys'"):
        await cache.signing_key(server.base, "kid")


async def test_an_issuer_whose_certificate_is_not_trusted_is_a_fetch_error(
    servers: Servers, issuer_key: bytes
) -> None:
    issuer, _ = await servers.kube_issuer(issuer_key)
    async with IssuerMetadataCache() as public_roots_only:
        with pytest.raises(MetadataFetchError, match="ConnectError"):
            await public_roots_only.signing_key(issuer.issuer, issuer.kid)


async def test_an_ssl_context_may_be_given_instead_of_a_ca_path(
    servers: Servers, pki: Pki, issuer_key: bytes
) -> None:
    issuer, _ = await servers.kube_issuer(issuer_key)
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    async with IssuerMetadataCache(verify=context) as cache:
        await cache.signing_key(issuer.issuer, issuer.kid)


async def test_an_unreachable_issuer_is_a_fetch_error(cache: IssuerMetadataCache) -> None:
    with pytest.raises(MetadataFetchError):
        await cache.signing_key("https://127.0.0.1:9/", "kid")
