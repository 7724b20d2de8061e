"""Token policies: validate-jwt, validate-azure-ad-token, authentication-basic.

RS256 tokens are verified by `tollhouse.oidc.TokenVerifier` with keys from a shared
`SigningKeySource` (an `IssuerMetadataCache`, one per gateway): given to `default_registry` in
`TokenServices`, or, when none is given, a process-wide cache created on first use.
HS256 is accepted only with keys listed in `<issuer-signing-keys>`, each bound to HS256
(RFC 8725 §3.1), and checked by PyJWT with the same rules (aud, iss, exp, nbf).

Security-relevant settings Tollhouse does not implement are compile errors, never skipped:
`require-signed-tokens="false"`, `require-expiration-time="false"`, RSA `<key>`s given by
`n`/`e` or `certificate-id`, and a validate-jwt without `<audiences>` (RFC 8725 §3.9).

A refusal is a `PolicyRuntimeError` carrying APIM's
`{"statusCode": …, "message": <failed-validation-error-message>}` with `WWW-Authenticate`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from tollhouse.oidc import (
    MAX_LEEWAY_SECONDS,
    MAX_TOKEN_LENGTH,
    InvalidBearerToken,
    IssuerMetadataCache,
    SigningKeySource,
    TokenVerifier,
)
from tollhouse.settings import SettingsError, parse_timespan

from ._document import Element
from ._errors import PolicyRuntimeError
from ._execute import PolicyContext, PolicyResponse, apim_error, header_values, remove_header
from ._registry import CompileContext, Registry
from ._values import ValueSource
from .expressions._values import as_jwt

# APIM validate-jwt: failed-validation-error-message default.
DEFAULT_ERROR_MESSAGE = "Unauthorized. Access token is missing or invalid."
# Entra's public cloud; sovereign clouds and the development directory override it.
DEFAULT_AZURE_AD_AUTHORITY = "https://login.microsoftonline.com"
# RFC 8725 §3.5: HMAC keys need at least as many bits as the hash output (256 for HS256).
MIN_HMAC_KEY_BYTES = 32
# OpenID Connect Discovery 1.0 §4: the configuration lives at issuer + this path.
_DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
# InvalidBearerToken reasons → APIM's LastError reasons for validate-jwt.
_REASONS = {
    "token expired": "TokenExpired",
    "exp missing": "TokenExpirationTimeMissing",
    "token not yet valid": "TokenNotYetValid",
    "signature invalid": "TokenSignatureInvalid",
    "signing key not found": "TokenSignatureKeyNotFound",
    "audience not accepted": "TokenAudienceNotAllowed",
    "issuer not trusted": "TokenIssuerNotAllowed",
    "issuer missing": "TokenIssuerNotAllowed",
}


class _SharedCache:
    """The process-wide `IssuerMetadataCache`, created on first use (it owns an HTTP client)."""

    def __init__(self) -> None:
        self._cache: IssuerMetadataCache | None = None

    async def signing_key(self, issuer: str, kid: str) -> RSAPublicKey:
        if self._cache is None:
            self._cache = IssuerMetadataCache(user_agent="tollhouse-gateway")
        return await self._cache.signing_key(issuer, kid)


_SHARED_CACHE = _SharedCache()


@dataclass(frozen=True)
class TokenServices:
    """What the token policies need from the gateway; passed to `default_registry`."""

    signing_keys: SigningKeySource = field(default=_SHARED_CACHE)
    azure_ad_authority: str = DEFAULT_AZURE_AD_AUTHORITY
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class _TokenSource:
    kind: str  # "header", "query" or "value"
    name: ValueSource
    scheme: str | None

    def token(self, ctx: PolicyContext) -> str | None:
        name = self.name.evaluate(ctx)
        if self.kind == "value":
            return name or None
        if self.kind == "query":
            found = [v for k, v in ctx.request.query if k == name]
            return found[0] if found else None
        values = header_values(ctx.request.headers, name)
        if not values:
            return None
        value = values[0].strip()
        scheme, _, rest = value.partition(" ")
        if self.scheme is not None:
            # APIM require-scheme: the header must carry this scheme.
            if scheme.lower() != self.scheme.lower():
                return None
            return rest.strip() or None
        # RFC 6750 §2.1: "Bearer" is stripped when present.
        if scheme.lower() == "bearer":
            return rest.strip() or None
        return value or None


@dataclass(frozen=True)
class _Claim:
    name: str
    match_all: bool
    separator: str | None
    values: frozenset[str]

    def satisfied(self, claims: Mapping[str, Any]) -> bool:
        if self.name not in claims:
            return False
        if not self.values:
            return True
        raw = claims[self.name]
        items = raw if isinstance(raw, list) else [raw]
        present: set[str] = set()
        for item in items:
            text = item if isinstance(item, str) else str(item)
            present.update(text.split(self.separator) if self.separator else [text])
        if self.match_all:
            return self.values <= present
        return bool(self.values & present)


@dataclass(frozen=True)
class _HmacVerifier:
    """HS256 with configured keys only (RFC 8725 §3.1: these keys verify HS256, nothing else)."""

    keys: tuple[bytes, ...]
    audiences: tuple[str, ...]
    issuers: tuple[str, ...]
    leeway: float

    def verify(self, token: str) -> dict[str, Any]:
        for key in self.keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=["HS256"],
                    audience=list(self.audiences),
                    issuer=list(self.issuers) if self.issuers else None,
                    leeway=self.leeway,
                    options={"require": ["exp"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise InvalidBearerToken("token expired") from None
            except jwt.ImmatureSignatureError:
                raise InvalidBearerToken("token not yet valid") from None
            except jwt.InvalidAudienceError:
                raise InvalidBearerToken("audience not accepted") from None
            except jwt.InvalidIssuerError:
                raise InvalidBearerToken("issuer not trusted") from None
            except (jwt.PyJWTError, ValueError, TypeError):
                raise InvalidBearerToken("token invalid") from None
            return claims
        raise InvalidBearerToken("signature invalid")


@dataclass(frozen=True)
class _ValidateToken:
    policy: str
    source: _TokenSource
    status: int
    message: ValueSource
    verifier: TokenVerifier | None
    hmac: _HmacVerifier | None
    claims: tuple[_Claim, ...]
    client_apps: frozenset[str] | None = None
    output: str | None = None

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        token = self.source.token(ctx)
        if token is None:
            self._fail(ctx, "TokenNotPresent", "JWT not present.", token_present=False)
        try:
            claims = await self._verify(token)
        except InvalidBearerToken as exc:
            reason = _REASONS.get(exc.reason, "TokenInvalid")
            # The reason names a rule, never a value from the token (oidc._errors).
            self._fail(ctx, reason, f"JWT Validation Failed: {exc.reason}.")
        for claim in self.claims:
            if not claim.satisfied(claims):
                self._fail(ctx, "TokenClaimNotAllowed", f"JWT claim {claim.name} not allowed.")
        if self.output is not None:
            # APIM: the validated token, as a `Jwt` (what AsJwt() returns), for expressions.
            ctx.variables[self.output] = as_jwt(token)
        return None

    async def _verify(self, token: str) -> Mapping[str, Any]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidBearerToken("token too large")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidBearerToken("token is not a compact JWS") from None
        if alg == "HS256" and self.hmac is not None:
            return self.hmac.verify(token)
        if self.verifier is None:
            # RFC 8725 §3.1: no key of ours is bound to this algorithm.
            raise InvalidBearerToken("algorithm not allowed")
        verified = await self.verifier.verify(token)
        if self.client_apps is not None and verified.app_id not in self.client_apps:
            raise InvalidBearerToken("client application not allowed")
        return verified.claims

    def _fail(
        self, ctx: PolicyContext, reason: str, detail: str, *, token_present: bool = True
    ) -> NoReturn:
        message = self.message.evaluate(ctx)
        response = apim_error(self.status, message)
        # RFC 6750 §3.1: no error code when the request carried no token.
        challenge = 'Bearer error="invalid_token"' if token_present else "Bearer"
        response.headers.append(("WWW-Authenticate", challenge))
        raise PolicyRuntimeError(self.policy, reason, detail, response=response)


def _status(element: Element, cctx: CompileContext) -> int:
    code = element.attributes.get("failed-validation-httpcode", "401")
    if not code.isdigit() or not 100 <= int(code) <= 599:
        raise cctx.error(element, f"<{element.name}>: failed-validation-httpcode is not a status")
    return int(code)


def _flag(element: Element, cctx: CompileContext, name: str, default: bool) -> bool:
    text = element.attributes.get(name, str(default)).lower()
    if text not in ("true", "false"):
        raise cctx.error(element, f"<{element.name}>: {name} must be true or false")
    return text == "true"


def _only(element: Element, cctx: CompileContext, name: str) -> Element | None:
    found = element.children_named(name)
    if len(found) > 1:
        raise cctx.error(found[1], f"<{element.name}>: <{name}> appears more than once")
    return found[0] if found else None


def _texts(element: Element, cctx: CompileContext, parent: str, child: str) -> tuple[str, ...]:
    found = _only(element, cctx, parent)
    if found is None:
        return ()
    cctx.check_children(found, (child,))
    return tuple(c.text.strip() for c in found.children if c.text.strip())


def _claims(element: Element, cctx: CompileContext) -> tuple[_Claim, ...]:
    found = _only(element, cctx, "required-claims")
    if found is None:
        return ()
    cctx.check_children(found, ("claim",))
    claims = []
    for claim in found.children:
        cctx.check_attributes(claim, ("name", "match", "separator"), required=("name",))
        cctx.check_children(claim, ("value",))
        match = claim.attributes.get("match", "all")
        if match not in ("all", "any"):
            raise cctx.error(claim, "<claim>: match must be all or any")
        values = frozenset(v.text.strip() for v in claim.children)
        separator = claim.attributes.get("separator") or None
        claims.append(_Claim(claim.attributes["name"], match == "all", separator, values))
    return tuple(claims)


def _leeway(element: Element, cctx: CompileContext) -> float:
    """APIM clock-skew: a TimeSpan (`00:02:00`) or whole seconds; default 0."""
    text = element.attributes.get("clock-skew", "0").strip()
    try:
        seconds = float(text) if text.isdigit() else parse_timespan("clock-skew", text)
    except SettingsError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_LEEWAY_SECONDS:
        raise cctx.error(
            element, f"<{element.name}>: clock-skew must be 0 to {MAX_LEEWAY_SECONDS} seconds"
        )
    return seconds


def _hmac_keys(element: Element, cctx: CompileContext) -> tuple[bytes, ...]:
    found = _only(element, cctx, "issuer-signing-keys")
    if found is None:
        return ()
    cctx.check_children(found, ("key",))
    keys = []
    for key in found.children:
        if key.attributes:
            # RSA keys by n/e or certificate-id: not implemented; never skipped.
            raise cctx.error(key, "<key>: only base64 symmetric keys are supported")
        try:
            secret = base64.b64decode(key.text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise cctx.error(key, "<key>: not base64") from None
        if len(secret) < MIN_HMAC_KEY_BYTES:
            raise cctx.error(key, f"<key>: an HS256 key needs at least {MIN_HMAC_KEY_BYTES} bytes")
        keys.append(secret)
    return tuple(keys)


def _verifier(
    element: Element,
    cctx: CompileContext,
    services: TokenServices,
    *,
    issuers: Sequence[str],
    audiences: Sequence[str],
    leeway: float,
    tenant_ids: Sequence[str] | None = None,
) -> TokenVerifier:
    try:
        return TokenVerifier(
            services.signing_keys,
            issuers=issuers,
            audiences=audiences,
            leeway_seconds=leeway,
            clock=services.clock,
            tenant_ids=tenant_ids,
        )
    except ValueError as exc:
        raise cctx.error(element, f"<{element.name}>: {exc}") from None


def _check_security_flags(element: Element, cctx: CompileContext) -> None:
    for name in ("require-signed-tokens", "require-expiration-time"):
        if not _flag(element, cctx, name, True):
            raise cctx.error(element, f"<{element.name}>: {name}=false is not supported")


def compile_validate_jwt(
    element: Element, cctx: CompileContext, services: TokenServices
) -> _ValidateToken:
    sources = ("header-name", "query-parameter-name", "token-value")
    cctx.check_attributes(
        element,
        (
            *sources,
            "failed-validation-httpcode",
            "failed-validation-error-message",
            "require-expiration-time",
            "require-scheme",
            "require-signed-tokens",
            "clock-skew",
            "output-token-variable-name",
        ),
    )
    cctx.check_children(
        element,
        ("openid-config", "issuer-signing-keys", "audiences", "issuers", "required-claims"),
    )
    given = [s for s in sources if s in element.attributes]
    if len(given) != 1:
        raise cctx.error(element, "<validate-jwt>: exactly one of " + ", ".join(sources))
    kind = {"header-name": "header", "query-parameter-name": "query", "token-value": "value"}
    source = _TokenSource(
        kind[given[0]],
        cctx.value(element, element.attributes[given[0]]),
        element.attributes.get("require-scheme"),
    )
    _check_security_flags(element, cctx)
    leeway = _leeway(element, cctx)
    audiences = _texts(element, cctx, "audiences", "audience")
    if not audiences:
        # RFC 8725 §3.9: a token for another API must not pass.
        raise cctx.error(element, "<validate-jwt>: <audiences> is required")
    issuers = _texts(element, cctx, "issuers", "issuer")
    discovered = []
    for config in element.children_named("openid-config"):
        cctx.check_attributes(config, ("url",), required=("url",))
        url = config.attributes["url"].strip()
        if not url.endswith(_DISCOVERY_SUFFIX):
            # The cache fetches discovery from the issuer (OIDC Discovery §4), keyed by it.
            raise cctx.error(config, f"<openid-config>: url must end with {_DISCOVERY_SUFFIX}")
        discovered.append(url.removesuffix(_DISCOVERY_SUFFIX))
    keys = _hmac_keys(element, cctx)
    if not discovered and not keys:
        raise cctx.error(element, "<validate-jwt>: needs <openid-config> or <issuer-signing-keys>")
    verifier = None
    if discovered:
        verifier = _verifier(
            element,
            cctx,
            services,
            issuers=issuers or discovered,
            audiences=audiences,
            leeway=leeway,
        )
    hmac = _HmacVerifier(keys, audiences, issuers, leeway) if keys else None
    return _ValidateToken(
        "validate-jwt",
        source,
        _status(element, cctx),
        cctx.value(
            element,
            element.attributes.get("failed-validation-error-message", DEFAULT_ERROR_MESSAGE),
        ),
        verifier,
        hmac,
        _claims(element, cctx),
        output=element.attributes.get("output-token-variable-name"),
    )


def compile_validate_azure_ad_token(
    element: Element, cctx: CompileContext, services: TokenServices
) -> _ValidateToken:
    cctx.check_attributes(
        element,
        (
            "tenant-id",
            "header-name",
            "query-parameter-name",
            "token-value",
            "failed-validation-httpcode",
            "failed-validation-error-message",
            "output-token-variable-name",
        ),
        required=("tenant-id",),
    )
    cctx.check_children(
        element,
        ("client-application-ids", "audiences", "backend-application-ids", "required-claims"),
    )
    if element.children_named("backend-application-ids"):
        raise cctx.error(
            element, "<validate-azure-ad-token>: <backend-application-ids> is not supported"
        )
    kind, name = "header", "Authorization"
    for attribute, which in (
        ("header-name", "header"),
        ("query-parameter-name", "query"),
        ("token-value", "value"),
    ):
        if attribute in element.attributes:
            kind, name = which, element.attributes[attribute]
    tenant = element.attributes["tenant-id"].strip()
    authority = services.azure_ad_authority.rstrip("/")
    # entra.md: v2 tokens are issued by {authority}/{tenant}/v2.0; v1 tokens of the public
    # cloud by https://sts.windows.net/{tenant}/, of another authority (a sovereign cloud's
    # or the Tollhouse directory) by {authority}/{tenant}/.
    issuers = [f"{authority}/{tenant}/v2.0"]
    if authority == DEFAULT_AZURE_AD_AUTHORITY:
        issuers.append(f"https://sts.windows.net/{tenant}/")
    else:
        issuers.append(f"{authority}/{tenant}/")
    audiences = _texts(element, cctx, "audiences", "audience")
    if not audiences:
        raise cctx.error(element, "<validate-azure-ad-token>: <audiences> is required")
    apps = _texts(element, cctx, "client-application-ids", "application-id")
    if not apps:
        raise cctx.error(element, "<validate-azure-ad-token>: <client-application-ids> is required")
    verifier = _verifier(
        element,
        cctx,
        services,
        issuers=issuers,
        audiences=audiences,
        leeway=0,
        tenant_ids=[tenant],
    )
    return _ValidateToken(
        "validate-azure-ad-token",
        _TokenSource(kind, cctx.value(element, name), None),
        _status(element, cctx),
        cctx.value(
            element,
            element.attributes.get("failed-validation-error-message", DEFAULT_ERROR_MESSAGE),
        ),
        verifier,
        None,
        _claims(element, cctx),
        client_apps=frozenset(apps),
        output=element.attributes.get("output-token-variable-name"),
    )


@dataclass(frozen=True)
class _AuthenticationBasic:
    username: ValueSource
    password: ValueSource

    async def __call__(self, ctx: PolicyContext) -> PolicyResponse | None:
        # RFC 7617 §2: base64 of user-id ":" password, UTF-8.
        pair = f"{self.username.evaluate(ctx)}:{self.password.evaluate(ctx)}"
        remove_header(ctx.request.headers, "Authorization")
        encoded = base64.b64encode(pair.encode()).decode("ascii")
        ctx.request.headers.append(("Authorization", f"Basic {encoded}"))
        return None


def compile_authentication_basic(element: Element, cctx: CompileContext) -> _AuthenticationBasic:
    cctx.check_attributes(element, ("username", "password"), required=("username", "password"))
    cctx.check_children(element, ())
    if ":" in element.attributes["username"]:
        raise cctx.error(element, "<authentication-basic>: username cannot contain ':'")
    return _AuthenticationBasic(
        cctx.value(element, element.attributes["username"]),
        cctx.value(element, element.attributes["password"]),
    )


def register(registry: Registry, services: TokenServices | None = None) -> None:
    shared = services or TokenServices()
    registry.register("validate-jwt", lambda e, c: compile_validate_jwt(e, c, shared), ("inbound",))
    registry.register(
        "validate-azure-ad-token",
        lambda e, c: compile_validate_azure_ad_token(e, c, shared),
        ("inbound",),
    )
    registry.register("authentication-basic", compile_authentication_basic, ("inbound",))
