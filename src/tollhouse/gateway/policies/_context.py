"""The `context` policy expressions read (APIM's C# object model, C#-named attributes),
as a view over the per-request `PolicyContext`."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Mapping

from tollhouse.gateway.policies._execute import HeaderPairs, PolicyContext


def _multi(pairs: HeaderPairs) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


class BodyView:
    def __init__(self, data: bytes | None) -> None:
        self._data = data

    def As(self, type_name: str, preserveContent: bool = False) -> object:
        if self._data is None:
            raise ValueError("the body is not buffered (use forward-request buffer-request-body)")
        text = self._data.decode("utf-8", errors="replace")
        if type_name == "string":
            return text
        return json.loads(text)


class UrlView:
    def __init__(self, ctx: PolicyContext, host: str, scheme: str) -> None:
        self.Path = ctx.request.path
        self.Host = host
        self.Scheme = scheme
        self.Port = 443 if scheme == "https" else 80
        self.Query = _multi(ctx.request.query)
        self.QueryString = "&".join(f"{k}={v}" for k, v in ctx.request.query)

    def ToString(self) -> str:
        query = f"?{self.QueryString}" if self.QueryString else ""
        return f"{self.Scheme}://{self.Host}{self.Path}{query}"


class RequestView:
    def __init__(self, ctx: PolicyContext, host: str, scheme: str) -> None:
        request = ctx.request
        self.Method = request.method
        self.Url = UrlView(ctx, host, scheme)
        self.Headers = _multi(request.headers)
        self.MatchedParameters = dict(request.matched_parameters)
        self.IpAddress = request.client_ip
        self.Body = BodyView(request.body.buffered)


class ResponseView:
    def __init__(self, ctx: PolicyContext) -> None:
        self.StatusCode = ctx.response.status
        self.StatusReason = ctx.response.reason
        self.Headers = _multi(ctx.response.headers)


class Named:
    def __init__(self, name: str) -> None:
        self.Name = name
        self.Id = name


class DeploymentView:
    def __init__(self, gateway_id: str, service_name: str) -> None:
        self.GatewayId = gateway_id
        self.ServiceName = service_name
        self.Region = ""


class LastErrorView:
    def __init__(self, ctx: PolicyContext) -> None:
        error = ctx.last_error
        assert error is not None
        self.Source = error.source
        self.Reason = error.reason
        self.Message = error.message
        self.Scope = error.scope
        self.Section = error.section
        self.Path = error.path
        self.PolicyId = error.policy_id


class ExpressionContext:
    """`context` for one evaluation."""

    def __init__(
        self,
        ctx: PolicyContext,
        *,
        gateway_id: str,
        service_name: str,
        host: str,
        scheme: str,
        request_id: str,
        started: float,
        subscription: Mapping[str, str] | None,
    ) -> None:
        self.Request = RequestView(ctx, host, scheme)
        self.Response = ResponseView(ctx)
        self.Variables = ctx.variables
        self.Api = Named(ctx.api)
        self.Operation = Named(ctx.operation)
        self.Product = Named(ctx.product) if ctx.product else None
        self.Subscription = (
            Named(subscription["name"]) if subscription and subscription.get("name") else None
        )
        self.Deployment = DeploymentView(gateway_id, service_name)
        self.RequestId = request_id
        self.Timestamp = dt.datetime.now(dt.UTC)
        self.Elapsed = dt.timedelta(seconds=time.perf_counter() - started)
        self.LastError = LastErrorView(ctx) if ctx.last_error is not None else None


def new_request_id() -> str:
    return str(uuid.uuid4())
