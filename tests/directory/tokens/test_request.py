"""Reading the client-credentials request: fields, Basic auth, scope rules."""

from __future__ import annotations

import base64

import pytest

from tollhouse.directory.tokens import EntraError, parse_scope, parse_token_request

BASE = [
    ("grant_type", "client_credentials"),
    ("client_id", "cid"),
    ("scope", "https://management.azure.com/.default"),
]


def code_of(fields: list[tuple[str, str]], authorization: str | None = None) -> int:
    with pytest.raises(EntraError) as raised:
        parse_token_request(fields, authorization)
    return raised.value.code


def test_unknown_fields_such_as_client_info_and_claims_are_ignored() -> None:
    request = parse_token_request(
        [*BASE, ("client_secret", "s"), ("client_info", "1"), ("claims", "{}")]
    )
    assert request.client_secret == "s"
    assert request.resource == "https://management.azure.com"


def test_msal_reserved_scopes_do_not_count_as_resources() -> None:
    assert parse_scope("offline_access openid api://x/.default profile") == "api://x"


def test_the_same_resource_twice_is_one_resource() -> None:
    assert parse_scope("api://x/.default api://x/.default") == "api://x"


def test_basic_credentials_are_form_decoded() -> None:
    value = base64.b64encode(b"cid:a%2Bb%3Ac").decode()
    request = parse_token_request(BASE, f"Basic {value}")
    assert request.client_secret == "a+b:c"


def test_basic_credentials_for_another_client_are_refused() -> None:
    value = base64.b64encode(b"other:x").decode()
    assert code_of(BASE, f"Basic {value}") == 900144


def test_an_assertion_without_its_type_is_refused() -> None:
    assert code_of([*BASE, ("client_assertion", "a.b.c")]) == 900144


def test_a_secret_and_an_assertion_together_are_refused() -> None:
    fields = [
        *BASE,
        ("client_secret", "s"),
        ("client_assertion", "a.b.c"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
    ]
    assert code_of(fields) == 7000218


def test_the_repr_of_a_request_never_shows_the_secret() -> None:
    request = parse_token_request([*BASE, ("client_secret", "super-secret")])
    assert "super-secret" not in repr(request)
