"""Tokens of the C# subset used by APIM policy expressions (C# 7 lexical grammar, trimmed)."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import ExpressionError

# Keywords that start constructs outside the subset: rejected at the token, with its position.
UNSUPPORTED_KEYWORDS = frozenset(
    {
        "abstract", "async", "await", "base", "break", "case", "catch", "checked", "class",
        "const", "continue", "default", "delegate", "do", "enum", "event", "explicit", "extern",
        "finally", "fixed", "for", "goto", "implicit", "interface", "internal", "lock",
        "namespace", "operator", "override", "params", "private", "protected", "public",
        "readonly", "ref", "sealed", "sizeof", "stackalloc", "static", "struct", "switch",
        "this", "throw", "try", "typeof", "unchecked", "unsafe", "using", "virtual", "volatile",
        "while", "yield",
    }
)  # fmt: skip

# Longest first so that `??` wins over `?`.
_OPERATORS = (
    "?.", "?[", "??", "=>", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "++",
    "--", "+", "-", "*", "/", "%", "<", ">", "!", "=", "?", ":", "(", ")", "[", "]", "{", "}",
    ".", ",", ";",
)  # fmt: skip

_SIMPLE_ESCAPES = {
    "'": "'", '"': '"', "\\": "\\", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n",
    "r": "\r", "t": "\t", "v": "\v",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class InterpolationHole:
    """`{expr[,align][:format]}` inside `$"…"`: the source of expr and where it starts."""

    source: str
    line: int
    column: int
    format: str | None


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident, keyword, int, long, double, string, char, interp, op, eof
    value: object
    line: int
    column: int


class Lexer:
    def __init__(self, text: str, line: int = 1, column: int = 1, start: int = 0) -> None:
        self.text = text
        self.pos = 0
        self.line = line
        self.column = column
        self._advance(start)

    def error(self, message: str) -> ExpressionError:
        return ExpressionError(message, self.line, self.column)

    def _advance(self, count: int = 1) -> str:
        chunk = self.text[self.pos : self.pos + count]
        for ch in chunk:
            if ch == "\n":
                self.line += 1
                self.column = 1
            else:
                self.column += 1
        self.pos += count
        return chunk

    def _peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.text[i] if i < len(self.text) else ""

    def tokens(self) -> list[Token]:
        result: list[Token] = []
        while True:
            token = self._next()
            result.append(token)
            if token.kind == "eof":
                return result

    def _skip_trivia(self) -> None:
        while self.pos < len(self.text):
            ch = self._peek()
            if ch.isspace():
                self._advance()
            elif self.text.startswith("//", self.pos):
                while self.pos < len(self.text) and self._peek() != "\n":
                    self._advance()
            elif self.text.startswith("/*", self.pos):
                end = self.text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.error("unterminated comment")
                self._advance(end + 2 - self.pos)
            else:
                return

    def _next(self) -> Token:
        self._skip_trivia()
        line, column = self.line, self.column
        if self.pos >= len(self.text):
            return Token("eof", None, line, column)
        ch = self._peek()
        if ch == "$" and self._peek(1) == '"':
            self._advance(2)
            return Token("interp", self._interpolated(), line, column)
        if ch == "$" and self._peek(1) == "@":
            raise self.error("verbatim interpolated strings are not supported")
        if ch == "@" and self._peek(1) == '"':
            self._advance(2)
            return Token("string", self._verbatim(), line, column)
        if ch == '"':
            self._advance()
            return Token("string", self._regular_string('"'), line, column)
        if ch == "'":
            self._advance()
            value = self._regular_string("'")
            if len(value) != 1:
                raise ExpressionError("a char literal holds exactly one character", line, column)
            return Token("char", value, line, column)
        if _is_digit(ch) or (ch == "." and _is_digit(self._peek(1))):
            return self._number(line, column)
        if ch.isalpha() or ch == "_" or (ch == "@" and (self._peek(1).isalpha())):
            verbatim = ch == "@"
            if verbatim:
                self._advance()
            start = self.pos
            while self._peek().isalnum() or self._peek() == "_":
                self._advance()
            word = self.text[start : self.pos]
            if not verbatim and word in UNSUPPORTED_KEYWORDS:
                raise ExpressionError(f"'{word}' is not supported in expressions", line, column)
            kind = "keyword" if not verbatim and word in _KEYWORDS else "ident"
            return Token(kind, word, line, column)
        for op in _OPERATORS:
            if self.text.startswith(op, self.pos):
                self._advance(len(op))
                return Token("op", op, line, column)
        raise self.error(f"unexpected character {ch!r}")

    def _escape(self) -> str:
        ch = self._advance()
        if ch in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[ch]
        if ch in ("u", "x", "U"):
            digits = ""
            limit = {"u": 4, "x": 4, "U": 8}[ch]
            while len(digits) < limit and self._peek() in "0123456789abcdefABCDEF" and self._peek():
                digits += self._advance()
            if not digits or (ch != "x" and len(digits) != limit):
                raise self.error("malformed unicode escape")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise self.error("unicode escape out of range")
            return chr(code)
        raise self.error(f"unknown escape sequence \\{ch}")

    def _regular_string(self, quote: str) -> str:
        out: list[str] = []
        while True:
            ch = self._peek()
            if ch in ("", "\n"):
                raise self.error("unterminated string literal")
            self._advance()
            if ch == quote:
                return "".join(out)
            out.append(self._escape() if ch == "\\" else ch)

    def _verbatim(self) -> str:
        out: list[str] = []
        while True:
            ch = self._peek()
            if ch == "":
                raise self.error("unterminated verbatim string literal")
            self._advance()
            if ch == '"':
                if self._peek() == '"':
                    self._advance()
                    out.append('"')
                    continue
                return "".join(out)
            out.append(ch)

    def _interpolated(self) -> list[str | InterpolationHole]:
        parts: list[str | InterpolationHole] = []
        buf: list[str] = []
        while True:
            ch = self._peek()
            if ch in ("", "\n"):
                raise self.error("unterminated interpolated string")
            if ch == '"':
                self._advance()
                if buf:
                    parts.append("".join(buf))
                return parts
            if ch == "\\":
                self._advance()
                buf.append(self._escape())
            elif ch in "{}" and self._peek(1) == ch:
                self._advance(2)
                buf.append(ch)
            elif ch == "}":
                raise self.error("unmatched '}' in interpolated string")
            elif ch == "{":
                self._advance()
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self._hole())
            else:
                buf.append(self._advance())

    def _hole(self) -> InterpolationHole:
        line, column = self.line, self.column
        depth = 0
        start = self.pos
        fmt_start = -1
        while True:
            ch = self._peek()
            if ch in ("", "\n"):
                raise self.error("unterminated interpolation hole")
            if ch == '"' or ch == "'":
                self._advance()
                self._regular_string(ch)
                continue
            if ch in "([{":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif ch == "}":
                if depth == 0:
                    break
                depth -= 1
            elif ch == ":" and depth == 0 and fmt_start < 0:
                fmt_start = self.pos
            elif ch == "?" and depth == 0 and fmt_start < 0:
                if self._peek(1) in ("?", ".", "["):
                    self._advance(2)
                    continue
                raise self.error("a conditional inside an interpolation hole needs parentheses")
            self._advance()
        end = self.pos
        self._advance()
        if fmt_start >= 0:
            source, fmt = self.text[start:fmt_start], self.text[fmt_start + 1 : end]
        else:
            source, fmt = self.text[start:end], None
        if "," in source and _top_level_comma(source):
            raise ExpressionError("alignment in interpolation holes is not supported", line, column)
        return InterpolationHole(source, line, column, fmt)

    def _number(self, line: int, column: int) -> Token:
        start = self.pos
        if self._peek() == "0" and self._peek(1) in ("x", "X"):
            self._advance(2)
            while self._peek() and self._peek() in "0123456789abcdefABCDEF_":
                self._advance()
            digits = self.text[start + 2 : self.pos].replace("_", "")
            if not digits:
                raise self.error("malformed hexadecimal literal")
            return self._integer(int(digits, 16), line, column)
        is_real = False
        while _is_digit(self._peek()) or self._peek() == "_":
            self._advance()
        if self._peek() == "." and _is_digit(self._peek(1)):
            is_real = True
            self._advance()
            while _is_digit(self._peek()) or self._peek() == "_":
                self._advance()
        if self._peek() in ("e", "E"):
            is_real = True
            self._advance()
            if self._peek() in ("+", "-"):
                self._advance()
            if not _is_digit(self._peek()):
                raise self.error("malformed exponent")
            while _is_digit(self._peek()):
                self._advance()
        text = self.text[start : self.pos].replace("_", "")
        suffix = self._peek().lower()
        if suffix in ("d", "f", "m"):
            self._advance()
            return Token("double", float(text), line, column)
        if is_real:
            return Token("double", float(text), line, column)
        return self._integer(int(text), line, column)

    def _integer(self, value: int, line: int, column: int) -> Token:
        suffix = ""
        while self._peek().lower() in ("l", "u") and self._peek():
            suffix += self._advance().lower()
        if self._peek().isalnum():
            raise self.error("malformed numeric literal")
        if "l" in suffix or value > 2**31 - 1:
            if value > 2**64 - 1:
                raise ExpressionError("integral constant is too large", line, column)
            return Token("long", value, line, column)
        return Token("int", value, line, column)


def _is_digit(ch: str) -> bool:
    return ch != "" and ch in "0123456789"


def _top_level_comma(source: str) -> bool:
    depth = 0
    for ch in source:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False


_KEYWORDS = frozenset(
    {
        "var", "new", "return", "if", "else", "foreach", "in", "true", "false", "null", "is",
        "as", "out",
    }
)  # fmt: skip
