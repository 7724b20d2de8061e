"""`IResponse`: the object send-request stores in a variable, read as APIM users write it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tollhouse.gateway.policies.expressions import (
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
)

from .doubles import Body
from .helpers import ev


@dataclass
class Response:
    """A caller-supplied object that says it is an IResponse, as send-request's result does."""

    StatusCode: int = 200
    Headers: dict[str, list[str]] = field(default_factory=lambda: {"x-id": ["7"]})
    Body: Body = field(default_factory=lambda: Body('{"active": true, "n": 3}'))
    csharp_types = frozenset({"IResponse"})


@dataclass
class NotAResponse:
    StatusCode: int = 200


def test_a_cast_to_iresponse_reads_status_headers_and_body() -> None:
    r = Response()
    assert ev('((IResponse)context.Variables["r"]).StatusCode', r=r) == 200
    assert ev('((IResponse)context.Variables["r"]).Headers["x-id"][0]', r=r) == "7"
    assert ev('(bool)((IResponse)context.Variables["r"]).Body.As<JObject>()["active"]', r=r)
    assert ev('((IResponse)context.Variables["r"]).Body.As<string>()', r=r).startswith("{")


def test_get_value_or_default_of_iresponse() -> None:
    r = Response(StatusCode=404)
    text = 'context.Variables.GetValueOrDefault<IResponse>("{name}")'
    assert ev(text.format(name="r") + ".StatusCode", r=r) == 404
    assert ev(text.format(name="missing") + " == null", r=r) is True


def test_a_null_response_casts_to_null() -> None:
    # send-request with ignore-error="true" leaves null after a failed call.
    assert ev('(IResponse)context.Variables["r"] == null', r=None) is True
    with pytest.raises(ExpressionRuntimeError):
        ev('((IResponse)context.Variables["r"]).StatusCode', r=None)


def test_casting_something_else_to_iresponse_fails() -> None:
    with pytest.raises(ExpressionRuntimeError, match="IResponse"):
        ev('((IResponse)context.Variables["r"]).StatusCode', r=NotAResponse())
    with pytest.raises(ExpressionRuntimeError, match="IResponse"):
        ev('(IResponse)context.Variables["r"]', r="text")


def test_is_and_as_iresponse() -> None:
    assert ev('context.Variables["r"] is IResponse', r=Response()) is True
    assert ev('context.Variables["r"] is IResponse', r=NotAResponse()) is False
    assert ev('(context.Variables["r"] as IResponse) == null', r=NotAResponse()) is True


def test_the_type_list_stays_closed() -> None:
    with pytest.raises(ExpressionError, match="IRequest"):
        compile_expression('@(((IRequest)context.Variables["r"]).Method)')
