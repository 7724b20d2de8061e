"""The tree-walking evaluator: C# semantics over the Python values of `_values`.

The reference semantics of `_closures`, which compiles the same tree into closures and is what
`CompiledExpression` runs; this one is kept to test and measure that one against. Both count
the same steps and loop iterations against the budget of `_closures`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from . import _ast as ast
from . import _operators as operators
from ._closures import FOREIGN_ERRORS, MAX_LOOP_ITERATIONS, MAX_STEPS
from ._errors import ExpressionBudgetExceeded, ExpressionError, ExpressionRuntimeError
from ._members import (
    MAX_VALUE_SIZE,
    CSharpException,
    OutResult,
    SizeExceeded,
    call_method,
    call_static,
    construct,
    convert,
    format_value,
    get_property,
    get_static,
    index,
    is_instance,
    iterate,
    set_index,
    type_name,
)
from ._values import JValue

_FOREIGN_ERRORS = FOREIGN_ERRORS


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
                value = operators.declared(value, node.type.name)
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
            value: object = operators.binary(node.op[0], self.eval(node.target, env), 1)
        else:
            assert node.value is not None
            value = self.eval(node.value, env)
            if node.op != "=":
                value = operators.binary(node.op[0], self.eval(node.target, env), value)
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
        return construct(node.type.name, node.type.array, args, items)

    # -- operators ---------------------------------------------------------------------------

    def unary(self, node: ast.Unary, value: object) -> object:
        return operators.unary(node.op, value)

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
        return operators.binary(op, left, right)
