"""rate-limit, rate-limit-by-key, quota, quota-by-key, limit-concurrency."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from tollhouse.contracts import SubscriptionConfig
from tollhouse.gateway.limits import MemoryCounterStore
from tollhouse.gateway.policies import (
    CompiledPolicies,
    Literal,
    PolicyCompileError,
    PolicyContext,
    PolicyResponse,
    Registry,
    _limits,
    compile_operation_policies,
)
from tollhouse.gateway.policies._context import RequestFacts

from .support import body, configuration, context, doc, policies, run


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def build(
    inbound: str, clock: Clock, expression: str = "key"
) -> CompiledPolicies | PolicyCompileError:
    registry = policies_registry(clock)
    config = configuration(operation_policy=doc(inbound))
    api = config.apis[0]
    return compile_operation_policies(
        config,
        api,
        api.operations[0],
        registry=registry,
        expressions=lambda text, line, column: Literal(expression),
    )


def policies_registry(clock: Clock) -> Registry:
    from tollhouse.gateway.policies import default_registry

    registry = default_registry()
    _limits.register(registry, MemoryCounterStore(), clock)
    return registry


def compiled(inbound: str, clock: Clock, expression: str = "key") -> CompiledPolicies:
    result = build(inbound, clock, expression)
    assert isinstance(result, CompiledPolicies), str(result)
    return result


async def status(compiled_policies: CompiledPolicies) -> tuple[PolicyResponse, PolicyContext]:
    response, ctx, _ = await run(compiled_policies, context())
    return response, ctx


BY_KEY = (
    '<rate-limit-by-key calls="2" renewal-period="10" counter-key="@(context.Request.IpAddress)" '
    'remaining-calls-header-name="x-remaining" remaining-calls-variable-name="left" '
    'total-calls-header-name="x-total" retry-after-variable-name="wait" {extra}/>'
)


async def test_rate_limit_by_key_refuses_with_429_and_apim_body_after_its_calls() -> None:
    clock = Clock()
    limited = compiled(BY_KEY.format(extra=""), clock)
    first, ctx = await status(limited)
    assert first.status == 200
    assert ("x-remaining", "1") in first.headers and ("x-total", "2") in first.headers
    assert ctx.variables["left"] == 1
    clock.now += 4
    await status(limited)
    clock.now += 1
    refused, ctx = await status(limited)
    assert refused.status == 429
    seconds = int(dict(refused.headers)["Retry-After"])
    assert seconds == 6 and ctx.variables["wait"] == 6
    assert json.loads(await body(refused)) == {
        "statusCode": 429,
        "message": "Rate limit is exceeded. Try again in 6 seconds.",
    }
    assert ("x-remaining", "0") in refused.headers
    assert ctx.last_error is not None and ctx.last_error.reason == "RateLimitExceeded"


async def test_the_window_slides() -> None:
    clock = Clock()
    limited = compiled(BY_KEY.format(extra=""), clock)
    await status(limited)
    clock.now += 5
    await status(limited)
    clock.now += 5.5  # the first call has left the window, the second has not
    assert (await status(limited))[0].status == 200
    assert (await status(limited))[0].status == 429


async def test_a_custom_retry_after_header_name() -> None:
    clock = Clock()
    limited = compiled(BY_KEY.format(extra='retry-after-header-name="x-wait"'), clock)
    for _ in range(2):
        await status(limited)
    refused, _ = await status(limited)
    assert "x-wait" in dict(refused.headers) and "Retry-After" not in dict(refused.headers)


async def test_keys_count_separately() -> None:
    clock = Clock()
    xml = BY_KEY.format(extra="")
    assert (await status(compiled(xml, clock, "a")))[0].status == 200
    registry = policies_registry(clock)
    config = configuration(operation_policy=doc(xml))
    api = config.apis[0]
    counts = []
    for key in ("a", "a", "a", "b"):
        result = compile_operation_policies(
            config,
            api,
            api.operations[0],
            registry=registry,
            expressions=lambda text, line, column, key=key: Literal(key),  # type: ignore[misc]
        )
        assert isinstance(result, CompiledPolicies)
        counts.append((await status(result))[0].status)
    assert counts == [200, 200, 429, 200]


async def test_a_false_increment_condition_does_not_count() -> None:
    clock = Clock()
    xml = BY_KEY.format(extra='increment-condition="@(false)"')
    limited = compiled(xml, clock, "False")
    for _ in range(5):
        assert (await status(limited))[0].status == 200


async def test_increment_count_counts_several_calls() -> None:
    clock = Clock()
    limited = compiled(BY_KEY.format(extra='increment-count="2"'), clock)
    assert (await status(limited))[0].status == 200
    assert (await status(limited))[0].status == 429


def test_renewal_period_over_300_seconds_is_a_compile_error() -> None:
    xml = '<rate-limit-by-key calls="1" renewal-period="301" counter-key="k" />'
    result = build(xml, Clock())
    assert isinstance(result, PolicyCompileError) and "300" in str(result)


async def test_rate_limit_per_subscription() -> None:
    clock = Clock()
    limited = compiled('<rate-limit calls="1" renewal-period="60" />', clock)
    assert (await status(limited))[0].status == 200
    assert (await status(limited))[0].status == 429
    clock.now += 61
    assert (await status(limited))[0].status == 200


def test_rate_limit_nested_limits_are_refused() -> None:
    xml = '<rate-limit calls="1" renewal-period="60"><api name="x" calls="1" /></rate-limit>'
    assert isinstance(build(xml, Clock()), PolicyCompileError)


async def test_quota_refuses_with_403_and_retry_after_until_the_window_resets() -> None:
    clock = Clock()
    clock.now = 3_600 * 10 + 60  # a minute into an hour window
    limited = compiled('<quota calls="1" renewal-period="3600" />', clock)
    assert (await status(limited))[0].status == 200
    refused, ctx = await status(limited)
    assert refused.status == 403
    assert dict(refused.headers)["Retry-After"] == "3540"
    assert json.loads(await body(refused))["message"] == (
        "Out of call volume quota. Quota will be replenished in 00:59:00."
    )
    assert ctx.last_error is not None and ctx.last_error.reason == "QuotaExceeded"
    clock.now += 3_540
    assert (await status(limited))[0].status == 200


async def test_quota_by_key_counts_per_key() -> None:
    clock = Clock()
    clock.now = 0
    limited = compiled(
        '<quota-by-key calls="2" renewal-period="86400" counter-key="@(k)" />', clock
    )
    assert [(await status(limited))[0].status for _ in range(3)] == [200, 200, 403]


def test_bandwidth_quotas_are_refused_rather_than_ignored() -> None:
    result = build('<quota bandwidth="100" renewal-period="60" />', Clock())
    assert isinstance(result, PolicyCompileError) and "bandwidth" in str(result)


async def test_limit_concurrency_refuses_the_excess_and_releases_after_the_request() -> None:
    clock = Clock()
    xml = '<limit-concurrency key="k" max-count="1"><wait-here /></limit-concurrency>'
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def wait_here(ctx: PolicyContext) -> PolicyResponse | None:
        entered.set()
        await gate.wait()
        return None

    registry = policies_registry(clock)
    registry.register("wait-here", lambda element, cctx: wait_here)
    config = configuration(operation_policy=doc(xml))
    api = config.apis[0]
    limited = compile_operation_policies(config, api, api.operations[0], registry=registry)
    assert isinstance(limited, CompiledPolicies)
    first = asyncio.create_task(status(limited))
    await entered.wait()
    refused, _ = await status(limited)
    assert refused.status == 429
    gate.set()
    assert (await first)[0].status == 200
    assert (await status(limited))[0].status == 200


def test_the_default_registry_knows_the_limit_policies() -> None:
    policies(operation_policy=doc('<rate-limit calls="1" renewal-period="1" />'))


# Where quota windows start


def subscriber(start: str | None = None, created: str | None = None) -> SubscriptionConfig:
    return SubscriptionConfig(
        name="sub-1",
        display_name="Sub",
        scope_type="all",
        scope_name=None,
        state="active",
        primary_key_hash="p",
        secondary_key_hash="s",
        start_date=start,
        created_date=created,
    )


async def status_of(
    compiled_policies: CompiledPolicies, subscription: SubscriptionConfig
) -> PolicyResponse:
    ctx = context()
    ctx.facts = RequestFacts("gw", subscription=subscription)
    response, _, _ = await run(compiled_policies, ctx)
    return response


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def test_quota_windows_start_at_the_subscriptions_start_date() -> None:
    clock = Clock()
    # Ten minutes into the third hour since the subscription started at 00:20: the window
    # ends at 03:20, not at the epoch-aligned 03:00.
    clock.now = at("2026-01-01T03:10:00+00:00")
    limited = compiled('<quota calls="1" renewal-period="3600" />', clock)
    started = subscriber(start="2026-01-01T00:20:00Z")
    assert (await status_of(limited, started)).status == 200
    refused = await status_of(limited, started)
    assert refused.status == 403
    assert dict(refused.headers)["Retry-After"] == "600"
    assert json.loads(await body(refused))["message"] == (
        "Out of call volume quota. Quota will be replenished in 00:10:00."
    )
    clock.now = at("2026-01-01T03:19:59+00:00")
    assert (await status_of(limited, started)).status == 403
    clock.now = at("2026-01-01T03:20:00+00:00")
    assert (await status_of(limited, started)).status == 200


@pytest.mark.parametrize(
    ("subscription", "retry_after"),
    [
        (subscriber(created="2025-06-01T00:45:00Z"), "2100"),  # window ends at 10:45
        (subscriber(start="2025-06-01T00:30:00Z", created="2025-06-01T00:45:00Z"), "1200"),
        (subscriber(), "3000"),  # neither: epoch-aligned hours, ends at 11:00
    ],
)
async def test_quota_windows_start_at_the_start_date_else_the_created_date_else_the_epoch(
    subscription: SubscriptionConfig, retry_after: str
) -> None:
    clock = Clock()
    clock.now = at("2026-01-01T10:10:00+00:00")
    limited = compiled('<quota calls="1" renewal-period="3600" />', clock)
    assert (await status_of(limited, subscription)).status == 200
    refused = await status_of(limited, subscription)
    assert dict(refused.headers)["Retry-After"] == retry_after


async def test_quota_by_key_periods_start_at_apims_default_first_period_start() -> None:
    # 0001-01-01 was a Monday, 1970-01-01 a Thursday: weekly periods renew on Mondays.
    clock = Clock()
    clock.now = at("2026-11-23T10:00:00+00:00")  # a Monday
    limited = compiled(
        '<quota-by-key calls="1" renewal-period="604800" counter-key="@(k)" />', clock
    )
    assert (await status(limited))[0].status == 200
    refused, _ = await status(limited)
    assert dict(refused.headers)["Retry-After"] == str(7 * 86_400 - 10 * 3_600)


async def test_quota_by_key_periods_start_at_first_period_start() -> None:
    clock = Clock()
    clock.now = at("2026-11-23T10:00:00+00:00")
    limited = compiled(
        '<quota-by-key calls="1" renewal-period="86400" counter-key="@(k)" '
        'first-period-start="2026-11-01T06:00:00Z" />',
        clock,
    )
    assert (await status(limited))[0].status == 200
    refused, _ = await status(limited)
    assert dict(refused.headers)["Retry-After"] == str(20 * 3_600)


@pytest.mark.parametrize("value", ["tomorrow", "@(DateTime.UtcNow)", "2026-02-30T00:00:00Z"])
def test_a_first_period_start_that_is_not_a_date_time_is_a_compile_error(value: str) -> None:
    xml = (
        '<quota-by-key calls="1" renewal-period="60" counter-key="@(k)" '
        f'first-period-start="{value}" />'
    )
    result = build(xml, Clock())
    assert isinstance(result, PolicyCompileError) and "first-period-start" in str(result)
