"""Building configurations and running compiled policies over a request in tests."""

from __future__ import annotations

from typing import Any

from tollhouse.contracts import (
    ApiConfig,
    GatewayConfiguration,
    NamedValueConfig,
    OperationConfig,
    ProductConfig,
)
from tollhouse.gateway.http import Body
from tollhouse.gateway.policies import (
    CompiledPolicies,
    ForwardSettings,
    Literal,
    PolicyCompileError,
    PolicyContext,
    PolicyRequest,
    PolicyResponse,
    compile_operation_policies,
)


def configuration(
    *,
    global_policy: str | None = None,
    product_policy: str | None = None,
    api_policy: str | None = None,
    operation_policy: str | None = None,
    named_values: tuple[NamedValueConfig, ...] = (),
) -> GatewayConfiguration:
    operation = OperationConfig("op", "Op", "GET", "/items/{id}", policy=operation_policy)
    api = ApiConfig(
        name="api",
        display_name="API",
        path="shop",
        protocols=("https",),
        service_url="https://backend.example",
        subscription_required=False,
        subscription_key_header="Ocp-Apim-Subscription-Key",
        subscription_key_query="subscription-key",
        policy=api_policy,
        operations=(operation,),
    )
    product = ProductConfig("starter", "Starter", "published", True, ("api",), product_policy)
    return GatewayConfiguration(
        gateway="gw",
        revision=1,
        service_id="svc",
        policy=global_policy,
        apis=(api,),
        products=(product,),
        named_values=named_values,
    )


def compiled(
    *, product: str | None = None, **documents: Any
) -> CompiledPolicies | PolicyCompileError:
    config = configuration(**documents)
    api = config.apis[0]
    return compile_operation_policies(config, api, api.operations[0], product)


def with_expressions(value: str, **documents: Any) -> CompiledPolicies:
    """Compiled with every expression standing for the literal `value`."""
    config = configuration(**documents)
    api = config.apis[0]
    result = compile_operation_policies(
        config, api, api.operations[0], expressions=lambda text, line, column: Literal(value)
    )
    assert isinstance(result, CompiledPolicies), str(result)
    return result


def policies(**documents: Any) -> CompiledPolicies:
    result = compiled(**documents)
    assert isinstance(result, CompiledPolicies), str(result)
    return result


def error(**documents: Any) -> PolicyCompileError:
    result = compiled(**documents)
    assert isinstance(result, PolicyCompileError), "expected a compile error"
    return result


def doc(
    inbound: str = "", outbound: str = "", on_error: str = "", backend: str | None = None
) -> str:
    text = f"<policies><inbound>{inbound}</inbound><outbound>{outbound}</outbound>"
    if backend is not None:
        text += f"<backend>{backend}</backend>"
    return text + f"<on-error>{on_error}</on-error></policies>"


def context(
    method: str = "GET",
    path: str = "/items/7",
    query: list[tuple[str, str]] | None = None,
    headers: list[tuple[str, str]] | None = None,
    client_ip: str = "10.0.0.1",
    params: dict[str, str] | None = None,
) -> PolicyContext:
    return PolicyContext(
        PolicyRequest(
            method=method,
            path=path,
            query=list(query or []),
            headers=list(headers or []),
            client_ip=client_ip,
            matched_parameters=dict(params or {"id": "7"}),
        ),
        backend_url="https://backend.example",
    )


class Backend:
    """A scripted backend: records what it was sent, answers `status` with `body`."""

    def __init__(self, status: int = 200, body: bytes = b"backend") -> None:
        self.status = status
        self.body = body
        self.calls: list[tuple[str, str, list[tuple[str, str]], ForwardSettings | None]] = []

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse:
        self.calls.append(
            (ctx.request.method, ctx.request.path, list(ctx.request.headers), ctx.forward)
        )
        return PolicyResponse(self.status, headers=[("x-backend", "1")], body=Body(data=self.body))


async def run(
    compiled_policies: CompiledPolicies, ctx: PolicyContext | None = None
) -> tuple[PolicyResponse, PolicyContext, Backend]:
    ctx = ctx or context()
    backend = Backend()
    response = await compiled_policies.execute(ctx, backend)
    return response, ctx, backend


async def body(response: PolicyResponse) -> bytes:
    return await response.body.read()
