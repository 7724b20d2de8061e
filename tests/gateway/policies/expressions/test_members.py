"""The .NET members expressions may call, with their C# behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from tollhouse.gateway.policies.expressions import (
    ExpressionRuntimeError,
    JArray,
    JObject,
    render,
)

from .helpers import NOW, ev


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"hello".Length', 5),
        ('"hello".Substring(1)', "ello"),
        ('"hello".Substring(1, 2)', "el"),
        ('"hello".IndexOf("l")', 2),
        ('"hello".IndexOf("l", 3)', 3),
        ('"hello".IndexOf("z")', -1),
        ('"hello".LastIndexOf("l")', 3),
        ('"Hello".IndexOf("h", StringComparison.OrdinalIgnoreCase)', 0),
        ('"hello".Contains("ell")', True),
        ('"hello".StartsWith("he")', True),
        ('"hello".EndsWith("LO", StringComparison.OrdinalIgnoreCase)', True),
        ('"hello".EndsWith("LO")', False),
        ('"MiXed".ToUpper()', "MIXED"),
        ('"MiXed".ToLowerInvariant()', "mixed"),
        ('"  pad  ".Trim()', "pad"),
        ("\"xxpadxx\".Trim('x')", "pad"),
        ('"  pad  ".TrimStart()', "pad  "),
        ("\"//p//\".TrimEnd('/')", "//p"),
        ('"a-b-c".Replace("-", "+")', "a+b+c"),
        ("\"a,b,,c\".Split(',').Length", 4),
        ("\"a,b,,c\".Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries).Length", 3),
        ("\"a b\".Split(' ')[1]", "b"),
        ('"Bearer x".Equals("bearer X", StringComparison.OrdinalIgnoreCase)', True),
        ('"Bearer x".Equals("bearer X")', False),
        ('string.IsNullOrEmpty("")', True),
        ("string.IsNullOrEmpty(null)", True),
        ('String.IsNullOrWhiteSpace("  ")', True),
        ('string.IsNullOrWhiteSpace("a")', False),
        ('string.Format("{0}-{1}-{0}", "a", 2)', "a-2-a"),
        ('string.Format("{0:F1}|{1,4}|{1,-4}|{{x}}", 2.25, "ab")', "2.2|  ab|ab  |{x}"),
        ('string.Join(",", new[] { "a", "b" })', "a,b"),
        ('string.Join("-", "x", 1, true)', "x-1-True"),
        ('string.Concat("a", null, 1)', "a1"),
        ("\"7\".PadLeft(3, '0')", "007"),
        ('"abc"[1]', "b"),
        ('"abc".ToString()', "abc"),
        ("string.Empty", ""),
    ],
)
def test_string_members(text: str, expected: object) -> None:
    assert ev(text) == expected


def test_string_format_with_missing_argument_is_a_format_error() -> None:
    with pytest.raises(ExpressionRuntimeError, match="Index"):
        ev('string.Format("{1}", "a")')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("new[] { 1, 2, 3 }.Length", 3),
        ("new[] { 1, 2, 3 }.Count()", 3),
        ("new[] { 1, 2, 3 }.Count(x => x > 1)", 2),
        ("new[] { 1, 2, 3 }.Contains(2)", True),
        ("new[] { 1, 2, 3 }.Where(x => x != 2).ToArray()", [1, 3]),
        ("new[] { 1, 2, 3 }.Select(x => x * 10).ToList()", [10, 20, 30]),
        ("new[] { 1, 2, 3 }.Any(x => x > 2)", True),
        ("new int[] { }.Any()", False),
        ("new[] { 1, 2, 3 }.All(x => x > 0)", True),
        ("new[] { 1, 2, 3 }.First()", 1),
        ("new[] { 1, 2, 3 }.First(x => x > 1)", 2),
        ("new[] { 1, 2, 3 }.FirstOrDefault(x => x > 5)", None),
        ("new[] { 1, 2, 3 }.Last()", 3),
        ('new[] { "b", "a", "c" }.OrderBy(s => s).First()', "a"),
        ("new[] { 1, 3, 2 }.OrderByDescending(x => x).ToArray()", [3, 2, 1]),
        ("new[] { 1, 2, 3 }.Sum()", 6),
        ("new[] { 1, 2, 3 }.Max()", 3),
        ("new[] { 1, 1, 2 }.Distinct().Count()", 2),
        ("new[] { 1, 2, 3 }.Skip(1).Take(1).First()", 2),
        ('new[] { "a", "b" }.Select((s) => s.ToUpper()).Where(s => s == "B").Count()', 1),
    ],
)
def test_collection_and_linq_members(text: str, expected: object) -> None:
    assert ev(text) == expected


def test_first_on_an_empty_sequence_is_an_error() -> None:
    with pytest.raises(ExpressionRuntimeError, match="no matching element"):
        ev("new[] { 1 }.First(x => x > 1)")


def test_dictionary_members() -> None:
    assert ev('context.Variables.ContainsKey("a")', a=1) is True
    assert ev('context.Variables.ContainsKey("b")', a=1) is False
    assert ev('context.Variables.GetValueOrDefault("b", "d")', a=1) == "d"
    assert ev('context.Variables.GetValueOrDefault<int>("a", 0) + 1', a=1) == 2
    assert ev('context.Variables.GetValueOrDefault<string>("b")', a=1) is None
    assert ev("context.Variables.Count", a=1, b=2) == 2
    assert (
        ev(
            '{ object v; if (context.Variables.TryGetValue("a", out v)) { return v; } return 0; }',
            a=5,
        )
        == 5
    )
    assert ev('context.Variables.TryGetValue("zz", out var w) ? w : "missing"', a=5) == "missing"
    assert ev('context.Variables.Where(kv => kv.Key == "b").First().Value', a=1, b=2) == 2


def test_dictionary_indexer_with_missing_key_is_key_not_found() -> None:
    with pytest.raises(ExpressionRuntimeError, match="not present"):
        ev('context.Variables["nope"]', a=1)


def test_datetime_members() -> None:
    assert ev("DateTime.UtcNow") == NOW
    assert ev("DateTime.UtcNow.AddSeconds(30)") == NOW + timedelta(seconds=30)
    assert ev("DateTime.UtcNow.AddMinutes(-1)") == NOW - timedelta(minutes=1)
    assert ev("DateTime.UtcNow.AddHours(2).Hour") == 16
    assert ev("DateTime.UtcNow.AddDays(1).Day") == 6
    assert ev('DateTime.UtcNow.ToString("o")') == "2024-03-05T14:07:09.1234560Z"
    assert ev('DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss")') == "2024-03-05 14:07:09"
    assert ev('DateTime.UtcNow.ToString("r")') == "Tue, 05 Mar 2024 14:07:09 GMT"
    assert ev('DateTime.UtcNow.ToString("s")') == "2024-03-05T14:07:09"
    assert ev("DateTime.UtcNow.AddSeconds(1) > DateTime.UtcNow") is True
    assert ev("(DateTime.UtcNow.AddMinutes(90) - DateTime.UtcNow).TotalHours") == 1.5
    seconds = (NOW.date().toordinal() - 1) * 86_400 + 14 * 3600 + 7 * 60 + 9
    assert ev("DateTime.UtcNow.Ticks") == seconds * 10_000_000 + 1_234_560
    assert ev('DateTime.Parse("2024-01-01T00:00:00Z").Year') == 2024
    assert ev("DateTime.UtcNow.Year") == 2024


def test_timespan_members() -> None:
    assert ev("TimeSpan.FromSeconds(90).TotalMinutes") == 1.5
    assert ev("TimeSpan.FromMinutes(2).TotalSeconds") == 120.0
    assert ev("TimeSpan.FromHours(1).TotalMilliseconds") == 3_600_000.0
    assert ev("TimeSpan.FromDays(1.5).Hours") == 12
    assert ev("TimeSpan.FromMilliseconds(1500).Seconds") == 1
    assert render(ev("TimeSpan.FromSeconds(3725)")) == "01:02:05"
    assert ev("DateTime.UtcNow + TimeSpan.FromDays(1) > DateTime.UtcNow") is True
    assert ev("context.Elapsed.TotalSeconds") == 1.5


def test_guid_members() -> None:
    value = ev("Guid.NewGuid().ToString()")
    assert isinstance(value, str)
    assert UUID(value).version == 4
    assert ev('Guid.NewGuid().ToString("N").Length') == 32
    assert ev("Guid.NewGuid() != Guid.NewGuid()") is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Convert.ToBase64String(Encoding.UTF8.GetBytes("user:pass"))', "dXNlcjpwYXNz"),
        ('Encoding.UTF8.GetString(Convert.FromBase64String("aMOpbGxv"))', "héllo"),
        ('Convert.ToInt32("42") + 1', 43),
        ("Convert.ToInt32(2.5)", 2),
        ("Convert.ToInt32(3.5)", 4),
        ("Convert.ToString(12)", "12"),
        ('Convert.ToDouble("1.5")', 1.5),
        ("Math.Min(3, 4)", 3),
        ("Math.Max(3, 4.5)", 4.5),
        ("Math.Abs(-2)", 2),
        ("Math.Floor(2.7)", 2.0),
        ("Math.Ceiling(2.1)", 3.0),
        ("Math.Round(2.5)", 2.0),
        ("Math.Round(3.14159, 2)", 3.14),
        ('Regex.IsMatch("abc123", "^[a-z]+[0-9]+$")', True),
        ('Regex.IsMatch("ABC", "abc", RegexOptions.IgnoreCase)', True),
        ('Regex.Match("order-42-x", "order-(\\\\d+)").Groups[1].Value', "42"),
        ('Regex.Match("k=v", "(?<key>\\\\w+)=(?<val>\\\\w+)").Groups["val"].Value', "v"),
        ('Regex.Match("abc", "z").Success', False),
        ('Regex.Replace("a1b22", "[0-9]+", "#")', "a#b#"),
        ('Regex.Replace("john smith", "(\\\\w+) (\\\\w+)", "$2 $1")', "smith john"),
        ('Uri.EscapeDataString("a b/c?d")', "a%20b%2Fc%3Fd"),
        ('Uri.UnescapeDataString("a%20b%2F")', "a b/"),
        ('int.Parse("17")', 17),
        ('long.Parse("17000000000")', 17000000000),
        ('double.Parse("2.5")', 2.5),
        ('bool.Parse("True")', True),
        ('int.TryParse("12", out var n) ? n : -1', 12),
        ('int.TryParse("1x", out var n) ? n : -1', -1),
        ('bool.TryParse("nope", out var b) || b', False),
        ('double.TryParse("0.25", out var d) ? d : 0', 0.25),
    ],
)
def test_static_helpers(text: str, expected: object) -> None:
    assert ev(text) == expected


def test_parse_of_malformed_input_is_a_format_error() -> None:
    with pytest.raises(ExpressionRuntimeError, match="correct format"):
        ev('int.Parse("x1")')
    with pytest.raises(ExpressionRuntimeError, match="Base-64"):
        ev('Convert.FromBase64String("***")')


def test_catastrophic_backtracking_patterns_are_refused() -> None:
    with pytest.raises(ExpressionRuntimeError, match="nested quantifiers"):
        ev('Regex.IsMatch("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "^(a+)+$")')


def test_invalid_regex_pattern_is_a_runtime_error() -> None:
    with pytest.raises(ExpressionRuntimeError, match="Invalid pattern"):
        ev('Regex.IsMatch("a", "(")')


def test_json_members() -> None:
    doc = '"{\\"a\\":{\\"b\\":[1,2,3]},\\"name\\":\\"x\\",\\"n\\":5,\\"f\\":true}"'
    assert ev(f'JObject.Parse({doc})["a"]["b"][1].ToString()') == "2"
    assert ev(f'(string)JObject.Parse({doc})["name"]') == "x"
    assert ev(f'(int)JObject.Parse({doc})["n"] + 1') == 6
    assert ev(f'JObject.Parse({doc}).Value<string>("name")') == "x"
    assert ev(f'JObject.Parse({doc}).Value<int>("n")') == 5
    assert ev(f'JObject.Parse({doc}).Value<bool>("f")') is True
    assert ev(f'JObject.Parse({doc})["missing"]') is None
    assert ev(f'JObject.Parse({doc})["missing"]?.ToString() ?? "none"') == "none"
    assert ev(f'((JArray)JObject.Parse({doc})["a"]["b"]).Count') == 3
    assert ev(f"JObject.Parse({doc}).Properties().Select(p => p.Name).ToArray()") == [
        "a",
        "name",
        "n",
        "f",
    ]
    assert ev(f'JObject.Parse({doc}).SelectToken("a.b[2]").ToString()') == "3"
    assert ev(f"JObject.Parse({doc}).ToString(Formatting.None)") == (
        '{"a":{"b":[1,2,3]},"name":"x","n":5,"f":true}'
    )
    assert isinstance(ev('JArray.Parse("[1]")'), JArray)
    assert isinstance(ev('JToken.Parse("{}")'), JObject)


def test_json_add_and_remove() -> None:
    text = (
        '{ var o = JObject.Parse("{}"); o.Add("a", 1); o["b"] = "two"; o.Remove("a");'
        " return o.ToString(Formatting.None); }"
    )
    assert ev(text) == '{"b":"two"}'
    arr = '{ var a = new JArray(); a.Add("x"); a.Add(2); return a.ToString(Formatting.None); }'
    assert ev(arr) == '["x",2]'


def test_parsing_malformed_json_is_a_runtime_error() -> None:
    with pytest.raises(ExpressionRuntimeError):
        ev('JObject.Parse("{not json")')
    with pytest.raises(ExpressionRuntimeError):
        ev('JObject.Parse("[1]")')


def test_datetime_kinds_compare_by_instant() -> None:
    aware = datetime(2024, 1, 1, tzinfo=UTC)
    assert ev('context.Variables["t"] < DateTime.UtcNow', t=aware) is True
