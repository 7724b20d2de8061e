"""Compiling: the supported C# subset parses, everything else is an error with a position."""

from __future__ import annotations

import pytest

from tollhouse.gateway.policies.expressions import (
    ExpressionError,
    compile_expression,
    is_expression,
)


@pytest.mark.parametrize(
    "text",
    [
        "@(1)",
        "@(context.Request.Method)",
        "@{ var x = 1; return x; }",
        '@{ string s = "a"; return s; }',
        "@(context.Request.Body.As<JObject>(preserveContent: true))",
        '@((string)context.Variables["a"])',
        "@(context.Variables.Count > 0 ? 1 : 2)",
        "@(new[] { 1, 2 }.Where(x => x > 1).Any())",
        "@(new[] { 1, 2 }.Select((x) => x).Count())",
        '@(context.Request.Headers.GetValueOrDefault("a", "b")?.Length ?? 0)',
        '@(context.Variables["x"] is string)',
        '@(context.Variables["x"] as string)',
        '@{ foreach (var h in context.Request.Headers) { context.Trace("a", h.Key); } return 1; }',
        "@{ if (true) return 1; else return 2; }",
        '@($"{{literal}} {context.Request.Method,0}")'.replace(",0", ""),
    ],
)
def test_supported_constructs_compile(text: str) -> None:
    compile_expression(text)


@pytest.mark.parametrize(
    ("text", "construct", "line", "column"),
    [
        ("@(typeof(string))", "typeof", 1, 3),
        ("@{ unsafe { return 1; } }", "unsafe", 1, 4),
        ("@{ goto end; }", "goto", 1, 4),
        ("@{ while (true) { } return 1; }", "while", 1, 4),
        ("@(context.Request.Method.Launch())", "Launch", 1, 26),
        ('@(System.IO.File.ReadAllText("/etc/passwd"))', "System", 1, 3),
        ("@(Math.Foo(1))", "Foo", 1, 8),
        ("@(undefinedName)", "undefinedName", 1, 3),
        ("@(new { a = 1 })", "anonymous", 1, 7),
        ("@{\n  var x = 1;\n  return x.GetHashCode();\n}", "GetHashCode", 3, 12),
        ("@(x => x)", "lambda", 1, 3),
    ],
)
def test_unsupported_constructs_are_compile_errors_with_positions(
    text: str, construct: str, line: int, column: int
) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert construct.lower() in caught.value.message.lower() or construct in str(caught.value)
    assert (caught.value.line, caught.value.column) == (line, column)


@pytest.mark.parametrize(
    "text",
    [
        "@(1",
        "@(1))",
        "@{ return 1 }",
        "@{ var x = 1; }",
        '@("unterminated)',
        "@(1 +)",
        "1 + 1",
        "@(@)",
        "@{ var x = 1; var x = 2; return x; }",
        "@(context.Request.Method = 1)",
    ],
)
def test_malformed_expressions_are_compile_errors(text: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(text)


def test_errors_name_the_line_and_column_in_the_message() -> None:
    with pytest.raises(ExpressionError, match="line 2, column 5"):
        compile_expression("@{\n    typeof(int);\n}")


def test_is_expression_recognises_both_forms_only() -> None:
    assert is_expression("@(1)")
    assert is_expression("  @{ return 1; }  ")
    assert not is_expression("plain text")
    assert not is_expression("@notanexpression")


def test_lambda_shorthand_and_keywords_in_lambdas_are_scoped() -> None:
    # The lambda parameter is not visible after the lambda.
    with pytest.raises(ExpressionError, match="'x' does not exist"):
        compile_expression("@(new[] { 1 }.Any(x => x > 0) && x > 0)")


@pytest.mark.parametrize(
    ("text", "column"),
    [("@(Math.Foo)", 8), ("@(DateTime.Tomorrow)", 12), ('@(string.Reverse("a"))', 10)],
)
def test_unknown_static_members_are_compile_errors(text: str, column: int) -> None:
    with pytest.raises(ExpressionError, match="no supported member") as caught:
        compile_expression(text)
    assert caught.value.column == column


def test_unknown_namespaces_and_types_are_compile_errors() -> None:
    with pytest.raises(ExpressionError, match=r"'System\.IO' is not supported"):
        compile_expression('@(System.IO.File.ReadAllText("/etc/passwd"))')
    with pytest.raises(ExpressionError, match=r"'System\.Diagnostics' is not supported"):
        compile_expression('@(System.Diagnostics.Process.Start("sh"))')
