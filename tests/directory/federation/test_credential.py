"""parse_federated_credential follows Graph's rules (entra.md §3.1)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tollhouse.directory.federation import (
    DEFAULT_AUDIENCE,
    MAX_FEDERATED_CREDENTIALS_PER_APP,
    CredentialError,
    FederatedCredential,
    FederationError,
    parse_federated_credential,
)

ISSUER = "https://westeurope.oic.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/abc/"
SUBJECT = "system:serviceaccount:apim-gateway-wi:apim-gateway-workload-identity"


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "kubernetes-federated-identity",
        "issuer": ISSUER,
        "subject": SUBJECT,
        "audiences": ["api://AzureADTokenExchange"],
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def rejected_field(document: Any) -> str:
    with pytest.raises(CredentialError) as caught:
        parse_federated_credential(document)
    assert isinstance(caught.value, FederationError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.status == 400
    assert str(caught.value).startswith(caught.value.field)
    return caught.value.field


def test_the_azwi_kubernetes_credential_parses_to_its_values() -> None:
    credential = parse_federated_credential(doc(description="gateway in AKS"))
    assert credential.name == "kubernetes-federated-identity"
    assert credential.issuer == ISSUER
    assert credential.subject == SUBJECT
    assert credential.audiences == ("api://AzureADTokenExchange",)
    assert credential.description == "gateway in AKS"
    assert uuid.UUID(credential.id)


def test_audiences_default_to_the_token_exchange_audience() -> None:
    assert parse_federated_credential(doc(audiences=...)).audiences == (DEFAULT_AUDIENCE,)
    assert parse_federated_credential(doc(audiences=None)).audiences == (DEFAULT_AUDIENCE,)
    assert DEFAULT_AUDIENCE == "api://AzureADTokenExchange"


def test_a_given_id_is_kept_and_a_missing_one_is_made() -> None:
    given = str(uuid.uuid4())
    assert parse_federated_credential(doc(id=given)).id == given
    assert parse_federated_credential(doc()).id != parse_federated_credential(doc()).id
    assert rejected_field(doc(id="not-a-guid")) == "id"


def test_the_credential_round_trips_through_its_graph_shape() -> None:
    credential = parse_federated_credential(doc())
    assert parse_federated_credential(credential.to_graph()) == credential


@pytest.mark.parametrize("name", ["abc", "a" * 120, "k8s_fic-1", "0-leading-digit"])
def test_names_of_3_to_120_url_friendly_characters_are_accepted(name: str) -> None:
    assert parse_federated_credential(doc(name=name)).name == name


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 121,
        "-leading-dash",
        "_leading",
        "has space",
        "dot.ted",
        "slash/x",
        "é-acute",
        "trailing-newline\n",
        "",
        42,
        ...,
    ],
)
def test_names_breaking_the_rules_are_refused_naming_the_field(name: Any) -> None:
    assert rejected_field(doc(name=name)) == "name"


def test_an_issuer_of_600_characters_is_accepted_and_601_refused() -> None:
    base = "https://issuer.example/"
    assert parse_federated_credential(doc(issuer=base + "a" * (600 - len(base))))
    assert rejected_field(doc(issuer=base + "a" * (601 - len(base)))) == "issuer"


@pytest.mark.parametrize(
    "issuer",
    [
        "http://issuer.example/",
        "issuer.example",
        "https://",
        "https:///path",
        " https://issuer.example/",
        "https://issuer.example/ ",
        "https://issuer.example/a b",
        "https://issuer.example/\t",
        "https://issuer.example/?tenant=x",
        "https://issuer.example/#frag",
        "https://user:pw@issuer.example/",
        "https://issuer.example:99999/",
        "",
        None,
        ["https://issuer.example/"],
    ],
)
def test_issuers_that_are_not_plain_https_urls_are_refused(issuer: Any) -> None:
    assert rejected_field(doc(issuer=issuer)) == "issuer"


def test_a_subject_must_have_1_to_600_characters() -> None:
    assert parse_federated_credential(doc(subject="s")).subject == "s"
    assert parse_federated_credential(doc(subject="s" * 600)).subject == "s" * 600
    for subject in ["", "s" * 601, None, ..., 7]:
        assert rejected_field(doc(subject=subject)) == "subject"


@pytest.mark.parametrize(
    "audiences",
    [[], ["a", "b"], "api://AzureADTokenExchange", [""], ["a" * 601], [None], {"a": 1}],
)
def test_audiences_must_be_exactly_one_value_of_at_most_600_characters(audiences: Any) -> None:
    assert rejected_field(doc(audiences=audiences)) == "audiences"


def test_an_audience_of_600_characters_is_accepted() -> None:
    assert parse_federated_credential(doc(audiences=["a" * 600])).audiences == ("a" * 600,)


def test_a_description_may_be_absent_and_holds_at_most_600_characters() -> None:
    assert parse_federated_credential(doc()).description is None
    assert parse_federated_credential(doc(description="d" * 600)).description == "d" * 600
    assert rejected_field(doc(description="d" * 601)) == "description"
    assert rejected_field(doc(description=5)) == "description"


def test_flexible_credentials_are_refused_rather_than_silently_ignored() -> None:
    expression = {"value": "claims['sub'] matches 'repo:*'", "languageVersion": 1}
    assert rejected_field(doc(claimsMatchingExpression=expression)) == "claimsMatchingExpression"


@pytest.mark.parametrize("document", [None, [], "text", 3])
def test_a_document_that_is_not_an_object_is_refused(document: Any) -> None:
    assert rejected_field(document) == "body"


def test_an_application_holds_at_most_20_federated_credentials() -> None:
    assert MAX_FEDERATED_CREDENTIALS_PER_APP == 20


def test_credentials_are_frozen_values() -> None:
    credential = FederatedCredential(id="1", name="abc", issuer=ISSUER, subject=SUBJECT)
    with pytest.raises(AttributeError):
        credential.issuer = "https://other.example/"  # type: ignore[misc]
    assert credential.audiences == (DEFAULT_AUDIENCE,)
