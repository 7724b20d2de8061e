"""APIM policies: documents, expressions and their execution.

Compile a configuration's policies with `PolicySet(config)` when it is applied, look up
`policies.for_operation(api, operation, product)` per request, and run the result with
`CompiledPolicies.execute(PolicyContext, send)`. A `PolicyCompileError` returned there means
the operation answers 500 with its message.
"""

from ._capacity import PolicyLimits
from ._compile import PolicySet, compile_operation_policies, default_registry
from ._compose import Scope, ScopedElement, compose
from ._document import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_ELEMENTS,
    Element,
    PolicyDocument,
    PolicyFragment,
    parse_policy_document,
    parse_policy_fragment,
    substitute_named_values,
)
from ._errors import PolicyCompileError, PolicyRuntimeError
from ._execute import (
    CompiledPolicies,
    ForwardSettings,
    LastError,
    PolicyContext,
    PolicyRequest,
    PolicyResponse,
    Send,
    Step,
    format_query,
    parse_query,
)
from ._fragments import MAX_FRAGMENT_NESTING, parse_fragments
from ._http import (
    backend_target,
    http_headers,
    http_response,
    policy_headers,
    policy_request,
    policy_response,
)
from ._jwt import DEFAULT_AZURE_AD_AUTHORITY, TokenServices
from ._registry import CompileContext, CompileFunction, Registry
from ._values import ExpressionCompiler, Literal, ValueSource, refuse_expressions

__all__ = [
    "DEFAULT_AZURE_AD_AUTHORITY",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_ELEMENTS",
    "MAX_FRAGMENT_NESTING",
    "CompileContext",
    "CompileFunction",
    "CompiledPolicies",
    "Element",
    "ExpressionCompiler",
    "ForwardSettings",
    "LastError",
    "Literal",
    "PolicyCompileError",
    "PolicyContext",
    "PolicyDocument",
    "PolicyFragment",
    "PolicyLimits",
    "PolicyRequest",
    "PolicyResponse",
    "PolicyRuntimeError",
    "PolicySet",
    "Registry",
    "Scope",
    "ScopedElement",
    "Send",
    "Step",
    "TokenServices",
    "ValueSource",
    "backend_target",
    "compile_operation_policies",
    "compose",
    "default_registry",
    "format_query",
    "http_headers",
    "http_response",
    "parse_fragments",
    "parse_policy_document",
    "parse_policy_fragment",
    "parse_query",
    "policy_headers",
    "policy_request",
    "policy_response",
    "refuse_expressions",
    "substitute_named_values",
]
