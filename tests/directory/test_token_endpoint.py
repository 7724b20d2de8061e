"""Every bad token request answers Entra's error, with the AADSTS code of entra.md §1.3.

Never a 500, never the secret or the assertion echoed back; `invalid_client` is 401,
everything else 400, throttling 429.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import RunningDirectory
from tests.directory.helpers import AppUnderTest, make_app

SCOPE = "https://management.azure.com/.default"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def client(directory_server: RunningDirectory) -> Any:
    context = ssl.create_default_context(cafile=directory_server.ca_bundle)
    with httpx.Client(verify=context, timeout=30) as http:
        yield http


def post(
    client: httpx.Client, running: RunningDirectory, data: Any, tenant: str | None = None, **kw: Any
) -> httpx.Response:
    return client.post(running.token_url(tenant), data=data, **kw)


def assert_entra_error(response: httpx.Response, status: int, error: str, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    for field in ("timestamp", "trace_id", "correlation_id"):
        assert body[field]
    assert "Trace ID: " in body["error_description"]


def secret_form(app: AppUnderTest, **extra: str) -> dict[str, str]:
    assert app.secret is not None
    return {
        "grant_type": "client_credentials",
        "client_id": app.app_id,
        "client_secret": app.secret,
        "scope": SCOPE,
        **extra,
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def certificate_assertion(
    running: RunningDirectory,
    app: AppUnderTest,
    *,
    claims: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    algorithm: str = "RS256",
    key: Any = None,
) -> str:
    assert app.certificate is not None
    der = app.certificate.certificate.public_bytes(serialization.Encoding.DER)
    now = time.time()
    body = {
        "aud": running.token_url(),
        "iss": app.app_id,
        "sub": app.app_id,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
    }
    body.update(claims or {})
    header = {"x5t": b64url(hashlib.sha1(der).digest())}
    header.update(headers or {})
    signing_key = key if key is not None else app.certificate.private_key_pem
    return jwt.encode(body, signing_key, algorithm=algorithm, headers=header)


def assertion_form(app: AppUnderTest, assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": app.app_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        "scope": SCOPE,
    }


# --- client secrets ------------------------------------------------------------------------


def test_a_right_secret_gets_a_token_with_entra_success_fields(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] >= 3600
    assert body["ext_expires_in"] == body["expires_in"]
    assert body["refresh_in"] == body["expires_in"] // 2
    assert "refresh_token" not in body
    assert response.headers["cache-control"] == "no-store"


def test_a_wrong_secret_is_invalid_client_7000215_and_not_echoed(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(
        client, directory_server, secret_form(app, client_secret="wrong-secret-value-123")
    )
    assert_entra_error(response, 401, "invalid_client", 7000215)
    assert "wrong-secret-value-123" not in response.text


def test_an_expired_secret_is_invalid_client_7000222(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    store, tenant = directory_server.directory.store, directory_server.tenant_id
    past = time.time() - 7200
    _, old = store.add_password(tenant, app.object_id, now=past, end=past + 60)
    response = post(client, directory_server, secret_form(app, client_secret=old))
    assert_entra_error(response, 401, "invalid_client", 7000222)


def test_the_secret_may_come_by_http_basic(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    form = secret_form(app)
    del form["client_secret"]
    response = post(client, directory_server, form, auth=(app.app_id, app.secret or ""))
    assert response.status_code == 200, response.text


def test_basic_and_a_body_secret_together_are_invalid_request(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app), auth=(app.app_id, app.secret or ""))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_an_unknown_application_is_unauthorized_client_700016(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": str(uuid.uuid4()),
        "client_secret": "x",
        "scope": SCOPE,
    }
    assert_entra_error(post(client, directory_server, form), 400, "unauthorized_client", 700016)


def test_an_application_without_service_principal_is_invalid_client_7000229(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    store, tenant, now = directory_server.directory.store, directory_server.tenant_id, time.time()
    app = store.create_application(tenant, "no-sp", now=now)
    _, secret = store.add_password(tenant, app.id, now=now)
    form = {
        "grant_type": "client_credentials",
        "client_id": app.app_id,
        "client_secret": secret,
        "scope": SCOPE,
    }
    assert_entra_error(post(client, directory_server, form), 401, "invalid_client", 7000229)


# --- tenants -------------------------------------------------------------------------------


def test_an_unknown_tenant_guid_is_90002(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app), tenant=str(uuid.uuid4()))
    assert_entra_error(response, 400, "invalid_request", 90002)


def test_an_unknown_tenant_domain_is_90002(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app), tenant="contoso.example")
    assert_entra_error(response, 400, "invalid_request", 90002)


def test_a_malformed_tenant_is_900023(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app), tenant="not_a_tenant")
    assert_entra_error(response, 400, "invalid_request", 900023)


def test_the_tenant_domain_is_case_insensitive(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app), tenant="Tollhouse.LOCAL")
    assert response.status_code == 200, response.text


def test_client_credentials_on_common_is_refused(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app), tenant="common")
    assert_entra_error(response, 400, "invalid_request", 9001023)


# --- scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [
        ("https://management.azure.com/user_impersonation", "invalid_scope", 1002012),
        ("/.default", "invalid_scope", 1002012),
        (
            "https://management.azure.com/.default https://graph.microsoft.com/.default",
            "invalid_scope",
            700022,
        ),
        ("api://nobody-registered-this/.default", "invalid_resource", 500011),
    ],
)
def test_bad_scopes_answer_their_codes(
    client: httpx.Client, directory_server: RunningDirectory, scope: str, error: str, code: int
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app, scope=scope))
    assert_entra_error(response, 400, error, code)


def test_a_resource_named_by_app_id_uri_gets_tokens_for_that_app(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    store, tenant, now = directory_server.directory.store, directory_server.tenant_id, time.time()
    api = store.create_application(
        tenant, "some api", identifier_uris=[f"api://{uuid.uuid4()}"], token_version=2, now=now
    )
    app = make_app(directory_server)
    response = post(
        client, directory_server, secret_form(app, scope=f"{api.identifier_uris[0]}/.default")
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == api.app_id
    assert claims["ver"] == "2.0"
    assert claims["azp"] == app.app_id
    assert claims["azpacr"] == "1"
    assert claims["iss"] == f"{directory_server.url}/{tenant}/v2.0"


# --- request shape -------------------------------------------------------------------------


def test_a_missing_grant_type_is_900144(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    form = secret_form(app)
    del form["grant_type"]
    assert_entra_error(post(client, directory_server, form), 400, "invalid_request", 900144)


def test_the_password_grant_is_unsupported_70003(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = post(client, directory_server, secret_form(app, grant_type="password"))
    assert_entra_error(response, 400, "unsupported_grant_type", 70003)


def test_no_credential_at_all_is_7000218(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    form = secret_form(app)
    del form["client_secret"]
    assert_entra_error(post(client, directory_server, form), 400, "invalid_request", 7000218)


def test_a_duplicated_parameter_is_invalid_request(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    body = httpx.QueryParams(secret_form(app)).add("scope", SCOPE)
    response = client.post(
        directory_server.token_url(),
        content=str(body),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_get_on_the_token_endpoint_is_invalid_request(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    response = client.get(directory_server.token_url())
    assert_entra_error(response, 400, "invalid_request", 900561)


def test_a_json_body_is_invalid_request(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    response = client.post(directory_server.token_url(), json=secret_form(app))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_huge_body_is_refused_before_it_is_read(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    response = client.post(
        directory_server.token_url(),
        content=b"a=" + b"x" * (1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_garbage_never_causes_a_server_error(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    bodies = [
        b"",
        b"%%%",
        b"\xff\xfe\x00",
        b"grant_type=client_credentials&client_id=%ZZ",
        b"&&&===",
        b"grant_type=client_credentials&client_assertion_type=x&client_assertion=a.b.c"
        b"&client_id=00000000-0000-0000-0000-000000000000&scope=x/.default",
    ]
    for body in bodies:
        response = client.post(
            directory_server.token_url(),
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert 400 <= response.status_code < 500, (body, response.text)
        assert "error" in response.json()


# --- certificate assertions ----------------------------------------------------------------


def test_a_padded_x5t_s256_ps256_assertion_with_float_times_is_accepted(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assert app.certificate is not None
    der = app.certificate.certificate.public_bytes(serialization.Encoding.DER)
    padded = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode()
    assertion = certificate_assertion(
        directory_server,
        app,
        algorithm="PS256",
        headers={"x5t#S256": padded, "x5t": None},
        claims={"nbf": time.time(), "iat": None},
    )
    response = post(client, directory_server, assertion_form(app, assertion))
    assert response.status_code == 200, response.text


def test_one_assertion_may_be_used_twice(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assertion = certificate_assertion(directory_server, app)
    for _ in range(2):
        response = post(client, directory_server, assertion_form(app, assertion))
        assert response.status_code == 200, response.text


def test_an_assertion_for_another_audience_is_refused(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assertion = certificate_assertion(
        directory_server, app, claims={"aud": f"{directory_server.url}/"}
    )
    response = post(client, directory_server, assertion_form(app, assertion))
    assert_entra_error(response, 401, "invalid_client", 50027)
    assert assertion not in response.text


def test_an_assertion_with_two_audiences_is_refused(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assertion = certificate_assertion(
        directory_server,
        app,
        claims={"aud": [directory_server.token_url(), "https://elsewhere.example/token"]},
    )
    response = post(client, directory_server, assertion_form(app, assertion))
    assert_entra_error(response, 401, "invalid_client", 50027)


def test_an_expired_assertion_is_700024(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    past = time.time() - 3600
    assertion = certificate_assertion(
        directory_server, app, claims={"iat": past, "exp": past + 600}
    )
    response = post(client, directory_server, assertion_form(app, assertion))
    assert_entra_error(response, 401, "invalid_client", 700024)
    assert "Current time:" in response.json()["error_description"]


def test_an_assertion_within_five_minutes_of_skew_is_accepted(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    now = time.time()
    assertion = certificate_assertion(
        directory_server, app, claims={"nbf": now + 200, "iat": now + 200, "exp": now + 700}
    )
    response = post(client, directory_server, assertion_form(app, assertion))
    assert response.status_code == 200, response.text


def test_an_assertion_from_an_unregistered_key_is_700027_with_the_thumbprint(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    other = make_app(directory_server, secret=False, certificate=True)
    assert other.certificate is not None
    der = other.certificate.certificate.public_bytes(serialization.Encoding.DER)
    sha1 = hashlib.sha1(der).digest()
    assertion = certificate_assertion(
        directory_server,
        app,
        headers={"x5t": b64url(sha1)},
        key=other.certificate.private_key_pem,
    )
    response = post(client, directory_server, assertion_form(app, assertion))
    assert_entra_error(response, 401, "invalid_client", 700027)
    assert sha1.hex().upper() in response.json()["error_description"]


def test_a_bad_signature_is_700027(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    other = make_app(directory_server, secret=False, certificate=True)
    assert other.certificate is not None
    assertion = certificate_assertion(directory_server, app, key=other.certificate.private_key_pem)
    response = post(client, directory_server, assertion_form(app, assertion))
    assert_entra_error(response, 401, "invalid_client", 700027)
    assert "did not match" in response.json()["error_description"]


def test_an_assertion_whose_sub_is_not_the_client_is_50048(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assertion = certificate_assertion(directory_server, app, claims={"sub": str(uuid.uuid4())})
    response = post(client, directory_server, assertion_form(app, assertion))
    assert_entra_error(response, 401, "invalid_client", 50048)


def test_an_hs256_assertion_keyed_with_the_certificate_is_refused(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    assert app.certificate is not None
    header = b64url(b'{"alg":"HS256","typ":"JWT","x5t":"AAAA"}')
    now = time.time()
    payload = b64url(
        (
            f'{{"aud":"{directory_server.token_url()}","iss":"{app.app_id}",'
            f'"sub":"{app.app_id}","exp":{now + 300}}}'
        ).encode()
    )
    import hmac

    signature = b64url(
        hmac.new(
            app.certificate.certificate_pem, f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
    )
    response = post(
        client, directory_server, assertion_form(app, f"{header}.{payload}.{signature}")
    )
    assert_entra_error(response, 401, "invalid_client", 50027)


def test_an_unsigned_assertion_is_refused(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    header = b64url(b'{"alg":"none"}')
    payload = b64url(f'{{"iss":"{app.app_id}","sub":"{app.app_id}"}}'.encode())
    response = post(client, directory_server, assertion_form(app, f"{header}.{payload}."))
    assert_entra_error(response, 401, "invalid_client", 50027)


@pytest.mark.parametrize("garbage", ["a.b", "a.b.c.d", "!!!.???.***", "e30.e30.e30"])
def test_malformed_assertions_are_refused_cleanly(
    client: httpx.Client, directory_server: RunningDirectory, garbage: str
) -> None:
    app = make_app(directory_server, secret=False, certificate=True)
    response = post(client, directory_server, assertion_form(app, garbage))
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "invalid_request")


# --- federated assertions ------------------------------------------------------------------


def test_a_federated_assertion_matching_no_credential_is_70021(
    client: httpx.Client, directory_server: RunningDirectory, kube_issuer: Any
) -> None:
    app = make_app(
        directory_server,
        secret=False,
        federated=(kube_issuer.issuer_url, "system:serviceaccount:other:sa"),
    )
    response = post(
        client, directory_server, assertion_form(app, kube_issuer.token_file.read_text())
    )
    assert_entra_error(response, 400, "invalid_request", 70021)
    description = response.json()["error_description"]
    assert kube_issuer.subject in description


def test_a_federated_credential_differing_by_a_trailing_slash_does_not_match(
    client: httpx.Client, directory_server: RunningDirectory, kube_issuer: Any
) -> None:
    app = make_app(
        directory_server,
        secret=False,
        federated=(kube_issuer.issuer_url.rstrip("/"), kube_issuer.subject),
    )
    response = post(
        client, directory_server, assertion_form(app, kube_issuer.token_file.read_text())
    )
    assert_entra_error(response, 400, "invalid_request", 70021)


# --- throttling ----------------------------------------------------------------------------


def test_repeated_failures_are_throttled_per_client(
    client: httpx.Client, directory_server: RunningDirectory
) -> None:
    app = make_app(directory_server)
    bystander = make_app(directory_server)
    limit = directory_server.directory.config.max_auth_failures
    for _ in range(limit):
        response = post(client, directory_server, secret_form(app, client_secret="nope"))
        assert response.status_code == 401
    throttled = post(client, directory_server, secret_form(app))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["error_codes"] == [90055]
    assert post(client, directory_server, secret_form(bystander)).status_code == 200
