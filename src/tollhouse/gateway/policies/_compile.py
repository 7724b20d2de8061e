"""From a configuration to each operation's compiled policies.

Documents are parsed once per configuration; an operation's effective policies are composed
and compiled per (operation, product): product policies apply only to a request that came
through that product's subscription (apim-self-hosted-gateway.md §8), which the pipeline
knows at request time. The product-less variant of every operation is compiled when the
configuration is applied (so its errors are known up front), with those of the products that
list its API; any other combination on first use. All are cached. A compile error belongs to
the operations it covers: it is returned, never raised for the whole configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tollhouse.contracts import ApiConfig, FragmentConfig, GatewayConfiguration, OperationConfig

from . import (
    _access,
    _control,
    _conversion,
    _diagnostics,
    _external,
    _fragments,
    _jwt,
    _limits,
    _responses,
    _transformation,
)
from ._capacity import DEFAULT_POLICY_LIMITS, PolicyLimits
from ._compose import Scope, compose
from ._document import PolicyDocument, PolicyFragment, parse_policy_document
from ._errors import PolicyCompileError
from ._execute import CompiledPolicies, ForwardSettings, LocatedStep, Step
from ._fragments import parse_fragments
from ._registry import Registry
from ._values import ExpressionCompiler, refuse_expressions

Parsed = PolicyDocument | PolicyCompileError | None


def default_registry(
    tokens: _jwt.TokenServices | None = None, *, limits: PolicyLimits = DEFAULT_POLICY_LIMITS
) -> Registry:
    """Every policy implemented so far. `tokens`: the gateway's shared OIDC key cache and
    Entra authority for validate-jwt/validate-azure-ad-token (default: a process-wide cache).
    `limits`: the operator's limits (`policies.*`), held by every section compiled with it and
    by the documents a `PolicySet` parses for it."""
    registry = Registry(limits)
    _jwt.register(registry, tokens)
    for module in (
        _transformation,
        _responses,
        _access,
        _control,
        _limits,
        _external,
        _conversion,
        _diagnostics,
        _fragments,
    ):
        module.register(registry)
    return registry


def _parse(
    text: str | None, config: GatewayConfiguration, scope: Scope, limits: PolicyLimits
) -> Parsed:
    if text is None or not text.strip():
        return None
    try:
        return parse_policy_document(text, config.named_values, limits=limits)
    except PolicyCompileError as exc:
        return exc.located(scope=scope.value)


def _build(
    layers: list[tuple[Scope, Parsed]],
    registry: Registry,
    expressions: ExpressionCompiler,
    samples: Mapping[tuple[int, str], bytes] | None,
    fragments: Mapping[str, PolicyFragment],
) -> CompiledPolicies | PolicyCompileError:
    documents: list[tuple[Scope, PolicyDocument | None]] = []
    for scope, parsed in layers:
        if isinstance(parsed, PolicyCompileError):
            return parsed
        documents.append((scope, parsed))
    try:
        sections = compose(documents)
        compiled = {
            name: registry.compile_section(
                name, elements, expressions=expressions, samples=samples, fragments=fragments
            )
            for name, elements in sections.items()
        }
    except PolicyCompileError as exc:
        return exc
    return CompiledPolicies(
        inbound=compiled["inbound"],
        backend=compiled["backend"],
        outbound=compiled["outbound"],
        on_error=compiled["on-error"],
        forward_only=_forward_only(compiled),
    )


def _forward_only(sections: Mapping[str, tuple[Step, ...]]) -> ForwardSettings | None:
    """The forward-request settings when forwarding is all the sections do."""
    if sections["inbound"] or sections["outbound"] or sections["on-error"]:
        return None
    backend = sections["backend"]
    if len(backend) != 1:
        return None
    step = backend[0].step if isinstance(backend[0], LocatedStep) else backend[0]
    return _responses.forward_settings(step)


def compile_operation_policies(
    config: GatewayConfiguration,
    api: ApiConfig,
    operation: OperationConfig,
    product: str | None = None,
    *,
    registry: Registry | None = None,
    expressions: ExpressionCompiler = refuse_expressions,
    samples: Mapping[tuple[int, str], bytes] | None = None,
    fragments: Iterable[FragmentConfig] | None = None,
) -> CompiledPolicies | PolicyCompileError:
    """One operation's effective policies (through `product`, by name, when given).
    `fragments`: the policy fragments include-fragment may name, instead of the
    configuration's (an offline checker reads them from files)."""
    registry = registry or default_registry()
    limits = registry.limits
    product_policy = None
    if product is not None:
        product_policy = next((p.policy for p in config.products if p.name == product), None)
    layers = [
        (Scope.GLOBAL, _parse(config.policy, config, Scope.GLOBAL, limits)),
        (Scope.PRODUCT, _parse(product_policy, config, Scope.PRODUCT, limits)),
        (Scope.API, _parse(api.policy, config, Scope.API, limits)),
        (Scope.OPERATION, _parse(operation.policy, config, Scope.OPERATION, limits)),
    ]
    parsed = parse_fragments(
        config.fragments if fragments is None else fragments, config.named_values, limits=limits
    )
    if samples is None:
        samples = operation_samples(operation)
    return _build(layers, registry, expressions, samples, parsed)


def operation_samples(operation: OperationConfig) -> dict[tuple[int, str], bytes]:
    """The operation's example bodies by (status, content type), for mock-response."""
    return {(e.status, e.content_type): e.body.encode("utf-8") for e in operation.examples}


class PolicySet:
    """A configuration's policies, parsed once; `for_operation` per request. Documents and
    fragments are parsed within the registry's limits."""

    def __init__(
        self,
        config: GatewayConfiguration,
        *,
        registry: Registry | None = None,
        expressions: ExpressionCompiler = refuse_expressions,
    ) -> None:
        self._registry = registry or default_registry()
        self._expressions = expressions
        limits = self._registry.limits
        # Documents with the same text at the same scope are parsed once and are one object,
        # so that operations whose layers are the same documents share one compilation.
        parsed: dict[tuple[str | None, Scope], Parsed] = {}

        def parse(text: str | None, scope: Scope) -> Parsed:
            key = (text, scope)
            if key not in parsed:
                parsed[key] = _parse(text, config, scope, limits)
            return parsed[key]

        self._global = parse(config.policy, Scope.GLOBAL)
        self._fragments = parse_fragments(config.fragments, config.named_values, limits=limits)
        self._products = {p.name: parse(p.policy, Scope.PRODUCT) for p in config.products}
        self._apis = {a.name: parse(a.policy, Scope.API) for a in config.apis}
        self._operations = {
            (a.name, o.name): parse(o.policy, Scope.OPERATION)
            for a in config.apis
            for o in a.operations
        }
        # Only operations with example responses compile apart (mock-response reads them).
        self._samples = {
            (a.name, o.name): operation_samples(o)
            for a in config.apis
            for o in a.operations
            if o.examples
        }
        self._cache: dict[tuple[str, str, str | None], CompiledPolicies | PolicyCompileError] = {}
        # Compiled steps depend on the documents only (a counter's owner is read from the
        # request), so equal layers share them: 1,000 APIs with one policy compile it once.
        self._by_layers: dict[tuple[int, ...], CompiledPolicies | PolicyCompileError] = {}
        for api in config.apis:
            products = [None, *(p.name for p in config.products if api.name in p.apis)]
            for operation in api.operations:
                for product in products:
                    self.for_operation(api.name, operation.name, product)

    @property
    def errors(self) -> dict[tuple[str, str, str | None], PolicyCompileError]:
        """(api, operation, product or None) → why it cannot run (for the heartbeat)."""
        return {
            key: result
            for key, result in self._cache.items()
            if isinstance(result, PolicyCompileError)
        }

    def for_operation(
        self, api: str, operation: str, product: str | None
    ) -> CompiledPolicies | PolicyCompileError:
        key = (api, operation, product)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        layers = [
            (Scope.GLOBAL, self._global),
            (Scope.PRODUCT, self._products.get(product) if product is not None else None),
            (Scope.API, self._apis.get(api)),
            (Scope.OPERATION, self._operations.get((api, operation))),
        ]
        samples = self._samples.get((api, operation))
        shared = (*(id(document) for _, document in layers), id(samples))
        result = self._by_layers.get(shared)
        if result is None:
            result = _build(layers, self._registry, self._expressions, samples, self._fragments)
            self._by_layers[shared] = result
        self._cache[key] = result
        return result
