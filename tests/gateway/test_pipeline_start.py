"""`Pipeline.start`, the gateway's callback way: what is decided from memory is answered
inside the call; APIM's default pipeline is forwarded on an idle backend connection without a
task; everything else (policies, no idle connection) is a coroutine for the server to
run, on the route already found. Against a real backend on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tollhouse.contracts import ApiConfig, GatewayConfiguration, OperationConfig
from tollhouse.gateway._pipeline import Pipeline
from tollhouse.gateway.http import Body, Request, Response, UpstreamPool
from tollhouse.gateway.telemetry._metrics import RequestMetrics

from .http.upstream_backends import (
    Backend,
    BackendConnection,
    Runner,
    backend,
    closed_port,
    ok,
    run,
)

__all__ = ["run"]

SERVICE = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/svc"
POLICY = (
    '<policies><inbound><base /><set-header name="x-policy" exists-action="override">'
    "<value>yes</value></set-header></inbound><backend><base /></backend>"
    "<outbound><base /></outbound><on-error><base /></on-error></policies>"
)


def configuration(service_url: str) -> GatewayConfiguration:
    def api(name: str, **more: object) -> ApiConfig:
        return ApiConfig(
            name=name,
            display_name=name,
            path=name,
            protocols=("http", "https"),
            service_url=service_url,
            subscription_required=bool(more.pop("subscription_required", False)),
            subscription_key_header="Ocp-Apim-Subscription-Key",
            subscription_key_query="subscription-key",
            operations=(OperationConfig("get", "get", "GET", "/items/{id}"),),
            **more,  # type: ignore[arg-type]
        )

    return GatewayConfiguration(
        gateway="gw",
        revision=1,
        service_id=SERVICE,
        apis=(api("pass"), api("keyed", subscription_required=True), api("policy", policy=POLICY)),
    )


def get(path: str) -> Request:
    return Request(
        method="GET",
        path=path,
        query="a=1",
        headers=[(b"host", b"gw.example"), (b"x-client", b"c")],
        body=Body.empty(),
        client_ip="192.0.2.7",
        client_port=5000,
        scheme="https",
        host="gw.example",
    )


async def started(pipeline: Pipeline, request: Request) -> tuple[Response, bool]:
    """The answer `start` gives, and whether it came without a task: through `reply`, or as
    the coroutine the server would run as the request's task."""
    future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
    taken = pipeline.start(request, future.set_result)
    if asyncio.iscoroutine(taken):
        return await taken, False
    return await asyncio.wait_for(future, 10), True


def test_answers_decided_from_memory_come_inside_the_call(run: Runner[None]) -> None:
    async def scenario() -> None:
        pipeline = Pipeline(UpstreamPool(), RequestMetrics())
        replies: list[Response] = []
        pipeline.start(get("/pass/items/1"), replies.append)
        assert replies[0].status == 503  # no configuration yet
        pipeline.apply(configuration("http://127.0.0.1:9"))
        for path, status in (
            ("/status-0123456789abcdef", 200),
            ("/nowhere", 404),
            ("/keyed/items/1", 401),
        ):
            replies.clear()
            pipeline.start(get(path), replies.append)
            assert [r.status for r in replies] == [status]
        await pipeline.upstream.close()

    run(scenario())


def test_the_default_pipeline_is_forwarded_on_an_idle_connection(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(lambda r: ok(json.dumps([r.target, r.headers]).encode())) as server:
            metrics = RequestMetrics()
            pipeline = Pipeline(UpstreamPool(), metrics)
            pipeline.apply(configuration(server.url("/base")))
            # No idle connection yet: a task opens one.
            first, without_task = await started(pipeline, get("/pass/items/1"))
            assert first.status == 200 and not without_task
            await first.body.read()
            for n in range(3):
                response, without_task = await started(pipeline, get(f"/pass/items/{n}"))
                assert response.status == 200 and without_task
                target, headers = json.loads(await response.body.read())
                assert target == f"/base/items/{n}?a=1"
                names = dict((name.lower(), value) for name, value in headers)
                assert names["x-client"] == "c"
                assert names["x-forwarded-for"] == "192.0.2.7"
                assert names["x-forwarded-proto"] == "https"
            assert server.connections == 1
            assert metrics.requests_total == 4
            await pipeline.upstream.close()

    run(scenario())


def test_policies_are_a_coroutine_for_the_server_to_run(run: Runner[None]) -> None:
    async def scenario() -> None:
        async with backend(lambda r: ok(str(r.header("x-policy")).encode())) as server:
            metrics = RequestMetrics()
            pipeline = Pipeline(UpstreamPool(), metrics)
            pipeline.apply(configuration(server.url()))
            warm = await pipeline.handle(get("/pass/items/1"))
            await warm.body.read()
            response, without_task = await started(pipeline, get("/policy/items/1"))
            assert not without_task
            assert await response.body.read() == b"yes"
            assert metrics.requests_total == 2
            await pipeline.upstream.close()

    run(scenario())


def test_a_backend_that_does_not_answer_in_time_is_a_504_logged_by_host(
    run: Runner[None], caplog: pytest.LogCaptureFixture
) -> None:
    async def slow_after_the_first(connection: BackendConnection) -> None:
        await connection.read_request()
        await connection.send(ok())
        await connection.read_request()
        await asyncio.sleep(5)

    async def scenario() -> None:
        async with Backend(slow_after_the_first) as server:
            pipeline = Pipeline(UpstreamPool(), RequestMetrics(), forward_timeout=0.2)
            pipeline.apply(configuration(server.url()))
            warm = await pipeline.handle(get("/pass/items/1"))
            await warm.body.read()
            with caplog.at_level(logging.WARNING, logger="tollhouse.gateway"):
                response, without_task = await started(pipeline, get("/pass/items/secret-id"))
            assert response.status == 504 and without_task
            assert json.loads(await response.body.read())["statusCode"] == 504
            assert "backend 127.0.0.1" in caplog.text and "secret-id" not in caplog.text
            await pipeline.upstream.close()

    run(scenario())


def test_an_unreachable_backend_is_a_502(run: Runner[None]) -> None:
    async def scenario() -> None:
        pipeline = Pipeline(UpstreamPool(), RequestMetrics())
        pipeline.apply(configuration(f"http://127.0.0.1:{closed_port()}"))
        response, _ = await started(pipeline, get("/pass/items/1"))
        assert response.status == 502
        await pipeline.upstream.close()

    run(scenario())
