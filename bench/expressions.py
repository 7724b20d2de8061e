"""Policy expressions: time to evaluate one expression, compiled to closures, against the tree walk.

Evaluates a handful of representative expressions against the gateway's own `context` view of
a request (`expression_context`, as `set-header` and `rate-limit-by-key` do): the two of the
policies benchmark, a `string.Format` and an interpolated string, LINQ `Where`/`Select` over a
JArray, a JWT claim, and a `@{ … }` block with a loop. The reference, measured in the same run
and the same loop, is the tree-walking evaluator the closures replaced (`_evaluate.Evaluator`),
kept for this comparison and for the tests that check the two agree.

    python bench/expressions.py [--evaluations 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from tollhouse.contracts import SubscriptionConfig, hash_key
from tollhouse.gateway.policies import PolicyContext, PolicyRequest
from tollhouse.gateway.policies._context import RequestFacts, expression_context
from tollhouse.gateway.policies.expressions import CompiledExpression, JArray, compile_expression
from tollhouse.gateway.policies.expressions._evaluate import Evaluator
from tollhouse.gateway.policies.expressions._values import to_token

EXPRESSIONS = [
    ("subscription and IP", '@(context.Subscription.Id + ":" + context.Request.IpAddress)'),
    (
        "path and header",
        '@(context.Request.Url.Path + "?" + '
        'context.Request.Headers.GetValueOrDefault("x-tenant", "none"))',
    ),
    (
        "string.Format",
        '@(string.Format("{0} {1} by {2}", context.Request.Method, context.Request.Url.Path, '
        "context.Subscription.Name))",
    ),
    (
        "interpolation",
        '@($"{context.Request.Method} {context.Request.Url.Path} #{context.Variables["n"]:D4}")',
    ),
    (
        "LINQ over a JArray",
        '@(((JArray)context.Variables["lines"]).Where(l => (int)l["qty"] > 1)'
        '.Select(l => (string)l["sku"]).Count())',
    ),
    (
        "JWT claim",
        '@(context.Request.Headers.GetValueOrDefault("Authorization", "").AsJwt()?'
        '.Claims.GetValueOrDefault("tid", "none"))',
    ),
    (
        "block with a loop",
        "@{ var n = 0; foreach (var h in context.Request.Headers) "
        '{ if (h.Key.StartsWith("x-")) { n++; } } return n; }',
    ),
]


def _segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def policy_context() -> PolicyContext:
    token = ".".join(
        [_segment({"alg": "RS256"}), _segment({"tid": "contoso", "sub": "u1"}), "signature"]
    )
    subscription = SubscriptionConfig(
        name="bench",
        display_name="Bench",
        scope_type="api",
        scope_name="orders",
        state="active",
        primary_key_hash=hash_key("bench-primary-key-0123456789abcdef"),
        secondary_key_hash=hash_key("bench-secondary-key-0123456789abcd"),
    )
    lines = to_token([{"sku": f"s{i}", "qty": i % 3} for i in range(10)])
    assert isinstance(lines, JArray)
    return PolicyContext(
        PolicyRequest(
            "GET",
            "/items/42",
            headers=[
                ("Host", "gateway.local"),
                ("Accept", "*/*"),
                ("x-tenant", "contoso"),
                ("x-request-source", "bench"),
                ("Authorization", f"Bearer {token}"),
            ],
            client_ip="203.0.113.7",
            matched_parameters={"id": "42"},
        ),
        variables={"n": 7, "lines": lines},
        api="orders",
        operation="get",
        facts=RequestFacts("bench", subscription=subscription, subscription_key="k"),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def per_evaluation(evaluate: Callable[[], object], evaluations: int) -> float:
    """µs per call of `evaluate`."""
    start = time.perf_counter()
    for _ in range(evaluations):
        evaluate()
    return (time.perf_counter() - start) / evaluations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    ctx = policy_context()
    view = expression_context(ctx)
    print("| expression | tree walk µs | closures µs | speed-up |")
    print("|---|---:|---:|---:|")
    for name, text in EXPRESSIONS:
        compiled = compile_expression(text)

        def walk(compiled: CompiledExpression = compiled) -> object:
            evaluator = Evaluator(view, ctx.variables, utc_now)
            return evaluator.run(compiled.is_block, compiled.body)

        def run(compiled: CompiledExpression = compiled) -> object:
            return compiled.evaluate(view, variables=ctx.variables, clock=utc_now)

        assert run() == walk(), name
        walks, runs = [], []
        for _ in range(args.repeats):  # alternated, so that both see the same machine
            walks.append(per_evaluation(walk, args.evaluations))
            runs.append(per_evaluation(run, args.evaluations))
        walked, ran = statistics.median(walks), statistics.median(runs)
        print(f"| {name} `{text}` | {walked:.2f} | {ran:.2f} | {walked / ran:.1f}× |")


if __name__ == "__main__":
    main()
