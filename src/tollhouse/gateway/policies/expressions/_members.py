"""The .NET members expressions may use, implemented over the values of `_values`.

The allow-list is the point: APIM only lets expressions reach a whitelisted set of .NET types
("Policy expressions": "only a whitelisted set of .NET types"), and so do we. A member outside
these tables is a compile error (methods) or a run-time error (properties of foreign values).

Objects the caller supplies (`context` and what hangs off it) are read by attribute: public
attributes whose names start with an upper-case letter, as C# names do. Their methods are
called with the generic type arguments first (`Body.As<JObject>(preserveContent: true)` →
`Body.As("JObject", preserveContent=True)`), then the positional arguments, then the named
arguments under their C# names.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from ._values import (
    DOTNET_EPOCH,
    GroupCollection,
    JArray,
    JObject,
    JProperty,
    JToken,
    JValue,
    Match,
    as_basic,
    as_jwt,
    datetime_ticks,
    format_datetime,
    format_timespan,
    json_text,
    make_match,
    parse_json,
    render,
    ticks_of,
    to_token,
)

# The largest string, byte array or collection a member may build; the evaluator checks
# every result against the same limit, members check before allocating.
MAX_VALUE_SIZE = 1024 * 1024

# Python's `re` cannot be interrupted, so instead of .NET's match timeout the input is bounded
# and patterns with nested quantifiers (the catastrophic-backtracking shape) are refused.
MAX_REGEX_INPUT = 64 * 1024
MAX_REGEX_PATTERN = 1024

STATIC_TYPES = frozenset(
    {
        "string", "String", "int", "Int32", "long", "Int64", "double", "Double", "bool",
        "Boolean", "decimal", "Math", "Convert", "DateTime", "TimeSpan", "Guid", "Regex",
        "RegexOptions", "Encoding", "Uri", "JObject", "JArray", "JToken", "StringComparison",
        "StringSplitOptions", "Formatting", "Newtonsoft.Json.Formatting",
    }
)  # fmt: skip
TYPE_NAMES = STATIC_TYPES | {
    "object", "Object", "float", "char", "byte", "JValue", "JProperty", "Jwt",
    "BasicAuthCredentials", "IEnumerable", "List", "IList", "Dictionary", "IDictionary",
    "KeyValuePair", "Match", "Group", "IResponse",
}  # fmt: skip

_ALIASES = {
    "String": "string", "Int32": "int", "Int64": "long", "Double": "double", "Boolean": "bool",
    "decimal": "double", "float": "double", "Object": "object",
    "Newtonsoft.Json.Formatting": "Formatting",
}  # fmt: skip

_STRING_METHODS = {
    "Substring", "IndexOf", "LastIndexOf", "Contains", "StartsWith", "EndsWith", "ToUpper",
    "ToLower", "ToUpperInvariant", "ToLowerInvariant", "Trim", "TrimStart", "TrimEnd",
    "Replace", "Split", "Equals", "PadLeft", "PadRight", "Remove", "Insert", "ToCharArray",
    "AsJwt", "AsBasic", "CompareTo",
}  # fmt: skip
_COLLECTION_METHODS = {
    "Count", "Contains", "ContainsKey", "TryGetValue", "GetValueOrDefault", "Where", "Select",
    "Any", "All", "First", "FirstOrDefault", "Last", "LastOrDefault", "ToArray", "ToList",
    "OrderBy", "OrderByDescending", "Skip", "Take", "Distinct", "Sum", "Min", "Max",
    "ElementAt", "Reverse",
}  # fmt: skip
_JSON_METHODS = {"Value", "Values", "Properties", "Property", "Add", "Remove", "SelectToken"}
_DATETIME_METHODS = {
    "AddSeconds", "AddMinutes", "AddHours", "AddDays", "AddMilliseconds", "AddTicks",
    "AddMonths", "AddYears", "Add", "Subtract", "ToUniversalTime", "ToLocalTime",
}  # fmt: skip
_STATIC_METHODS: dict[str, set[str]] = {
    "string": {"IsNullOrEmpty", "IsNullOrWhiteSpace", "Format", "Join", "Concat", "Equals",
               "Compare"},
    "int": {"Parse", "TryParse"},
    "long": {"Parse", "TryParse"},
    "double": {"Parse", "TryParse"},
    "bool": {"Parse", "TryParse"},
    "Math": {"Min", "Max", "Abs", "Floor", "Ceiling", "Round", "Pow", "Sqrt"},
    "Convert": {"ToBase64String", "FromBase64String", "ToInt32", "ToInt64", "ToString",
                "ToDouble", "ToBoolean"},
    "DateTime": {"Parse", "TryParse"},
    "TimeSpan": {"FromSeconds", "FromMinutes", "FromHours", "FromDays", "FromMilliseconds",
                 "FromTicks"},
    "Guid": {"NewGuid", "Parse", "TryParse"},
    "Regex": {"IsMatch", "Match", "Replace", "Escape", "Split"},
    "Uri": {"EscapeDataString", "UnescapeDataString"},
    "JObject": {"Parse", "FromObject"},
    "JArray": {"Parse", "FromObject"},
    "JToken": {"Parse", "FromObject"},
}  # fmt: skip
_CONTEXT_METHODS = {"As", "Trace", "GetBytes", "GetString", "ToString", "GetType"}

METHOD_NAMES = frozenset(
    _STRING_METHODS
    | _COLLECTION_METHODS
    | _JSON_METHODS
    | _DATETIME_METHODS
    | _CONTEXT_METHODS
    | {name for names in _STATIC_METHODS.values() for name in names}
)

_STATIC_PROPERTIES: dict[str, set[str]] = {
    "string": {"Empty"},
    "int": {"MaxValue", "MinValue"},
    "long": {"MaxValue", "MinValue"},
    "double": {"MaxValue", "MinValue", "NaN", "PositiveInfinity", "NegativeInfinity"},
    "DateTime": {"UtcNow", "Now", "Today", "MinValue", "MaxValue"},
    "TimeSpan": {"Zero"},
    "Guid": {"Empty"},
    "Math": {"PI", "E"},
    "Encoding": {"UTF8", "ASCII", "Unicode"},
    "StringComparison": {"Ordinal", "OrdinalIgnoreCase", "InvariantCulture",
                         "InvariantCultureIgnoreCase", "CurrentCulture",
                         "CurrentCultureIgnoreCase"},
    "StringSplitOptions": {"None", "RemoveEmptyEntries", "TrimEntries"},
    "RegexOptions": {"None", "IgnoreCase", "Multiline", "Singleline", "IgnorePatternWhitespace",
                     "ExplicitCapture", "CultureInvariant", "Compiled"},
    "Formatting": {"None", "Indented"},
}  # fmt: skip


_SECONDS_PER_UNIT = {
    "Seconds": 1.0,
    "Minutes": 60.0,
    "Hours": 3600.0,
    "Days": 86400.0,
    "Milliseconds": 0.001,
    "Ticks": 1e-7,
}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CSharpException(Exception):
    """What would be a .NET exception; the evaluator adds the position."""


class SizeExceeded(CSharpException):
    """A member would build a value larger than `MAX_VALUE_SIZE` (a budget, not a .NET error)."""


@dataclass(frozen=True)
class EnumValue:
    type: str
    name: str


@dataclass(frozen=True)
class TextEncoding:
    name: str

    def codec(self) -> str:
        return {"UTF8": "utf-8", "ASCII": "ascii", "Unicode": "utf-16-le"}[self.name]


class LocalDictionary(dict[object, object]):
    """A `new Dictionary<K, V>()` of the expression itself: the only writable dictionary."""


@dataclass(frozen=True)
class KeyValuePair:
    Key: object
    Value: object


@dataclass(frozen=True)
class OutResult:
    """A call with `out` arguments: the return value and the values of the out arguments."""

    value: object
    outs: tuple[object, ...]


Function = Callable[..., object]


def canonical_type(name: str) -> str:
    return _ALIASES.get(name, name)


# -- constructors --------------------------------------------------------------------------


def construct(name: str, array: bool, args: list[object], items: list[object] | None) -> object:
    """`new T(args) { items }` of the types expressions may create."""
    if array:
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


# -- static members ------------------------------------------------------------------------


def static_member_exists(type_name: str, name: str, is_call: bool) -> bool:
    table = _STATIC_METHODS if is_call else _STATIC_PROPERTIES
    return name in table.get(canonical_type(type_name), set())


def get_static(type_name: str, name: str, clock: Callable[[], datetime]) -> object:
    t = canonical_type(type_name)
    if name not in _STATIC_PROPERTIES.get(t, set()):
        raise CSharpException(f"'{type_name}' does not contain a definition for '{name}'")
    if t in ("StringComparison", "StringSplitOptions", "RegexOptions", "Formatting"):
        return EnumValue(t, name)
    if t == "Encoding":
        return TextEncoding(name)
    values: dict[tuple[str, str], Callable[[], object]] = {
        ("string", "Empty"): lambda: "",
        ("int", "MaxValue"): lambda: 2**31 - 1,
        ("int", "MinValue"): lambda: -(2**31),
        ("long", "MaxValue"): lambda: 2**63 - 1,
        ("long", "MinValue"): lambda: -(2**63),
        ("double", "MaxValue"): lambda: 1.7976931348623157e308,
        ("double", "MinValue"): lambda: -1.7976931348623157e308,
        ("double", "NaN"): lambda: math.nan,
        ("double", "PositiveInfinity"): lambda: math.inf,
        ("double", "NegativeInfinity"): lambda: -math.inf,
        ("DateTime", "UtcNow"): lambda: clock().astimezone(UTC),
        ("DateTime", "Now"): lambda: clock().astimezone(UTC),
        ("DateTime", "Today"): lambda: (
            clock().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        ),
        ("DateTime", "MinValue"): lambda: DOTNET_EPOCH,
        ("DateTime", "MaxValue"): lambda: datetime(9999, 12, 31, 23, 59, 59, 999999),
        ("TimeSpan", "Zero"): lambda: timedelta(0),
        ("Guid", "Empty"): lambda: uuid.UUID(int=0),
        ("Math", "PI"): lambda: math.pi,
        ("Math", "E"): lambda: math.e,
    }
    return values[(t, name)]()


def call_static(
    type_name: str, name: str, args: list[object], type_args: tuple[str, ...]
) -> object:
    t = canonical_type(type_name)
    if name not in _STATIC_METHODS.get(t, set()):
        raise CSharpException(f"'{type_name}' does not contain a method '{name}'")
    if t == "string":
        return _string_static(name, args)
    if name in ("Parse", "TryParse") and t in ("int", "long", "double", "bool", "DateTime", "Guid"):
        if name == "Parse":
            _arity(args, 1, 1)
            return parse_as(t, args[0])
        _arity(args, 2, 2)
        try:
            return OutResult(True, (parse_as(t, args[0]),))
        except (CSharpException, ValueError, OverflowError):
            return OutResult(False, (default_of(t),))
    if t == "Math":
        return _math(name, args)
    if t == "Convert":
        return _convert(name, args)
    if t == "TimeSpan":
        _arity(args, 1, 1)
        value = _number(args[0])
        return timedelta(seconds=value * _SECONDS_PER_UNIT[name.removeprefix("From")])
    if t == "Guid":
        return uuid.uuid4()
    if t == "Regex":
        return _regex(name, args)
    if t == "Uri":
        _arity(args, 1, 1)
        text = _str(args[0])
        if name == "EscapeDataString":
            return urllib.parse.quote(text, safe="-_.~")
        return urllib.parse.unquote(text)
    # JObject / JArray / JToken
    _arity(args, 1, 1)
    token = parse_json(_str(args[0])) if name == "Parse" else to_token(plain(args[0]))
    if t == "JObject" and not isinstance(token, JObject):
        raise CSharpException("Error reading JObject from JsonReader.")
    if t == "JArray" and not isinstance(token, JArray):
        raise CSharpException("Error reading JArray from JsonReader.")
    return token


def plain(value: object) -> object:
    if isinstance(value, JToken):
        return value.to_python()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _string_static(name: str, args: list[object]) -> object:
    if name == "IsNullOrEmpty":
        _arity(args, 1, 1)
        return args[0] is None or args[0] == ""
    if name == "IsNullOrWhiteSpace":
        _arity(args, 1, 1)
        return args[0] is None or _str(args[0]).strip() == ""
    if name == "Format":
        _arity(args, 1, 1000)
        values = args[1:]
        if len(values) == 1 and isinstance(values[0], list):
            values = list(values[0])
        return format_string(_str(args[0]), values)
    if name == "Join":
        _arity(args, 2, 1000)
        items = args[1:]
        if len(items) == 1 and _is_sequence(items[0]):
            items = list(_iterate(items[0]))
        return render(args[0]).join(render(v) for v in items)
    if name == "Concat":
        items = args
        if len(items) == 1 and _is_sequence(items[0]):
            items = list(_iterate(items[0]))
        return "".join(render(v) for v in items)
    if name == "Compare":
        _arity(args, 2, 3)
        a, b = args[0], args[1]
        if len(args) == 3 and _ignore_case(args[2]):
            a = None if a is None else _str(a).lower()
            b = None if b is None else _str(b).lower()
        if a is None or b is None:
            return 0 if a is b else (-1 if a is None else 1)
        sa, sb = _str(a), _str(b)
        return (sa > sb) - (sa < sb)
    _arity(args, 2, 3)
    return _string_equals(args[0], args[1], args[2] if len(args) == 3 else None)


def _math(name: str, args: list[object]) -> object:
    if name in ("Min", "Max", "Pow"):
        _arity(args, 2, 2)
        a, b = _number(args[0]), _number(args[1])
        if name == "Pow":
            return math.pow(a, b)
        result = min(a, b) if name == "Min" else max(a, b)
        return result
    if name == "Round":
        _arity(args, 1, 2)
        value = _number(args[0])
        digits = _int(args[1]) if len(args) == 2 else 0
        # .NET rounds half to even by default, as Python does.
        return float(round(value, digits)) if isinstance(value, float) else value
    _arity(args, 1, 1)
    value = _number(args[0])
    if name == "Abs":
        return abs(value)
    if name == "Sqrt":
        return math.sqrt(value) if value >= 0 else math.nan
    if isinstance(value, int):
        return value
    if math.isinf(value) or math.isnan(value):
        return value
    return float(math.floor(value) if name == "Floor" else math.ceil(value))


def _convert(name: str, args: list[object]) -> object:
    _arity(args, 1, 2)
    value = args[0]
    if name == "ToBase64String":
        if not isinstance(value, bytes):
            raise CSharpException("Convert.ToBase64String expects a byte[]")
        return base64.b64encode(value).decode("ascii")
    if name == "FromBase64String":
        try:
            return base64.b64decode(_str(value), validate=True)
        except (binascii.Error, ValueError):
            raise CSharpException("The input is not a valid Base-64 string.") from None
    if name == "ToString":
        return render(value)
    if value is None:
        return default_of({"ToInt32": "int", "ToInt64": "long", "ToDouble": "double",
                           "ToBoolean": "bool"}[name])  # fmt: skip
    target = {"ToInt32": "int", "ToInt64": "long", "ToDouble": "double", "ToBoolean": "bool"}
    if isinstance(value, str):
        return parse_as(target[name], value)
    if name == "ToBoolean":
        return bool(_number(value))
    number = _number(value)
    if name == "ToDouble":
        return float(number)
    # Convert.ToInt32(double) rounds half to even; a cast truncates.
    result = round(number) if isinstance(number, float) else number
    return _check_range(result, target[name])


def _check_range(value: int, type_name: str) -> int:
    bits = 32 if type_name == "int" else 64
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise CSharpException(f"Value was either too large or too small for an {type_name}.")
    return value


_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_REAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def parse_as(type_name: str, value: object) -> object:
    """int.Parse, long.Parse, double.Parse, bool.Parse, DateTime.Parse and Guid.Parse."""
    t = canonical_type(type_name)
    if value is None:
        raise CSharpException("Value cannot be null.")
    text = _str(value)
    if t in ("int", "long"):
        if not _INTEGER.fullmatch(text):
            raise CSharpException("Input string was not in a correct format.")
        return _check_range(int(text), t)
    if t == "double":
        if not _REAL.fullmatch(text):
            raise CSharpException("Input string was not in a correct format.")
        return float(text)
    if t == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise CSharpException("String was not recognized as a valid Boolean.")
        return lowered == "true"
    if t == "Guid":
        try:
            return uuid.UUID(text.strip())
        except ValueError:
            raise CSharpException("Unrecognized Guid format.") from None
    if t == "DateTime":
        try:
            parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise CSharpException("String was not recognized as a valid DateTime.") from None
        # DateTime.Parse converts an instant with an offset to local time; the gateway's is UTC.
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed
    raise CSharpException(f"cannot parse a {type_name}")


def default_of(type_name: str) -> object:
    t = canonical_type(type_name)
    return {"int": 0, "long": 0, "double": 0.0, "bool": False, "DateTime": DOTNET_EPOCH,
            "Guid": uuid.UUID(int=0)}.get(t)  # fmt: skip


# -- Regex ---------------------------------------------------------------------------------


def _regex(name: str, args: list[object]) -> object:
    if name == "Escape":
        _arity(args, 1, 1)
        return re.escape(_str(args[0]))
    if name == "Replace":
        _arity(args, 3, 4)
        pattern = compile_regex(_str(args[1]), args[3] if len(args) == 4 else None)
        text = _regex_input(args[0])
        replacement = args[2]
        if callable(replacement):
            function = replacement
            return pattern.sub(lambda m: render(function(make_match(m))), text)
        return pattern.sub(_dotnet_replacement(_str(replacement)), text)
    _arity(args, 2, 3)
    pattern = compile_regex(_str(args[1]), args[2] if len(args) == 3 else None)
    text = _regex_input(args[0])
    if name == "IsMatch":
        return pattern.search(text) is not None
    if name == "Split":
        return [part or "" for part in pattern.split(text)]
    return make_match(pattern.search(text))


def _regex_input(value: object) -> str:
    text = _str(value)
    if len(text) > MAX_REGEX_INPUT:
        raise CSharpException(f"regular expression input exceeds {MAX_REGEX_INPUT} characters")
    return text


_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)[*+{]")


def compile_regex(pattern: str, options: object) -> re.Pattern[str]:
    if len(pattern) > MAX_REGEX_PATTERN:
        raise CSharpException("regular expression pattern is too long")
    if _NESTED_QUANTIFIER.search(pattern):
        raise CSharpException("nested quantifiers (catastrophic backtracking) are not allowed")
    flags = 0
    if isinstance(options, EnumValue):
        flags = {"IgnoreCase": re.IGNORECASE, "Multiline": re.MULTILINE,
                 "Singleline": re.DOTALL, "IgnorePatternWhitespace": re.VERBOSE}.get(
            options.name, 0)  # fmt: skip
    return _compile(pattern, flags)


@lru_cache(maxsize=128)
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    # .NET named groups `(?<name>…)` are `(?P<name>…)` in Python.
    translated = re.sub(r"\(\?<(?![=!])", "(?P<", pattern)
    try:
        return re.compile(translated, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise CSharpException(f"Invalid pattern '{pattern}': {exc}") from None


def _dotnet_replacement(replacement: str) -> Callable[[re.Match[str]], str]:
    tokens = re.findall(r"\$\$|\$\{\w+\}|\$\d+|\$0|[^$]+|\$", replacement)

    def expand(match: re.Match[str]) -> str:
        out: list[str] = []
        for token in tokens:
            if token == "$$":
                out.append("$")
            elif token.startswith("${"):
                name = token[2:-1]
                out.append(_group(match, int(name) if name.isdigit() else name, token))
            elif token.startswith("$") and token[1:].isdigit():
                out.append(_group(match, int(token[1:]), token))
            else:
                out.append(token)
        return "".join(out)

    return expand


def _group(match: re.Match[str], key: int | str, literal: str) -> str:
    try:
        return match.group(key) or ""
    except IndexError:
        return literal


# -- string.Format -------------------------------------------------------------------------

_FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}|[{}]")


def format_string(fmt: str, values: list[object]) -> str:
    def item(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole in ("{{", "}}"):
            return whole[0]
        if match.group(1) is None:
            raise CSharpException("Input string was not in a correct format.")
        index = int(match.group(1))
        if index >= len(values):
            raise CSharpException(
                "Index (zero based) must be greater than or equal to zero and less than the "
                "size of the argument list."
            )
        text = format_value(values[index], match.group(3))
        width = int(match.group(2) or 0)
        _check_size(abs(width))
        return text.rjust(width) if width > 0 else text.ljust(-width)

    return _FORMAT_ITEM.sub(item, fmt)


def format_value(value: object, fmt: str | None) -> str:
    """`value.ToString(format)` for the standard numeric and date formats."""
    if not fmt:
        return render(value)
    if isinstance(value, JValue):
        value = value.value
    if isinstance(value, datetime):
        return format_datetime(value, fmt)
    if isinstance(value, timedelta):
        return format_timespan(value, fmt)
    if isinstance(value, uuid.UUID):
        if fmt in ("N", "n"):
            return value.hex
        if fmt in ("D", "d"):
            return str(value)
        if fmt in ("B", "b"):
            return "{" + str(value) + "}"
        raise CSharpException('Format string can be only "D", "d", "N", "n", ...')
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _format_number(value, fmt)
    return render(value)


def _format_number(value: int | float, fmt: str) -> str:
    kind, digits_text = fmt[0].upper(), fmt[1:]
    if digits_text and not digits_text.isdigit():
        return _custom_number(value, fmt)
    digits = int(digits_text) if digits_text else None
    if digits is not None and digits > _MAX_FORMAT_DIGITS:
        raise CSharpException("Format specifier precision is too large.")
    if kind == "D" and isinstance(value, int):
        text = str(abs(value)).zfill(digits or 0)
        return ("-" if value < 0 else "") + text
    if kind == "X" and isinstance(value, int):
        text = format(value if value >= 0 else value + 2**64, "x").zfill(digits or 0)
        return text.upper() if fmt[0] == "X" else text
    if kind == "F":
        return f"{value:.{2 if digits is None else digits}f}"
    if kind == "N":
        return f"{value:,.{2 if digits is None else digits}f}"
    if kind == "P":
        return f"{value * 100:,.{2 if digits is None else digits}f} %"
    if kind == "G" and digits is None:
        return render(value)
    if kind == "E":
        text = f"{value:.{6 if digits is None else digits}E}"
        mantissa, exponent = text.split("E")
        return f"{mantissa}E{exponent[0]}{exponent[1:].zfill(3)}"
    return _custom_number(value, fmt)


_MAX_FORMAT_DIGITS = 999  # .NET Core 2.1+ allows 999,999,999; nothing real needs more than this


def _custom_number(value: int | float, fmt: str) -> str:
    if re.fullmatch(r"[0#,]*(\.[0#]+)?", fmt):
        integer, _, fraction = fmt.partition(".")
        places = len(fraction)
        minimum = fraction.count("0")
        grouping = "," if "," in integer else ""
        text = f"{value:{grouping}.{places}f}"
        if places > minimum and "." in text:
            head, tail = text.split(".")
            tail = tail.rstrip("0").ljust(minimum, "0")
            text = head + ("." + tail if tail else "")
        width = integer.replace(",", "").count("0")
        head, dot, tail = text.partition(".")
        sign = "-" if head.startswith("-") else ""
        head = head.lstrip("-").zfill(width) if width else head.lstrip("-")
        if width == 0 and head == "0" and not integer:
            head = ""
        return sign + head + dot + tail
    raise CSharpException("Input string was not in a correct format.")


# -- instance members ----------------------------------------------------------------------


# Types whose properties `get_property` reads as attributes (the caller's objects, and values
# like `Jwt` and `Match`) and whose methods `call_method` calls as Python methods (the caller's
# objects): learnt as they are met, so that the common case costs a set lookup rather than the
# chain of isinstance checks (several against ABCs) that decides it the first time. Bounded,
# as a caller could make types without end.
ATTRIBUTE_TYPES: set[type] = set()
FOREIGN_TYPES: set[type] = set()
_MAX_LEARNT_TYPES = 1024
MISSING = object()


def _learn(types: set[type], obj: object) -> None:
    if len(types) < _MAX_LEARNT_TYPES:
        types.add(type(obj))


def get_property(obj: object, name: str) -> object:
    if type(obj) in ATTRIBUTE_TYPES:
        return _attribute(obj, name)
    if obj is None:
        raise CSharpException(f"Object reference not set to an instance of an object ('{name}')")
    if isinstance(obj, str | bytes):
        if name == "Length":
            return len(obj)
    elif isinstance(obj, JObject):
        if name == "Count":
            return len(obj.items)
        if name == "Type":
            return "Object"
    elif isinstance(obj, JArray):
        if name == "Count":
            return len(obj.items)
        if name == "Type":
            return "Array"
    elif isinstance(obj, JValue):
        if name == "Type":
            return _json_type(obj.value)
        if name == "Value":
            return obj.value
    elif isinstance(obj, list | tuple):
        if name in ("Count", "Length"):
            return len(obj)
    elif isinstance(obj, Mapping):
        if name == "Count":
            return len(obj)
        if name == "Keys":
            return list(obj.keys())
        if name == "Values":
            return list(obj.values())
    elif isinstance(obj, datetime):
        return _datetime_property(obj, name)
    elif isinstance(obj, timedelta):
        return _timespan_property(obj, name)
    elif isinstance(obj, int | float | bool | uuid.UUID):
        pass
    else:
        _learn(ATTRIBUTE_TYPES, obj)
        return _attribute(obj, name)
    raise CSharpException(f"'{type_name(obj)}' does not contain a definition for '{name}'")


def _attribute(obj: object, name: str) -> object:
    if public_name(name):
        value = getattr(obj, name, MISSING)
        if value is not MISSING and not callable(value):  # methods and classes are not values
            return value
    raise CSharpException(f"'{type_name(obj)}' does not contain a definition for '{name}'")


def public_name(name: str) -> bool:
    return bool(name) and name[0].isupper() and not name.startswith("_")


def _json_type(value: object) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    return "String"


def _datetime_property(value: datetime, name: str) -> object:
    simple: dict[str, Callable[[], object]] = {
        "Year": lambda: value.year,
        "Month": lambda: value.month,
        "Day": lambda: value.day,
        "Hour": lambda: value.hour,
        "Minute": lambda: value.minute,
        "Second": lambda: value.second,
        "Millisecond": lambda: value.microsecond // 1000,
        "Ticks": lambda: datetime_ticks(value),
        "Date": lambda: value.replace(hour=0, minute=0, second=0, microsecond=0),
        "DayOfWeek": lambda: _DAYS[value.weekday()],
        "DayOfYear": lambda: value.timetuple().tm_yday,
        "TimeOfDay": lambda: value - value.replace(hour=0, minute=0, second=0, microsecond=0),
    }
    if name not in simple:
        raise CSharpException(f"'DateTime' does not contain a definition for '{name}'")
    return simple[name]()


def _timespan_property(value: timedelta, name: str) -> object:
    ticks = ticks_of(value)
    whole = int(ticks / 10_000)  # milliseconds, truncated toward zero as .NET does
    simple: dict[str, Callable[[], object]] = {
        "TotalSeconds": lambda: ticks / 1e7,
        "TotalMinutes": lambda: ticks / 6e8,
        "TotalHours": lambda: ticks / 3.6e10,
        "TotalDays": lambda: ticks / 8.64e11,
        "TotalMilliseconds": lambda: ticks / 1e4,
        "Ticks": lambda: ticks,
        "Days": lambda: int(whole / 86_400_000),
        "Hours": lambda: int(whole / 3_600_000) % 24 if whole >= 0 else -(-whole // 3_600_000 % 24),
        "Minutes": lambda: int(whole / 60_000) % 60 if whole >= 0 else -(-whole // 60_000 % 60),
        "Seconds": lambda: int(whole / 1000) % 60 if whole >= 0 else -(-whole // 1000 % 60),
        "Milliseconds": lambda: whole % 1000 if whole >= 0 else -(-whole % 1000),
    }
    if name not in simple:
        raise CSharpException(f"'TimeSpan' does not contain a definition for '{name}'")
    return simple[name]()


def type_name(obj: object) -> str:
    for python_type, name in (
        (bool, "Boolean"), (int, "Int32"), (float, "Double"), (str, "String"),
        (datetime, "DateTime"), (timedelta, "TimeSpan"), (uuid.UUID, "Guid"), (bytes, "Byte[]"),
        (JObject, "JObject"), (JArray, "JArray"), (JValue, "JValue"), (list, "Array"),
    ):  # fmt: skip
        if isinstance(obj, python_type):
            return name
    return type(obj).__name__


def index(obj: object, keys: list[object]) -> object:
    if len(keys) != 1:
        raise CSharpException("multi-dimensional indexers are not supported")
    key = keys[0]
    if type(obj) is JObject and type(key) is str:  # the common case, decided as below
        return obj.items.get(key)
    if isinstance(obj, JValue):
        raise CSharpException(f"Cannot access child value on {_json_type(obj.value)}.")
    if isinstance(obj, JObject):
        return obj.items.get(_str(key))
    if isinstance(obj, JArray):
        return obj.items[_index_int(key, len(obj.items))]
    if isinstance(obj, str | list | tuple | bytes):
        return obj[_index_int(key, len(obj))]
    if isinstance(obj, Match):
        raise CSharpException("Match has no indexer; use Groups[...]")
    if isinstance(obj, GroupCollection):
        return obj.get(key)
    if isinstance(obj, Mapping):
        found, value = _lookup(obj, key)
        if not found:
            raise CSharpException(
                f"The given key '{render(key)}' was not present in the dictionary."
            )
        return value
    raise CSharpException(f"Cannot apply indexing to '{type_name(obj)}'")


def set_index(obj: object, keys: list[object], value: object) -> None:
    if len(keys) != 1:
        raise CSharpException("multi-dimensional indexers are not supported")
    key = keys[0]
    if isinstance(obj, JObject):
        obj.items[_str(key)] = to_token(plain(value)) if not isinstance(value, JToken) else value
    elif isinstance(obj, JArray):
        obj.items[_index_int(key, len(obj.items))] = to_token(plain(value))
    elif isinstance(obj, LocalDictionary):
        obj[key] = value
    else:
        # The caller's collections (headers, variables, …) are read-only to expressions, as
        # APIM exposes them as IReadOnlyDictionary.
        raise CSharpException(f"Property or indexer of '{type_name(obj)}' cannot be assigned")


def _index_int(key: object, length: int) -> int:
    if isinstance(key, bool) or not isinstance(key, int):
        raise CSharpException("an index must be an integer")
    if not 0 <= key < length:
        raise CSharpException("Index was outside the bounds of the array.")
    return key


def _lookup(mapping: Mapping[object, object], key: object) -> tuple[bool, object]:
    if key in mapping:
        return True, mapping[key]
    if isinstance(key, str):
        # Header and variable names: the gateway's dictionaries are case-insensitive.
        folded = key.casefold()
        for candidate, value in mapping.items():
            if isinstance(candidate, str) and candidate.casefold() == folded:
                return True, value
    return False, None


def call_method(
    obj: object,
    name: str,
    args: list[object],
    type_args: tuple[str, ...],
    named: dict[str, object],
) -> object:
    # The common cases first; each returns what the checks below would decide.
    kind = type(obj)
    if kind in FOREIGN_TYPES and name not in _SPECIAL_METHODS and public_name(name):
        method = getattr(obj, name, None)
        if callable(method):
            return _call_foreign(method, name, args, type_args, named)
    elif kind is str and not named and name != "GetType" and name != "ToString":
        return _string_method(obj, name, args)  # type: ignore[arg-type]
    elif (kind is dict or kind is list) and not named and name in _COLLECTION_METHODS:
        return _collection_method(obj, name, args, type_args)
    if name == "GetType":
        raise CSharpException("reflection is not allowed in expressions")
    if obj is None:
        raise CSharpException(f"Object reference not set to an instance of an object ('{name}')")
    if named and not _is_foreign(obj):
        raise CSharpException(f"named arguments are not supported for '{name}'")
    if name == "ToString" and _is_foreign(obj) and callable(getattr(obj, "ToString", None)):
        return obj.ToString(*args)  # type: ignore[attr-defined]
    if name == "ToString":
        _arity(args, 0, 1)
        if isinstance(obj, JToken) and args:
            return json_text(obj, indented=not _enum_is(args[0], "None"))
        return format_value(obj, _str(args[0]) if args and args[0] is not None else None)
    if name == "Equals" and not isinstance(obj, str):
        _arity(args, 1, 1)
        return equals(obj, args[0])
    if isinstance(obj, str):
        return _string_method(obj, name, args)
    if isinstance(obj, datetime):
        return _datetime_method(obj, name, args)
    if isinstance(obj, timedelta) and name in ("Add", "Subtract"):
        _arity(args, 1, 1)
        other = args[0]
        if not isinstance(other, timedelta):
            raise CSharpException("TimeSpan.Add expects a TimeSpan")
        return obj + other if name == "Add" else obj - other
    if isinstance(obj, TextEncoding) and name in ("GetBytes", "GetString"):
        _arity(args, 1, 1)
        try:
            if name == "GetBytes":
                return _str(args[0]).encode(obj.codec())
            data = args[0]
            if not isinstance(data, bytes):
                raise CSharpException("GetString expects a byte[]")
            return data.decode(obj.codec(), errors="replace")
        except UnicodeEncodeError:
            return _str(args[0]).encode(obj.codec(), errors="replace").replace(b"?", b"?")
    if isinstance(obj, JToken) and name in _JSON_METHODS:
        return _json_method(obj, name, args, type_args)
    if name in _COLLECTION_METHODS and (_is_sequence(obj) or isinstance(obj, Mapping)):
        return _collection_method(obj, name, args, type_args)
    if _is_foreign(obj) and public_name(name):
        method = getattr(obj, name, None)
        if callable(method):
            return _call_foreign(method, name, args, type_args, named)
    raise CSharpException(f"'{type_name(obj)}' does not contain a method '{name}'")


# Methods `call_method` treats alike whatever the object.
_SPECIAL_METHODS = frozenset({"GetType", "ToString", "Equals"})


def _call_foreign(
    method: Callable[..., object],
    name: str,
    args: list[object],
    type_args: tuple[str, ...],
    named: dict[str, object],
) -> object:
    result = method(*type_args, *args, **named)
    if type_args and name == "As":
        return convert(result, type_args[0])
    return result


def _is_foreign(obj: object) -> bool:
    if type(obj) in FOREIGN_TYPES:
        return True
    foreign = not isinstance(
        obj,
        str
        | bytes
        | int
        | float
        | list
        | tuple
        | Mapping
        | datetime
        | timedelta
        | uuid.UUID
        | JToken
        | TextEncoding
        | EnumValue
        | KeyValuePair
        | Match,
    )
    if foreign and obj is not None:
        _learn(FOREIGN_TYPES, obj)
    return foreign


def _enum_is(value: object, name: str) -> bool:
    return isinstance(value, EnumValue) and value.name == name


def _ignore_case(value: object) -> bool:
    if not isinstance(value, EnumValue) or value.type != "StringComparison":
        raise CSharpException("expected a StringComparison")
    return value.name.endswith("IgnoreCase")


def _string_equals(a: object, b: object, comparison: object) -> bool:
    if a is None or b is None:
        return a is b
    sa, sb = _str(a), _str(b)
    if comparison is not None and _ignore_case(comparison):
        return sa.casefold() == sb.casefold()
    return sa == sb


def _string_method(s: str, name: str, args: list[object]) -> object:
    if name == "AsJwt":
        _arity(args, 0, 0)
        return as_jwt(s)
    if name == "AsBasic":
        _arity(args, 0, 0)
        return as_basic(s)
    if name == "Equals":
        _arity(args, 1, 2)
        return _string_equals(s, args[0], args[1] if len(args) == 2 else None)
    if name == "Substring":
        _arity(args, 1, 2)
        start = _int(args[0])
        length = _int(args[1]) if len(args) == 2 else len(s) - start
        if start < 0 or length < 0 or start + length > len(s):
            raise CSharpException("Index and length must refer to a location within the string.")
        return s[start : start + length]
    if name in ("IndexOf", "LastIndexOf", "Contains", "StartsWith", "EndsWith"):
        _arity(args, 1, 2)
        needle = _str(args[0])
        haystack = s
        from_index: int | None = None
        if len(args) == 2:
            if isinstance(args[1], EnumValue):
                if _ignore_case(args[1]):
                    needle, haystack = needle.casefold(), s.casefold()
            else:
                from_index = _int(args[1])
                if not 0 <= from_index <= len(s):
                    raise CSharpException("startIndex must be within the string.")
        if name == "IndexOf":
            return haystack.find(needle, from_index or 0)
        if name == "LastIndexOf":
            return (
                haystack.rfind(needle)
                if from_index is None
                else haystack.rfind(needle, 0, from_index + 1)
            )
        if name == "Contains":
            return needle in haystack
        return haystack.startswith(needle) if name == "StartsWith" else haystack.endswith(needle)
    if name in ("ToUpper", "ToUpperInvariant"):
        return s.upper()
    if name in ("ToLower", "ToLowerInvariant"):
        return s.lower()
    if name in ("Trim", "TrimStart", "TrimEnd"):
        chars = "".join(_str(c) for c in _flatten(args)) or None
        if name == "Trim":
            return s.strip(chars)
        return s.lstrip(chars) if name == "TrimStart" else s.rstrip(chars)
    if name == "Replace":
        _arity(args, 2, 2)
        old = _str(args[0])
        if old == "":
            raise CSharpException("String cannot be of zero length.")
        new = render(args[1])
        _check_size(len(s) + s.count(old) * max(0, len(new) - len(old)))
        return s.replace(old, new)
    if name == "Split":
        return _split(s, args)
    if name in ("PadLeft", "PadRight"):
        _arity(args, 1, 2)
        width = _int(args[0])
        _check_size(width)
        fill = _str(args[1]) if len(args) == 2 else " "
        return s.rjust(width, fill) if name == "PadLeft" else s.ljust(width, fill)
    if name == "Remove":
        _arity(args, 1, 2)
        start = _int(args[0])
        count = _int(args[1]) if len(args) == 2 else len(s) - start
        if start < 0 or count < 0 or start + count > len(s):
            raise CSharpException("Index and count must refer to a location within the string.")
        return s[:start] + s[start + count :]
    if name == "Insert":
        _arity(args, 2, 2)
        at = _int(args[0])
        if not 0 <= at <= len(s):
            raise CSharpException("Index must be within the string.")
        return s[:at] + _str(args[1]) + s[at:]
    if name == "ToCharArray":
        return list(s)
    if name == "CompareTo":
        _arity(args, 1, 1)
        if args[0] is None:
            return 1
        other = _str(args[0])
        return (s > other) - (s < other)
    if name in _COLLECTION_METHODS:
        return _collection_method(list(s), name, args, ())
    raise CSharpException(f"'String' does not contain a method '{name}'")


def _split(s: str, args: list[object]) -> list[str]:
    remove_empty = False
    trim = False
    separators: list[str] = []
    for arg in args:
        if isinstance(arg, EnumValue):
            remove_empty = remove_empty or arg.name == "RemoveEmptyEntries"
            trim = trim or arg.name == "TrimEntries"
        elif isinstance(arg, int) and not isinstance(arg, bool):
            raise CSharpException("Split with a count is not supported")
        else:
            separators.extend(_str(x) for x in _flatten([arg]))
    separators = [sep for sep in separators if sep]
    if not separators:
        parts = re.split(r"\s", s)
    else:
        parts = re.split("|".join(re.escape(sep) for sep in separators), s)
    if trim:
        parts = [p.strip() for p in parts]
    if remove_empty:
        parts = [p for p in parts if p]
    return parts


def _flatten(args: list[object]) -> list[object]:
    out: list[object] = []
    for arg in args:
        if isinstance(arg, list | tuple):
            out.extend(arg)
        else:
            out.append(arg)
    return out


def _datetime_method(value: datetime, name: str, args: list[object]) -> object:
    if name in ("ToUniversalTime", "ToLocalTime"):
        _arity(args, 0, 0)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    _arity(args, 1, 1)
    if name in ("Add", "Subtract"):
        other = args[0]
        if isinstance(other, timedelta):
            return value + other if name == "Add" else value - other
        if name == "Subtract" and isinstance(other, datetime):
            return subtract_datetimes(value, other)
        raise CSharpException(f"DateTime.{name} expects a TimeSpan")
    amount = _number(args[0])
    try:
        if name in ("AddMonths", "AddYears"):
            months = _int(args[0]) * (12 if name == "AddYears" else 1)
            total = value.year * 12 + value.month - 1 + months
            year, month = divmod(total, 12)
            day = min(value.day, _days_in_month(year, month + 1))
            return value.replace(year=year, month=month + 1, day=day)
        seconds = _SECONDS_PER_UNIT[name.removeprefix("Add")]
        return value + timedelta(seconds=amount * seconds)
    except (OverflowError, ValueError):
        raise CSharpException(
            "The added or subtracted value results in an un-representable DateTime."
        ) from None


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days


def subtract_datetimes(a: datetime, b: datetime) -> timedelta:
    if (a.tzinfo is None) != (b.tzinfo is None):
        # .NET subtracts ticks regardless of Kind; treat the unspecified one as UTC.
        a = a if a.tzinfo else a.replace(tzinfo=UTC)
        b = b if b.tzinfo else b.replace(tzinfo=UTC)
    return a - b


def _json_method(
    token: JToken, name: str, args: list[object], type_args: tuple[str, ...]
) -> object:
    if name == "Value":
        _arity(args, 1, 1)
        child = index(token, args)
        return convert(child, type_args[0]) if type_args else child
    if name == "Values":
        children = list(token.items.values()) if isinstance(token, JObject) else _iterate(token)
        return [convert(c, type_args[0]) if type_args else c for c in children]
    if name == "Properties" and isinstance(token, JObject):
        return [JProperty(k, v) for k, v in token.items.items()]
    if name == "Property" and isinstance(token, JObject):
        _arity(args, 1, 1)
        key = _str(args[0])
        return JProperty(key, token.items[key]) if key in token.items else None
    if name == "Add" and isinstance(token, JObject):
        _arity(args, 2, 2)
        key = _str(args[0])
        if key in token.items:
            raise CSharpException(f"Can not add property {key} to JObject; it already exists.")
        token.items[key] = to_token(plain(args[1]))
        return None
    if name == "Add" and isinstance(token, JArray):
        _arity(args, 1, 1)
        token.items.append(to_token(plain(args[0])))
        return None
    if name == "Remove" and isinstance(token, JObject):
        _arity(args, 1, 1)
        return token.items.pop(_str(args[0]), None) is not None
    if name == "SelectToken":
        _arity(args, 1, 1)
        return select_token(token, _str(args[0]))
    raise CSharpException(f"'{type_name(token)}' does not contain a method '{name}'")


_PATH_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]")


def select_token(token: JToken, path: str) -> object:
    """SelectToken for plain paths (`a.b[0]['c d']`); JSONPath filters are not supported."""
    current: JToken | None = token
    position = 0
    path = path.removeprefix("$")
    while position < len(path):
        match = _PATH_PART.match(path, position)
        if match is None or match.end() == position:
            raise CSharpException(f"unsupported JSON path '{path}'")
        position = match.end()
        if current is None:
            return None
        if match.group(2) is not None:
            if not isinstance(current, JArray):
                return None
            i = int(match.group(2))
            current = current.items[i] if i < len(current.items) else None
        else:
            key = match.group(1) if match.group(1) is not None else match.group(3)
            if key in ("*",) or not isinstance(current, JObject):
                return None
            current = current.items.get(key)
    return current


def _is_sequence(obj: object) -> bool:
    return isinstance(obj, list | tuple | JArray | JObject | bytes)


def _iterate(obj: object) -> list[object]:
    if isinstance(obj, JArray):
        return list(obj.items)
    if isinstance(obj, JObject):
        return [JProperty(k, v) for k, v in obj.items.items()]
    if isinstance(obj, Mapping):
        return [KeyValuePair(k, v) for k, v in obj.items()]
    if isinstance(obj, str | list | tuple | bytes):
        return list(obj)
    raise CSharpException(f"'{type_name(obj)}' is not enumerable")


def iterate(obj: object) -> list[object]:
    if obj is None:
        raise CSharpException("Object reference not set to an instance of an object")
    return _iterate(obj)


def _collection_method(
    obj: object, name: str, args: list[object], type_args: tuple[str, ...]
) -> object:
    if isinstance(obj, Mapping) and not isinstance(obj, JToken):
        if name == "ContainsKey":
            _arity(args, 1, 1)
            return _lookup(obj, args[0])[0]
        if name == "TryGetValue":
            _arity(args, 2, 2)
            found, value = _lookup(obj, args[0])
            return OutResult(found, (value,))
        if name == "GetValueOrDefault":
            _arity(args, 1, 2)
            found, value = _lookup(obj, args[0])
            if not found:
                return args[1] if len(args) == 2 else default_of(type_args[0] if type_args else "")
            # APIM: for headers "the value of the header, comma-separated" when repeated.
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                value = ",".join(str(v) for v in value)
            return convert(value, type_args[0]) if type_args else value
    items = _iterate(obj)
    function: Function | None = None
    if args and callable(args[-1]):
        function = args[-1]
    if name in ("Count", "Any", "All", "First", "FirstOrDefault", "Last", "LastOrDefault"):
        if function is not None:
            if name == "All":
                return all(_truth(function(x)) for x in items)
            items = [x for x in items if _truth(function(x))]
        elif name == "All":
            raise CSharpException("All needs a predicate")
        if name == "Count":
            return len(items)
        if name == "Any":
            return bool(items)
        if name in ("First", "Last"):
            if not items:
                raise CSharpException("Sequence contains no matching element")
            return items[0] if name == "First" else items[-1]
        if not items:
            return None
        return items[0] if name == "FirstOrDefault" else items[-1]
    if name == "Where":
        _need(function, name)
        assert function is not None
        return [x for x in items if _truth(function(x))]
    if name == "Select":
        _need(function, name)
        assert function is not None
        return [function(x) for x in items]
    if name in ("OrderBy", "OrderByDescending"):
        _need(function, name)
        assert function is not None
        keyed = [(_sort_key(function(x)), i, x) for i, x in enumerate(items)]
        keyed.sort(key=lambda t: (t[0], t[1]), reverse=name == "OrderByDescending")
        return [x for _, _, x in keyed]
    if name in ("ToArray", "ToList"):
        return items
    if name == "Contains":
        _arity(args, 1, 1)
        if isinstance(obj, Mapping):
            raise CSharpException("use ContainsKey on a dictionary")
        return any(equals(x, args[0]) for x in items)
    if name in ("Skip", "Take"):
        _arity(args, 1, 1)
        count = max(0, _int(args[0]))
        return items[count:] if name == "Skip" else items[:count]
    if name == "Distinct":
        out: list[object] = []
        for x in items:
            if not any(equals(x, y) for y in out):
                out.append(x)
        return out
    if name == "Reverse":
        return list(reversed(items))
    if name == "ElementAt":
        _arity(args, 1, 1)
        return items[_index_int(args[0], len(items))]
    if name in ("Sum", "Min", "Max"):
        values = [function(x) if function else x for x in items]
        numbers = [_number(v) for v in values]
        if name == "Sum":
            return sum(numbers)
        if not numbers:
            raise CSharpException("Sequence contains no elements")
        return min(numbers) if name == "Min" else max(numbers)
    raise CSharpException(f"'{type_name(obj)}' does not contain a method '{name}'")


def _need(function: Function | None, name: str) -> None:
    if function is None:
        raise CSharpException(f"{name} needs a lambda")


def _sort_key(value: object) -> tuple[int, object]:
    value = value.value if isinstance(value, JValue) else value
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, datetime):
        return (3, datetime_ticks(value))
    raise CSharpException(f"cannot order values of type '{type_name(value)}'")


# -- conversions ---------------------------------------------------------------------------


def _truth(value: object) -> bool:
    if not isinstance(value, bool):
        raise CSharpException("a predicate must return a bool")
    return value


def equals(a: object, b: object) -> bool:
    """C# `==` / Equals: ordinal for strings, numeric across int and double."""
    if isinstance(a, JValue):
        a = a.value
    if isinstance(b, JValue):
        b = b.value
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, datetime) and isinstance(b, datetime):
        return subtract_datetimes(a, b) == timedelta(0)
    if type(a) is type(b) and isinstance(
        a, str | timedelta | uuid.UUID | bytes | EnumValue | KeyValuePair
    ):
        return a == b
    return a is b


def _str(value: object) -> str:
    if isinstance(value, JValue) and isinstance(value.value, str):
        return value.value
    if not isinstance(value, str):
        raise CSharpException(f"expected a string, got '{type_name(value)}'")
    return value


def _int(value: object) -> int:
    if isinstance(value, JValue):
        value = value.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise CSharpException(f"expected an integer, got '{type_name(value)}'")
    return value


def _number(value: object) -> int | float:
    if isinstance(value, JValue):
        value = value.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CSharpException(f"expected a number, got '{type_name(value)}'")
    return value


def _check_size(size: int) -> None:
    if size > MAX_VALUE_SIZE:
        raise SizeExceeded(f"a value would exceed {MAX_VALUE_SIZE} elements")


def _arity(args: list[object], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        raise CSharpException(f"wrong number of arguments ({len(args)})")


def convert(value: object, type_ref: str) -> object:
    """An explicit cast `(T)value`, `Value<T>`, `As<T>` and `GetValueOrDefault<T>`."""
    t = canonical_type(type_ref)
    if t in ("JObject", "JArray", "JToken"):
        if isinstance(value, str):
            value = parse_json(value)
        elif not isinstance(value, JToken) and value is not None:
            value = to_token(plain(value))
        if value is None or t == "JToken" or type_name(value) == t:
            return value
        raise CSharpException(f"Unable to cast '{type_name(value)}' to '{type_ref}'")
    if isinstance(value, JValue):
        inner = value.value
        if t == "string":
            return None if inner is None else render(inner) if not isinstance(inner, str) else inner
        if inner is None:
            if t in ("int", "long", "double", "bool"):
                raise CSharpException(f"Can not convert Null to {type_ref}.")
            return None
        value = inner
        if isinstance(value, str) and t in ("int", "long", "double", "bool", "DateTime", "Guid"):
            return parse_as(t, value)
    elif isinstance(value, JToken) and t in ("string", "int", "long", "double", "bool"):
        raise CSharpException(f"Can not convert {type_name(value)[1:]} to {type_ref}.")
    if value is None:
        if t in ("int", "long", "double", "bool", "char"):
            raise CSharpException(f"Cannot convert null to '{type_ref}'")
        return None
    if t in ("int", "long"):
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise CSharpException("Arithmetic operation resulted in an overflow.")
            return wrap_integer(int(value), t)  # truncates toward zero, as a C# cast does
        if isinstance(value, int) and not isinstance(value, bool):
            return wrap_integer(value, t)
    if t == "double" and _is_number_value(value):
        return float(value)  # type: ignore[arg-type]
    if t == "bool" and isinstance(value, bool):
        return value
    if t == "string" and isinstance(value, str):
        return value
    if t == "char":
        if isinstance(value, str) and len(value) == 1:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return chr(value)
    if t == "object" or is_instance(value, type_ref):
        return value
    raise CSharpException(f"Unable to cast object of type '{type_name(value)}' to '{type_ref}'")


def _is_number_value(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def wrap_integer(value: int, type_name_: str = "long") -> int:
    bits = 32 if type_name_ == "int" else 64
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


_INSTANCE_CHECKS: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, float),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: True,
    "DateTime": lambda v: isinstance(v, datetime),
    "TimeSpan": lambda v: isinstance(v, timedelta),
    "Guid": lambda v: isinstance(v, uuid.UUID),
    "JObject": lambda v: isinstance(v, JObject),
    "JArray": lambda v: isinstance(v, JArray),
    "JValue": lambda v: isinstance(v, JValue),
    "JToken": lambda v: isinstance(v, JToken),
    "JProperty": lambda v: isinstance(v, JProperty),
}


def is_instance(value: object, type_ref: str) -> bool:
    t = canonical_type(type_ref)
    if value is None:
        return False
    check = _INSTANCE_CHECKS.get(t)
    if check is not None:
        return check(value)
    # A caller-supplied object names the C# types it stands for in `csharp_types` (lower
    # case, so expressions cannot read it): send-request's response is an `IResponse`.
    return type_name(value) == t or t in getattr(value, "csharp_types", ())
