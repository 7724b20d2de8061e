"""Running compiled policies over one request: a `PolicyContext` and the section order.

inbound → backend (where forward-request calls the caller's `send`) → outbound; a step may
end the pipeline with a response (return-response, mock-response). On an exception in any
section the remaining steps are skipped and `on-error` runs with `context.LastError` set
(apim-self-hosted-gateway.md §8). An error inside `on-error` ends with APIM's 500.
Nothing here does I/O: forwarding is the `send` callable the pipeline passes in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, quote

from tollhouse.gateway.http import Body

from ._errors import PolicyRuntimeError

HeaderPairs = list[tuple[str, str]]


def header_values(headers: HeaderPairs, name: str) -> list[str]:
    key = name.lower()
    return [v for k, v in headers if k.lower() == key]


def remove_header(headers: HeaderPairs, name: str) -> None:
    key = name.lower()
    headers[:] = [(k, v) for k, v in headers if k.lower() != key]


def parse_query(query: str) -> HeaderPairs:
    return parse_qsl(query, keep_blank_values=True)


def format_query(pairs: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


Send = Callable[["PolicyContext"], Awaitable["PolicyResponse"]]


@dataclass
class PolicyRequest:
    """The request as policies see and change it. Header names keep their case from the
    caller; lookups are case-insensitive. `path` is the backend path (after the API path)."""

    method: str
    path: str
    query: HeaderPairs = field(default_factory=list)
    headers: HeaderPairs = field(default_factory=list)
    body: Body = field(default_factory=Body.empty)
    client_ip: str = ""
    matched_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PolicyResponse:
    status: int = 200
    reason: str = ""
    headers: HeaderPairs = field(default_factory=list)
    body: Body = field(default_factory=Body.empty)


@dataclass(frozen=True)
class ForwardSettings:
    """What forward-request asked for; the pipeline's `send` honours it."""

    timeout: float | None = None
    buffer_request_body: bool = False


@dataclass(frozen=True)
class OutgoingCall:
    """A request a policy makes on its own (send-request, send-one-way-request); the
    pipeline's `call` sends it through the gateway's upstream pool."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    timeout: float


# Raises `UpstreamError` (tollhouse.gateway.http) when the call fails; the body streams.
Call = Callable[[OutgoingCall], Awaitable["PolicyResponse"]]


@dataclass(frozen=True)
class LastError:
    """APIM `context.LastError`."""

    source: str
    reason: str
    message: str
    scope: str
    section: str
    path: str
    policy_id: str


class MetricSink(Protocol):
    """Where emit-metric's values go (the gateway's RequestMetrics); I/O-free."""

    def emit_metric(
        self, namespace: str, name: str, dimensions: Sequence[tuple[str, str]], value: float
    ) -> None: ...


@dataclass
class PolicyContext:
    request: PolicyRequest
    response: PolicyResponse = field(default_factory=PolicyResponse)
    variables: dict[str, object] = field(default_factory=dict)
    last_error: LastError | None = None
    # Service URL of the API unless set-backend-service changed it.
    backend_url: str | None = None
    # Set by forward-request before it calls `send`; the pipeline reads it there.
    forward: ForwardSettings | None = None
    # The pipeline's forwarding, given to `CompiledPolicies.execute`.
    send: Send | None = None
    # How retry waits between attempts; a parameter so that tests need no clock.
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    product: str | None = None
    # Headers added to whatever response ends the request (cors's Access-Control-*).
    final_headers: HeaderPairs = field(default_factory=list)
    api: str = ""
    operation: str = ""
    # What expressions read beyond the above (gateway id, host, request id…), set by the
    # pipeline; opaque here.
    facts: object | None = None
    # emit-metric's destination, supplied by the pipeline; None: metrics are not kept.
    metrics: MetricSink | None = None
    # The expressions' `context` view of this request, made on first use (_context).
    expression_view: object | None = None
    # How send-request reaches other services, and how send-one-way-request starts a call
    # without waiting (False: dropped); set by the pipeline.
    call: Call | None = None
    call_one_way: Callable[[OutgoingCall], bool] | None = None


class Step(Protocol):
    """One compiled policy: returns a response to end the pipeline with, else None."""

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None: ...


@dataclass(frozen=True)
class StepLocation:
    source: str  # the policy's element name
    scope: str
    section: str
    path: str
    policy_id: str


class _StepFailed(Exception):
    def __init__(self, error: LastError, response: PolicyResponse | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.response = response


@dataclass(frozen=True)
class LocatedStep:
    """A step that knows where it came from, for `LastError`."""

    step: Step
    where: StepLocation

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        try:
            return await self.step(ctx)
        except _StepFailed:
            raise
        except PolicyRuntimeError as exc:
            raise _StepFailed(
                self._error(exc.source, exc.reason, exc.message), exc.response
            ) from exc
        except Exception as exc:
            # Any failure of a policy is the request's error, never the gateway's.
            raise _StepFailed(
                self._error(self.where.source, type(exc).__name__, str(exc)), None
            ) from exc

    def _error(self, source: str, reason: str, message: str) -> LastError:
        w = self.where
        return LastError(source, reason, message, w.scope, w.section, w.path, w.policy_id)


async def run_steps(steps: Sequence[Step], ctx: PolicyContext) -> PolicyResponse | None:
    for step in steps:
        response = await step(ctx)
        if response is not None:
            return response
    return None


def apim_error(status: int, message: str) -> PolicyResponse:
    body = json.dumps({"statusCode": status, "message": message}).encode()
    return PolicyResponse(
        status,
        headers=[("content-type", "application/json; charset=utf-8")],
        body=Body(data=body),
    )


@dataclass(frozen=True)
class CompiledPolicies:
    inbound: tuple[Step, ...] = ()
    backend: tuple[Step, ...] = ()
    outbound: tuple[Step, ...] = ()
    on_error: tuple[Step, ...] = ()
    # Set when the policies do nothing but forward the request (APIM's default pipeline):
    # the gateway may then forward without building a policy context.
    forward_only: ForwardSettings | None = None

    async def execute(self, ctx: PolicyContext, send: Send) -> PolicyResponse:
        """Run the sections over `ctx`; forward-request calls `send` to reach the backend (it
        raises `PolicyRuntimeError` for a backend failure, e.g. source `forward-request`, reason
        `BackendConnectionFailure`, with a 502 response, so that on-error sees it)."""
        ctx.send = send
        try:
            response = await self._execute(ctx)
        finally:
            # The expressions' view refers back to the context: left in place, every request
            # would leave a reference cycle for the garbage collector to find.
            ctx.expression_view = None
        for name, value in ctx.final_headers:
            if not header_values(response.headers, name):
                response.headers.append((name, value))
        return response

    async def _execute(self, ctx: PolicyContext) -> PolicyResponse:
        try:
            ended = await run_steps(self.inbound, ctx)
            if ended is not None:
                return ended
            ended = await run_steps(self.backend, ctx)
            if ended is not None:
                return ended
            ended = await run_steps(self.outbound, ctx)
            if ended is not None:
                return ended
            return ctx.response
        except _StepFailed as failed:
            ctx.last_error = failed.error
            ctx.response = failed.response or apim_error(500, "Internal server error")
        try:
            ended = await run_steps(self.on_error, ctx)
        except _StepFailed:
            return apim_error(500, "Internal server error")
        return ended if ended is not None else ctx.response
