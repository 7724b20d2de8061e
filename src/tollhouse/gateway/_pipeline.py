"""The request pipeline: probes, route, subscription, forward (policies plug in here).

A configuration is compiled completely before it is swapped in with one assignment: a request
reads `self.current` once and finishes on that configuration, and a configuration that does
not compile is rejected whole (the sync agent keeps the last good one and reports why).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from tollhouse.contracts import GatewayConfiguration
from tollhouse.gateway.http import (
    Body,
    Headers,
    Reply,
    Request,
    Response,
    Started,
    UpstreamError,
    UpstreamPool,
    UpstreamRequest,
    error_response,
    prepare_forward_headers,
)
from tollhouse.gateway.policies import (
    CompiledPolicies,
    ForwardSettings,
    PolicyCompileError,
    PolicyContext,
    PolicyLimits,
    PolicyResponse,
    PolicyRuntimeError,
    PolicySet,
    Registry,
    backend_target,
    http_headers,
    http_response,
    policy_request,
    policy_response,
)
from tollhouse.gateway.policies._bridge import expression_compiler
from tollhouse.gateway.policies._context import RequestFacts
from tollhouse.gateway.policies._execute import OutgoingCall
from tollhouse.gateway.policies._external import OneWayCalls
from tollhouse.gateway.routing import (
    NoMatch,
    RouteMatch,
    RouteTable,
    SubscriptionDecision,
    SubscriptionIndex,
    remove_query_parameter,
)
from tollhouse.gateway.telemetry._metrics import RequestMetrics

log = logging.getLogger("tollhouse.gateway")

# APIM's probe paths (apim-self-hosted-gateway.md §3): ready only with a configuration.
STATUS_PATHS = frozenset({"/status-0123456789abcdef", "/internal-status-0123456789abcdef"})
# Heartbeats carry why an operation's policies cannot run, cut to this length.
MAX_UNSUPPORTED_REASON = 300
# forward-request's default timeout in APIM: 300 seconds.
DEFAULT_FORWARD_TIMEOUT_SECONDS = 300.0
JSON = (b"content-type", b"application/json; charset=utf-8")


def apim_error(status: int, message: str) -> Response:
    body = json.dumps({"statusCode": status, "message": message}).encode()
    return Response(status, [JSON], Body(data=body))


@dataclass(frozen=True)
class CompiledConfiguration:
    config: GatewayConfiguration
    routes: RouteTable
    subscriptions: SubscriptionIndex
    policies: PolicySet

    @property
    def revision(self) -> int:
        return self.config.revision

    @property
    def service_name(self) -> str:
        return self.config.service_id.rsplit("/", 1)[-1]


def compile_configuration(
    config: GatewayConfiguration, registry: Registry | None = None
) -> CompiledConfiguration:
    """Everything a request needs, built once; raises when the configuration cannot run.
    `registry`: the policies and the services they use (default: `default_registry()`)."""
    for api in config.apis:
        if api.service_url is not None:
            parts = urlsplit(api.service_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"API '{api.name}': serviceUrl is not an http(s) URL")
    return CompiledConfiguration(
        config=config,
        routes=RouteTable.compile(config),
        subscriptions=SubscriptionIndex.compile(config),
        # Policy documents compile per operation: one that cannot run makes only its
        # operations answer 500, the rest of the configuration is served.
        policies=PolicySet(config, registry=registry, expressions=expression_compiler()),
    )


class Pipeline:
    def __init__(
        self,
        upstream: UpstreamPool,
        metrics: RequestMetrics,
        *,
        honour_forwarded_proto: bool = False,
        trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
        forward_timeout: float = DEFAULT_FORWARD_TIMEOUT_SECONDS,
        registry: Registry | None = None,
        policy_limits: PolicyLimits | None = None,
    ) -> None:
        """`policy_limits`: forward-request's buffering and send-one-way-request's calls in
        flight (`policies.*`); default: the registry's."""
        self.registry = registry
        if policy_limits is None:
            policy_limits = registry.limits if registry is not None else PolicyLimits()
        self.policy_limits = policy_limits
        self.trusted_proxies = tuple(trusted_proxies)
        self.upstream = upstream
        self.metrics = metrics
        self.honour_forwarded_proto = honour_forwarded_proto
        self.forward_timeout = forward_timeout
        self.current: CompiledConfiguration | None = None
        # send-one-way-request calls of this gateway, capped and never awaited by a request.
        self.one_way = OneWayCalls(
            self._call,
            limit=policy_limits.max_one_way_in_flight,
            max_response_body=policy_limits.max_send_response_body,
        )

    def apply(self, config: GatewayConfiguration) -> list[str]:
        """Compile, then swap; raises (and keeps the current one) when it does not compile.
        Returns the operations whose policies cannot run, for heartbeats."""
        return self.install(self.prepare(config))

    def prepare(self, config: GatewayConfiguration) -> CompiledConfiguration:
        """Compile `config` (no request sees it yet); raises when it cannot run. Touches no
        state, so that it may run in another thread while this one serves."""
        current = self.current
        if current is not None and current.config == config:
            return current
        return compile_configuration(config, self.registry)

    def install(self, compiled: CompiledConfiguration) -> list[str]:
        """Swap `compiled` in (one assignment); the operations whose policies cannot run."""
        if compiled is self.current:
            return self.unsupported(compiled)
        config = compiled.config
        self.current = compiled
        log.info("configuration revision %d applied (%d APIs)", config.revision, len(config.apis))
        for (api, operation, product), error in compiled.policies.errors.items():
            via = f" via product {product}" if product else ""
            log.error("policies of %s/%s%s cannot run: %s", api, operation, via, error)
        return self.unsupported(compiled)

    @staticmethod
    def unsupported(compiled: CompiledConfiguration) -> list[str]:
        return sorted(
            f"{api}/{operation}"
            + (f" (product {product})" if product else "")
            + f": {str(error)[:MAX_UNSUPPORTED_REASON]}"
            for (api, operation, product), error in compiled.policies.errors.items()
        )

    def start(self, request: Request, reply: Reply) -> Started | Coroutine[Any, Any, Response]:
        """The callback way (the server's `Starter`). What is decided from memory is answered
        inside the call; APIM's default pipeline is forwarded on an idle backend connection
        without a task; the rest (policies, no idle connection) is a coroutine for the server
        to run, on the route already found."""
        routed = self._route(request)
        if isinstance(routed, Response):
            reply(routed)
            return _ANSWERED
        forward = routed.policies.forward_only
        if forward is not None and not forward.buffer_request_body and routed.match.api.service_url:
            upstream = self._upstream_request(request, routed, forward)
            done = functools.partial(self._forwarded, reply, routed)
            try:
                started = self.upstream.start(upstream, done)
            except UpstreamError as exc:
                done(exc)
                return _ANSWERED
            if started is not None:
                return started
        return self._answer(request, routed)

    async def _answer(self, request: Request, routed: _Routed) -> Response:
        response = await self._run_policies(request, routed)
        self._record(routed.match, response.status, routed.started)
        return response

    def _forwarded(self, reply: Reply, routed: _Routed, outcome: Response | UpstreamError) -> None:
        if isinstance(outcome, UpstreamError):
            host = urlsplit(routed.match.api.service_url or "").netloc
            log.warning("backend %s: %s", host, outcome)
            outcome = error_response(outcome)
        self._record(routed.match, outcome.status, routed.started)
        reply(outcome)

    async def handle(self, request: Request) -> Response:
        routed = self._route(request)
        if isinstance(routed, Response):
            return routed
        return await self._answer(request, routed)

    def _route(self, request: Request) -> _Routed | Response:
        """What a request is to get, decided from memory: an answer already (probes, no
        route, no subscription, policies that cannot run), or its route and policies."""
        compiled = self.current
        if request.path in STATUS_PATHS:
            if compiled is None:
                return apim_error(503, "The gateway has no configuration yet.")
            return Response(200, [(b"content-type", b"text/plain")], Body(data=b"OK"))
        if compiled is None:
            # Never an empty 200: without a configuration nothing is served.
            return apim_error(503, "Service unavailable: the gateway has no configuration yet.")
        started = time.perf_counter()
        match = compiled.routes.match(
            request.method, request.path, request.query, request.host, request.scheme
        )
        if isinstance(match, NoMatch):
            return apim_error(404, "Resource not found")
        decision = compiled.subscriptions.check(match, request.headers, request.query)
        if not decision.allowed:
            response = Response(
                decision.status or 401,
                [JSON],
                Body(data=json.dumps(decision.to_json()).encode()),
            )
            self._record(match, response.status, started)
            return response
        product = decision.product.name if decision.product is not None else None
        policies = compiled.policies.for_operation(match.api.name, match.operation.name, product)
        if isinstance(policies, PolicyCompileError):
            response = apim_error(500, f"The operation's policies cannot run: {policies}")
            self._record(match, response.status, started)
            return response
        # The subscription key never reaches the backend.
        headers = [(k, v) for k, v in request.headers if k != decision.remove_header]
        query = remove_query_parameter(request.query, decision.remove_query)
        forwarded = prepare_forward_headers(
            headers,
            client_ip=request.client_ip,
            scheme=request.scheme,
            host=request.host,
            trusted_proxy=self._trusted(request.client_ip),
            honour_forwarded_proto=self.honour_forwarded_proto,
        )
        return _Routed(compiled, match, decision, product, policies, forwarded, query, started)

    async def _run_policies(self, request: Request, routed: _Routed) -> Response:
        compiled, match, decision, product, policies, forwarded, query, started = routed
        forward = policies.forward_only
        if forward is not None and not forward.buffer_request_body:
            return await self._forward(request, routed, forward)
        ctx = PolicyContext(
            policy_request(
                request,
                headers=forwarded,
                query=query,
                backend_path=match.backend_path,
                parameters=match.parameters,
            ),
            backend_url=match.api.service_url,
            product=product,
            api=match.api.name,
            operation=match.operation.name,
            facts=RequestFacts(
                compiled.config.gateway,
                service_name=compiled.service_name,
                host=request.host,
                scheme=request.scheme,
                started=started,
                query=query,
                api=match.api,
                operation=match.operation,
                product=decision.product,
                subscription=decision.subscription,
                subscription_key=decision.key,
            ),
            call=self._call,
            call_one_way=self.one_way.submit,
            metrics=self.metrics,
        )
        response = await policies.execute(ctx, self._send)
        error = ctx.last_error
        if error is not None:
            # The policy error the caller's answer came from (on-error ran), for operators.
            log.warning(
                "%s/%s: policy error in %s (%s scope) from %s: %s: %s",
                match.api.name,
                match.operation.name,
                error.section,
                error.scope,
                error.source,
                error.reason,
                error.message[:MAX_UNSUPPORTED_REASON],
            )
        return http_response(response)

    async def _forward(
        self, request: Request, routed: _Routed, settings: ForwardSettings
    ) -> Response:
        """APIM's default pipeline (forward-request and nothing else), without a policy
        context: what `_send` does for it, on the HTTP layer's own messages."""
        if not routed.match.api.service_url:
            return apim_error(500, "The API has no backend service URL.")
        try:
            return await self._backend(self._upstream_request(request, routed, settings))
        except UpstreamError as exc:
            return error_response(exc)

    def _upstream_request(
        self, request: Request, routed: _Routed, settings: ForwardSettings
    ) -> UpstreamRequest:
        """The request as the default pipeline forwards it (the API has a service URL)."""
        base_url = routed.match.api.service_url or ""
        query = routed.query
        url = base_url.rstrip("/") + routed.match.backend_path + (f"?{query}" if query else "")
        timeout = settings.timeout or self.forward_timeout
        return UpstreamRequest(request.method, url, routed.headers, request.body, timeout)

    async def _send(self, ctx: PolicyContext) -> PolicyResponse:
        """forward-request: the request as the policies left it, to the backend."""
        if not ctx.backend_url:
            raise PolicyRuntimeError(
                "forward-request",
                "NoBackend",
                "The API has no backend service URL.",
                response=policy_response(apim_error(500, "The API has no backend service URL.")),
            )
        settings = ctx.forward or ForwardSettings()
        if settings.buffer_request_body:
            try:
                await ctx.request.body.read(limit=self.policy_limits.max_buffered_body)
            except ValueError as exc:
                raise PolicyRuntimeError(
                    "forward-request",
                    "RequestBodyTooLarge",
                    "The request body is larger than the buffering limit.",
                    response=policy_response(apim_error(413, "Request Entity Too Large")),
                ) from exc
        original = ctx.facts.query if isinstance(ctx.facts, RequestFacts) else ""
        url = backend_target(ctx.backend_url, ctx.request, original)
        headers = http_headers(ctx.request.headers)
        timeout = settings.timeout or self.forward_timeout
        try:
            answer = await self._backend(
                UpstreamRequest(ctx.request.method, url, headers, ctx.request.body, timeout)
            )
        except UpstreamError as exc:
            raise PolicyRuntimeError(
                "forward-request",
                "BackendConnectionFailure",
                str(exc),
                response=policy_response(error_response(exc)),
            ) from exc
        return policy_response(answer)

    async def _backend(self, request: UpstreamRequest) -> Response:
        """The backend's answer to a forwarded request (its hop-by-hop fields removed by the
        pool); a failure is logged by host, never by path or query, and raised."""
        try:
            return await self.upstream.request(request)
        except UpstreamError as exc:
            log.warning("backend %s: %s", urlsplit(request.url).netloc, exc)
            raise

    async def _call(self, outgoing: OutgoingCall) -> PolicyResponse:
        """send-request and send-one-way-request: through the same pool, egress policy and
        limits as forwarding; the pool accepts only absolute http(s) URLs with a host
        (`UpstreamRequestError` otherwise). Failures are the policies' to report."""
        headers = http_headers(list(outgoing.headers))
        request = UpstreamRequest(
            outgoing.method, outgoing.url, headers, Body(data=outgoing.body), outgoing.timeout
        )
        return policy_response(await self.upstream.request(request))

    def _trusted(self, client_ip: str) -> bool:
        """Only a configured proxy's X-Forwarded-* and Forwarded are believed (RFC 9700 §4.13)."""
        if not self.trusted_proxies:
            return False
        try:
            address = ip_address(client_ip)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def _record(self, match: RouteMatch, status: int, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.metrics.record(match.api.name, match.operation.name, status, elapsed_ms)


class _Routed(NamedTuple):
    """A request's route, subscription decision and policies, and the headers and query to
    forward (the subscription key removed, X-Forwarded-* added)."""

    compiled: CompiledConfiguration
    match: RouteMatch
    decision: SubscriptionDecision
    product: str | None
    policies: CompiledPolicies
    headers: Headers
    query: str
    started: float


class _Answered:
    """The `Started` of a request answered within `Pipeline.start`: nothing to cancel."""

    def cancel(self) -> None:
        return None


_ANSWERED = _Answered()
