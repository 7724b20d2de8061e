"""Gateway routing: time to route one request among 1,000 APIs of 10 operations each.

Compiles a configuration of `--apis` APIs (one or two path segments, some versioned, a root
API) with 10 operations each (literals, parameters, a query template, a wildcard), then routes
a shuffled set of requests that reach every operation, plus requests that match nothing. The
reference, measured in the same run and the same loop, is a dict lookup of the same path: what
a route costs at the very least in Python. Also times the subscription check that follows a
match, and compiling.

    python bench/routing.py [--apis 1000] [--requests 20000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from tollhouse.contracts import (
    ApiConfig,
    GatewayConfiguration,
    OperationConfig,
    ProductConfig,
    SubscriptionConfig,
    hash_key,
)
from tollhouse.gateway.routing import RouteMatch, RouteTable, SubscriptionIndex

OPERATIONS = [
    ("list", "GET", "/items"),
    ("create", "POST", "/items"),
    ("get", "GET", "/items/{id}"),
    ("replace", "PUT", "/items/{id}"),
    ("delete", "DELETE", "/items/{id}"),
    ("part", "GET", "/items/{id}/parts/{partId}"),
    ("history", "GET", "/items/{id}/history"),
    ("search", "GET", "/search?q={query}"),
    ("file", "GET", "/files/{*path}"),
    ("root", "GET", "/"),
]


def api_path(index: int) -> tuple[str, str | None]:
    if index % 10 == 0:
        return f"team{index % 37}/service{index}", None
    if index % 10 == 1:
        return f"service{index}", "v2"
    return f"service{index}", None


def configuration(apis: int) -> GatewayConfiguration:
    configs = []
    for index in range(apis):
        path, version = api_path(index)
        configs.append(
            ApiConfig(
                name=f"api{index}",
                display_name=f"API {index}",
                path=path,
                protocols=("https",),
                service_url=f"http://backend{index}.internal",
                subscription_required=True,
                subscription_key_header="Ocp-Apim-Subscription-Key",
                subscription_key_query="subscription-key",
                api_version=version,
                operations=tuple(
                    OperationConfig(name=n, display_name=n, method=m, url_template=t)
                    for n, m, t in OPERATIONS
                ),
            )
        )
    configs.append(
        ApiConfig(
            name="root",
            display_name="Root",
            path="",
            protocols=("https",),
            service_url="http://root.internal",
            subscription_required=False,
            subscription_key_header="Ocp-Apim-Subscription-Key",
            subscription_key_query="subscription-key",
            operations=(OperationConfig("health", "health", "GET", "/health"),),
        )
    )
    products = (
        ProductConfig("starter", "Starter", "published", True, tuple(a.name for a in configs)),
    )
    subscriptions = tuple(
        SubscriptionConfig(
            f"sub{i}", f"sub{i}", "product", "starter", "active", hash_key(f"k{i}"), hash_key("x")
        )
        for i in range(1000)
    )
    return GatewayConfiguration(
        gateway="bench",
        revision=1,
        service_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/b",
        apis=tuple(configs),
        products=products,
        subscriptions=subscriptions,
    )


def requests(apis: int, count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    out = []
    for _ in range(count):
        index = rng.randrange(apis)
        path, version = api_path(index)
        prefix = f"/{path}" + (f"/{version}" if version else "")
        _name, method, template = OPERATIONS[rng.randrange(len(OPERATIONS))]
        item = rng.randrange(10**6)
        target = (
            template.replace("{id}", str(item))
            .replace("{partId}", f"p{item % 97}")
            .replace("{*path}", f"docs/{item}/readme.md")
            .replace("{query}", f"term{item}")
        )
        route, _, query = target.partition("?")
        out.append((method, prefix + (route if route != "/" else ""), query))
    # Misses: an unknown API (caught by the root API, no operation), a method no operation has.
    for _ in range(count // 20):
        out.append(("GET", f"/nowhere{rng.randrange(10**6)}/x", ""))
        path, _ = api_path(rng.randrange(apis))
        out.append(("PATCH", f"/{path}/items/1", ""))
    rng.shuffle(out)
    return out


def per_call_ns(run: Callable[[], object], calls: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / calls)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apis", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(1)

    config = configuration(args.apis)
    start = time.perf_counter()
    table = RouteTable.compile(config)
    compile_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    index = SubscriptionIndex.compile(config)
    index_ms = (time.perf_counter() - start) * 1000

    batch = requests(args.apis, args.requests, rng)
    matches = [table.match(m, p, q, "gw.example", "https") for m, p, q in batch]
    routed = sum(isinstance(r, RouteMatch) for r in matches)
    reference = {path: (method, query) for method, path, query in batch}
    match = table.match
    lookup = reference.get

    def route_all() -> None:
        for method, path, query in batch:
            match(method, path, query, "gw.example", "https")

    def lookup_all() -> None:
        for _method, path, _query in batch:
            lookup(path)

    headers = [(b"host", b"gw.example"), (b"ocp-apim-subscription-key", b"k7")]
    found = [
        (r, q) for r, (_, _, q) in zip(matches, batch, strict=True) if isinstance(r, RouteMatch)
    ]
    check = index.check

    def check_all() -> None:
        for result, query in found:
            check(result, headers, query)

    route_ns = per_call_ns(route_all, len(batch), args.repeats)
    dict_ns = per_call_ns(lookup_all, len(batch), args.repeats)
    check_ns = per_call_ns(check_all, len(found), args.repeats)

    operations = sum(len(a.operations) for a in config.apis)
    print(
        f"routing: {len(config.apis)} APIs, {operations} operations; "
        f"{len(batch)} requests ({routed} routed, {len(batch) - routed} not found); "
        f"median of {args.repeats} runs"
    )
    header = f"{'what':<44} {'per request':>14}"
    print(header)
    print("-" * len(header))
    print(f"{'reference: dict lookup of the same path':<44} {dict_ns:>11.0f} ns")
    print(f"{'RouteTable.match':<44} {route_ns:>11.0f} ns")
    print(f"{'SubscriptionIndex.check (header key, valid)':<44} {check_ns:>11.0f} ns")
    print(f"{'match / reference':<44} {route_ns / dict_ns:>13.1f}x")
    print(f"compile: route table {compile_ms:.0f} ms, subscription index {index_ms:.0f} ms")


if __name__ == "__main__":
    main()
