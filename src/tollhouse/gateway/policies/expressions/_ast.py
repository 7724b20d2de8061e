"""The parsed tree of a policy expression. Every node carries its 1-based line and column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Node:
    line: int
    column: int


# -- expressions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: object


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class TypeRef(Node):
    """A type in a static member access (`Math.Max`), a cast, `is`, `as` or `new`."""

    name: str
    args: tuple[str, ...] = ()
    array: bool = False


@dataclass(frozen=True, slots=True)
class Member(Node):
    target: Node
    name: str
    null_safe: bool


@dataclass(frozen=True, slots=True)
class Argument(Node):
    value: Node
    name: str | None = None
    out_name: str | None = None  # `out var x` / `out int x` / `out x`


@dataclass(frozen=True, slots=True)
class Call(Node):
    target: Node  # Member or Name
    args: tuple[Argument, ...]
    type_args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Index(Node):
    target: Node
    args: tuple[Node, ...]
    null_safe: bool


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class Cast(Node):
    type: TypeRef
    operand: Node


@dataclass(frozen=True, slots=True)
class IsType(Node):
    operand: Node
    type: TypeRef


@dataclass(frozen=True, slots=True)
class AsType(Node):
    operand: Node
    type: TypeRef


@dataclass(frozen=True, slots=True)
class Lambda(Node):
    params: tuple[str, ...]
    body: Node


@dataclass(frozen=True, slots=True)
class New(Node):
    type: TypeRef
    args: tuple[Argument, ...]
    # `new JObject { ["a"] = 1 }` is not supported; `new JObject(new JProperty(...))` is not.
    items: tuple[Node, ...] | None = None  # `new[] { … }` / `new string[] { … }` / JArray


@dataclass(frozen=True, slots=True)
class Interpolated(Node):
    parts: tuple[str | tuple[Node, str | None], ...]


# -- statements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Declare(Node):
    name: str
    type: TypeRef | None  # None for `var`
    value: Node | None


@dataclass(frozen=True, slots=True)
class Assign(Node):
    target: Node  # Name, Member or Index
    op: str  # = += -= *= /= ++ --
    value: Node | None


@dataclass(frozen=True, slots=True)
class ExpressionStatement(Node):
    expression: Node


@dataclass(frozen=True, slots=True)
class If(Node):
    condition: Node
    then: tuple[Node, ...]
    otherwise: tuple[Node, ...] | None


@dataclass(frozen=True, slots=True)
class Return(Node):
    value: Node | None


@dataclass(frozen=True, slots=True)
class Foreach(Node):
    name: str
    iterable: Node
    body: tuple[Node, ...]
