"""The package exports what the pipeline and the expression interpreter need, and no more."""

from __future__ import annotations

import tollhouse.gateway.policies as policies


def test_all_is_the_public_surface() -> None:
    assert sorted(policies.__all__) == sorted(
        [
            "MAX_DEPTH",
            "MAX_DOCUMENT_BYTES",
            "MAX_ELEMENTS",
            "DEFAULT_AZURE_AD_AUTHORITY",
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
            "compile_operation_policies",
            "backend_target",
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
    )
    for name in policies.__all__:
        assert hasattr(policies, name), name
