"""Policy expressions compiled into Python closures: C# semantics over the values of `_values`.

`compile_tree` turns the parsed tree into nested functions `(frame, env) -> value`, one per
node, each made for its node type, operator and member name when the policy is loaded: a
request pays for none of the dispatching a tree walk does at every node. The semantics are
exactly those of the tree-walking `_evaluate.Evaluator`, the reference the tests compare this
with: the same values, the same errors at the same line and column, and the same budget —
each function counts the steps its node's visit counts there, in the same order, so that a
limit runs out at the same node.

Every evaluation has a budget (APIM bounds expressions by a CPU and allocation limit; ours are
the named constants below): node visits, loop iterations and the size of every value built.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NoReturn

from . import _ast as ast
from . import _operators as operators
from ._errors import ExpressionBudgetExceeded, ExpressionError, ExpressionRuntimeError
from ._members import (
    ATTRIBUTE_TYPES,
    MAX_VALUE_SIZE,
    MISSING,
    CSharpException,
    EnumValue,
    OutResult,
    SizeExceeded,
    call_method,
    call_static,
    construct,
    convert,
    equals,
    format_value,
    get_property,
    get_static,
    index,
    is_instance,
    iterate,
    public_name,
    set_index,
    type_name,
)
from ._values import JValue

# Node visits per evaluation: a real policy expression takes well under a thousand.
MAX_STEPS = 100_000
# foreach iterations plus lambda invocations per evaluation.
MAX_LOOP_ITERATIONS = 10_000

# Python exceptions that members raise for what .NET reports as exceptions.
FOREIGN_ERRORS = (
    CSharpException, ValueError, TypeError, KeyError, IndexError, ZeroDivisionError,
    OverflowError, UnicodeError, AttributeError,
)  # fmt: skip

# Values whose size the budget bounds.
_SIZED = (str, bytes, list)


class Frame:
    """The state of one evaluation."""

    __slots__ = ("clock", "context", "iterations", "steps", "variables")

    def __init__(
        self,
        context: object,
        variables: Mapping[str, object] | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.context = context
        self.variables = variables
        self.clock = clock
        self.steps = 0
        self.iterations = 0


Env = dict[str, object]
Code = Callable[[Frame, Env], object]
# What a statement returns when it does not return from the block.
_CONTINUE = object()


class _ShortCircuit(Exception):
    """`a?.b.c` with a null `a`: the whole chain is null."""


def _too_many_steps(node: ast.Node) -> NoReturn:
    raise ExpressionBudgetExceeded(
        f"more than {MAX_STEPS} evaluation steps", node.line, node.column
    )


def _steps_run_out(frame: Frame, nodes: tuple[ast.Node, ...]) -> NoReturn:
    """`nodes` are visited one after the other and the budget runs out among them."""
    _too_many_steps(nodes[MAX_STEPS - frame.steps])


def _too_large(node: ast.Node) -> NoReturn:
    raise ExpressionBudgetExceeded(
        f"a value exceeds {MAX_VALUE_SIZE} elements", node.line, node.column
    )


def _failed(exc: Exception, node: ast.Node) -> NoReturn:
    if isinstance(exc, SizeExceeded):
        raise ExpressionBudgetExceeded(str(exc), node.line, node.column) from None
    raise ExpressionRuntimeError(str(exc), node.line, node.column) from None


class Closure:
    """A lambda value: called by LINQ members with its arguments."""

    __slots__ = ("body", "env", "frame", "node", "params")

    def __init__(self, frame: Frame, node: ast.Lambda, body: Code, env: Env) -> None:
        self.frame = frame
        self.node = node
        self.params = node.params
        self.body = body
        self.env = env

    def __call__(self, *args: object) -> object:
        params = self.params
        if len(args) != len(params):
            raise CSharpException(f"the lambda takes {len(params)} arguments")
        frame = self.frame
        frame.iterations += 1
        if frame.iterations > MAX_LOOP_ITERATIONS:
            node = self.node
            raise ExpressionBudgetExceeded(
                f"more than {MAX_LOOP_ITERATIONS} loop iterations", node.line, node.column
            )
        local = dict(self.env)
        if len(params) == 1:
            local[params[0]] = args[0]
        else:
            local.update(zip(params, args, strict=True))
        return self.body(frame, local)


# -- the compiled expression -------------------------------------------------------------------


# `CompiledExpression.evaluate` without its defaults: (context, variables, clock) -> value.
Program = Callable[[object, Mapping[str, object] | None, Callable[[], datetime]], object]


def compile_tree(is_block: bool, body: tuple[ast.Node, ...]) -> Program:
    """The function that evaluates `body` (as `Evaluator.run` does)."""
    compiler = _Compiler()
    if not is_block:
        code = compiler.expression(body[0])

        def run_expression(
            context: object,
            variables: Mapping[str, object] | None,
            clock: Callable[[], datetime],
        ) -> object:
            return code(Frame(context, variables, clock), {})

        return run_expression

    block = compiler.block(body)

    def run_block(
        context: object,
        variables: Mapping[str, object] | None,
        clock: Callable[[], datetime],
    ) -> object:
        result = block(Frame(context, variables, clock), {})
        if result is _CONTINUE:
            raise ExpressionRuntimeError("not all code paths return a value")
        return result

    return run_block


_NUMERIC: dict[str, Callable[[Any, Any], object]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
    "-": operator.sub,
    "*": operator.mul,
}
# C# long: integer arithmetic outside this range wraps (`wrap_integer`).
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

# Operators whose value is always a bool (so a condition need not check it).
_BOOLEAN_OPERATORS = frozenset({"==", "!=", "<", ">", "<=", ">=", "&&", "||"})


def _is_boolean(node: ast.Node) -> bool:
    if isinstance(node, ast.Binary):
        return node.op in _BOOLEAN_OPERATORS
    if isinstance(node, ast.Unary):
        return node.op == "!"
    return isinstance(node, ast.IsType)


class _Compiler:
    def __init__(self) -> None:
        # Constant subtrees: their value and the nodes a visit of them steps through.
        self._constants: dict[int, tuple[object, tuple[ast.Node, ...]] | None] = {}

    # -- statements --------------------------------------------------------------------------

    def block(self, body: tuple[ast.Node, ...]) -> Code:
        statements = tuple(self.statement(s) for s in body)
        if len(statements) == 1:
            return statements[0]

        def block(frame: Frame, env: Env) -> object:
            for statement in statements:
                result = statement(frame, env)
                if result is not _CONTINUE:
                    return result
            return _CONTINUE

        return block

    def statement(self, node: ast.Node) -> Code:
        inner = self._statement(node)

        def statement(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            try:
                return inner(frame, env)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)

        return statement

    def _statement(self, node: ast.Node) -> Code:
        if isinstance(node, ast.Return):
            if node.value is None:
                return lambda frame, env: None
            return self.expression(node.value)
        if isinstance(node, ast.Declare):
            return self._declare(node)
        if isinstance(node, ast.Assign):
            return self._assign(node)
        if isinstance(node, ast.ExpressionStatement):
            expression = self.expression(node.expression)

            def call(frame: Frame, env: Env) -> object:
                expression(frame, env)
                return _CONTINUE

            return call
        if isinstance(node, ast.If):
            return self._if(node)
        if isinstance(node, ast.Foreach):
            return self._foreach(node)
        raise ExpressionError(  # pragma: no cover - the parser produces no other statement
            f"unsupported statement {type(node).__name__}", node.line, node.column
        )

    def _declare(self, node: ast.Declare) -> Code:
        name = node.name
        value_code = self.expression(node.value) if node.value is not None else None
        type_ref = node.type.name if node.type is not None else None

        def declare(frame: Frame, env: Env) -> object:
            value = None if value_code is None else value_code(frame, env)
            if type_ref is not None and value is not None:
                value = operators.declared(value, type_ref)
            env[name] = value
            return _CONTINUE

        return declare

    def _assign(self, node: ast.Assign) -> Code:
        op = node.op
        target = node.target
        current = self.expression(target) if op != "=" else None
        value_code = self.expression(node.value) if node.value is not None else None
        arithmetic = op[0]
        step = {"++": 1, "--": -1}.get(op)

        def value_of(frame: Frame, env: Env) -> object:
            if step is not None:
                assert current is not None
                value = current(frame, env)
                if type(value) is int and _LONG_MIN <= value + step <= _LONG_MAX:
                    return value + step  # what operators.binary gives an int counter
                return operators.binary(arithmetic, value, 1)
            assert value_code is not None
            value = value_code(frame, env)
            if current is not None:
                value = operators.binary(arithmetic, current(frame, env), value)
            return value

        if isinstance(target, ast.Name):
            name = target.name

            def assign_local(frame: Frame, env: Env) -> object:
                env[name] = value_of(frame, env)
                return _CONTINUE

            return assign_local
        if isinstance(target, ast.Index):
            container_code = self.expression(target.target)
            key_codes = tuple(self.expression(k) for k in target.args)

            def assign_index(frame: Frame, env: Env) -> object:
                value = value_of(frame, env)
                container = container_code(frame, env)
                keys = [k(frame, env) for k in key_codes]
                set_index(container, keys, value)
                return _CONTINUE

            return assign_index
        raise ExpressionError(  # pragma: no cover - the parser accepts no other target
            "cannot assign", node.line, node.column
        )

    def _if(self, node: ast.If) -> Code:
        condition = self.condition(node.condition)
        then = self.block(node.then)
        otherwise = self.block(node.otherwise) if node.otherwise is not None else None

        def if_(frame: Frame, env: Env) -> object:
            if condition(frame, env):
                return then(frame, env)
            if otherwise is not None:
                return otherwise(frame, env)
            return _CONTINUE

        return if_

    def _foreach(self, node: ast.Foreach) -> Code:
        iterable = self.expression(node.iterable)
        body = self.block(node.body)
        name = node.name

        def foreach(frame: Frame, env: Env) -> object:
            for item in iterate(iterable(frame, env)):
                frame.iterations += 1
                if frame.iterations > MAX_LOOP_ITERATIONS:
                    raise ExpressionBudgetExceeded(
                        f"more than {MAX_LOOP_ITERATIONS} loop iterations", node.line, node.column
                    )
                env[name] = item
                result = body(frame, env)
                if result is not _CONTINUE:
                    return result
            return _CONTINUE

        return foreach

    def condition(self, node: ast.Node) -> Callable[[Frame, Env], bool]:
        code = self.expression(node)
        if _is_boolean(node):
            return code  # type: ignore[return-value]

        def condition(frame: Frame, env: Env) -> bool:
            value = code(frame, env)
            if value is True or value is False:
                return value
            if isinstance(value, JValue):
                value = value.value
            if not isinstance(value, bool):
                raise ExpressionRuntimeError(
                    f"a condition must be a bool, not '{type_name(value)}'", node.line, node.column
                )
            return value

        return condition

    # -- expressions -------------------------------------------------------------------------

    def expression(self, node: ast.Node) -> Code:
        """The code of `Evaluator.eval(node)`: a step, the value, errors placed at the node."""
        constant = self.constant(node)
        if constant is not None:
            return _folded(*constant)
        if isinstance(node, ast.Member) and not isinstance(node.target, ast.TypeRef):
            return self._member_chain(node, root=True)
        if isinstance(node, ast.Member | ast.Index | ast.Call):
            return _root(node, self.chain(node))
        if isinstance(node, ast.Name):
            return _name(node)
        if isinstance(node, ast.Binary):
            return self._binary(node)
        if isinstance(node, ast.Unary):
            return self._unary(node)
        if isinstance(node, ast.Conditional):
            return self._conditional(node)
        if isinstance(node, ast.Cast | ast.IsType | ast.AsType):
            return self._type_test(node)
        if isinstance(node, ast.Interpolated):
            return self._interpolated(node)
        if isinstance(node, ast.New):
            return self._new(node)
        if isinstance(node, ast.Lambda):
            return self._lambda(node)
        if isinstance(node, ast.TypeRef):
            message = f"type '{node.name}' cannot be used as a value"

            def type_as_value(frame: Frame, env: Env) -> object:
                frame.steps += 1
                if frame.steps > MAX_STEPS:
                    _too_many_steps(node)
                raise ExpressionRuntimeError(message, node.line, node.column)

            return type_as_value
        raise ExpressionError(f"unsupported node {type(node).__name__}", node.line, node.column)

    def constant(self, node: ast.Node) -> tuple[object, tuple[ast.Node, ...]] | None:
        """The value of a subtree of literals and the nodes its visit steps through, when
        computing it cannot fail and gives an immutable value."""
        key = id(node)
        if key not in self._constants:
            self._constants[key] = self._constant(node)
        return self._constants[key]

    def _constant(self, node: ast.Node) -> tuple[object, tuple[ast.Node, ...]] | None:
        if isinstance(node, ast.Literal):
            return node.value, (node,)
        value: object
        try:
            if isinstance(node, ast.Unary):
                operand = self.constant(node.operand)
                if operand is None:
                    return None
                value = operators.unary(node.op, operand[0])
                nodes = (node, *operand[1])
            elif isinstance(node, ast.Binary) and node.op not in ("&&", "||", "??"):
                left, right = self.constant(node.left), self.constant(node.right)
                if left is None or right is None:
                    return None
                value = operators.binary(node.op, left[0], right[0])
                nodes = (node, *left[1], *right[1])
            elif isinstance(node, ast.Interpolated):
                texts: list[str] = []
                nodes = (node,)
                for part in node.parts:
                    if isinstance(part, str):
                        texts.append(part)
                        continue
                    hole = self.constant(part[0])
                    if hole is None:
                        return None
                    texts.append(format_value(hole[0], part[1]))
                    nodes += hole[1]
                value = "".join(texts)
            else:
                return None
        except (*FOREIGN_ERRORS, ExpressionError):
            return None  # fails when evaluated, as the tree walk does
        if value is not None and type(value) not in (str, int, float, bool):
            return None
        if isinstance(value, str) and len(value) > MAX_VALUE_SIZE:
            return None
        return value, nodes

    def _binary(self, node: ast.Binary) -> Code:
        op = node.op
        if op in ("&&", "||"):
            left_test, right_test = self.condition(node.left), self.condition(node.right)
            if op == "&&":

                def and_(frame: Frame, env: Env) -> object:
                    frame.steps += 1
                    if frame.steps > MAX_STEPS:
                        _too_many_steps(node)
                    return left_test(frame, env) and right_test(frame, env)

                return and_

            def or_(frame: Frame, env: Env) -> object:
                frame.steps += 1
                if frame.steps > MAX_STEPS:
                    _too_many_steps(node)
                return left_test(frame, env) or right_test(frame, env)

            return or_
        left, right = self.expression(node.left), self.expression(node.right)
        if op == "??":

            def coalesce(frame: Frame, env: Env) -> object:
                frame.steps += 1
                if frame.steps > MAX_STEPS:
                    _too_many_steps(node)
                value = left(frame, env)
                return value if value is not None else right(frame, env)

            return coalesce
        if op == "+":
            concatenate = operators.concatenate

            def add(frame: Frame, env: Env) -> object:
                frame.steps += 1
                if frame.steps > MAX_STEPS:
                    _too_many_steps(node)
                a = left(frame, env)
                b = right(frame, env)
                try:
                    if isinstance(a, str) or isinstance(b, str):
                        value: object = concatenate(a, b)
                    else:
                        value = operators.binary("+", a, b)
                except FOREIGN_ERRORS as exc:
                    _failed(exc, node)
                if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
                    _too_large(node)
                return value

            return add
        if op == "==":

            def equal(frame: Frame, env: Env) -> object:
                frame.steps += 1
                if frame.steps > MAX_STEPS:
                    _too_many_steps(node)
                a = left(frame, env)
                b = right(frame, env)
                try:
                    return equals(a, b)
                except FOREIGN_ERRORS as exc:
                    _failed(exc, node)

            return equal
        if op == "!=":

            def not_equal(frame: Frame, env: Env) -> object:
                frame.steps += 1
                if frame.steps > MAX_STEPS:
                    _too_many_steps(node)
                a = left(frame, env)
                b = right(frame, env)
                try:
                    return not equals(a, b)
                except FOREIGN_ERRORS as exc:
                    _failed(exc, node)

            return not_equal
        if op in operators.COMPARISONS or op in ("-", "*"):
            return self._numeric(node, left, right)
        binary = operators.binary

        def operate(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            a = left(frame, env)
            b = right(frame, env)
            try:
                value = binary(op, a, b)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)
            if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
                _too_large(node)
            return value

        return operate

    def _numeric(self, node: ast.Binary, left: Code, right: Code) -> Code:
        """A comparison, `-` or `*`: on two ints or doubles, Python's operator gives what the
        general case (`operators.binary`) would."""
        op = node.op
        binary = operators.binary
        fast = _NUMERIC[op]
        wrap = op in ("-", "*")

        def numeric(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            a = left(frame, env)
            b = right(frame, env)
            kind_a, kind_b = type(a), type(b)
            try:
                if (kind_a is int or kind_a is float) and (kind_b is int or kind_b is float):
                    value = fast(a, b)
                    if not wrap or kind_a is float or kind_b is float:
                        return value
                    if _LONG_MIN <= value <= _LONG_MAX:  # type: ignore[operator]
                        return value
                value = binary(op, a, b)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)
            if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
                _too_large(node)
            return value

        return numeric

    def _unary(self, node: ast.Unary) -> Code:
        operand = self.expression(node.operand)
        op = node.op
        unary = operators.unary

        def negate(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            value = operand(frame, env)
            if value is True:
                return False
            if value is False:
                return True
            try:
                return unary(op, value)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)

        def sign(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            value = operand(frame, env)
            try:
                return unary(op, value)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)

        return negate if op == "!" else sign

    def _conditional(self, node: ast.Conditional) -> Code:
        condition = self.condition(node.condition)
        then, otherwise = self.expression(node.then), self.expression(node.otherwise)

        def conditional(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            return (then if condition(frame, env) else otherwise)(frame, env)

        return conditional

    def _type_test(self, node: ast.Cast | ast.IsType | ast.AsType) -> Code:
        operand = self.expression(node.operand)
        type_ref = node.type.name
        if isinstance(node, ast.Cast):

            def operation(value: object) -> object:
                return convert(value, type_ref)
        elif isinstance(node, ast.IsType):

            def operation(value: object) -> object:
                return is_instance(value, type_ref)
        else:

            def operation(value: object) -> object:
                return value if is_instance(value, type_ref) else None

        def type_test(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            value = operand(frame, env)
            try:
                value = operation(value)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)
            if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
                _too_large(node)
            return value

        return type_test

    def _interpolated(self, node: ast.Interpolated) -> Code:
        parts = tuple(
            part if isinstance(part, str) else (self.expression(part[0]), part[1])
            for part in node.parts
        )

        def interpolated(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            out: list[str] = []
            size = 0
            try:
                for part in parts:
                    if isinstance(part, str):
                        text = part
                    else:
                        text = format_value(part[0](frame, env), part[1])
                    size += len(text)
                    if size > MAX_VALUE_SIZE:
                        raise SizeExceeded(f"a value would exceed {MAX_VALUE_SIZE} elements")
                    out.append(text)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)
            return "".join(out)

        return interpolated

    def _new(self, node: ast.New) -> Code:
        arg_codes = tuple(self.expression(a.value) for a in node.args)
        item_codes = (
            tuple(self.expression(i) for i in node.items) if node.items is not None else None
        )
        name, array = node.type.name, node.type.array

        def new(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            args = [a(frame, env) for a in arg_codes]
            items = [i(frame, env) for i in item_codes] if item_codes is not None else None
            try:
                value = construct(name, array, args, items)
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)
            if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
                _too_large(node)
            return value

        return new

    def _lambda(self, node: ast.Lambda) -> Code:
        body = self.expression(node.body)

        def lambda_(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            return Closure(frame, node, body, env)

        return lambda_

    # -- member, index and call chains -------------------------------------------------------

    def chain(self, node: ast.Node) -> Code:
        """The code of `Evaluator.chain(node)`: a chain link raises what it meets (and
        `_ShortCircuit`) for the root of the chain to place."""
        if isinstance(node, ast.Member):
            if isinstance(node.target, ast.TypeRef):
                return _static_member(node, node.target.name)
            return self._member_chain(node, root=False)
        if isinstance(node, ast.Index):
            return self._index(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        return self.expression(node)

    def _member_chain(self, node: ast.Member, *, root: bool) -> Code:
        """A run of member reads `base.A.B.C` as one function: the tree walk steps through
        the root, C, B and A before it evaluates `base`, then reads A, B and C."""
        links: list[ast.Member] = []
        current: ast.Node = node
        while isinstance(current, ast.Member) and not isinstance(current.target, ast.TypeRef):
            links.append(current)
            current = current.target
        base = self.chain(current)
        nodes: tuple[ast.Node, ...] = ((node,) if root else ()) + tuple(links)
        count = len(nodes)
        reads = tuple(
            (
                link.name,
                link.null_safe,
                public_name(link.name),
                link.name == "Variables"
                and isinstance(link.target, ast.Name)
                and link.target.name == "context",
            )
            for link in reversed(links)
        )

        def members(frame: Frame, env: Env) -> object:
            if frame.steps + count > MAX_STEPS:
                _steps_run_out(frame, nodes)
            frame.steps += count
            value = base(frame, env)
            for name, null_safe, public, variables in reads:
                if value is None and null_safe:
                    raise _ShortCircuit
                if variables and frame.variables is not None:
                    value = frame.variables
                    continue
                if public and type(value) in ATTRIBUTE_TYPES:
                    found = getattr(value, name, MISSING)
                    if found is not MISSING and not callable(found):
                        value = found
                        continue
                value = get_property(value, name)
            return value

        if not root:
            return members

        def root_members(frame: Frame, env: Env) -> object:
            try:
                value = members(frame, env)
            except _ShortCircuit:
                return None
            except FOREIGN_ERRORS as exc:
                _failed(exc, node)
            if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
                _too_large(node)
            return value

        return root_members

    def _index(self, node: ast.Index) -> Code:
        target_code = self.chain(node.target)
        key_codes = tuple(self.expression(k) for k in node.args)
        key = key_codes[0] if len(key_codes) == 1 else None
        null_safe = node.null_safe

        def index_(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            target = target_code(frame, env)
            if target is None and null_safe:
                raise _ShortCircuit
            keys = [key(frame, env)] if key is not None else [k(frame, env) for k in key_codes]
            if target is None:
                raise CSharpException("Object reference not set to an instance of an object")
            return index(target, keys)

        return index_

    def _call(self, node: ast.Call) -> Code:
        member = node.target
        assert isinstance(member, ast.Member)
        name, type_args = member.name, node.type_args
        outs = tuple(arg.out_name for arg in node.args if arg.out_name is not None)
        arguments = self._arguments(node.args)

        if isinstance(member.target, ast.TypeRef):
            type_ref = member.target.name

            def invoke(frame: Frame, env: Env, args: list[object], named: Env) -> object:
                if named:
                    raise CSharpException("named arguments are only supported on context members")
                return call_static(type_ref, name, args, type_args)
        else:
            target_code = self.chain(member.target)
            null_safe = member.null_safe

            def invoke(frame: Frame, env: Env, args: list[object], named: Env) -> object:
                target = target_code(frame, env)
                if target is None and null_safe:
                    raise _ShortCircuit
                return call_method(target, name, args, type_args, named)

        def call(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            args, named = arguments(frame, env)
            result = invoke(frame, env, args, named)
            if type(result) is OutResult:
                for out, value in zip(outs, result.outs, strict=False):
                    env[out] = value
                return result.value
            if outs:
                raise CSharpException(f"'{name}' has no out parameter")
            return result

        return call

    def _arguments(
        self, nodes: tuple[ast.Argument, ...]
    ) -> Callable[[Frame, Env], tuple[list[object], Env]]:
        no_names: Env = {}
        if all(a.out_name is None and a.name is None for a in nodes) and not any(
            isinstance(a.value, ast.Lambda) for a in nodes
        ):
            codes = tuple(self.expression(a.value) for a in nodes)
            if len(codes) == 1:
                (only,) = codes
                return lambda frame, env: ([only(frame, env)], no_names)
            return lambda frame, env: ([c(frame, env) for c in codes], no_names)

        passes = tuple(self._argument(a) for a in nodes)

        def arguments(frame: Frame, env: Env) -> tuple[list[object], Env]:
            args: list[object] = []
            named: Env = {}
            for pass_ in passes:
                pass_(frame, env, args, named)
            return args, named

        return arguments

    def _argument(self, node: ast.Argument) -> Callable[[Frame, Env, list[object], Env], None]:
        """What passing the argument does to the positional and the named arguments."""
        if node.out_name is not None:

            def out(frame: Frame, env: Env, args: list[object], named: Env) -> None:
                args.append(None)

            return out
        value = node.value
        if isinstance(value, ast.Lambda):
            lambda_node, body = value, self.expression(value.body)

            def lambda_(frame: Frame, env: Env, args: list[object], named: Env) -> None:
                args.append(Closure(frame, lambda_node, body, env))

            return lambda_
        code = self.expression(value)
        name = node.name
        if name is not None:

            def by_name(frame: Frame, env: Env, args: list[object], named: Env) -> None:
                named[name] = code(frame, env)

            return by_name

        def positional(frame: Frame, env: Env, args: list[object], named: Env) -> None:
            args.append(code(frame, env))

        return positional


def _folded(value: object, nodes: tuple[ast.Node, ...]) -> Code:
    count = len(nodes)
    if count == 1:
        (node,) = nodes

        def literal(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            return value

        return literal

    def constant(frame: Frame, env: Env) -> object:
        if frame.steps + count > MAX_STEPS:
            _steps_run_out(frame, nodes)
        frame.steps += count
        return value

    return constant


def _name(node: ast.Name) -> Code:
    name = node.name
    if name == "context":

        def context(frame: Frame, env: Env) -> object:
            frame.steps += 1
            if frame.steps > MAX_STEPS:
                _too_many_steps(node)
            value = frame.context
            if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
                _too_large(node)
            return value

        return context
    message = f"use of unassigned local variable '{name}'"

    def local(frame: Frame, env: Env) -> object:
        frame.steps += 1
        if frame.steps > MAX_STEPS:
            _too_many_steps(node)
        try:
            value = env[name]
        except KeyError:
            raise ExpressionRuntimeError(message, node.line, node.column) from None
        if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
            _too_large(node)
        return value

    return local


def _root(node: ast.Node, chain: Code) -> Code:
    """`Evaluator.eval` of an index or a call: its own step, then the chain's."""

    def root(frame: Frame, env: Env) -> object:
        frame.steps += 1
        if frame.steps > MAX_STEPS:
            _too_many_steps(node)
        try:
            value = chain(frame, env)
        except _ShortCircuit:
            return None
        except FOREIGN_ERRORS as exc:
            _failed(exc, node)
        if isinstance(value, _SIZED) and len(value) > MAX_VALUE_SIZE:
            _too_large(node)
        return value

    return root


def _static_member(node: ast.Member, type_ref: str) -> Code:
    name = node.name
    if type_ref != "DateTime":  # the clock is read when the expression runs
        try:
            value = get_static(type_ref, name, _no_clock)
        except CSharpException:
            pass
        else:
            if type(value) in (str, int, float, EnumValue):
                return _folded(value, (node,))

    def static(frame: Frame, env: Env) -> object:
        frame.steps += 1
        if frame.steps > MAX_STEPS:
            _too_many_steps(node)
        return get_static(type_ref, name, frame.clock)

    return static


def _no_clock() -> datetime:
    raise CSharpException("the clock is read when the expression runs")
