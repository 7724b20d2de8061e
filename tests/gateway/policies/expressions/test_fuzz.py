"""Any input either compiles or raises ExpressionError; any evaluation either returns or
raises ExpressionRuntimeError (h11's fuzz invariant)."""

from __future__ import annotations

import random

from tollhouse.gateway.policies.expressions import (
    ExpressionError,
    ExpressionRuntimeError,
    compile_expression,
)

from .doubles import Context

_PIECES = [
    "context", ".", "Request", "Method", "Headers", "Variables", "(", ")", "[", "]", "{", "}",
    "?.", "?[", "??", "?", ":", "=>", "x", "y", "var", "return", ";", "if", "else", "foreach",
    "in", "new", "JObject", "string", "int", "Parse", "TryParse", "out", "1", "2.5", "0x",
    '"s"', '@"v"', '$"a{1}b"', "'c'", "+", "-", "*", "/", "%", "==", "!=", "<", ">", "&&",
    "||", "!", "=", ",", "Length", "Substring", "Where", "Select", "Any", "is", "as", "null",
    "true", "typeof", "\\", '"', "$", "@", "\n", " ", "GetValueOrDefault", "<string>", "Count",
    "DateTime", "UtcNow", "AddDays", "Math", "Max", "Regex", "IsMatch", "ToString", "\u00e9",
]  # fmt: skip

_SEEDS = [
    '@(context.Request.Headers.GetValueOrDefault("a", "b").Substring(1))',
    '@{ var x = context.Variables.Count; if (x > 1) { return x; } return "s" + x; }',
    "@(new[] { 1, 2 }.Where(x => x > 1).Select(x => x * 2).Any())",
    '@($"{context.Request.Method}:{DateTime.UtcNow:o}")',
    '@(int.TryParse("5", out var n) ? n : 0)',
]


def _check(text: str) -> None:
    """Compiling gives an expression or an ExpressionError with a message; evaluating gives a
    value or an ExpressionRuntimeError with a message. Any other exception fails the test."""
    try:
        compiled = compile_expression(text)
    except ExpressionError as error:
        assert error.message
        return
    try:
        compiled.evaluate(Context(), variables={"a": "b", "n": 1})
    except ExpressionRuntimeError as error:
        assert error.message


def test_random_token_soup_compiles_or_raises_expression_error() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        pieces = [rng.choice(_PIECES) for _ in range(rng.randint(0, 14))]
        opener = rng.choice(["@(", "@{", "@(", ""])
        closer = {"@(": ")", "@{": "}", "": ""}[opener]
        _check(opener + " ".join(pieces) + closer)


def test_mutated_valid_expressions_compile_or_raise_expression_error() -> None:
    rng = random.Random(99)
    for _ in range(3000):
        text = list(rng.choice(_SEEDS))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(text))
            action = rng.randrange(3)
            if action == 0:
                del text[position]
            elif action == 1:
                text.insert(position, rng.choice("(){}[]<>.,;:?!\"$@'\\=+-x1 "))
            else:
                text[position], text[-1 - position] = text[-1 - position], text[position]
        _check("".join(text))


def test_random_bytes_compile_or_raise_expression_error() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        body = "".join(chr(rng.randrange(0, 0x250)) for _ in range(rng.randint(0, 30)))
        _check("@(" + body + ")")
        _check("@{" + body + "}")
