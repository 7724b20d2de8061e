"""The request pipeline: probes, route, subscription, forward (policies plug in here).

A configuration is compiled completely before it is swapped in with one assignment: a request
reads `self.current` once and finishes on that configuration, and a configuration that does
not compile is rejected whole (the sync agent keeps the last good one and reports why).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address
from urllib.parse import urlsplit

from tollhouse.contracts import GatewayConfiguration
from tollhouse.gateway.http import (
    Body,
    Request,
    Response,
    UpstreamError,
    UpstreamPool,
    UpstreamRequest,
    error_response,
    prepare_forward_headers,
    strip_response_hop_by_hop,
)
from tollhouse.gateway.routing import (
    NoMatch,
    RouteTable,
    SubscriptionDecision,
    SubscriptionIndex,
    remove_query_parameter,
)
from tollhouse.gateway.telemetry._metrics import RequestMetrics

log = logging.getLogger("tollhouse.gateway")

# APIM's probe paths (apim-self-hosted-gateway.md §3): ready only with a configuration.
STATUS_PATHS = frozenset({"/status-0123456789abcdef", "/internal-status-0123456789abcdef"})
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

    @property
    def revision(self) -> int:
        return self.config.revision


def compile_configuration(config: GatewayConfiguration) -> CompiledConfiguration:
    """Everything a request needs, built once; raises when the configuration cannot run."""
    for api in config.apis:
        if api.service_url is not None:
            parts = urlsplit(api.service_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"API '{api.name}': serviceUrl is not an http(s) URL")
    return CompiledConfiguration(
        config=config,
        routes=RouteTable.compile(config),
        subscriptions=SubscriptionIndex.compile(config),
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
    ) -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self.upstream = upstream
        self.metrics = metrics
        self.honour_forwarded_proto = honour_forwarded_proto
        self.forward_timeout = forward_timeout
        self.current: CompiledConfiguration | None = None

    def apply(self, config: GatewayConfiguration) -> None:
        """Compile, then swap; raises (and keeps the current one) when it does not compile."""
        if self.current is not None and self.current.config == config:
            return
        compiled = compile_configuration(config)
        self.current = compiled
        log.info("configuration revision %d applied (%d APIs)", config.revision, len(config.apis))

    async def handle(self, request: Request) -> Response:
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
            self._record(match.api.name, match.operation.name, response.status, started)
            return response
        response = await self._forward(request, match.api.service_url, match.backend_path, decision)
        self._record(match.api.name, match.operation.name, response.status, started)
        return response

    async def _forward(
        self,
        request: Request,
        service_url: str | None,
        backend_path: str,
        decision: SubscriptionDecision,
    ) -> Response:
        if not service_url:
            return apim_error(500, "The API has no backend service URL.")
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
        url = service_url.rstrip("/") + backend_path + (f"?{query}" if query else "")
        try:
            upstream = await self.upstream.request(
                UpstreamRequest(
                    method=request.method,
                    url=url,
                    headers=forwarded,
                    body=request.body,
                    timeout=self.forward_timeout,
                )
            )
        except UpstreamError as exc:
            log.warning("backend %s: %s", urlsplit(url).netloc, exc)
            return error_response(exc)
        return Response(upstream.status, strip_response_hop_by_hop(upstream.headers), upstream.body)

    def _trusted(self, client_ip: str) -> bool:
        """Only a configured proxy's X-Forwarded-* and Forwarded are believed (RFC 9700 §4.13)."""
        if not self.trusted_proxies:
            return False
        try:
            address = ip_address(client_ip)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def _record(self, api: str, operation: str, status: int, started: float) -> None:
        self.metrics.record(api, operation, status, (time.perf_counter() - started) * 1000)
