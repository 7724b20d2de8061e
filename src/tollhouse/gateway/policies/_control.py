"""Control flow: choose/when/otherwise, retry, wait."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from ._document import Element
from ._execute import PolicyContext, PolicyResponse, Step, run_steps
from ._registry import CompileContext, Registry
from ._values import ConditionSource

# APIM retry: "count … maximum 50"; interval and max-interval are "in seconds, maximum 300".
MAX_RETRY_COUNT = 50
MAX_RETRY_INTERVAL_SECONDS = 300


@dataclass(frozen=True)
class _Choose:
    branches: tuple[tuple[ConditionSource, tuple[Step, ...]], ...]
    otherwise: tuple[Step, ...]

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        # APIM choose: the first `when` whose condition is true runs, else `otherwise`.
        for condition, steps in self.branches:
            if condition.test(ctx):
                return await run_steps(steps, ctx)
        return await run_steps(self.otherwise, ctx)


def compile_choose(element: Element, cctx: CompileContext) -> _Choose:
    cctx.check_attributes(element, ())
    cctx.check_children(element, ("when", "otherwise"))
    branches: list[tuple[ConditionSource, tuple[Step, ...]]] = []
    otherwise: tuple[Step, ...] | None = None
    for i, child in enumerate(element.children):
        path = f"{cctx.path}/{child.name}[{i}]"
        if child.name == "when":
            if otherwise is not None:
                raise cctx.error(child, "<choose>: <when> after <otherwise>")
            cctx.check_attributes(child, ("condition",), required=("condition",))
            condition = cctx.condition(child, child.attributes["condition"])
            branches.append((condition, cctx.steps(child.children, path)))
        else:
            if otherwise is not None:
                raise cctx.error(child, "<choose>: <otherwise> appears more than once")
            cctx.check_attributes(child, ())
            otherwise = cctx.steps(child.children, path)
    if not branches:
        raise cctx.error(element, "<choose> needs at least one <when>")
    return _Choose(tuple(branches), otherwise or ())


@dataclass(frozen=True)
class _Retry:
    condition: ConditionSource
    count: int
    interval: float
    max_interval: float | None
    delta: float | None
    first_fast_retry: bool
    steps: tuple[Step, ...]

    def delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1-based), as APIM's retry documents:
        fixed (interval), linear (interval + delta), exponential (with max-interval)."""
        if self.first_fast_retry and attempt == 1:
            return 0.0
        if self.delta is None:
            return self.interval
        if self.max_interval is None:
            return self.interval + (attempt - 1) * self.delta
        jitter = random.uniform(self.delta * 0.8, self.delta * 1.2)
        return float(min(self.interval + (2**attempt - 1) * jitter, self.max_interval))

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        # "executes its child policies once and then retries their execution until the retry
        # condition becomes false or retry count is exhausted."
        ended = await run_steps(self.steps, ctx)
        attempt = 0
        while ended is None and attempt < self.count and self.condition.test(ctx):
            attempt += 1
            await ctx.sleep(self.delay(attempt))
            ended = await run_steps(self.steps, ctx)
        return ended


def _seconds(element: Element, cctx: CompileContext, name: str, limit: int) -> float | None:
    text = element.attributes.get(name)
    if text is None:
        return None
    if not text.isdigit() or int(text) > limit:
        raise cctx.error(element, f"<{element.name}>: {name} must be 0 to {limit}")
    return float(text)


def compile_retry(element: Element, cctx: CompileContext) -> _Retry:
    cctx.check_attributes(
        element,
        ("condition", "count", "interval", "max-interval", "delta", "first-fast-retry"),
        required=("condition", "count", "interval"),
    )
    count = _seconds(element, cctx, "count", MAX_RETRY_COUNT)
    interval = _seconds(element, cctx, "interval", MAX_RETRY_INTERVAL_SECONDS)
    assert count is not None and interval is not None  # required above
    if count < 1:
        raise cctx.error(element, "<retry>: count must be at least 1")
    first_fast = element.attributes.get("first-fast-retry", "false").lower()
    if first_fast not in ("true", "false"):
        raise cctx.error(element, "<retry>: first-fast-retry must be true or false")
    return _Retry(
        condition=cctx.condition(element, element.attributes["condition"]),
        count=int(count),
        interval=interval,
        max_interval=_seconds(element, cctx, "max-interval", MAX_RETRY_INTERVAL_SECONDS),
        delta=_seconds(element, cctx, "delta", MAX_RETRY_INTERVAL_SECONDS),
        first_fast_retry=first_fast == "true",
        steps=cctx.steps(element.children, cctx.path),
    )


@dataclass(frozen=True)
class _Wait:
    steps: tuple[Step, ...]
    any: bool

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        tasks = [asyncio.ensure_future(step(ctx)) for step in self.steps]
        if not tasks:
            return None
        try:
            # APIM wait for="any": the first child to complete ends the wait; the others
            # are terminated.
            mode = asyncio.FIRST_COMPLETED if self.any else asyncio.FIRST_EXCEPTION
            done, _ = await asyncio.wait(tasks, return_when=mode)
        finally:
            for task in tasks:
                task.cancel()
        for task in tasks:
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        for task in tasks:
            if task in done and task.result() is not None:
                return task.result()
        return None


def compile_wait(element: Element, cctx: CompileContext) -> _Wait:
    cctx.check_attributes(element, ("for",))
    # APIM: only send-request, cache-lookup-value and choose may be immediate children.
    cctx.check_children(element, ("send-request", "cache-lookup-value", "choose"))
    mode = element.attributes.get("for", "all")
    if mode not in ("all", "any"):
        raise cctx.error(element, "<wait>: for must be all or any")
    return _Wait(cctx.steps(element.children, cctx.path), mode == "any")


def register(registry: Registry) -> None:
    registry.register("choose", compile_choose)
    registry.register("retry", compile_retry)
    registry.register("wait", compile_wait)
