"""Compiled expressions (closures) evaluate exactly as the tree walk does: the same values, the
same errors at the same line and column, and the same budget running out at the same node."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from tollhouse.gateway.policies.expressions import (
    ExpressionBudgetExceeded,
    ExpressionError,
    ExpressionRuntimeError,
    JToken,
    _closures,
    _evaluate,
    compile_expression,
)

from .doubles import Body, Context, Request
from .helpers import NOW
from .test_fuzz import _PIECES, _SEEDS

# One of each construct, and the shapes policies use most.
CORPUS = [
    '@(context.Subscription.Id + ":" + context.Request.IpAddress)',
    '@(context.Request.Url.Path + "?" + context.Request.Headers.GetValueOrDefault("x-t", "no"))',
    '@(context.Request.Headers.GetValueOrDefault("X-Tenant", "none"))',
    '@(context.Request.Headers["x-tenant"])',
    '@(context.Request.Headers["missing"])',
    '@(context.Request.Headers?["missing"])',
    "@(context.Subscription?.Name.Length)",
    "@(context.Request.Body?.As<string>(preserveContent: true).Length)",
    '@(context.Request.Body.As<JObject>()["a"].Value<int>() + 1)',
    '@(context.Variables["v"])',
    '@((string)context.Variables["v"] + "!")',
    '@(context.Variables.GetValueOrDefault<int>("n", 0) * 2)',
    "@(context.Variables.Count)",
    "@(context.Nope)",
    "@(context.traced)",
    "@(context.Request.Url.Port.Length)",
    "@(context.Deployment.Region?.Length)",
    "@(context.Request.Url.ToString())",
    "@(context.Request.Url.ToString)",
    '@(context.Trace("a", "b"))',
    '@{ context.Trace("a", "b"); return 1; }',
    '@(string.Format("{0}-{1:D4}", context.Request.Method, 7))',
    '@($"{context.Request.Method}:{DateTime.UtcNow:o}:{1 + 2}")',
    '@($"a{1}b{"c"}")',
    '@(JArray.Parse("[1,2,3,4]").Where(x => (int)x > 1).Select(x => (int)x * 10).Sum())',
    '@(new[] { "a", "bb", "ccc" }.Where(s => s.Length > 1).Select(s => s.ToUpper()).ToArray())',
    "@(new[] { 1, 2 }.Select((a, b) => a).Count())",
    '@("Bearer e30.eyJzdWIiOiJ1MSIsInJvbGVzIjpbImEiLCJiIl19.x".AsJwt().Claims["roles"][1])',
    '@("Bearer e30.eyJzdWIiOiJ1MSJ9.x".AsJwt()?.Subject ?? "anon")',
    '@{ var n = 0; foreach (var c in "abcab".ToCharArray()) { if (c == "a") { n++; } '
    "else { n += 2; } } return n; }",
    '@{ var s = ""; foreach (var p in new[] { 1, 2, 3 }) { s = s + p; } return s; }',
    '@{ int x; if (int.TryParse("42", out x)) { return x; } return -1; }',
    '@(int.TryParse("nope", out var n) ? n : -1)',
    '@(int.Parse("x"))',
    '@{ var d = new Dictionary<string, object>(); d["a"] = 1; d["a"] += 2; return d["a"]; }',
    '@{ var o = new JObject(); o["k"] = "v"; return o.ToString(); }',
    '@{ var j = JObject.Parse("{\\"a\\":[1,2]}"); j["a"][0] = 5; return j["a"][0]; }',
    "@{ double d = 1; return d / 0; }",
    "@(1 / 0)",
    "@(7 % -3 + -7 / 2 - -(3) * +4)",
    "@{ var n = 9223372036854775807L; n++; return n; }",
    "@{ var n = 1; n--; n--; n *= 3; n -= 1; n /= 2; n += 10; return n; }",
    "@{ double d = 1.5; d++; return d; }",
    '@{ var s = "a"; s++; return s; }',
    "@(9223372036854775807L * 2 - 1 < 0.5 * 3 - -9223372036854775807L - 2)",
    "@(double.NaN < 1 || double.NaN >= 1 || 2 > 1.5 || true < false)",
    '@(context.Variables["n"] * 2 - context.Variables["v"])',
    '@(1 + 2 + "x" + 3 + null + true)',
    "@(1 < 2 && 2 <= 2 || 1 > 2)",
    '@(1 < "a")',
    "@(!1)",
    '@(!context.Subscription.Id.StartsWith("s"))',
    '@(null ?? null ?? "c")',
    "@(true ? 1 : 2)",
    "@(1 ? 1 : 2)",
    '@((object)"s" is string)',
    '@(("s" as object) as string)',
    "@((int)2.9 + (long)-2.9)",
    '@((int)"x")',
    "@(DateTime.UtcNow.AddDays(1).Year)",
    "@(DateTime.UtcNow - context.Timestamp)",
    "@(context.Elapsed.TotalMilliseconds > 100)",
    "@(TimeSpan.FromSeconds(90).ToString())",
    "@(string.Empty.Length + int.MaxValue)",
    "@(StringComparison.OrdinalIgnoreCase)",
    '@("A".Equals("a", StringComparison.OrdinalIgnoreCase))',
    "@(Encoding.UTF8 == Encoding.UTF8)",
    '@(Convert.ToBase64String(Encoding.UTF8.GetBytes("hi")))',
    '@(Regex.Replace("a1b2", "[0-9]", m => m.Value + m.Value))',
    '@(Regex.Match("ab12", "(?<d>[0-9]+)").Groups["d"].Value)',
    '@(new JObject(new JProperty("a", 1)).ToString(Newtonsoft.Json.Formatting.None))',
    "@(new JArray(1, 2).Count)",
    "@(new List<int>().Count)",
    "@(new TimeSpan(1, 2, 3).TotalSeconds)",
    "@(new DateTime(2024, 1, 2).DayOfWeek)",
    "@(new Match())",
    '@("".PadLeft(10).Length)',
    '@("abc".Substring(5))',
    '@("abc"[1])',
    '@("abc"[7])',
    "@(new[] { 1, 2, 3 }.First(x => x > 5))",
    "@(new[] { 1, 2, 3 }.Any(x => x))",
    '@(context.Request.MatchedParameters["id"].Length)',
    "@(context.Request.Method.GetType())",
    '@(context.Request.Method.ToString("x"))',
    "@(context.Deployment.Region.Length * 2.5)",
    '@(context.Request.Headers.GetValueOrDefault("a", "b").Substring(1))',
    '@{ var x = context.Variables.Count; if (x > 1) { return x; } return "s" + x; }',
    '@{ if (context.Request.Method == "GET") { return "get"; } else { return "other"; } }',
    "@{ var xs = new[] { 1, 2 }; foreach (var x in xs) { if (x == 2) { return x; } } return 0; }",
    '@{ var s = "x"; foreach (var i in "".PadLeft(22).ToCharArray()) { s = s + s; } '
    "return s.Length; }",
    '@(JObject.Parse("{}")["a"]?["b"])',
    '@(JObject.Parse("{\\"a\\":1}")["a"].Type)',
    '@(JObject.Parse("[]"))',
    '@(context.Request.Url.Query["page"][0])',
]


def _context() -> Context:
    return Context(
        Request=Request(
            Headers={"X-Tenant": ["t1", "t2"], "Accept": ["*/*"]},
            Body=Body('{"a": 41}'),
        )
    )


def _plain(value: object) -> object:
    if isinstance(value, JToken):
        return ("token", type(value).__name__, value.to_python())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if callable(value):
        return "callable"
    return value


def _outcome(run: Callable[[], object], context: Context) -> object:
    try:
        value: object = ("value", _plain(run()))
    except ExpressionError as exc:
        value = (type(exc).__name__, str(exc))
    return value, context.traced, context.Request.Body.reads if context.Request.Body else None


def _both(text: str, variables: dict[str, object] | None) -> tuple[object, object]:
    compiled = compile_expression(text)
    assert compiled._program is not None
    walked_context, compiled_context = _context(), _context()
    walked = _outcome(
        lambda: _evaluate.Evaluator(walked_context, variables, lambda: NOW).run(
            compiled.is_block, compiled.body
        ),
        walked_context,
    )
    ran = _outcome(
        lambda: compiled.evaluate(compiled_context, variables=variables, clock=lambda: NOW),
        compiled_context,
    )
    return walked, ran


VARIABLES: dict[str, object] = {"v": "a", "n": 3}


@pytest.mark.parametrize("text", CORPUS)
def test_a_compiled_expression_does_what_the_tree_walk_does(text: str) -> None:
    walked, ran = _both(text, VARIABLES)
    assert ran == walked
    walked, ran = _both(text, None)
    assert ran == walked


@pytest.mark.parametrize("text", CORPUS)
def test_the_step_budget_runs_out_at_the_same_node(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for budget in range(60):
        monkeypatch.setattr(_closures, "MAX_STEPS", budget)
        monkeypatch.setattr(_evaluate, "MAX_STEPS", budget)
        walked, ran = _both(text, VARIABLES)
        assert ran == walked, budget


@pytest.mark.parametrize("text", [t for t in CORPUS if "=>" in t or "foreach" in t])
def test_the_iteration_budget_runs_out_at_the_same_node(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for budget in range(6):
        monkeypatch.setattr(_closures, "MAX_LOOP_ITERATIONS", budget)
        monkeypatch.setattr(_evaluate, "MAX_LOOP_ITERATIONS", budget)
        walked, ran = _both(text, VARIABLES)
        assert ran == walked, budget


def test_a_constant_subexpression_counts_the_steps_of_its_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled = compile_expression('@(-1 + 2 * 3 + "x" + $"{4}")')
    walker = _evaluate.Evaluator(object(), None, lambda: NOW)
    assert walker.run(False, compiled.body) == "5x4"
    assert walker.steps == 11
    monkeypatch.setattr(_closures, "MAX_STEPS", 11)
    assert compiled.evaluate(object()) == "5x4"
    monkeypatch.setattr(_closures, "MAX_STEPS", 10)
    with pytest.raises(ExpressionBudgetExceeded, match="steps") as caught:
        compiled.evaluate(object())
    assert (caught.value.line, caught.value.column) == (1, 25)  # the hole of `$"{4}"`


def test_a_failing_constant_fails_when_evaluated_not_when_compiled() -> None:
    compiled = compile_expression("@(1 / 0)")
    with pytest.raises(ExpressionRuntimeError, match="divide by zero") as caught:
        compiled.evaluate(object())
    assert (caught.value.line, caught.value.column) == (1, 5)


def _soup(rng: random.Random) -> str:
    pieces = [rng.choice(_PIECES) for _ in range(rng.randint(0, 14))]
    opener = rng.choice(["@(", "@{", "@(", ""])
    return opener + " ".join(pieces) + {"@(": ")", "@{": "}", "": ""}[opener]


def _mutant(rng: random.Random) -> str:
    text = list(rng.choice(_SEEDS + CORPUS))
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(text))
        action = rng.randrange(3)
        if action == 0:
            del text[position]
        elif action == 1:
            text.insert(position, rng.choice("(){}[]<>.,;:?!\"$@'\\=+-x1 "))
        else:
            text[position], text[-1 - position] = text[-1 - position], text[position]
    return "".join(text)


@pytest.mark.parametrize("make", [_soup, _mutant])
def test_random_expressions_evaluate_as_the_tree_walk_does(
    make: Callable[[random.Random], str],
) -> None:
    rng = random.Random(2024)
    compared = 0
    for _ in range(3000):
        text = make(rng)
        try:
            compile_expression(text)
        except ExpressionError:
            continue
        walked, ran = _both(text, {"a": "b", "n": 1})
        assert ran == walked, text
        compared += 1
    assert compared > 0
