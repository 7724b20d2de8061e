"""Operations' example responses in a gateway's configuration, for mock-response."""

from __future__ import annotations

import json

import pytest

from tests.controlplane.snapshot.test_build import SERVICE, R, service
from tollhouse.contracts import ContractError, ResponseExample, parse_configuration
from tollhouse.controlplane.snapshot import build_configuration, response_examples

RESPONSES = [
    {
        "statusCode": 200,
        "representations": [
            {"contentType": "application/json", "examples": {"default": {"value": {"id": 1}}}},
            {"contentType": "Text/Plain", "examples": {"other": {"value": "one"}}},
            {"contentType": "application/xml", "sample": "<id>1</id>"},
            {"contentType": "image/png"},
        ],
    },
    {"statusCode": 404, "representations": [{"contentType": "application/json", "sample": "{}"}]},
    {"statusCode": "200", "representations": [{"contentType": "text/csv", "sample": "x"}]},
    {"statusCode": 999, "representations": [{"contentType": "text/csv", "sample": "x"}]},
    "not an object",
]


def test_examples_and_samples_become_one_example_per_status_and_content_type() -> None:
    assert response_examples(RESPONSES) == (
        ResponseExample(200, "application/json", '{"id": 1}'),
        ResponseExample(200, "text/plain", "one"),
        ResponseExample(200, "application/xml", "<id>1</id>"),
        ResponseExample(404, "application/json", "{}"),
    )
    assert response_examples(None) == () and response_examples({"no": "list"}) == ()


def test_an_operations_examples_travel_and_round_trip() -> None:
    resources = [
        *service(),
        R(
            "apis/echo/operations/mocked",
            "apis/operations",
            {"method": "GET", "urlTemplate": "/mocked", "responses": RESPONSES},
        ),
    ]
    config = build_configuration("gw", SERVICE, 4, resources)
    echo = next(a for a in config.apis if a.name == "echo")
    mocked = next(o for o in echo.operations if o.name == "mocked")
    assert [(e.status, e.content_type) for e in mocked.examples][:2] == [
        (200, "application/json"),
        (200, "text/plain"),
    ]
    document = json.loads(json.dumps(config.to_json()))
    assert parse_configuration(document) == config
    for api in document["apis"]:
        for operation in api["operations"]:
            del operation["examples"]  # a snapshot written before examples travelled
    assert all(not o.examples for a in parse_configuration(document).apis for o in a.operations)


def test_an_example_with_a_bad_status_is_refused_on_load() -> None:
    config = build_configuration("gw", SERVICE, 4, service())
    document = json.loads(json.dumps(config.to_json()))
    document["apis"][0]["operations"][0]["examples"] = [
        {"status": 42, "contentType": "text/plain", "body": ""}
    ]
    with pytest.raises(ContractError):
        parse_configuration(document)
