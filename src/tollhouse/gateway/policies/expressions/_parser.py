"""Parser of the C# subset APIM policy expressions use, into the tree of `_ast`.

Names are resolved while parsing: a name is a local, a lambda parameter, `context`, or one of
the static types of `_members`; a method must be one `_members` implements. Anything else is a
compile error naming the construct and its position, as APIM rejects the policy document
when an expression does not compile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import _ast as ast
from ._errors import ExpressionError
from ._lexer import InterpolationHole, Lexer, Token
from ._members import METHOD_NAMES, STATIC_TYPES, TYPE_NAMES, static_member_exists

# Nesting deeper than this is not a real policy; it also keeps Python's stack safe.
MAX_NESTING = 100

_T = TypeVar("_T")

_PREDEFINED_TYPES = frozenset(
    {"string", "int", "long", "double", "bool", "object", "decimal", "float", "char", "byte"}
)
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/="})
_BINARY_LEVELS: tuple[tuple[str, ...], ...] = (
    ("??",),
    ("||",),
    ("&&",),
    ("==", "!="),
    ("<", ">", "<=", ">=", "is", "as"),
    ("+", "-"),
    ("*", "/", "%"),
)


# Namespaces of the whitelisted types, so that fully qualified names resolve as APIM's do.
_NAMESPACES = frozenset(
    {
        "System", "System.Text", "System.Text.RegularExpressions", "System.Linq",
        "System.Collections.Generic", "Newtonsoft", "Newtonsoft.Json", "Newtonsoft.Json.Linq",
    }
)  # fmt: skip
_NAMESPACE_ROOTS = frozenset({"System", "Newtonsoft"})


def _strip_namespace(name: str) -> str:
    namespace, _, short = name.rpartition(".")
    return short if namespace in _NAMESPACES else name


class _Backtrack(Exception):
    pass


class Parser:
    def __init__(self, tokens: list[Token], scopes: list[set[str]] | None = None) -> None:
        self.tokens = tokens
        self.i = 0
        self.scopes: list[set[str]] = scopes if scopes is not None else [{"context"}]
        self.depth = 0

    # -- token helpers -----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def at(self, value: str) -> bool:
        return self.tok.kind in ("op", "keyword") and self.tok.value == value

    def accept(self, value: str) -> bool:
        if self.at(value):
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> Token:
        if not self.at(value):
            raise self.error(f"expected '{value}'")
        token = self.tok
        self.i += 1
        return token

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        token = token or self.tok
        found = "end of expression" if token.kind == "eof" else repr(str(token.value))
        return ExpressionError(f"{message}, found {found}", token.line, token.column)

    def ident(self) -> Token:
        if self.tok.kind != "ident":
            raise self.error("expected a name")
        token = self.tok
        self.i += 1
        return token

    def speculate(self, parse: Callable[[], _T]) -> _T | None:
        saved = self.i
        try:
            return parse()
        except (_Backtrack, ExpressionError):
            self.i = saved
            return None

    def declare(self, name: str, token: Token) -> None:
        if any(name in scope for scope in self.scopes) or name in STATIC_TYPES:
            raise ExpressionError(f"'{name}' is already defined", token.line, token.column)
        self.scopes[-1].add(name)

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError("expression is nested too deeply", self.tok.line, self.tok.column)

    # -- types -------------------------------------------------------------------------------

    def type_ref(self) -> ast.TypeRef:
        token = self.ident()
        name = str(token.value)
        while self.at(".") and self.peek().kind == "ident":
            self.i += 1
            name += "." + str(self.ident().value)
        args: tuple[str, ...] = ()
        if self.at("<"):
            args = self.type_args()
        array = False
        if self.at("[") and self.peek().kind == "op" and self.peek().value == "]":
            self.i += 2
            array = True
        name = _strip_namespace(name)
        if name not in TYPE_NAMES:
            raise ExpressionError(f"type '{name}' is not supported", token.line, token.column)
        return ast.TypeRef(token.line, token.column, name, args, array)

    def type_args(self) -> tuple[str, ...]:
        self.expect("<")
        names = [self.type_ref()]
        while self.accept(","):
            names.append(self.type_ref())
        self.expect(">")
        return tuple(t.name + ("[]" if t.array else "") for t in names)

    # -- statements --------------------------------------------------------------------------

    def block_body(self) -> tuple[ast.Node, ...]:
        statements: list[ast.Node] = []
        while not self.at("}"):
            if self.tok.kind == "eof":
                raise self.error("expected '}'")
            statements.append(self.statement())
        return tuple(statements)

    def embedded(self) -> tuple[ast.Node, ...]:
        self.scopes.append(set())
        try:
            if self.accept("{"):
                body = self.block_body()
                self.expect("}")
                return body
            return (self.statement(),)
        finally:
            self.scopes.pop()

    def statement(self) -> ast.Node:
        token = self.tok
        self.nested()
        try:
            return self._statement(token)
        finally:
            self.depth -= 1

    def _statement(self, token: Token) -> ast.Node:
        if self.accept("return"):
            value = None if self.at(";") else self.expression()
            self.expect(";")
            return ast.Return(token.line, token.column, value)
        if self.accept("if"):
            self.expect("(")
            condition = self.expression()
            self.expect(")")
            then = self.embedded()
            otherwise = self.embedded() if self.accept("else") else None
            return ast.If(token.line, token.column, condition, then, otherwise)
        if self.accept("foreach"):
            self.expect("(")
            if not self.accept("var"):
                self.type_ref()
            name_token = self.ident()
            self.expect("in")
            iterable = self.expression()
            self.expect(")")
            self.scopes.append(set())
            try:
                self.declare(str(name_token.value), name_token)
                body = self.embedded()
            finally:
                self.scopes.pop()
            return ast.Foreach(token.line, token.column, str(name_token.value), iterable, body)
        if self.at("{"):
            raise self.error("nested blocks are not supported")
        if self.at(";"):
            raise self.error("empty statements are not supported")
        if self.accept("var"):
            return self.declaration(token, None)
        declared_type = self.speculate(self._declaration_type)
        if declared_type is not None:
            return self.declaration(token, declared_type)
        return self.expression_statement(token)

    def _declaration_type(self) -> ast.TypeRef:
        type_ref = self.type_ref()
        if self.tok.kind != "ident" or not (
            self.peek().kind == "op" and self.peek().value in ("=", ";")
        ):
            raise _Backtrack
        return type_ref

    def declaration(self, token: Token, type_ref: ast.TypeRef | None) -> ast.Node:
        name_token = self.ident()
        value = None
        if self.accept("="):
            value = self.expression()
        elif type_ref is None:
            raise self.error("expected '='")
        self.expect(";")
        self.declare(str(name_token.value), name_token)
        return ast.Declare(token.line, token.column, str(name_token.value), type_ref, value)

    def expression_statement(self, token: Token) -> ast.Node:
        target = self.expression()
        if self.tok.kind == "op" and self.tok.value in ("++", "--"):
            op = str(self.tok.value)
            self.i += 1
            self.expect(";")
            self._check_assignable(target)
            return ast.Assign(token.line, token.column, target, op, None)
        if self.tok.kind == "op" and self.tok.value in _ASSIGN_OPS:
            op = str(self.tok.value)
            self.i += 1
            value = self.expression()
            self.expect(";")
            self._check_assignable(target)
            return ast.Assign(token.line, token.column, target, op, value)
        self.expect(";")
        if not isinstance(target, ast.Call):
            raise ExpressionError(
                "only calls and assignments can be used as a statement", token.line, token.column
            )
        return ast.ExpressionStatement(token.line, token.column, target)

    def _check_assignable(self, target: ast.Node) -> None:
        if isinstance(target, ast.Name | ast.Index):
            return
        raise ExpressionError(
            "only local variables and indexers can be assigned", target.line, target.column
        )

    # -- expressions -------------------------------------------------------------------------

    def expression(self) -> ast.Node:
        self.nested()
        try:
            if self._at_lambda():
                raise ExpressionError(
                    "lambda expressions are only supported as method arguments",
                    self.tok.line,
                    self.tok.column,
                )
            return self.conditional()
        finally:
            self.depth -= 1

    def _at_lambda(self) -> bool:
        token = self.tok
        if token.kind == "ident" and self.peek().kind == "op" and self.peek().value == "=>":
            return True
        return self.at("(") and self._is_lambda_head()

    def lambda_(self) -> ast.Node | None:
        token = self.tok
        params: list[Token] = []
        if token.kind == "ident" and self.peek().kind == "op" and self.peek().value == "=>":
            params = [token]
            self.i += 2
        elif self.at("(") and self._is_lambda_head():
            self.i += 1
            if not self.at(")"):
                params.append(self.ident())
                while self.accept(","):
                    params.append(self.ident())
            self.expect(")")
            self.expect("=>")
        else:
            return None
        if self.at("{"):
            raise self.error("lambdas with statement bodies are not supported")
        self.scopes.append(set())
        try:
            for param in params:
                self.declare(str(param.value), param)
            self.nested()
            body = self.conditional()
            self.depth -= 1
        finally:
            self.scopes.pop()
        return ast.Lambda(token.line, token.column, tuple(str(p.value) for p in params), body)

    def _is_lambda_head(self) -> bool:
        j = self.i + 1
        while self.tokens[j].kind == "ident" or (
            self.tokens[j].kind == "op" and self.tokens[j].value == ","
        ):
            j += 1
        closing = self.tokens[j]
        after = self.tokens[min(j + 1, len(self.tokens) - 1)]
        return (
            closing.kind == "op"
            and closing.value == ")"
            and after.kind == "op"
            and after.value == "=>"
        )

    def conditional(self) -> ast.Node:
        condition = self.binary(0)
        if self.at("?"):
            token = self.tok
            self.i += 1
            then = self.expression()
            self.expect(":")
            otherwise = self.expression()
            return ast.Conditional(token.line, token.column, condition, then, otherwise)
        return condition

    def binary(self, level: int) -> ast.Node:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        ops = _BINARY_LEVELS[level]
        if ops == ("??",):
            # `??` is right-associative.
            left = self.binary(level + 1)
            if self.at("??"):
                token = self.tok
                self.i += 1
                return ast.Binary(token.line, token.column, "??", left, self.binary(level))
            return left
        left = self.binary(level + 1)
        while self.tok.kind in ("op", "keyword") and self.tok.value in ops:
            token = self.tok
            op = str(token.value)
            self.i += 1
            if op == "is":
                if self.at("null"):
                    self.i += 1
                    left = ast.Binary(
                        token.line, token.column, "==", left, ast.Literal(token.line, 0, None)
                    )
                    continue
                type_ref = self.type_ref()
                if self.tok.kind == "ident":
                    raise self.error("pattern matching with 'is' is not supported")
                left = ast.IsType(token.line, token.column, left, type_ref)
            elif op == "as":
                left = ast.AsType(token.line, token.column, left, self.type_ref())
            else:
                left = ast.Binary(token.line, token.column, op, left, self.binary(level + 1))
        return left

    def unary(self) -> ast.Node:
        token = self.tok
        if token.kind == "op" and token.value in ("!", "-", "+"):
            self.i += 1
            self.nested()
            try:
                return ast.Unary(token.line, token.column, str(token.value), self.unary())
            finally:
                self.depth -= 1
        if token.kind == "op" and token.value in ("++", "--"):
            raise self.error("prefix increment and decrement are only supported as statements")
        if self.at("(") and self.peek().kind == "ident":
            cast = self.speculate(self._cast)
            if cast is not None:
                return cast
        return self.postfix(self.primary())

    def _cast(self) -> ast.Node:
        token = self.expect("(")
        type_ref = self.type_ref()
        self.expect(")")
        following = self.tok
        starts_operand = following.kind in (
            "ident", "int", "long", "double", "string", "char", "interp"
        ) or (following.kind == "op" and following.value in ("(", "!")) or (
            following.kind == "keyword" and following.value in ("new", "true", "false", "null")
        )  # fmt: skip
        if type_ref.name not in _PREDEFINED_TYPES and not starts_operand:
            raise _Backtrack
        return ast.Cast(token.line, token.column, type_ref, self.unary())

    def postfix(self, node: ast.Node) -> ast.Node:
        while True:
            token = self.tok
            if self.at(".") or self.at("?."):
                null_safe = self.at("?.")
                self.i += 1
                name = self.ident()
                target = node
                node = ast.Member(token.line, token.column, node, str(name.value), null_safe)
                type_args = self._call_type_args()
                is_call = self.at("(")
                if isinstance(target, ast.TypeRef) and not static_member_exists(
                    target.name, str(name.value), is_call
                ):
                    raise ExpressionError(
                        f"'{target.name}' has no supported member '{name.value}'",
                        name.line,
                        name.column,
                    )
                if is_call:
                    node = self.call(node, name, type_args)
            elif self.at("[") or self.at("?["):
                null_safe = self.at("?[")
                self.i += 1
                args = [self.expression()]
                while self.accept(","):
                    args.append(self.expression())
                self.expect("]")
                node = ast.Index(token.line, token.column, node, tuple(args), null_safe)
            elif self.at("("):
                raise self.error("only methods can be called")
            else:
                return node

    def _call_type_args(self) -> tuple[str, ...]:
        if not self.at("<"):
            return ()

        def parse() -> tuple[str, ...]:
            args = self.type_args()
            if not self.at("("):
                raise _Backtrack
            return args

        return self.speculate(parse) or ()

    def call(self, target: ast.Member, name: Token, type_args: tuple[str, ...]) -> ast.Node:
        method = str(name.value)
        if method not in METHOD_NAMES:
            raise ExpressionError(f"method '{method}' is not supported", name.line, name.column)
        token = self.expect("(")
        args: list[ast.Argument] = []
        if not self.at(")"):
            args.append(self.argument())
            while self.accept(","):
                args.append(self.argument())
        self.expect(")")
        return ast.Call(token.line, token.column, target, tuple(args), type_args)

    def argument(self) -> ast.Argument:
        token = self.tok
        if token.kind == "ident" and self.peek().kind == "op" and self.peek().value == ":":
            self.i += 2
            return ast.Argument(token.line, token.column, self.expression(), str(token.value))
        if self._at_lambda():
            lam = self.lambda_()
            assert lam is not None
            return ast.Argument(token.line, token.column, lam)
        if self.accept("out"):
            if not self.accept("var") and not (
                self.peek().kind == "op" and self.peek().value in (")", ",")
            ):
                self.type_ref()
            name = self.ident()
            value = ast.Name(name.line, name.column, str(name.value))
            if not any(str(name.value) in scope for scope in self.scopes):
                self.declare(str(name.value), name)
            return ast.Argument(token.line, token.column, value, None, str(name.value))
        return ast.Argument(token.line, token.column, self.expression())

    def primary(self) -> ast.Node:
        token = self.tok
        kind = token.kind
        if kind in ("int", "long", "double", "string", "char"):
            self.i += 1
            return ast.Literal(token.line, token.column, token.value)
        if kind == "interp":
            self.i += 1
            return self.interpolated(token)
        if kind == "keyword":
            if token.value in ("true", "false", "null"):
                self.i += 1
                value = {"true": True, "false": False, "null": None}[str(token.value)]
                return ast.Literal(token.line, token.column, value)
            if token.value == "new":
                return self.new()
            raise self.error("expected an expression")
        if kind == "ident":
            name = str(token.value)
            if any(name in scope for scope in self.scopes):
                self.i += 1
                return ast.Name(token.line, token.column, name)
            if name in _NAMESPACE_ROOTS:
                return self._qualified_type()
            if name in STATIC_TYPES:
                self.i += 1
                if not self.at("."):
                    raise self.error(f"type '{name}' cannot be used as a value")
                return ast.TypeRef(token.line, token.column, name)
            raise ExpressionError(f"the name '{name}' does not exist", token.line, token.column)
        if self.accept("("):
            inner = self.expression()
            self.expect(")")
            return inner
        raise self.error("expected an expression")

    def _qualified_type(self) -> ast.Node:
        """`System.Text.Encoding.UTF8`, `Newtonsoft.Json.Linq.JObject.Parse(…)`."""
        token = self.tok
        path = str(self.ident().value)
        while path in _NAMESPACES and self.at(".") and self.peek().kind == "ident":
            self.i += 1
            path += "." + str(self.ident().value)
        name = _strip_namespace(path)
        if name == path or name not in STATIC_TYPES:
            raise ExpressionError(f"'{path}' is not supported", token.line, token.column)
        if not self.at("."):
            raise self.error(f"type '{name}' cannot be used as a value")
        return ast.TypeRef(token.line, token.column, name)

    def new(self) -> ast.Node:
        token = self.expect("new")
        if self.at("["):
            self.expect("[")
            self.expect("]")
            return ast.New(token.line, token.column, ast.TypeRef(0, 0, "object", (), True), (),
                           self.collection_initializer())  # fmt: skip
        if self.at("{"):
            raise self.error("anonymous types are not supported")
        type_ref = self.type_ref()
        args: list[ast.Argument] = []
        if self.accept("("):
            if not self.at(")"):
                args.append(self.argument())
                while self.accept(","):
                    args.append(self.argument())
            self.expect(")")
        elif not type_ref.array:
            raise self.error("expected '('")
        items = self.collection_initializer() if self.at("{") else None
        if type_ref.array and items is None:
            raise self.error("array creation needs an initializer")
        return ast.New(token.line, token.column, type_ref, tuple(args), items)

    def collection_initializer(self) -> tuple[ast.Node, ...]:
        self.expect("{")
        items: list[ast.Node] = []
        while not self.at("}"):
            if self.at("["):
                raise self.error("index initializers are not supported")
            items.append(self.expression())
            if not self.accept(","):
                break
        self.expect("}")
        return tuple(items)

    def interpolated(self, token: Token) -> ast.Node:
        parts: list[str | tuple[ast.Node, str | None]] = []
        assert isinstance(token.value, list)
        for part in token.value:
            if isinstance(part, InterpolationHole):
                tokens = Lexer(part.source, part.line, part.column).tokens()
                sub = Parser(tokens, self.scopes)
                sub.depth = self.depth
                node = sub.expression()
                if sub.tok.kind != "eof":
                    raise sub.error("unexpected token in interpolation hole")
                parts.append((node, part.format))
            else:
                parts.append(str(part))
        return ast.Interpolated(token.line, token.column, tuple(parts))


def parse(text: str) -> tuple[bool, tuple[ast.Node, ...]]:
    """Parse `@(expr)` or `@{ statements }`; returns (is_block, statements or (expr,))."""
    start = len(text) - len(text.lstrip())
    opener = text[start : start + 2]
    if opener not in ("@(", "@{"):
        raise ExpressionError("an expression starts with '@(' or '@{'", 1, start + 1)
    prefix = text[:start]
    line = 1 + prefix.count("\n")
    column = start - (prefix.rfind("\n") + 1) + 3
    lexer = Lexer(text, line, column)
    lexer.pos = start + 2
    parser = Parser(lexer.tokens())
    if opener == "@(":
        node = parser.expression()
        parser.expect(")")
        result: tuple[bool, tuple[ast.Node, ...]] = (False, (node,))
    else:
        parser.scopes.append(set())
        body = parser.block_body()
        parser.expect("}")
        if not body or not _always_returns(body):
            raise ExpressionError("not all code paths return a value", line, column - 2)
        result = (True, body)
    if parser.tok.kind != "eof":
        raise parser.error("unexpected text after the expression")
    return result


def _always_returns(body: tuple[ast.Node, ...]) -> bool:
    for statement in body:
        if isinstance(statement, ast.Return):
            return True
        if (
            isinstance(statement, ast.If)
            and statement.otherwise is not None
            and _always_returns(statement.then)
            and _always_returns(statement.otherwise)
        ):
            return True
    return False
