"""Policies: what a request costs the gateway with a typical policy pipeline, against none.

Runs the gateway's request pipeline (`Pipeline.handle`: route, subscription check, policies,
forwarding through the real upstream pool) in this process against a backend in another
process, and measures the CPU time this process spends per request, with `--concurrency`
requests in flight. Two configurations, measured alternately in the same run:

- reference: a pass-through API (no subscription, no policies);
- policies: subscription key required, and an API policy with `rate-limit-by-key` (a key
  computed by an expression), `set-header` with an expression, and `set-header` literal.

It also times the policy engine alone (`CompiledPolicies.execute` answering without a
backend), so that the share of the policies in the difference is visible. The socket layer of
the downstream server is not included (bench/gateway.py measures the whole process with wrk).

    python bench/policies.py [--requests 20000] [--repeats 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from tollhouse.contracts import (
    ApiConfig,
    GatewayConfiguration,
    OperationConfig,
    SubscriptionConfig,
    hash_key,
)
from tollhouse.gateway._pipeline import Pipeline
from tollhouse.gateway.http import Body, Request, UpstreamPool
from tollhouse.gateway.policies import PolicyContext, PolicyRequest, PolicyResponse
from tollhouse.gateway.policies._context import RequestFacts
from tollhouse.gateway.telemetry._metrics import RequestMetrics
from tollhouse.serving._server import free_port

KEY = "bench-subscription-key-0123456789abcdef"
POLICY = """<policies>
  <inbound>
    <rate-limit-by-key calls="1000000000" renewal-period="60"
        counter-key="@(context.Subscription.Id + &quot;:&quot; + context.Request.IpAddress)" />
    <set-header name="x-request-path" exists-action="override">
      <value>@(context.Request.Url.Path + &quot;?&quot;
        + context.Request.Headers.GetValueOrDefault(&quot;x-tenant&quot;, &quot;none&quot;))</value>
    </set-header>
    <set-header name="x-gateway" exists-action="override"><value>tollhouse</value></set-header>
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>"""

# A backend that answers every request with a fixed ~100-byte JSON body, keep-alive, in its
# own process so that its CPU time is not counted.
BACKEND = r"""
import asyncio, sys
BODY = b'{"id":42,"name":"tollhouse","tags":["api","gateway"],"ok":true,"note":"fixed body"}'
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
HEAD += b"content-length: %d\r\n\r\n" % len(BODY)
class Backend(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(HEAD + BODY)
async def main():
    server = await asyncio.get_running_loop().create_server(Backend, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def configuration(backend: str, *, policies: bool) -> GatewayConfiguration:
    api = ApiConfig(
        name="orders",
        display_name="Orders",
        path="orders",
        protocols=("http", "https"),
        service_url=backend,
        subscription_required=policies,
        subscription_key_header="Ocp-Apim-Subscription-Key",
        subscription_key_query="subscription-key",
        policy=POLICY if policies else None,
        operations=(OperationConfig("get", "get", "GET", "/items/{id}"),),
    )
    subscriptions = ()
    if policies:
        subscriptions = (
            SubscriptionConfig(
                name="bench",
                display_name="Bench",
                scope_type="api",
                scope_name="orders",
                state="active",
                primary_key_hash=hash_key(KEY),
                secondary_key_hash=hash_key("unused-secondary-key-0123456789"),
            ),
        )
    return GatewayConfiguration(
        gateway="bench", revision=1, service_id="svc", apis=(api,), subscriptions=subscriptions
    )


def request(with_key: bool) -> Request:
    headers = [(b"host", b"gateway.local"), (b"accept", b"*/*"), (b"x-tenant", b"contoso")]
    if with_key:
        headers.append((b"ocp-apim-subscription-key", KEY.encode()))
    return Request(
        method="GET",
        path="/orders/items/42",
        query="",
        headers=headers,
        body=Body.empty(),
        client_ip="127.0.0.1",
        client_port=40000,
        scheme="http",
        host="gateway.local",
    )


async def cpu_per_request(
    call: Callable[[], Awaitable[int]], requests: int, concurrency: int
) -> tuple[float, float]:
    """(CPU µs, wall µs) per request, `concurrency` in flight."""
    remaining = requests
    failures = 0

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            if await call() != 200:
                failures += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if failures:
        raise SystemExit(f"{failures} requests did not answer 200")
    return cpu / requests * 1e6, wall / requests * 1e6


async def run(args: argparse.Namespace, port: int) -> None:
    url = f"http://127.0.0.1:{port}/"
    pipelines = {}
    for name, with_policies in (("reference", False), ("policies", True)):
        pipeline = Pipeline(UpstreamPool(), RequestMetrics())
        pipeline.apply(configuration(url, policies=with_policies))
        pipelines[name] = (pipeline, with_policies)

    def caller(name: str) -> Callable[[], Awaitable[int]]:
        pipeline, with_key = pipelines[name]

        async def call() -> int:
            response = await pipeline.handle(request(with_key))
            await response.body.read()
            return response.status

        return call

    engine = pipelines["policies"][0].current
    assert engine is not None
    compiled = engine.policies.for_operation("orders", "get", None)
    assert not isinstance(compiled, Exception), compiled

    async def answer(ctx: PolicyContext) -> PolicyResponse:
        return PolicyResponse(200, body=Body(data=b"{}"))

    async def engine_only() -> int:
        ctx = PolicyContext(
            PolicyRequest(
                "GET",
                "/items/42",
                headers=[("x-tenant", "contoso")],
                client_ip="127.0.0.1",
                matched_parameters={"id": "42"},
            ),
            api="orders",
            operation="get",
            facts=RequestFacts(
                "bench", subscription=engine.config.subscriptions[0], subscription_key=KEY
            ),
        )
        response = await compiled.execute(ctx, answer)
        return response.status

    samples: dict[str, list[tuple[float, float]]] = {"reference": [], "policies": []}
    engine_samples = []
    for name in samples:  # warm-up: connections, caches
        await cpu_per_request(caller(name), 1000, args.concurrency)
    for _ in range(args.repeats):
        for name in samples:
            samples[name].append(
                await cpu_per_request(caller(name), args.requests, args.concurrency)
            )
        engine_samples.append(await cpu_per_request(engine_only, args.requests, 1))
    for pipeline, _ in pipelines.values():
        await pipeline.upstream.close()

    def median(values: list[tuple[float, float]], index: int) -> float:
        return statistics.median(v[index] for v in values)

    ref_cpu, pol_cpu = median(samples["reference"], 0), median(samples["policies"], 0)
    ref_wall, pol_wall = median(samples["reference"], 1), median(samples["policies"], 1)
    engine_cpu = median(engine_samples, 0)
    print(
        f"\n{args.requests} requests × {args.repeats} repeats, {args.concurrency} in flight, "
        "medians; backend in another process\n"
    )
    print("| pipeline | CPU µs/request | wall µs/request | × reference |")
    print("|---|---:|---:|---:|")
    print(f"| reference: pass-through, no policies | {ref_cpu:.1f} | {ref_wall:.1f} | 1.00 |")
    print(
        "| subscription + rate-limit-by-key + set-header ×2 + expressions "
        f"| {pol_cpu:.1f} | {pol_wall:.1f} | {pol_cpu / ref_cpu:.2f} |"
    )
    print(f"| the policy engine alone (same policies, no backend) | {engine_cpu:.1f} | — | — |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    port = free_port()
    backend = subprocess.Popen(
        [sys.executable, "-c", BACKEND, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert backend.stdout is not None and backend.stdout.readline().strip() == "ready"
        asyncio.run(run(args, port))
    finally:
        backend.terminate()
        backend.wait(10)


if __name__ == "__main__":
    main()
