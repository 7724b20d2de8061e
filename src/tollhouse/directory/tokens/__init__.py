"""Token minting and verification for the directory (sans-I/O).

Keys, client-credentials requests, certificate assertions, access tokens and the Entra error
shape. Values in, values out: the HTTP routes and the store live elsewhere.
"""

from tollhouse.directory.tokens import _errors as errors
from tollhouse.directory.tokens._access_token import (
    AUTH_CERTIFICATE,
    AUTH_SECRET,
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    MAX_TOKEN_LIFETIME_SECONDS,
    MIN_TOKEN_LIFETIME_SECONDS,
    InvalidToken,
    IssuedToken,
    Resource,
    issuer_for,
    mint_app_token,
    unverified_tenant,
    verify_access_token,
)
from tollhouse.directory.tokens._assertion import (
    DEFAULT_LEEWAY_SECONDS,
    DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS,
    RegisteredCertificate,
    unverified_issuer,
    verify_client_assertion,
)
from tollhouse.directory.tokens._errors import EntraError
from tollhouse.directory.tokens._keys import (
    DEFAULT_PUBLISH_AHEAD_SECONDS,
    KeyRing,
    SigningKey,
    new_signing_key,
)
from tollhouse.directory.tokens._request import TokenRequest, parse_scope, parse_token_request
from tollhouse.directory.tokens._secrets import (
    generate_secret,
    hash_secret,
    secret_hint,
    verify_secret,
)
from tollhouse.directory.tokens._throttle import FailureThrottle

__all__ = [
    "AUTH_CERTIFICATE",
    "AUTH_SECRET",
    "DEFAULT_LEEWAY_SECONDS",
    "DEFAULT_MAX_ASSERTION_LIFETIME_SECONDS",
    "DEFAULT_PUBLISH_AHEAD_SECONDS",
    "DEFAULT_TOKEN_LIFETIME_SECONDS",
    "MAX_TOKEN_LIFETIME_SECONDS",
    "MIN_TOKEN_LIFETIME_SECONDS",
    "EntraError",
    "FailureThrottle",
    "InvalidToken",
    "IssuedToken",
    "KeyRing",
    "RegisteredCertificate",
    "Resource",
    "SigningKey",
    "TokenRequest",
    "errors",
    "generate_secret",
    "hash_secret",
    "issuer_for",
    "mint_app_token",
    "new_signing_key",
    "parse_scope",
    "parse_token_request",
    "secret_hint",
    "unverified_issuer",
    "unverified_tenant",
    "verify_access_token",
    "verify_client_assertion",
    "verify_secret",
]
