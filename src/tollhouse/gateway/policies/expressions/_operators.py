"""C#'s unary and binary operators over the Python values of `_values`.

Errors are `CSharpException` (or `SizeExceeded`); the evaluator adds the position.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ._members import (
    MAX_VALUE_SIZE,
    CSharpException,
    SizeExceeded,
    equals,
    subtract_datetimes,
    type_name,
    wrap_integer,
)
from ._values import JValue, render

COMPARISONS = frozenset({"<", ">", "<=", ">="})


def unary(op: str, value: object) -> object:
    if isinstance(value, JValue):
        value = value.value
    if op == "!":
        if not isinstance(value, bool):
            raise CSharpException(f"operator '!' cannot be applied to '{type_name(value)}'")
        return not value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | timedelta):
        raise CSharpException(f"operator '{op}' cannot be applied to '{type_name(value)}'")
    if op == "-":
        return wrap_integer(-value) if isinstance(value, int) else -value
    return value


def binary(op: str, left: object, right: object) -> object:
    """Every binary operator but the short-circuiting `&&`, `||` and `??`."""
    if op == "==":
        return equals(left, right)
    if op == "!=":
        return not equals(left, right)
    if op == "+" and (isinstance(left, str) or isinstance(right, str)):
        return concatenate(left, right)
    if isinstance(left, JValue):
        left = left.value
    if isinstance(right, JValue):
        right = right.value
    if left is None or right is None:
        # Lifted operators: arithmetic on null is null, comparisons are false.
        return False if op in COMPARISONS else None
    if op in COMPARISONS:
        return compare(op, left, right)
    return arithmetic(op, left, right)


def concatenate(left: object, right: object) -> str:
    """C# §12.10.5: string concatenation; a null operand is the empty string."""
    if isinstance(left, str) and isinstance(right, str):
        total = len(left) + len(right)
    else:
        left, right = render(left), render(right)
        total = len(left) + len(right)
    if total > MAX_VALUE_SIZE:
        raise SizeExceeded(f"a value would exceed {MAX_VALUE_SIZE} elements")
    return f"{left}{right}"


def declared(value: object, type_ref: str) -> object:
    """The value a local declared with an explicit type holds."""
    if type_ref in ("double", "float", "decimal") and isinstance(value, int):
        return float(value)
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare(op: str, left: object, right: object) -> bool:
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


def arithmetic(op: str, left: object, right: object) -> object:
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
