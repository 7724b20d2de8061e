"""Rotating the signing key: the successor is published first, signs later, and tokens of
the old key keep verifying against the published JWKS."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import RunningDirectory, start_directory
from tests.directory.helpers import make_app

PUBLISH_AHEAD = 1.0


@pytest.fixture
def rotating(tmp_path: Path) -> Iterator[RunningDirectory]:
    running, handle = start_directory(tmp_path, publish_ahead=PUBLISH_AHEAD)
    yield running
    handle.stop()
    running.directory.store.close()


def get_token(http: httpx.Client, running: RunningDirectory, app: Any) -> str:
    response = http.post(
        running.token_url(),
        data={
            "grant_type": "client_credentials",
            "client_id": app.app_id,
            "client_secret": app.secret,
            "scope": "https://management.azure.com/.default",
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def published_kids(http: httpx.Client, running: RunningDirectory) -> list[str]:
    keys = http.get(f"{running.url}/{running.tenant_id}/discovery/v2.0/keys").json()["keys"]
    common = http.get(f"{running.url}/common/discovery/keys").json()["keys"]
    assert keys == common
    return [k["kid"] for k in keys]


def test_rotation_publishes_first_then_signs_and_old_tokens_still_verify(
    rotating: RunningDirectory,
) -> None:
    app = make_app(rotating)
    context = ssl.create_default_context(cafile=rotating.ca_bundle)
    with httpx.Client(verify=context, timeout=30) as http:
        (old_kid,) = published_kids(http, rotating)
        old_token = get_token(http, rotating, app)

        successor = rotating.directory.rotate_keys()
        assert set(published_kids(http, rotating)) == {old_kid, successor.kid}
        assert jwt.get_unverified_header(get_token(http, rotating, app))["kid"] == old_kid

        time.sleep(PUBLISH_AHEAD + 0.2)
        new_token = get_token(http, rotating, app)
        assert jwt.get_unverified_header(new_token)["kid"] == successor.kid

        jwks = jwt.PyJWKClient(
            f"{rotating.url}/{rotating.tenant_id}/discovery/v2.0/keys", ssl_context=context
        )
        for token in (old_token, new_token):
            key = jwks.get_signing_key_from_jwt(token)
            jwt.decode(
                token, key.key, algorithms=["RS256"], audience="https://management.azure.com/"
            )
