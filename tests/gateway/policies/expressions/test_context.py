"""Reading `context`: C#-named attributes of caller-supplied objects, and APIM's helpers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from tollhouse.gateway.policies.expressions import (
    BasicAuthCredentials,
    ExpressionRuntimeError,
    JObject,
    Jwt,
)

from .doubles import Body, Context, Request
from .helpers import ev


def _segment(data: dict[str, object]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


JWT = ".".join(
    [
        _segment({"alg": "RS256", "typ": "JWT", "kid": "k1"}),
        _segment(
            {
                "iss": "https://issuer",
                "sub": "user-1",
                "aud": ["api://a", "api://b"],
                "exp": 1_700_000_000,
                "roles": ["reader", "writer"],
                "tid": "t-1",
            }
        ),
        "c2lnbmF0dXJl",
    ]
)


def test_request_properties() -> None:
    context = Context(Request(Method="POST", Headers={"X-Id": ["7"]}))
    assert ev("context.Request.Method", context) == "POST"
    assert ev("context.Request.Url.Path", context) == "/orders/42"
    assert ev("context.Request.Url.Host", context) == "api.example.com"
    assert ev('context.Request.Url.Query.GetValueOrDefault("page", "1")', context) == "2"
    assert ev("context.Request.Url.ToString()", context) == "https://api.example.com/orders/42"
    assert ev('context.Request.MatchedParameters["id"]', context) == "42"
    assert ev("context.Request.IpAddress", context) == "203.0.113.7"
    assert ev("context.Deployment.GatewayId", context) == "gw-1"
    assert ev("context.RequestId", context) == "c0ffee00-0000-0000-0000-000000000001"
    assert ev("context.Timestamp.Year", context) == 2024


def test_headers_get_value_or_default_joins_repeated_values_and_ignores_case() -> None:
    context = Context(Request(Headers={"Accept": ["a/b", "c/d"], "X-One": ["1"]}))
    assert ev('context.Request.Headers.GetValueOrDefault("accept", "")', context) == "a/b,c/d"
    assert ev('context.Request.Headers.GetValueOrDefault("x-missing", "none")', context) == "none"
    assert ev('context.Request.Headers.ContainsKey("x-one")', context) is True
    assert ev('context.Request.Headers["X-One"][0]', context) == "1"


def test_body_as_string_and_jobject_pass_preserve_content() -> None:
    body = Body('{"customer": {"tier": "gold"}, "items": [1, 2]}')
    context = Context(Request(Body=body))
    text = 'context.Request.Body.As<JObject>(preserveContent: true)["customer"]["tier"].ToString()'
    assert ev(text, context) == "gold"
    assert ev("context.Request.Body.As<string>()", context) == body.text
    assert body.reads == [True, False]
    assert isinstance(
        ev("context.Request.Body.As<JObject>(preserveContent: true)", context), JObject
    )


def test_context_methods_can_be_called_as_statements() -> None:
    context = Context()
    assert ev('{ context.Trace("src", "hello " + 1); return true; }', context) is True
    assert context.traced == [("src", "hello 1")]


def test_private_and_python_attributes_are_not_reachable() -> None:
    with pytest.raises(ExpressionRuntimeError):
        ev("context.traced")
    with pytest.raises(ExpressionRuntimeError):
        ev("context.Request.Method.Length.Foo")


def test_variables_argument_replaces_context_variables() -> None:
    assert ev('(string)context.Variables["who"]', who="me") == "me"


def test_as_jwt_parses_without_verifying() -> None:
    context = Context(Request(Headers={"Authorization": ["Bearer " + JWT]}))
    base = 'context.Request.Headers.GetValueOrDefault("Authorization", "").AsJwt()'
    jwt = ev(base, context)
    assert isinstance(jwt, Jwt)
    assert ev(base + ".Subject", context) == "user-1"
    assert ev(base + ".Issuer", context) == "https://issuer"
    assert ev(base + '.Claims["roles"].Contains("writer")', context) is True
    assert ev(base + '.Claims.GetValueOrDefault("tid", "")', context) == "t-1"
    assert ev(base + '.Header["kid"]', context) == "k1"
    assert ev(base + ".Audiences.Count()", context) == 2
    assert ev(base + ".ExpirationTime", context) == datetime.fromtimestamp(1_700_000_000, UTC)
    assert ev(base + ".ExpirationTime < DateTime.UtcNow", context) is True


@pytest.mark.parametrize("text", ["", "Bearer", "a.b", "not.a.jwt", "x.y.z.w"])
def test_as_jwt_of_garbage_is_null(text: str) -> None:
    assert ev('context.Variables["t"].ToString().AsJwt()', t=text) is None


def test_as_basic() -> None:
    header = "Basic " + base64.b64encode(b"alice:s3:cret").decode()
    creds = ev('((string)context.Variables["h"]).AsBasic()', h=header)
    assert creds == BasicAuthCredentials("alice", "s3:cret")
    assert ev('((string)context.Variables["h"]).AsBasic().UserId', h=header) == "alice"
    assert ev('((string)context.Variables["h"]).AsBasic()?.Password', h="Bearer x") is None
    assert ev('((string)context.Variables["h"]).AsBasic()', h="Basic !!!") is None
