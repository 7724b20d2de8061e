"""How the directory validates a federated client assertion (workload identity federation).

entra.md §3.2: "Entra finds FICs on the app for client_id, and matches iss/sub/aud exactly.
Entra validates the JWT against the issuer's OIDC metadata … checks the time window
(AADSTS700024) and signature (AADSTS50027 'External ID token from issuer failed signature
verification')." The order below is deliberate:

1. parse the token without trusting it, and refuse every `alg` but RS256;
2. pick the credential by exact `iss`, `sub` and `aud` — before any network access, so an
   issuer named by no credential is never contacted (security-and-faults.md C.5 case 26);
3. fetch that issuer's keys, select one by `kid`, verify the signature, then the times.

Header parameters that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are never read: keys come
from the issuer's metadata only (RFC 8725 §3.10). Every failure is an `EntraError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jwt

from tollhouse.directory.federation._assertion import MAX_ASSERTION_LENGTH, parse_unverified
from tollhouse.directory.federation._credential import FederatedCredential
from tollhouse.directory.tokens._errors import (
    assertion_invalid,
    assertion_time_range,
    federated_signature_failed,
    no_federated_record,
)
from tollhouse.oidc import IssuerMetadataError, SigningKeySource

# Clock skew tolerated on exp, nbf and iat; Entra's documented tolerance is five minutes.
DEFAULT_LEEWAY_SECONDS = 300
# entra.md §3.1: "Only RS256-signed external tokens are supported".
ALGORITHM = "RS256"
# NumericDates outside 1970–9999 cannot be shown in an error message (and are not times).
_LATEST_NUMERIC_DATE = 253402300799


class FederatedAssertionValidator:
    """Checks a federated client assertion against an application's credentials."""

    def __init__(
        self,
        cache: SigningKeySource,
        *,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
        max_assertion_length: int = MAX_ASSERTION_LENGTH,
    ) -> None:
        self._cache = cache
        self._leeway = leeway_seconds
        self._max_length = max_assertion_length
        # RFC 8725 §3.1: the algorithm is pinned here, never taken from the token.
        self._jws = jwt.PyJWS(algorithms=[ALGORITHM])

    async def validate(
        self,
        assertion: str,
        client_id: str,
        credentials: Sequence[FederatedCredential],
        now: float,
    ) -> FederatedCredential:
        """The credential `assertion` satisfies, or the `EntraError` to answer.

        `client_id` is the application whose `credentials` these are; `now` is Unix time.
        """
        token = parse_unverified(assertion, self._max_length)
        alg = token.header.get("alg")
        if alg != ALGORITHM:
            raise assertion_invalid(
                f"The assertion is signed with {ascii(alg)[:32]}; "
                "external tokens must be signed with RS256."
            )
        if "crit" in token.header:
            # RFC 7515 §4.1.11: extensions we do not understand make the token invalid.
            raise assertion_invalid("The assertion has critical header parameters.")

        issuer, subject, audiences = _identity(token.claims)
        credential = _match(credentials, issuer, subject, audiences)

        kid = token.header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise federated_signature_failed(issuer, "The token has no 'kid' header.")
        try:
            key = await self._cache.signing_key(issuer, kid)
        except IssuerMetadataError as exc:
            raise federated_signature_failed(issuer, str(exc)) from None
        try:
            self._jws.decode_complete(
                assertion,
                key,
                algorithms=[ALGORITHM],
                options={"verify_signature": True, "enforce_minimum_key_length": True},
            )
        except (jwt.PyJWTError, ValueError):
            raise federated_signature_failed(
                issuer, "The signature does not match the issuer's signing key."
            ) from None
        self._check_times(token.claims, now)
        return credential

    def _check_times(self, claims: dict[str, Any], now: float) -> None:
        expiry = _numeric_date(claims, "exp")
        if expiry is None:
            raise assertion_invalid("The assertion has no 'exp' claim.")
        not_before = _numeric_date(claims, "nbf")
        issued_at = _numeric_date(claims, "iat")
        # RFC 7519 §4.1.4: the token "MUST NOT be accepted for processing" on or after exp;
        # §4.1.5: nor before nbf. An iat in the future is no better (C.5 case 21).
        expired = now >= expiry + self._leeway
        early = any(
            value is not None and now + self._leeway < value for value in (not_before, issued_at)
        )
        if expired or early:
            raise assertion_time_range(
                now, not_before if not_before is not None else issued_at, expiry
            )


def _identity(claims: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    issuer, subject, audience = claims.get("iss"), claims.get("sub"), claims.get("aud")
    if not isinstance(issuer, str) or not issuer:
        raise assertion_invalid("The assertion has no 'iss' claim.")
    if not isinstance(subject, str) or not subject:
        raise assertion_invalid("The assertion has no 'sub' claim.")
    # RFC 7519 §4.1.3: "aud" is a string or an array of strings.
    if isinstance(audience, str):
        audiences: tuple[str, ...] = (audience,)
    elif (
        isinstance(audience, list)
        and audience
        and all(isinstance(value, str) for value in audience)
    ):
        audiences = tuple(audience)
    else:
        raise assertion_invalid("The assertion has no 'aud' claim.")
    return issuer, subject, audiences


def _match(
    credentials: Sequence[FederatedCredential],
    issuer: str,
    subject: str,
    audiences: tuple[str, ...],
) -> FederatedCredential:
    # entra.md §3.1: exact, case-sensitive matching; trailing slashes matter; no wildcards.
    for credential in credentials:
        if (
            credential.issuer == issuer
            and credential.subject == subject
            and any(audience in audiences for audience in credential.audiences)
        ):
            return credential
    raise no_federated_record(issuer, subject, ", ".join(audiences))


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # RFC 7519 §2 NumericDate: a JSON number; floats are allowed.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= _LATEST_NUMERIC_DATE
    ):
        raise assertion_invalid(f"The assertion's '{name}' claim is not a NumericDate.")
    return float(value)
