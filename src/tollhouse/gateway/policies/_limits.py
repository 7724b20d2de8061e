"""Rate limits, quotas and concurrency: rate-limit, rate-limit-by-key, quota, quota-by-key,
limit-concurrency (apim-self-hosted-gateway.md §8, "Key semantics to reproduce").

Counting is the `CounterStore`'s; these steps only name the counter, read the clock and turn
a refusal into APIM's response, raised as a `PolicyRuntimeError` so that `on-error` sees it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from tollhouse.contracts import SubscriptionConfig, parse_instant
from tollhouse.gateway.limits import CounterStore, Hit, MemoryCounterStore

from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import PolicyContext, PolicyResponse, Step, apim_error, run_steps
from ._registry import CompileContext, Registry
from ._values import ConditionSource, Literal, ValueSource, is_expression

Clock = Callable[[], float]

# APIM rate-limit / rate-limit-by-key: renewal-period is a sliding window of at most 300 s.
MAX_RENEWAL_PERIOD = 300
# APIM quota-by-key: "The start of each period is calculated relative to first-period-start",
# whose default is 0001-01-01T00:00:00Z.
DEFAULT_FIRST_PERIOD_START = "0001-01-01T00:00:00Z"

# Counters outlive a configuration: a new configuration must not hand every client a fresh
# window. `register(registry, store=…)` gives a registry its own (tests, shared stores), as
# does a registry whose limits keep another number of keys (`policies.counters.maxKeys`).
_PROCESS_STORE = MemoryCounterStore()

_HEADER_ATTRIBUTES = (
    "retry-after-header-name",
    "retry-after-variable-name",
    "remaining-calls-header-name",
    "remaining-calls-variable-name",
    "total-calls-header-name",
)


def _int(source: ValueSource, ctx: PolicyContext, what: str) -> int:
    text = source.evaluate(ctx).strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} '{text}' is not an integer") from None
    if value < 0:
        raise ValueError(f"{what} {value} is negative")
    return value


def _subscription(ctx: PolicyContext) -> str:
    # Per-subscription counters: callers without a subscription share the product's counter.
    subscription = getattr(ctx.facts, "subscription_id", None)
    return f"{ctx.product or ''}/{subscription or ''}"


def _owner(ctx: PolicyContext, scope: str) -> str:
    """Which document a policy definition belongs to, so that two APIs' definitions at the
    same position keep separate counters."""
    return {
        "global": "",
        "product": ctx.product or "",
        "api": ctx.api,
        "operation": f"{ctx.api}/{ctx.operation}",
    }.get(scope, "")


@dataclass(frozen=True)
class _Headers:
    retry_after_header: str | None
    retry_after_variable: str | None
    remaining_header: str | None
    remaining_variable: str | None
    total_header: str | None

    def apply(self, ctx: PolicyContext, hit: Hit, limit: int) -> None:
        # Remaining/total go on whatever response ends the request, the 429 included.
        if self.remaining_header:
            ctx.final_headers.append((self.remaining_header, str(hit.remaining)))
        if self.total_header:
            ctx.final_headers.append((self.total_header, str(limit)))
        if self.remaining_variable:
            ctx.variables[self.remaining_variable] = hit.remaining
        if not hit.allowed and self.retry_after_variable:
            ctx.variables[self.retry_after_variable] = math.ceil(hit.retry_after)


def _compile_headers(element: Element, cctx: CompileContext) -> _Headers:
    get = element.attributes.get
    for name in _HEADER_ATTRIBUTES:
        if is_expression(get(name, "")):
            raise cctx.error(element, f"<{element.name}>: {name} cannot be an expression")
    return _Headers(
        get("retry-after-header-name", "Retry-After"),
        get("retry-after-variable-name"),
        get("remaining-calls-header-name"),
        get("remaining-calls-variable-name"),
        get("total-calls-header-name"),
    )


def _positive_literal(
    element: Element, cctx: CompileContext, name: str, source: ValueSource
) -> None:
    if isinstance(source, Literal):
        text = source.text.strip()
        if not text.isdigit():
            raise cctx.error(element, f"<{element.name}>: {name} must be a non-negative integer")
        if name == "renewal-period" and not 0 < int(text) <= MAX_RENEWAL_PERIOD:
            raise cctx.error(
                element,
                f"<{element.name}>: renewal-period must be 1 to {MAX_RENEWAL_PERIOD} seconds",
            )


@dataclass(frozen=True)
class _RateLimit:
    policy: str
    key: Callable[[PolicyContext], str]
    calls: ValueSource
    period: ValueSource
    condition: ConditionSource | None
    increment: ValueSource
    headers: _Headers
    store: CounterStore
    clock: Clock

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        calls = _int(self.calls, ctx, "calls")
        period = _int(self.period, ctx, "renewal-period")
        if not 0 < period <= MAX_RENEWAL_PERIOD:
            raise ValueError(f"renewal-period {period} is not 1 to {MAX_RENEWAL_PERIOD} seconds")
        # APIM: increment-condition false → the request is not counted (but still limited).
        counts = self.condition is None or self.condition.test(ctx)
        increment = _int(self.increment, ctx, "increment-count") if counts else 0
        hit = await self.store.hit(
            f"{self.policy}|{self.key(ctx)}", period, calls, increment, self.clock()
        )
        self.headers.apply(ctx, hit, calls)
        if hit.allowed:
            return None
        seconds = max(math.ceil(hit.retry_after), 1)
        message = f"Rate limit is exceeded. Try again in {seconds} seconds."
        response = apim_error(429, message)
        if self.headers.retry_after_header:
            response.headers.append((self.headers.retry_after_header, str(seconds)))
        raise PolicyRuntimeError(self.policy, "RateLimitExceeded", message, response=response)


def _compile_rate_limit(
    element: Element, cctx: CompileContext, store: CounterStore, clock: Clock, by_key: bool
) -> _RateLimit:
    keyed = ("counter-key", "increment-condition", "increment-count") if by_key else ()
    cctx.check_attributes(
        element,
        ("calls", "renewal-period", *keyed, *_HEADER_ATTRIBUTES),
        required=("calls", "renewal-period", *keyed[:1]),
    )
    if element.children:
        # APIM rate-limit allows nested <api>/<operation> limits; not implemented.
        raise cctx.error(element.children[0], f"<{element.name}>: nested limits are not supported")
    calls = cctx.value(element, element.attributes["calls"])
    period = cctx.value(element, element.attributes["renewal-period"])
    _positive_literal(element, cctx, "calls", calls)
    _positive_literal(element, cctx, "renewal-period", period)
    key: Callable[[PolicyContext], str]
    condition: ConditionSource | None = None
    increment: ValueSource = Literal("1")
    if by_key:
        # counter-key: one counter per key value across all scopes (§8).
        counter = cctx.value(element, element.attributes["counter-key"])
        key = counter.evaluate
        if "increment-condition" in element.attributes:
            condition = cctx.condition(element, element.attributes["increment-condition"])
        if "increment-count" in element.attributes:
            increment = cctx.value(element, element.attributes["increment-count"])
            _positive_literal(element, cctx, "increment-count", increment)
    else:
        scope, path = cctx.scope.value, cctx.path

        def key(ctx: PolicyContext) -> str:
            return f"{scope}|{_owner(ctx, scope)}|{path}|{_subscription(ctx)}"

    return _RateLimit(
        element.name,
        key,
        calls,
        period,
        condition,
        increment,
        _compile_headers(element, cctx),
        store,
        clock,
    )


def _hhmmss(seconds: float) -> str:
    """.NET TimeSpan's default format, as in APIM's quota message: [d.]hh:mm:ss."""
    total = max(math.ceil(seconds), 0)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02}:{minutes:02}:{secs:02}"
    return f"{days}.{text}" if days else text


def _subscription_start(ctx: PolicyContext) -> float:
    """Where the caller's quota windows start, in epoch seconds. APIM quota, renewal-period:
    "The start of each period is calculated relative to the start time of the subscription":
    its startDate, else its createdDate; a request without either keeps the epoch."""
    subscription = getattr(ctx.facts, "subscription", None)
    if isinstance(subscription, SubscriptionConfig):
        for text in (subscription.start_date, subscription.created_date):
            if text is not None:
                return parse_instant(text).timestamp()
    return 0.0


@dataclass(frozen=True)
class _Quota:
    policy: str
    key: Callable[[PolicyContext], str]
    calls: int
    period: int
    condition: ConditionSource | None
    store: CounterStore
    clock: Clock
    # quota-by-key: first-period-start in epoch seconds; None: quota, per subscription.
    first_period_start: float | None

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        counts = self.condition is None or self.condition.test(ctx)
        origin = self.first_period_start
        if origin is None:
            origin = _subscription_start(ctx)
        # A fixed window [origin + k·period, origin + (k+1)·period); Retry-After counts to
        # its end.
        hit = await self.store.hit_fixed(
            f"{self.policy}|{self.key(ctx)}",
            self.period,
            self.calls,
            int(counts),
            self.clock(),
            origin,
        )
        if hit.allowed:
            return None
        headers = []
        if math.isinf(hit.retry_after):
            message = "Out of call volume quota."
        else:
            message = (
                "Out of call volume quota. Quota will be replenished in "
                f"{_hhmmss(hit.retry_after)}."
            )
            headers.append(("Retry-After", str(max(math.ceil(hit.retry_after), 1))))
        response = apim_error(403, message)
        response.headers.extend(headers)
        raise PolicyRuntimeError(self.policy, "QuotaExceeded", message, response=response)


def _compile_quota(
    element: Element, cctx: CompileContext, store: CounterStore, clock: Clock, by_key: bool
) -> _Quota:
    keyed = ("counter-key", "increment-condition", "first-period-start") if by_key else ()
    cctx.check_attributes(
        element, ("calls", "bandwidth", "renewal-period", *keyed), required=("renewal-period",)
    )
    if by_key and "counter-key" not in element.attributes:
        raise cctx.error(element, f"<{element.name}>: attribute 'counter-key' is required")
    if element.children:
        raise cctx.error(element.children[0], f"<{element.name}>: nested limits are not supported")
    if "bandwidth" in element.attributes:
        # Counting response kilobytes needs the response's size after it is sent.
        raise cctx.error(element, f"<{element.name}>: bandwidth quotas are not supported")
    if "calls" not in element.attributes:
        raise cctx.error(element, f"<{element.name}>: attribute 'calls' is required")
    numbers = {}
    for name in ("calls", "renewal-period"):
        text = element.attributes[name].strip()
        if not text.isdigit():
            raise cctx.error(element, f"<{element.name}>: {name} must be a non-negative integer")
        numbers[name] = int(text)
    key: Callable[[PolicyContext], str]
    condition: ConditionSource | None = None
    first_period_start: float | None = None
    if by_key:
        key = cctx.value(element, element.attributes["counter-key"]).evaluate
        if "increment-condition" in element.attributes:
            condition = cctx.condition(element, element.attributes["increment-condition"])
        # first-period-start: ISO 8601, "Policy expressions aren't allowed".
        text = element.attributes.get("first-period-start", DEFAULT_FIRST_PERIOD_START).strip()
        try:
            first_period_start = parse_instant(text).timestamp()
        except ValueError:
            raise cctx.error(
                element,
                f"<{element.name}>: first-period-start must be an ISO 8601 date-time such as "
                "2026-01-01T00:00:00Z",
            ) from None
    else:
        scope, path = cctx.scope.value, cctx.path

        def key(ctx: PolicyContext) -> str:
            return f"{scope}|{_owner(ctx, scope)}|{path}|{_subscription(ctx)}"

    return _Quota(
        element.name,
        key,
        numbers["calls"],
        numbers["renewal-period"],
        condition,
        store,
        clock,
        first_period_start,
    )


@dataclass(frozen=True)
class _LimitConcurrency:
    key: ValueSource
    max_count: int
    steps: tuple[Step, ...]
    store: CounterStore

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        key = f"limit-concurrency|{self.key.evaluate(ctx)}"
        if not await self.store.acquire(key, self.max_count):
            message = "Too many concurrent requests."
            raise PolicyRuntimeError(
                "limit-concurrency",
                "ConcurrencyLimitExceeded",
                message,
                response=apim_error(429, message),
            )
        try:
            return await run_steps(self.steps, ctx)
        finally:
            await self.store.release(key)


def _compile_limit_concurrency(
    element: Element, cctx: CompileContext, store: CounterStore
) -> _LimitConcurrency:
    cctx.check_attributes(element, ("key", "max-count"), required=("key", "max-count"))
    text = element.attributes["max-count"].strip()
    if not text.isdigit() or int(text) < 1:
        raise cctx.error(element, "<limit-concurrency>: max-count must be a positive integer")
    return _LimitConcurrency(
        cctx.value(element, element.attributes["key"]),
        int(text),
        cctx.steps(element.children, cctx.path),
        store,
    )


def register(
    registry: Registry, store: CounterStore | None = None, clock: Clock = time.time
) -> None:
    counters: CounterStore
    if store is not None:
        counters = store
    elif registry.limits.max_counter_keys == _PROCESS_STORE.max_keys:
        counters = _PROCESS_STORE
    else:
        counters = MemoryCounterStore(max_keys=registry.limits.max_counter_keys)

    def rate_limit(element: Element, cctx: CompileContext) -> Step:
        return _compile_rate_limit(element, cctx, counters, clock, by_key=False)

    def rate_limit_by_key(element: Element, cctx: CompileContext) -> Step:
        return _compile_rate_limit(element, cctx, counters, clock, by_key=True)

    def quota(element: Element, cctx: CompileContext) -> Step:
        return _compile_quota(element, cctx, counters, clock, by_key=False)

    def quota_by_key(element: Element, cctx: CompileContext) -> Step:
        return _compile_quota(element, cctx, counters, clock, by_key=True)

    def limit_concurrency(element: Element, cctx: CompileContext) -> Step:
        return _compile_limit_concurrency(element, cctx, counters)

    registry.register("rate-limit", rate_limit, ("inbound",))
    registry.register("rate-limit-by-key", rate_limit_by_key, ("inbound",))
    registry.register("quota", quota, ("inbound",))
    registry.register("quota-by-key", quota_by_key, ("inbound",))
    registry.register("limit-concurrency", limit_concurrency)
