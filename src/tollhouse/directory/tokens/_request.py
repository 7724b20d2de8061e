"""The client-credentials token request (RFC 6749 §4.4), read from form fields (sans-I/O).

entra.md §1.1 and §9.2: the secret may come in the body or by HTTP Basic; unknown fields
(`client_info`, `claims`, telemetry) are ignored; `scope` must be `<resource>/.default` for a
single resource.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from tollhouse.directory.tokens import _errors as errors

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_CREDENTIALS = "client_credentials"
DEFAULT_SUFFIX = "/.default"
# OIDC scopes that MSAL may add to any request; they name no resource.
_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
# A form field longer than this is not a token request (an assertion with a chain is ~8 KiB).
MAX_FIELD_LENGTH = 32 * 1024


@dataclass(frozen=True)
class TokenRequest:
    client_id: str
    resource: str
    client_secret: str | None = None
    client_assertion: str | None = None

    def __repr__(self) -> str:  # never print credentials
        return f"TokenRequest(client_id={self.client_id!r}, resource={self.resource!r})"


def parse_scope(scope: str) -> str:
    """The one resource named by a client-credentials `scope`."""
    resources: list[str] = []
    for item in scope.split():
        if item in _RESERVED_SCOPES:
            continue
        if not item.endswith(DEFAULT_SUFFIX) or item == DEFAULT_SUFFIX:
            raise errors.scope_without_default(scope)
        resource = item[: -len(DEFAULT_SUFFIX)]
        if resource not in resources:
            resources.append(resource)
    if not resources:
        raise errors.scope_without_default(scope)
    if len(resources) > 1:
        raise errors.scope_many_resources()
    return resources[0]


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise errors.malformed_request("Only the Basic authorization scheme is accepted here.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise errors.malformed_request("The Basic authorization header is malformed.") from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise errors.malformed_request("The Basic authorization header is malformed.")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(user), unquote_plus(password)


def parse_token_request(
    fields: Sequence[tuple[str, str]], authorization: str | None = None
) -> TokenRequest:
    form: dict[str, str] = {}
    for name, value in fields:
        if name in form:
            raise errors.duplicate_parameter(name[:64])
        if len(value) > MAX_FIELD_LENGTH:
            raise errors.malformed_request(f"The parameter '{name[:64]}' is too long.")
        form[name] = value

    grant = form.get("grant_type")
    if not grant:
        raise errors.missing_parameter("grant_type")
    if grant != CLIENT_CREDENTIALS:
        raise errors.unsupported_grant(grant)

    basic: tuple[str, str] | None = None
    if authorization:
        basic = _basic_credentials(authorization)

    client_id = form.get("client_id") or (basic[0] if basic else "")
    if not client_id:
        raise errors.missing_parameter("client_id")
    if basic and basic[0] != client_id:
        raise errors.malformed_request("The client_id does not match the Basic credentials.")

    scope = form.get("scope")
    if not scope:
        raise errors.missing_parameter("scope")
    resource = parse_scope(scope)

    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    assertion_type = form.get("client_assertion_type")
    offered = [secret is not None, assertion is not None, basic is not None]
    if sum(offered) > 1:
        raise errors.conflicting_credentials()
    if basic is not None:
        secret = basic[1]
    if assertion is not None:
        if not assertion_type:
            raise errors.missing_parameter("client_assertion_type")
        if assertion_type != JWT_BEARER:
            raise errors.invalid_assertion_type()
    if not secret and not assertion:
        raise errors.missing_credential()
    return TokenRequest(
        client_id=client_id, resource=resource, client_secret=secret, client_assertion=assertion
    )
