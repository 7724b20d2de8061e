"""The tree-walking evaluator: C# semantics over the Python values of `_values`.

Every evaluation has a budget (APIM bounds expressions by a CPU and allocation limit; ours are
the named constants below): node visits, loop iterations and the size of every value built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from . import _ast as ast
from ._errors import ExpressionBudgetExceeded, ExpressionError, ExpressionRuntimeError
from ._members import (
    MAX_VALUE_SIZE,
    CSharpException,
    LocalDictionary,
    OutResult,
    SizeExceeded,
    call_method,
    call_static,
    convert,
    equals,
    format_value,
    get_property,
    get_static,
    index,
    is_instance,
    iterate,
    plain,
    set_index,
    subtract_datetimes,
    type_name,
    wrap_integer,
)
from ._values import JArray, JObject, JProperty, JToken, JValue, render, to_token

# Node visits per evaluation: a real policy expression takes well under a thousand.
MAX_STEPS = 100_000
# foreach iterations plus lambda invocations per evaluation.
MAX_LOOP_ITERATIONS = 10_000

# Python exceptions that members raise for what .NET reports as exceptions.
_FOREIGN_ERRORS = (
    CSharpException, ValueError, TypeError, KeyError, IndexError, ZeroDivisionError,
    OverflowError, UnicodeError, AttributeError,
)  # fmt: skip


class _Return(Exception):
    def __init__(self, value: object) -> None:
        self.value = value


class _ShortCircuit(Exception):
    """`a?.b.c` with a null `a`: the whole chain is null."""


class Closure:
    """A lambda value: called by LINQ members with its arguments."""

    def __init__(self, evaluator: Evaluator, node: ast.Lambda, env: dict[str, object]) -> None:
        self.evaluator = evaluator
        self.node = node
        self.env = env

    def __call__(self, *args: object) -> object:
        if len(args) != len(self.node.params):
            raise CSharpException(f"the lambda takes {len(self.node.params)} arguments")
        self.evaluator.iteration(self.node)
        local = dict(self.env)
        local.update(zip(self.node.params, args, strict=True))
        return self.evaluator.eval(self.node.body, local)


class Evaluator:
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

    def iteration(self, node: ast.Node) -> None:
        self.iterations += 1
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise ExpressionBudgetExceeded(
                f"more than {MAX_LOOP_ITERATIONS} loop iterations", node.line, node.column
            )

    # -- statements --------------------------------------------------------------------------

    def run(self, is_block: bool, body: tuple[ast.Node, ...]) -> object:
        env: dict[str, object] = {}
        if not is_block:
            return self.eval(body[0], env)
        try:
            self.execute(body, env)
        except _Return as result:
            return result.value
        raise ExpressionRuntimeError("not all code paths return a value")

    def execute(self, body: tuple[ast.Node, ...], env: dict[str, object]) -> None:
        for statement in body:
            self.step(statement)
            try:
                self._statement(statement, env)
            except (ExpressionError, _Return, _ShortCircuit):
                raise
            except SizeExceeded as exc:
                raise ExpressionBudgetExceeded(str(exc), statement.line, statement.column) from None
            except _FOREIGN_ERRORS as exc:
                raise ExpressionRuntimeError(str(exc), statement.line, statement.column) from None

    def _statement(self, node: ast.Node, env: dict[str, object]) -> None:
        if isinstance(node, ast.Return):
            raise _Return(None if node.value is None else self.eval(node.value, env))
        if isinstance(node, ast.Declare):
            value = None if node.value is None else self.eval(node.value, env)
            if node.type is not None and value is not None:
                value = _declared(value, node.type.name)
            env[node.name] = value
        elif isinstance(node, ast.Assign):
            self.assign(node, env)
        elif isinstance(node, ast.ExpressionStatement):
            self.eval(node.expression, env)
        elif isinstance(node, ast.If):
            if self.condition(node.condition, env):
                self.execute(node.then, env)
            elif node.otherwise is not None:
                self.execute(node.otherwise, env)
        elif isinstance(node, ast.Foreach):
            for item in iterate(self.eval(node.iterable, env)):
                self.iteration(node)
                env[node.name] = item
                self.execute(node.body, env)
        else:  # pragma: no cover - the parser produces no other statement
            raise ExpressionError(f"unsupported statement {type(node).__name__}")

    def assign(self, node: ast.Assign, env: dict[str, object]) -> None:
        if node.op in ("++", "--"):
            value: object = self.binary_value(node.op[0], self.eval(node.target, env), 1, node)
        else:
            assert node.value is not None
            value = self.eval(node.value, env)
            if node.op != "=":
                value = self.binary_value(node.op[0], self.eval(node.target, env), value, node)
        target = node.target
        if isinstance(target, ast.Name):
            env[target.name] = value
        elif isinstance(target, ast.Index):
            container = self.eval(target.target, env)
            keys = [self.eval(k, env) for k in target.args]
            set_index(container, keys, value)
        else:  # pragma: no cover - rejected by the parser
            raise ExpressionError("cannot assign", node.line, node.column)

    def condition(self, node: ast.Node, env: dict[str, object]) -> bool:
        value = self.eval(node, env)
        if isinstance(value, JValue):
            value = value.value
        if not isinstance(value, bool):
            raise ExpressionRuntimeError(
                f"a condition must be a bool, not '{type_name(value)}'", node.line, node.column
            )
        return value

    # -- expressions -------------------------------------------------------------------------

    def step(self, node: ast.Node) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ExpressionBudgetExceeded(
                f"more than {MAX_STEPS} evaluation steps", node.line, node.column
            )

    def eval(self, node: ast.Node, env: dict[str, object]) -> object:
        self.step(node)
        try:
            if isinstance(node, ast.Member | ast.Index | ast.Call):
                try:
                    value = self.chain(node, env)
                except _ShortCircuit:
                    return None
            else:
                value = self._eval(node, env)
        except (ExpressionError, _Return):
            raise
        except SizeExceeded as exc:
            raise ExpressionBudgetExceeded(str(exc), node.line, node.column) from None
        except _FOREIGN_ERRORS as exc:
            raise ExpressionRuntimeError(str(exc), node.line, node.column) from None
        if isinstance(value, str | bytes | list) and len(value) > MAX_VALUE_SIZE:
            raise ExpressionBudgetExceeded(
                f"a value exceeds {MAX_VALUE_SIZE} elements", node.line, node.column
            )
        return value

    def chain(self, node: ast.Node, env: dict[str, object]) -> object:
        """Evaluate a member/index/call chain; `?.` and `?[` abort the whole chain."""
        if not isinstance(node, ast.Member | ast.Index | ast.Call):
            return self.eval(node, env)
        self.step(node)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node.target, ast.TypeRef):
            assert isinstance(node, ast.Member)
            return get_static(node.target.name, node.name, self.clock)
        target = self.chain(node.target, env)
        if target is None and node.null_safe:
            raise _ShortCircuit
        if isinstance(node, ast.Member):
            if (
                node.name == "Variables"
                and self.variables is not None
                and isinstance(node.target, ast.Name)
                and node.target.name == "context"
            ):
                return self.variables
            return get_property(target, node.name)
        keys = [self.eval(k, env) for k in node.args]
        if target is None:
            raise CSharpException("Object reference not set to an instance of an object")
        return index(target, keys)

    def call(self, node: ast.Call, env: dict[str, object]) -> object:
        member = node.target
        assert isinstance(member, ast.Member)
        args: list[object] = []
        named: dict[str, object] = {}
        for arg in node.args:
            if arg.out_name is not None:
                args.append(None)
            elif isinstance(arg.value, ast.Lambda):
                args.append(Closure(self, arg.value, env))
            elif arg.name is not None:
                named[arg.name] = self.eval(arg.value, env)
            else:
                args.append(self.eval(arg.value, env))
        if isinstance(member.target, ast.TypeRef):
            if named:
                raise CSharpException("named arguments are only supported on context members")
            result = call_static(member.target.name, member.name, args, node.type_args)
        else:
            target = self.chain(member.target, env)
            if target is None and member.null_safe:
                raise _ShortCircuit
            result = call_method(target, member.name, args, node.type_args, named)
        outs = [arg.out_name for arg in node.args if arg.out_name is not None]
        if isinstance(result, OutResult):
            for name, value in zip(outs, result.outs, strict=False):
                env[name] = value
            return result.value
        if outs:
            raise CSharpException(f"'{member.name}' has no out parameter")
        return result

    def _eval(self, node: ast.Node, env: dict[str, object]) -> object:
        if isinstance(node, ast.Literal):
            return node.value
        if isinstance(node, ast.Name):
            if node.name == "context":
                return self.context
            if node.name not in env:
                raise ExpressionRuntimeError(
                    f"use of unassigned local variable '{node.name}'", node.line, node.column
                )
            return env[node.name]
        if isinstance(node, ast.Binary):
            return self.binary(node, env)
        if isinstance(node, ast.Unary):
            return self.unary(node, self.eval(node.operand, env))
        if isinstance(node, ast.Conditional):
            branch = node.then if self.condition(node.condition, env) else node.otherwise
            return self.eval(branch, env)
        if isinstance(node, ast.Cast):
            return convert(self.eval(node.operand, env), node.type.name)
        if isinstance(node, ast.IsType):
            return is_instance(self.eval(node.operand, env), node.type.name)
        if isinstance(node, ast.AsType):
            value = self.eval(node.operand, env)
            return value if is_instance(value, node.type.name) else None
        if isinstance(node, ast.Interpolated):
            out: list[str] = []
            size = 0
            for part in node.parts:
                text = (
                    part
                    if isinstance(part, str)
                    else format_value(self.eval(part[0], env), part[1])
                )
                size += len(text)
                if size > MAX_VALUE_SIZE:
                    raise SizeExceeded(f"a value would exceed {MAX_VALUE_SIZE} elements")
                out.append(text)
            return "".join(out)
        if isinstance(node, ast.New):
            return self.new(node, env)
        if isinstance(node, ast.Lambda):
            return Closure(self, node, env)
        if isinstance(node, ast.TypeRef):
            raise CSharpException(f"type '{node.name}' cannot be used as a value")
        raise ExpressionError(f"unsupported node {type(node).__name__}", node.line, node.column)

    def new(self, node: ast.New, env: dict[str, object]) -> object:
        args = [self.eval(a.value, env) for a in node.args]
        items = [self.eval(i, env) for i in node.items] if node.items is not None else None
        name = node.type.name
        if node.type.array:
            if args or items is None:
                raise CSharpException("array creation needs an initializer")
            return items
        if name == "JObject":
            if items:
                raise CSharpException("collection initializers of JObject are not supported")
            if len(args) == 1 and isinstance(args[0], list):
                args = list(args[0])
            result = JObject()
            for arg in args:
                if not isinstance(arg, JProperty):
                    raise CSharpException("new JObject(...) takes JProperty arguments")
                result.items[arg.Name] = arg.Value
            return result
        if name == "JProperty" and len(args) == 2 and not items:
            value = args[1]
            token = value if isinstance(value, JToken) else to_token(plain(value))
            return JProperty(str(render(args[0])), token)
        if name == "JArray":
            values = (items or []) + args
            if len(values) == 1 and isinstance(values[0], list):
                values = list(values[0])
            return JArray([to_token(v) if not isinstance(v, JToken) else v for v in values])
        if name in ("List", "IList"):
            return list(items or (list(args[0]) if args and isinstance(args[0], list) else []))
        if name in ("Dictionary", "IDictionary") and not args and not items:
            return LocalDictionary()
        if name == "TimeSpan" and len(args) in (3, 4) and not items:
            numbers = [int(convert(a, "long")) for a in args]  # type: ignore[call-overload]
            days, rest = (numbers[0], numbers[1:]) if len(numbers) == 4 else (0, numbers)
            return timedelta(days=days, hours=rest[0], minutes=rest[1], seconds=rest[2])
        if name == "DateTime" and len(args) in (3, 6) and not items:
            parts = [int(convert(a, "int")) for a in args]  # type: ignore[call-overload]
            return datetime(*parts)
        raise CSharpException(f"'new {name}' with these arguments is not supported")

    # -- operators ---------------------------------------------------------------------------

    def unary(self, node: ast.Unary, value: object) -> object:
        if isinstance(value, JValue):
            value = value.value
        if node.op == "!":
            if not isinstance(value, bool):
                raise CSharpException(f"operator '!' cannot be applied to '{type_name(value)}'")
            return not value
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
            raise CSharpException(f"operator '{node.op}' cannot be applied to '{type_name(value)}'")
        if node.op == "-":
            return wrap_integer(-value) if isinstance(value, int) else -value
        return value

    def binary(self, node: ast.Binary, env: dict[str, object]) -> object:
        op = node.op
        if op == "&&":
            return self.condition(node.left, env) and self.condition(node.right, env)
        if op == "||":
            return self.condition(node.left, env) or self.condition(node.right, env)
        left = self.eval(node.left, env)
        if op == "??":
            return left if left is not None else self.eval(node.right, env)
        right = self.eval(node.right, env)
        return self.binary_value(op, left, right, node)

    def binary_value(self, op: str, left: object, right: object, node: ast.Node) -> object:
        if op == "==":
            return equals(left, right)
        if op == "!=":
            return not equals(left, right)
        if op == "+" and (isinstance(left, str) or isinstance(right, str)):
            # C# §12.10.5: string concatenation; a null operand is the empty string.
            if isinstance(left, str) and isinstance(right, str):
                total = len(left) + len(right)
            else:
                left, right = render(left), render(right)
                total = len(left) + len(right)
            if total > MAX_VALUE_SIZE:
                raise SizeExceeded(f"a value would exceed {MAX_VALUE_SIZE} elements")
            return f"{left}{right}"
        if isinstance(left, JValue):
            left = left.value
        if isinstance(right, JValue):
            right = right.value
        if left is None or right is None:
            # Lifted operators: arithmetic on null is null, comparisons are false.
            return False if op in ("<", ">", "<=", ">=") else None
        if op in ("<", ">", "<=", ">="):
            return _compare(op, left, right)
        return _arithmetic(op, left, right)


def _declared(value: object, type_ref: str) -> object:
    if type_ref in ("double", "float", "decimal") and isinstance(value, int):
        return float(value)
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: str, left: object, right: object) -> bool:
    if _is_number(left) and _is_number(right):
        a: object = left
        b: object = right
    elif isinstance(left, datetime) and isinstance(right, datetime):
        difference = subtract_datetimes(left, right)
        a, b = difference, timedelta(0)
    elif isinstance(left, timedelta) and isinstance(right, timedelta):
        a, b = left, right
    else:
        raise CSharpException(
            f"operator '{op}' cannot be applied to '{type_name(left)}' and '{type_name(right)}'"
        )
    if op == "<":
        return bool(a < b)  # type: ignore[operator]
    if op == ">":
        return bool(a > b)  # type: ignore[operator]
    if op == "<=":
        return bool(a <= b)  # type: ignore[operator]
    return bool(a >= b)  # type: ignore[operator]


def _arithmetic(op: str, left: object, right: object) -> object:
    if isinstance(left, int) and isinstance(right, int) and not isinstance(left | right, bool):
        if isinstance(left, bool) or isinstance(right, bool):
            raise CSharpException("arithmetic on bool")
        if op == "+":
            return wrap_integer(left + right)
        if op == "-":
            return wrap_integer(left - right)
        if op == "*":
            return wrap_integer(left * right)
        if right == 0:
            raise CSharpException("Attempted to divide by zero.")
        # C# §12.10.3: integer division truncates toward zero; the remainder has the
        # dividend's sign.
        quotient = abs(left) // abs(right)
        if (left < 0) != (right < 0):
            quotient = -quotient
        if op == "/":
            return wrap_integer(quotient)
        return left - right * quotient
    if _is_number(left) and _is_number(right):
        a, b = float(left), float(right)  # type: ignore[arg-type]
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                return (
                    math.nan
                    if a == 0 or math.isnan(a)
                    else math.copysign(math.inf, a) * (math.copysign(1, b))
                )
            return a / b
        if b == 0 or math.isinf(a):
            return math.nan
        return math.fmod(a, b)
    if isinstance(left, datetime):
        if op == "-" and isinstance(right, datetime):
            return subtract_datetimes(left, right)
        if op in ("+", "-") and isinstance(right, timedelta):
            return left + right if op == "+" else left - right
    if isinstance(left, timedelta) and isinstance(right, timedelta) and op in ("+", "-"):
        return left + right if op == "+" else left - right
    if isinstance(left, timedelta) and op == "+" and isinstance(right, datetime):
        return right + left
    raise CSharpException(
        f"operator '{op}' cannot be applied to '{type_name(left)}' and '{type_name(right)}'"
    )
