"""Gateway tokens: `{gateway}&{yyyyMMddHHmm}&{signature}` (apim-self-hosted-gateway.md §4).

Generation: `POST gateways/{gw}/generateToken` with `{"keyType", "expiry"}`; ARM answers the
token without the `GatewayKey ` prefix, which the gateway's `config.service.auth` setting
carries. The expiry is UTC to the minute; "Maximum token expiry time is set to 30 days".

Signature: the algorithm is not documented for gateway tokens; the format is APIM's
documented SAS token's, whose signature is built as (§4):

1. string-to-sign = `{identifier} + "\\n" + {expiry}`;
2. signature = HMAC-SHA512 of that string, keyed with the UTF-8 bytes of the primary or
   secondary key, then base64.

Verification takes the clock as a value and never raises for a bad token: it answers what is
wrong with it (`GatewayTokenOutcome`), which the configuration API maps to 401 or 403.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tollhouse.controlplane.model._errors import echo, invalid
from tollhouse.controlplane.model._fields import Fields
from tollhouse.controlplane.model._gateways import GATEWAY_KEY_TYPES
from tollhouse.controlplane.model._names import fold

# §4: "Maximum token expiry time is set to 30 days"; "Token expires at least every 30 days".
MAX_TOKEN_LIFETIME = timedelta(days=30)
# A real token is a gateway name (≤ 80), 12 digits and an 88-character signature.
MAX_TOKEN_LENGTH = 1024
TOKEN_SCHEME = "GatewayKey"

_EXPIRY = re.compile(r"[0-9]{12}", re.ASCII)
_EXPIRY_FORMAT = "%Y%m%d%H%M"
_SIGNATURE_BYTES = hashlib.sha512().digest_size


class GatewayTokenOutcome(enum.Enum):
    VALID = "valid"
    MALFORMED = "malformed"  # not `{gw}&{yyyyMMddHHmm}&{base64 signature}`
    WRONG_GATEWAY = "wrong_gateway"  # a token of another gateway: 403
    BAD_SIGNATURE = "bad_signature"  # signed by neither key (or a regenerated one)
    EXPIRED = "expired"  # genuine, but its expiry has passed
    LIFETIME_EXCEEDED = "lifetime_exceeded"  # genuine, expiring more than 30 days ahead


@dataclass(frozen=True)
class GatewayTokenCheck:
    """What `verify_gateway_token` found. `expiry` is set once the expiry parsed; `key_type`
    ("primary" or "secondary") once the signature matched one of the keys."""

    outcome: GatewayTokenOutcome
    expiry: datetime | None = None
    key_type: str | None = None

    @property
    def valid(self) -> bool:
        return self.outcome is GatewayTokenOutcome.VALID


@dataclass(frozen=True)
class GatewayTokenRequest:
    """The body of `generateToken`: `{"keyType": "primary", "expiry": "2020-04-21T00:44:24Z"}`."""

    key_type: str
    expiry: datetime


def generate_gateway_token(gateway_name: str, key: str, expiry: datetime, *, now: datetime) -> str:
    """The token ARM's `generateToken` answers (no `GatewayKey ` prefix).

    `expiry` is truncated to the minute; naive datetimes are UTC. Raises `ModelError`
    `ValidationError` when it is not after `now` or more than `MAX_TOKEN_LIFETIME` after it.
    """
    if not key:
        raise ValueError("a gateway key is never empty")
    expires = _utc(expiry).replace(second=0, microsecond=0)
    now = _utc(now)
    if expires <= now:
        raise invalid("expiry", "must be in the future")
    if expires - now > MAX_TOKEN_LIFETIME:
        raise invalid("expiry", f"must be at most {MAX_TOKEN_LIFETIME.days} days ahead")
    expiry_text = expires.strftime(_EXPIRY_FORMAT)
    signature = base64.b64encode(_sign(key, gateway_name, expiry_text)).decode("ascii")
    return f"{gateway_name}&{expiry_text}&{signature}"


def verify_gateway_token(
    token: str, gateway_name: str, keys: Sequence[str], now: datetime
) -> GatewayTokenCheck:
    """Check a token presented for `gateway_name` against its keys (primary, secondary).

    Accepts the token with or without the `GatewayKey ` prefix. The order of the checks:
    syntax, gateway, signature (against every key, in constant time), then expiry, so that
    EXPIRED and LIFETIME_EXCEEDED are only said of genuine tokens.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return GatewayTokenCheck(GatewayTokenOutcome.MALFORMED)
    text = token.strip()
    scheme, _, rest = text.partition(" ")
    if rest and fold(scheme) == fold(TOKEN_SCHEME):
        text = rest.strip()
    parts = text.split("&")
    if len(parts) != 3 or not parts[0]:
        return GatewayTokenCheck(GatewayTokenOutcome.MALFORMED)
    token_gateway, expiry_text, signature_text = parts
    if fold(token_gateway) != fold(gateway_name):
        return GatewayTokenCheck(GatewayTokenOutcome.WRONG_GATEWAY)
    expiry = _parse_expiry(expiry_text)
    signature = _decode_signature(signature_text)
    if expiry is None or signature is None:
        return GatewayTokenCheck(GatewayTokenOutcome.MALFORMED)
    matched: str | None = None
    for key_type, key in zip(GATEWAY_KEY_TYPES, keys, strict=False):
        if key and hmac.compare_digest(_sign(key, token_gateway, expiry_text), signature):
            matched = matched or key_type
    if matched is None:
        return GatewayTokenCheck(GatewayTokenOutcome.BAD_SIGNATURE, expiry)
    now = _utc(now)
    if expiry <= now:
        return GatewayTokenCheck(GatewayTokenOutcome.EXPIRED, expiry, matched)
    if expiry - now > MAX_TOKEN_LIFETIME:
        return GatewayTokenCheck(GatewayTokenOutcome.LIFETIME_EXCEEDED, expiry, matched)
    return GatewayTokenCheck(GatewayTokenOutcome.VALID, expiry, matched)


def parse_gateway_token_request(body: Mapping[str, Any] | None) -> GatewayTokenRequest:
    """Read a `generateToken` body; both properties are required (Azure REST
    `GatewayTokenRequestContract`). A time without a zone is UTC."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise invalid("body", "must be a JSON object")
    fields = Fields(body, "")
    if not fields.has("keyType"):
        raise invalid("keyType", "is required")
    key_type = fields.choice("keyType", GATEWAY_KEY_TYPES, GATEWAY_KEY_TYPES[0])
    text = fields.required_text("expiry", max_length=64)
    try:
        expiry = datetime.fromisoformat(text)
    except ValueError:
        raise invalid("expiry", f"must be an ISO 8601 date and time, not {echo(text)}") from None
    return GatewayTokenRequest(key_type, _utc(expiry))


def _sign(key: str, gateway: str, expiry_text: str) -> bytes:
    message = f"{gateway}\n{expiry_text}".encode()
    return hmac.new(key.encode("utf-8"), message, hashlib.sha512).digest()


def _parse_expiry(text: str) -> datetime | None:
    if _EXPIRY.fullmatch(text) is None:
        return None
    try:
        return datetime.strptime(text, _EXPIRY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _decode_signature(text: str) -> bytes | None:
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return signature if len(signature) == _SIGNATURE_BYTES else None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
