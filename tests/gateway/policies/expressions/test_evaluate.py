"""Evaluation: C# semantics where they differ from Python's."""

from __future__ import annotations

import math

import pytest

from tollhouse.gateway.policies.expressions import ExpressionRuntimeError, JObject, render

from .helpers import ev


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3),
        ("-7 / 2", -3),  # truncation toward zero, not floor
        ("7 / -2", -3),
        ("-7 % 3", -1),  # remainder takes the dividend's sign
        ("7.0 / 2", 3.5),
        ("1.5e1 + 1", 16.0),
        ("10L * 3", 30),
        ("2.5d", 2.5),
        ("1f + 1m", 2.0),
        ("0x1F", 31),
        ("9223372036854775807L + 1", -9223372036854775808),  # unchecked long overflow wraps
        ("!true", False),
        ("-(3)", -3),
        ("+4", 4),
        ("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 4 == false", True),
        ("false || 1 != 2", True),
        ("1 == 1.0", True),
        ("true ? 1 : 2", 1),
        ("false ? 1 : true ? 2 : 3", 2),
        ('null ?? "d"', "d"),
        ('"x" ?? "d"', "x"),
        ('null ?? null ?? "c"', "c"),
    ],
)
def test_operators(text: str, expected: object) -> None:
    assert ev(text) == expected


def test_string_concatenation_with_null_is_the_empty_string() -> None:
    assert ev('"a" + null + "b"') == "ab"
    assert ev('"n=" + 1 + true') == "n=1True"
    assert ev('1 + 2 + "x"') == "3x"


def test_string_equality_is_ordinal_and_case_sensitive() -> None:
    assert ev('"abc" == "abc"') is True
    assert ev('"abc" == "ABC"') is False
    assert ev('"a" != null') is True


def test_integer_division_by_zero_is_a_runtime_error_double_is_infinity() -> None:
    with pytest.raises(ExpressionRuntimeError) as caught:
        ev("1 / 0")
    assert caught.value.column == 5
    assert ev("1.0 / 0") == math.inf


def test_comparing_strings_with_less_than_is_an_error() -> None:
    with pytest.raises(ExpressionRuntimeError):
        ev('"a" < "b"')


def test_conditions_must_be_bool() -> None:
    with pytest.raises(ExpressionRuntimeError, match="bool"):
        ev("1 ? 2 : 3")


def test_null_conditional_member_access_short_circuits_the_chain() -> None:
    assert ev("context.Subscription?.Name") == "Gold"
    from .doubles import Context

    assert ev("context.Subscription?.Name.Length", Context(Subscription=None)) is None
    assert ev('context.Variables.GetValueOrDefault<string>("missing")?.Length', x=1) is None
    assert ev("((string)null)?.Length ?? -1") == -1


def test_member_access_on_null_is_a_null_reference_error() -> None:
    from .doubles import Context

    with pytest.raises(ExpressionRuntimeError, match="Object reference"):
        ev("context.Subscription.Name", Context(Subscription=None))


def test_casts_is_and_as() -> None:
    assert ev("(int)3.9") == 3
    assert ev("(int)-3.9") == -3
    assert ev("(double)3") == 3.0
    assert ev('(string)context.Variables["s"]', s="v") == "v"
    assert ev('context.Variables["s"] is string', s="v") is True
    assert ev('context.Variables["s"] is int', s="v") is False
    assert ev('context.Variables["s"] as string', s=3) is None
    assert ev('context.Variables["n"] is null', n=None) is True
    with pytest.raises(ExpressionRuntimeError, match="cast"):
        ev('(int)context.Variables["s"]', s="v")


def test_interpolated_strings_with_formats_and_escapes() -> None:
    assert ev('$"{1 + 1} and {{braces}} {"q"}"') == "2 and {braces} q"
    assert ev('$"{3.14159:F2}|{7:D3}|{null}|{true}"') == "3.14|007||True"
    assert (
        ev('$"{context.Request.Method}-{context.Variables.GetValueOrDefault("a") ?? "none"}"')
        == "GET-none"
    )
    assert ev('$"a\\tb"') == "a\tb"


def test_string_literals() -> None:
    assert ev(r'"a\"b\\c\n\u0041"') == 'a"b\\c\nA'
    assert ev(r'@"C:\path ""q"""') == 'C:\\path "q"'
    assert ev("'x'") == "x"
    assert ev(r"'\''") == "'"


def test_block_with_declarations_assignment_if_else_and_foreach() -> None:
    text = """{
        var total = 0;
        int count = 0;
        foreach (var n in new[] { 1, 2, 3, 4 }) {
            if (n % 2 == 0) { total += n; }
            else if (n == 3) { total -= 1; }
            else total = total + 10;
            count++;
        }
        string label = count > 3 ? "many" : "few";
        return label + ":" + total;
    }"""
    assert ev(text) == "many:15"


def test_block_returns_from_inside_a_loop() -> None:
    text = (
        '{ foreach (var s in new[] { "a", "bb", "ccc" }) { if (s.Length == 2) { return s; } }'
        ' return "none"; }'
    )
    assert ev(text) == "bb"


def test_typed_double_declaration_converts_an_integer() -> None:
    assert ev("{ double d = 3; return d / 2; }") == 1.5


def test_new_jobject_and_indexer_assignment() -> None:
    result = ev(
        '{ var o = new JObject(); o["a"] = 1; o["b"] = "x"; return o.ToString(Formatting.None); }'
    )
    assert result == '{"a":1,"b":"x"}'
    obj = ev('{ var o = new JObject(); o["k"] = true; return o; }')
    assert isinstance(obj, JObject)
    assert render(obj) == '{\n  "k": true\n}'


def test_render_uses_csharp_tostring() -> None:
    assert render(True) == "True"
    assert render(False) == "False"
    assert render(None) == ""
    assert render(1.0) == "1"
    assert render(0.1) == "0.1"
    assert render(1e20) == "1E+20"
    assert render(42) == "42"


def test_runtime_errors_carry_the_position_of_the_failing_node() -> None:
    with pytest.raises(ExpressionRuntimeError) as caught:
        ev('{\n  var s = "abc";\n  return s.Substring(5);\n}')
    assert caught.value.line == 3


def test_comments_are_ignored() -> None:
    assert ev("{ // a line comment\n var x = 1; /* block */ return x + 1; }") == 2


def test_null_conditional_indexer() -> None:
    assert ev('((JObject)null)?["a"]') is None
    assert ev('JObject.Parse("{\\"a\\": 1}")?["a"].ToString()') == "1"


def test_char_comparison_and_indexing() -> None:
    assert ev("\"abc\"[0] == 'a'") is True


def test_regex_group_count_and_missing_group() -> None:
    assert ev('Regex.Match("ab", "(a)(b)").Groups.Count') == 3
    assert ev('Regex.Match("ab", "(a)").Groups[5].Success') is False


def test_a_very_long_operator_chain_is_refused_not_crashed() -> None:
    from tollhouse.gateway.policies.expressions import ExpressionError, compile_expression

    text = "@(" + "+".join(["1"] * 5000) + ")"
    with pytest.raises(ExpressionError):
        compile_expression(text).evaluate(None)


def test_the_callers_collections_are_read_only() -> None:
    from .doubles import Context, Request

    context = Context(Request(Headers={"A": ["1"]}))
    with pytest.raises(ExpressionRuntimeError, match="cannot be assigned"):
        ev('{ context.Request.Headers["A"][0] = "2"; return 1; }', context)
    with pytest.raises(ExpressionRuntimeError, match="cannot be assigned"):
        ev('{ context.Variables["a"] = 2; return 1; }', context, a=1)
    assert context.Request.Headers == {"A": ["1"]}


def test_a_local_dictionary_is_writable() -> None:
    text = '{ var d = new Dictionary<string, int>(); d["a"] = 1; d["a"] += 1; return d["a"]; }'
    assert ev(text) == 2


def test_fully_qualified_type_names_resolve() -> None:
    assert ev('System.Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("a"))') == "YQ=="
    assert ev('System.Text.RegularExpressions.Regex.IsMatch("a1", "[0-9]")') is True
    assert ev('(Newtonsoft.Json.Linq.JObject)JObject.Parse("{}")') is not None


def test_building_a_json_body_with_jproperty() -> None:
    text = (
        'new JObject(new JProperty("id", 7), new JProperty("name", "x"),'
        ' new JProperty("tags", new JArray("a", "b"))).ToString(Formatting.None)'
    )
    assert ev(text) == '{"id":7,"name":"x","tags":["a","b"]}'
