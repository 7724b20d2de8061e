"""The .NET values expressions handle that have no Python equivalent, and C#'s ToString.

Mapping: null → None, bool, int (int and long, wrapped to 64 bits), double/decimal → float,
string and char → str, byte[] → bytes, DateTime → datetime, TimeSpan → timedelta,
Guid → UUID, arrays and lists → list, dictionaries → Mapping, Newtonsoft JSON → JObject,
JArray, JValue below.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

# -- Newtonsoft.Json -----------------------------------------------------------------------


class JToken:
    """Base of the Newtonsoft.Json token wrappers."""

    def to_python(self) -> object:
        raise NotImplementedError


@dataclass(eq=False)
class JObject(JToken):
    items: dict[str, JToken] = field(default_factory=dict)

    def to_python(self) -> object:
        return {k: v.to_python() for k, v in self.items.items()}


@dataclass(eq=False)
class JArray(JToken):
    items: list[JToken] = field(default_factory=list)

    def to_python(self) -> object:
        return [v.to_python() for v in self.items]


@dataclass(eq=False)
class JValue(JToken):
    value: object

    def to_python(self) -> object:
        return self.value


@dataclass(frozen=True)
class JProperty:
    Name: str
    Value: JToken


def to_token(value: object) -> JToken:
    """JToken.FromObject for the JSON-shaped Python values."""
    if isinstance(value, JToken):
        return value
    if isinstance(value, Mapping):
        return JObject({str(k): to_token(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return JArray([to_token(v) for v in value])
    return JValue(value)


def parse_json(text: str) -> JToken:
    """JToken.Parse; a JsonReaderException becomes ValueError."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"Unexpected character while parsing JSON: {exc}") from None
    return to_token(data)


def _reject_constant(name: str) -> object:
    raise ValueError(f"Unexpected JSON constant {name}")


def json_text(token: JToken, indented: bool = True) -> str:
    if isinstance(token, JValue) and isinstance(token.value, str):
        return token.value if indented else json.dumps(token.value, ensure_ascii=False)
    data = token.to_python()
    if indented:
        return json.dumps(data, indent=2, ensure_ascii=False)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# -- APIM helpers --------------------------------------------------------------------------


@dataclass(frozen=True)
class BasicAuthCredentials:
    """What `AsBasic()` returns (APIM "Policy expressions", `BasicAuthCredentials`)."""

    UserId: str
    Password: str


@dataclass(frozen=True)
class Jwt:
    """What `AsJwt()` returns: the token parsed, *not* verified (APIM `Jwt`)."""

    Id: str | None
    Algorithm: str | None
    Issuer: str | None
    Subject: str | None
    Audiences: list[str]
    ExpirationTime: datetime | None
    NotBefore: datetime | None
    IssuedAt: datetime | None
    Header: dict[str, str]
    Claims: dict[str, list[str]]


def as_basic(value: str) -> BasicAuthCredentials | None:
    """APIM: "If the input string is not a valid HTTP Basic Authentication authorization
    request header value, the method returns null"."""
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return BasicAuthCredentials(user, password) if sep else None


def as_jwt(value: str) -> Jwt | None:
    """APIM: "If the input string is not a valid JWT, the method returns null"."""
    text = value.strip()
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    segments = text.split(".")
    if len(segments) != 3:
        return None
    try:
        header = json.loads(_b64url(segments[0]))
        payload = json.loads(_b64url(segments[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    claims = {str(k): _claim_values(v) for k, v in payload.items()}

    def first(name: str) -> str | None:
        values = claims.get(name)
        return values[0] if values else None

    return Jwt(
        Id=first("jti"),
        Algorithm=str(header.get("alg")) if header.get("alg") is not None else None,
        Issuer=first("iss"),
        Subject=first("sub"),
        Audiences=claims.get("aud", []),
        ExpirationTime=_epoch(payload.get("exp")),
        NotBefore=_epoch(payload.get("nbf")),
        IssuedAt=_epoch(payload.get("iat")),
        Header={str(k): render(to_token(v)) for k, v in header.items()},
        Claims=claims,
    )


def _b64url(segment: str) -> str:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode("utf-8")


def _claim_values(value: object) -> list[str]:
    if isinstance(value, list):
        return [render(to_token(v)) for v in value]
    return [render(to_token(value))]


def _epoch(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


# -- System.Text.RegularExpressions --------------------------------------------------------


@dataclass(frozen=True)
class Group:
    Success: bool
    Value: str
    Index: int


@dataclass(frozen=True)
class Match:
    Success: bool
    Value: str
    Index: int
    Groups: GroupCollection


@dataclass(frozen=True)
class GroupCollection:
    match: re.Match[str] | None

    def get(self, key: object) -> Group:
        empty = Group(False, "", 0)
        if self.match is None:
            return empty
        try:
            if (isinstance(key, int) and not isinstance(key, bool)) or isinstance(key, str):
                value = self.match.group(key)
                start = self.match.start(key)
            else:
                return empty
        except IndexError:
            return empty
        return empty if value is None else Group(True, value, start)

    @property
    def Count(self) -> int:
        return 0 if self.match is None else len(self.match.groups()) + 1


def make_match(found: re.Match[str] | None) -> Match:
    if found is None:
        return Match(False, "", 0, GroupCollection(None))
    return Match(True, found.group(0), found.start(), GroupCollection(found))


# -- ToString ------------------------------------------------------------------------------


def render(value: object) -> str:
    """C#'s `ToString()` of a value as an expression result becomes text (null → "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return render_double(value)
    if isinstance(value, datetime):
        return format_datetime(value, "G")
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, JToken):
        return json_text(value)
    if isinstance(value, bytes):
        return "System.Byte[]"
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, Mapping):
        return "System.Collections.Generic.Dictionary`2[System.String,System.Object]"
    if isinstance(value, Match | Group):
        return value.Value
    return type(value).__name__


def render_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}E{sign}{exponent.lstrip('+-').zfill(2)}"
    return text


_DT_TOKENS = re.compile(
    r"yyyy|yy|MMMM|MMM|MM|M|dddd|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|f{1,7}|F{1,7}|tt|t|zzz|zz|z|K"
    r"|'[^']*'|\"[^\"]*\"|\\.|."
)
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def format_datetime(value: datetime, fmt: str | None) -> str:
    """DateTime.ToString(format) with the invariant culture."""
    standard = {
        None: "MM/dd/yyyy HH:mm:ss",
        "": "MM/dd/yyyy HH:mm:ss",
        "G": "MM/dd/yyyy HH:mm:ss",
        "g": "MM/dd/yyyy HH:mm",
        "d": "MM/dd/yyyy",
        "D": "dddd, dd MMMM yyyy",
        "s": "yyyy-MM-ddTHH:mm:ss",
        "u": "yyyy-MM-dd HH:mm:ssZ",
        "t": "HH:mm",
        "T": "HH:mm:ss",
        "o": "yyyy-MM-ddTHH:mm:ss.fffffffK",
        "O": "yyyy-MM-ddTHH:mm:ss.fffffffK",
        "r": "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
        "R": "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
    }
    if fmt in ("r", "R", "u") and value.tzinfo is not None:
        value = value.astimezone(UTC)
    pattern = standard.get(fmt, fmt)
    assert pattern is not None
    if len(pattern) == 1 and fmt not in standard:
        raise ValueError("Input string was not in a correct format.")
    out: list[str] = []
    for token in _DT_TOKENS.findall(pattern):
        out.append(_datetime_token(value, token))
    return "".join(out)


def _datetime_token(v: datetime, t: str) -> str:
    hour12 = v.hour % 12 or 12
    simple: dict[str, str] = {
        "yyyy": f"{v.year:04d}", "yy": f"{v.year % 100:02d}", "MMMM": _MONTHS[v.month - 1],
        "MMM": _MONTHS[v.month - 1][:3], "MM": f"{v.month:02d}", "M": str(v.month),
        "dddd": _DAYS[v.weekday()], "ddd": _DAYS[v.weekday()][:3], "dd": f"{v.day:02d}",
        "d": str(v.day), "HH": f"{v.hour:02d}", "H": str(v.hour), "hh": f"{hour12:02d}",
        "h": str(hour12), "mm": f"{v.minute:02d}", "m": str(v.minute),
        "ss": f"{v.second:02d}", "s": str(v.second), "tt": "AM" if v.hour < 12 else "PM",
        "t": "A" if v.hour < 12 else "P",
    }  # fmt: skip
    if t in simple:
        return simple[t]
    if t[0] in "fF":
        digits = f"{v.microsecond:06d}0"[: len(t)]
        return digits.rstrip("0") if t[0] == "F" else digits
    if t in ("K", "zzz", "zz", "z"):
        offset = v.utcoffset()
        if offset is None:
            return ""
        if t == "K" and offset == timedelta(0):
            return "Z"
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        if t == "z":
            return f"{sign}{hours}"
        if t == "zz":
            return f"{sign}{hours:02d}"
        return f"{sign}{hours:02d}:{mins:02d}"
    if t[0] in "'\"":
        return t[1:-1]
    if t[0] == "\\":
        return t[1:]
    return t


def format_timespan(value: timedelta, fmt: str | None = None) -> str:
    """TimeSpan.ToString(): `[-][d.]hh:mm:ss[.fffffff]`."""
    if fmt not in (None, "", "c", "g"):
        raise ValueError("Input string was not in a correct format.")
    ticks = ticks_of(value)
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    days, rest = divmod(ticks, 864_000_000_000)
    hours, rest = divmod(rest, 36_000_000_000)
    minutes, rest = divmod(rest, 600_000_000)
    seconds, fraction = divmod(rest, 10_000_000)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{fraction:07d}" if fraction else "")


def ticks_of(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 10_000_000 + value.microseconds * 10


DOTNET_EPOCH = datetime(1, 1, 1)


def datetime_ticks(value: datetime) -> int:
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return ticks_of(naive - DOTNET_EPOCH)
