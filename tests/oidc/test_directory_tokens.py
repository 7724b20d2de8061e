"""TokenVerifier against the real directory over TLS: v1 and v2 tokens, and forgeries of them.

The directory issues tokens the way Entra does (entra.md §4.1): v1 for the configuration API
and ARM (`iss` `{authority}/{tid}/`, discovery at `{iss}.well-known/…`, keys at
`{authority}/common/discovery/keys`), v2 for an application with `token_version=2`
(`iss` `{authority}/{tid}/v2.0`). The verifier fetches each issuer's own metadata.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import RunningDirectory
from tests.directory.helpers import AppUnderTest, make_app
from tollhouse.directory.store import AppRole
from tollhouse.oidc import InvalidBearerToken, IssuerMetadataCache, TokenVerifier

from .conftest import Listener, b64, compact, segment

CONFIGURATION = "https://azure-api.net/configuration"
ARM = "https://management.azure.com/"


@dataclass(frozen=True)
class Tokens:
    directory: RunningDirectory
    client: AppUnderTest

    @property
    def v1_issuer(self) -> str:
        return f"{self.directory.url}/{self.directory.tenant_id}/"

    @property
    def v2_issuer(self) -> str:
        return f"{self.directory.url}/{self.directory.tenant_id}/v2.0"

    async def get(self, scope: str) -> str:
        assert self.client.secret is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client.app_id,
            "client_secret": self.client.secret,
            "scope": scope,
        }
        context = ssl.create_default_context(cafile=self.directory.ca_bundle)
        async with httpx.AsyncClient(verify=context) as http:
            response = await http.post(self.directory.token_url(), data=form)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def tokens(directory_server: RunningDirectory) -> Tokens:
    return Tokens(directory_server, make_app(directory_server))


@dataclass(frozen=True)
class Api:
    app_id: str
    identifier: str
    role: str


@pytest.fixture(scope="module")
def v2_api(directory_server: RunningDirectory, tokens: Tokens) -> Api:
    """An API that asks for v2 tokens, with an app role granted to the client."""
    store, tenant, now = directory_server.directory.store, directory_server.tenant_id, time.time()
    identifier = f"api://tollhouse-oidc-{uuid.uuid4().hex[:8]}"
    role = AppRole(id=str(uuid.uuid4()), value="Gateway.Configuration.Read")
    app = store.create_application(
        tenant,
        "oidc-test-api",
        identifier_uris=[identifier],
        app_roles=[role],
        token_version=2,
        now=now,
    )
    store.create_service_principal(tenant, app.app_id, now=now)
    store.assign_app_role(tokens.client.principal_id, app.app_id, role)
    return Api(app.app_id, identifier, role.value)


@pytest.fixture
async def cache(directory_server: RunningDirectory) -> AsyncIterator[IssuerMetadataCache]:
    async with IssuerMetadataCache(verify=directory_server.ca_bundle) as made:
        yield made


# --- real tokens verify ----------------------------------------------------------------------


async def test_a_v1_configuration_api_token_from_the_directory_verifies(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{CONFIGURATION}/.default")
    verifier = TokenVerifier(cache, issuers=[tokens.v1_issuer], audiences=[CONFIGURATION])
    verified = await verifier.verify(token)
    assert verified.issuer == tokens.v1_issuer
    assert verified.tenant_id == tokens.directory.tenant_id
    assert verified.object_id == tokens.client.principal_id
    assert verified.app_id == tokens.client.app_id
    assert verified.claims["ver"] == "1.0"


async def test_a_v1_arm_token_verifies_for_the_management_audience(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{ARM}.default")
    verifier = TokenVerifier(cache, issuers=[tokens.v1_issuer], audiences=[ARM])
    assert (await verifier.verify(token)).claims["aud"] == ARM


async def test_a_v2_token_for_an_api_uri_verifies_with_its_client_and_roles(
    tokens: Tokens, v2_api: Api, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{v2_api.identifier}/.default")
    verifier = TokenVerifier(cache, issuers=[tokens.v2_issuer], audiences=[v2_api.app_id])
    verified = await verifier.verify(token)
    assert verified.issuer == tokens.v2_issuer
    assert verified.claims["ver"] == "2.0"
    assert verified.app_id == tokens.client.app_id  # from azp
    assert verified.object_id == tokens.client.principal_id
    assert verified.roles == (v2_api.role,)


async def test_one_verifier_trusts_both_issuers_of_a_tenant(
    tokens: Tokens, v2_api: Api, cache: IssuerMetadataCache
) -> None:
    verifier = TokenVerifier(
        cache,
        issuers=[tokens.v1_issuer, tokens.v2_issuer],
        audiences=[CONFIGURATION, v2_api.app_id],
    )
    v1 = await verifier.verify(await tokens.get(f"{CONFIGURATION}/.default"))
    v2 = await verifier.verify(await tokens.get(f"{v2_api.identifier}/.default"))
    assert (v1.issuer, v2.issuer) == (tokens.v1_issuer, tokens.v2_issuer)


async def test_templated_issuers_accept_the_directory_tenant_when_it_is_allowed(
    tokens: Tokens, v2_api: Api, cache: IssuerMetadataCache
) -> None:
    verifier = TokenVerifier(
        cache,
        issuers=[
            f"{tokens.directory.url}/{{tenantid}}/",
            f"{tokens.directory.url}/{{tenantid}}/v2.0",
        ],
        audiences=[CONFIGURATION, v2_api.app_id],
        tenant_ids=[tokens.directory.tenant_id],
    )
    await verifier.verify(await tokens.get(f"{CONFIGURATION}/.default"))
    await verifier.verify(await tokens.get(f"{v2_api.identifier}/.default"))


# --- real tokens, wrong expectations -----------------------------------------------------------


async def refused(verifier: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(InvalidBearerToken) as caught:
        await verifier.verify(token)
    assert caught.value.reason == reason


async def test_a_configuration_api_token_is_refused_by_the_management_api(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{CONFIGURATION}/.default")
    verifier = TokenVerifier(cache, issuers=[tokens.v1_issuer], audiences=[ARM])
    await refused(verifier, token, "audience not accepted")


async def test_a_v1_token_is_refused_where_only_the_v2_issuer_is_trusted(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{CONFIGURATION}/.default")
    verifier = TokenVerifier(cache, issuers=[tokens.v2_issuer], audiences=[CONFIGURATION])
    await refused(verifier, token, "issuer not trusted")


async def test_a_templated_issuer_refuses_the_directory_tenant_when_it_is_not_allowed(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    verifier = TokenVerifier(
        cache,
        issuers=[f"{tokens.directory.url}/{{tenantid}}/"],
        audiences=[CONFIGURATION],
        tenant_ids=[str(uuid.uuid4())],
    )
    await refused(verifier, await tokens.get(f"{CONFIGURATION}/.default"), "tenant not allowed")


async def test_a_token_verified_after_it_expired_is_refused(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{CONFIGURATION}/.default")
    verifier = TokenVerifier(
        cache,
        issuers=[tokens.v1_issuer],
        audiences=[CONFIGURATION],
        clock=lambda: time.time() + 3600 + 301,
    )
    await refused(verifier, token, "token expired")


async def test_a_token_verified_before_its_nbf_is_refused(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{CONFIGURATION}/.default")
    verifier = TokenVerifier(
        cache,
        issuers=[tokens.v1_issuer],
        audiences=[CONFIGURATION],
        clock=lambda: time.time() - 301,
    )
    await refused(verifier, token, "token not yet valid")


# --- forgeries --------------------------------------------------------------------------------


def _parts(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    def decode(text: str) -> dict[str, object]:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        assert isinstance(value, dict)
        return value

    head, body, signature = token.split(".")
    return decode(head), decode(body), signature


async def test_a_tampered_directory_token_fails_its_signature(
    tokens: Tokens, cache: IssuerMetadataCache
) -> None:
    token = await tokens.get(f"{CONFIGURATION}/.default")
    _, claims, signature = _parts(token)
    claims["oid"] = str(uuid.uuid4())
    tampered = f"{token.split('.')[0]}.{segment(claims)}.{signature}"
    verifier = TokenVerifier(cache, issuers=[tokens.v1_issuer], audiences=[CONFIGURATION])
    await refused(verifier, tampered, "signature invalid")


async def test_key_pointing_headers_are_neither_fetched_nor_used(
    tokens: Tokens, cache: IssuerMetadataCache, listener: Listener, attacker_key: rsa.RSAPrivateKey
) -> None:
    # C.5 case 20: the directory's kid, the attacker's key, and four ways to point at it.
    head, claims, _ = _parts(await tokens.get(f"{CONFIGURATION}/.default"))
    numbers = attacker_key.public_key().public_numbers()
    head.update(
        jku=f"{listener.url}/keys",
        x5u=f"{listener.url}/cert.pem",
        jwk={"kty": "RSA", "n": b64(numbers.n.to_bytes(256, "big")), "e": "AQAB"},
        x5c=["MIIC"],
    )
    forged = compact(head, claims, attacker_key)
    verifier = TokenVerifier(cache, issuers=[tokens.v1_issuer], audiences=[CONFIGURATION])
    await refused(verifier, forged, "signature invalid")
    assert listener.connections() == 0


async def test_a_token_from_an_untrusted_issuer_never_makes_the_verifier_contact_it(
    tokens: Tokens, cache: IssuerMetadataCache, listener: Listener, attacker_key: rsa.RSAPrivateKey
) -> None:
    head, claims, _ = _parts(await tokens.get(f"{CONFIGURATION}/.default"))
    claims["iss"] = f"{listener.url}/{tokens.directory.tenant_id}/"
    forged = compact(head, claims, attacker_key)
    verifier = TokenVerifier(cache, issuers=[tokens.v1_issuer], audiences=[CONFIGURATION])
    await refused(verifier, forged, "issuer not trusted")
    assert listener.connections() == 0


async def test_a_path_traversal_kid_is_only_looked_up_in_the_issuer_jwks(
    tokens: Tokens, cache: IssuerMetadataCache, attacker_key: rsa.RSAPrivateKey
) -> None:
    head, claims, _ = _parts(await tokens.get(f"{CONFIGURATION}/.default"))
    verifier = TokenVerifier(cache, issuers=[tokens.v1_issuer], audiences=[CONFIGURATION])
    for kid in ("../../../../dev/null", "' OR 1=1 --"):
        head.update(kid=kid, x5t=kid)
        await refused(verifier, compact(head, claims, attacker_key), "signing key not found")
    head["kid"] = "k" * 10_000
    await refused(verifier, compact(head, claims, attacker_key), "kid missing or invalid")


async def test_a_trusted_issuer_whose_discovery_names_another_issuer_is_unavailable(
    tokens: Tokens, cache: IssuerMetadataCache, attacker_key: rsa.RSAPrivateKey
) -> None:
    # The directory's /common/ document names the templated issuer, not /common/: a token
    # claiming /common/ as its issuer cannot borrow the tenant's keys through it.
    common = f"{tokens.directory.url}/common/"
    head, claims, _ = _parts(await tokens.get(f"{CONFIGURATION}/.default"))
    claims["iss"] = common
    forged = compact(head, claims, attacker_key)
    verifier = TokenVerifier(cache, issuers=[common], audiences=[CONFIGURATION])
    await refused(verifier, forged, "issuer metadata unavailable")


async def test_an_unreachable_trusted_issuer_refuses_its_tokens(
    tokens: Tokens, listener: Listener, attacker_key: rsa.RSAPrivateKey
) -> None:
    issuer = f"{listener.url}/{tokens.directory.tenant_id}/"
    head, claims, _ = _parts(await tokens.get(f"{CONFIGURATION}/.default"))
    claims["iss"] = issuer
    async with IssuerMetadataCache(timeout_seconds=0.5) as quick:
        verifier = TokenVerifier(quick, issuers=[issuer], audiences=[CONFIGURATION])
        await refused(verifier, compact(head, claims, attacker_key), "issuer metadata unavailable")
    assert listener.connections() == 1
