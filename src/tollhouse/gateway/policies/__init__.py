"""APIM policies: documents, expressions and their execution.

Compile a configuration's policies with `PolicySet(config)` when it is applied, look up
`policies.for_operation(api, operation, product)` per request, and run the result with
`CompiledPolicies.execute(PolicyContext, send)`. A `PolicyCompileError` returned there means
the operation answers 500 with its message.
"""

from ._compile import PolicySet, compile_operation_policies, default_registry
from ._compose import Scope, ScopedElement, compose
from ._document import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_ELEMENTS,
    Element,
    PolicyDocument,
    parse_policy_document,
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
from ._http import (
    backend_target,
    http_headers,
    http_response,
    policy_headers,
    policy_request,
    policy_response,
)
from ._registry import CompileContext, CompileFunction, Registry
from ._values import ExpressionCompiler, Literal, ValueSource, refuse_expressions

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_ELEMENTS",
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
    "PolicyRequest",
    "PolicyResponse",
    "PolicyRuntimeError",
    "PolicySet",
    "Registry",
    "Scope",
    "ScopedElement",
    "Send",
    "Step",
    "ValueSource",
    "backend_target",
    "compile_operation_policies",
    "compose",
    "default_registry",
    "format_query",
    "http_headers",
    "http_response",
    "parse_policy_document",
    "parse_query",
    "policy_headers",
    "policy_request",
    "policy_response",
    "refuse_expressions",
    "substitute_named_values",
]
