"""Errors of the token service, in Microsoft Entra's wire shape.

Every failure of `/oauth2/v2.0/token` and of the discovery endpoints is an `EntraError`: an
OAuth 2.0 `error` (RFC 6749 §5.2), an `AADSTSnnnnn` code and a description. entra.md §1.3: the
body is `{"error", "error_description", "error_codes", "timestamp", "trace_id",
"correlation_id", "error_uri"}`, the description starts with `AADSTS<n>: ` and ends with the
Trace ID, Correlation ID and Timestamp lines; `invalid_client` is 401, everything else 400
(throttling is 429). The description never contains a secret or an assertion.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any


class EntraError(Exception):
    """A token-service failure that becomes an Entra-shaped error response."""

    def __init__(self, error: str, code: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(error, code, message)
        self.error = error
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        if self.code == THROTTLED:
            return 429
        return 401 if self.error == "invalid_client" else 400

    def __str__(self) -> str:
        return f"AADSTS{self.code}: {self.message}"

    def body(
        self,
        now: dt.datetime,
        trace_id: str | None = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        trace_id = trace_id or str(uuid.uuid4())
        correlation_id = correlation_id or str(uuid.uuid4())
        timestamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


# The codes of entra.md §1.3, by what they mean.
INVALID_SECRET = 7000215
EXPIRED_SECRET = 7000222
MISSING_CREDENTIAL = 7000218
UNKNOWN_APPLICATION = 700016
MISSING_SERVICE_PRINCIPAL = 7000229
TENANT_NOT_FOUND = 90002
INVALID_TENANT = 900023
INVALID_SCOPE = 70011
SCOPE_WITHOUT_DEFAULT = 1002012
SCOPE_MANY_RESOURCES = 700022
RESOURCE_NOT_FOUND = 500011
UNSUPPORTED_GRANT = 70003
MISSING_PARAMETER = 900144
DUPLICATE_PARAMETER = 90013
POST_ONLY = 900561
ASSERTION_TIME_RANGE = 700024
ASSERTION_KEY_NOT_FOUND = 700027
ASSERTION_INVALID = 50027
ASSERTION_SUBJECT_MISMATCH = 50048
ASSERTION_WEAK_KEY = 50032
NO_FEDERATED_RECORD = 70021
THROTTLED = 90055


def missing_parameter(name: str) -> EntraError:
    return EntraError(
        "invalid_request",
        MISSING_PARAMETER,
        f"The request body must contain the following parameter: '{name}'.",
    )


def duplicate_parameter(name: str) -> EntraError:
    # RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
    return EntraError(
        "invalid_request",
        DUPLICATE_PARAMETER,
        f"The request contains the parameter '{name}' more than once.",
    )


def post_only() -> EntraError:
    return EntraError(
        "invalid_request", POST_ONLY, "The provided request must be sent as a POST request."
    )


def unsupported_grant(grant: str) -> EntraError:
    return EntraError(
        "unsupported_grant_type",
        UNSUPPORTED_GRANT,
        f"The provided value for the input parameter 'grant_type' is not valid: '{grant[:64]}'. "
        "Only 'client_credentials' is supported by this token service.",
    )


def tenant_not_found(tenant: str) -> EntraError:
    return EntraError(
        "invalid_request",
        TENANT_NOT_FOUND,
        f"Tenant '{tenant[:64]}' not found. Check to make sure you have the correct tenant ID "
        "and are signing into the correct cloud.",
    )


def invalid_tenant(tenant: str) -> EntraError:
    return EntraError(
        "invalid_request",
        INVALID_TENANT,
        f"Specified tenant identifier '{tenant[:64]}' is neither a valid DNS name, "
        "nor a valid external domain.",
    )


def unknown_application(client_id: str, tenant: str) -> EntraError:
    return EntraError(
        "unauthorized_client",
        UNKNOWN_APPLICATION,
        f"Application with identifier '{client_id[:64]}' was not found in the directory "
        f"'{tenant[:64]}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant.",
    )


def missing_service_principal(client_id: str, tenant: str) -> EntraError:
    return EntraError(
        "invalid_client",
        MISSING_SERVICE_PRINCIPAL,
        f"The client application {client_id} is missing service principal in the tenant {tenant}.",
    )


def missing_credential() -> EntraError:
    return EntraError(
        "invalid_request",
        MISSING_CREDENTIAL,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
    )


def invalid_secret(client_id: str) -> EntraError:
    return EntraError(
        "invalid_client",
        INVALID_SECRET,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
    )


def expired_secret(client_id: str) -> EntraError:
    return EntraError(
        "invalid_client",
        EXPIRED_SECRET,
        f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
        "portal to create new keys for your app.",
    )


def invalid_scope(scope: str, reason: str) -> EntraError:
    return EntraError(
        "invalid_scope", INVALID_SCOPE, f"The provided value '{scope[:256]}' is not valid. {reason}"
    )


def scope_without_default(scope: str) -> EntraError:
    return EntraError(
        "invalid_scope",
        SCOPE_WITHOUT_DEFAULT,
        f"The provided value for scope {scope[:256]} is not valid. Client credential flows must "
        "have a scope value with /.default suffixed to the resource identifier "
        "(application ID URI).",
    )


def scope_many_resources() -> EntraError:
    return EntraError(
        "invalid_scope",
        SCOPE_MANY_RESOURCES,
        "Multiple resources are not allowed in a single request. "
        "Request a token for one resource at a time.",
    )


def resource_not_found(resource: str, tenant: str) -> EntraError:
    return EntraError(
        "invalid_resource",
        RESOURCE_NOT_FOUND,
        f"The resource principal named {resource[:256]} was not found in the tenant named "
        f"{tenant}. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant.",
    )


def assertion_time_range(now: float, not_before: float | None, expiry: float) -> EntraError:
    def fmt(value: float) -> str:
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")

    valid_from = fmt(not_before) if not_before is not None else "(not given)"
    return EntraError(
        "invalid_client",
        ASSERTION_TIME_RANGE,
        f"Client assertion is not within its valid time range. Current time: {fmt(now)}, "
        f"assertion valid from {valid_from}, expiry time of assertion {fmt(expiry)}.",
    )


def assertion_key_not_found(thumbprint: str, client_id: str) -> EntraError:
    return EntraError(
        "invalid_client",
        ASSERTION_KEY_NOT_FOUND,
        "Client assertion contains an invalid signature. [Reason - The key was not found., "
        f"Thumbprint of key used by client: '{thumbprint[:128]}', Please visit the Azure "
        "Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
        f"'{client_id}'.]",
    )


def assertion_bad_signature(client_id: str) -> EntraError:
    return EntraError(
        "invalid_client",
        ASSERTION_KEY_NOT_FOUND,
        "Client assertion contains an invalid signature. [Reason - The provided signature value "
        f"did not match the expected signature value., app Id '{client_id}']",
    )


def assertion_invalid(reason: str) -> EntraError:
    return EntraError("invalid_client", ASSERTION_INVALID, f"JWT token is invalid. {reason}")


def assertion_subject_mismatch() -> EntraError:
    return EntraError(
        "invalid_client",
        ASSERTION_SUBJECT_MISMATCH,
        "The client assertion's 'iss' and 'sub' claims must both be the client id.",
    )


def assertion_weak_key(bits: int) -> EntraError:
    return EntraError(
        "invalid_client",
        ASSERTION_WEAK_KEY,
        f"The key used to sign the client assertion is too short ({bits} bits).",
    )


def no_federated_record(issuer: str, subject: str, audience: str) -> EntraError:
    # AADSTS70021 is 400 invalid_request in the field (azure-workload-identity#616).
    return EntraError(
        "invalid_request",
        NO_FEDERATED_RECORD,
        "No matching federated identity record found for presented assertion. "
        f"Assertion Issuer: '{issuer[:600]}'. Assertion Subject: '{subject[:600]}'. "
        f"Assertion Audience: '{audience[:600]}'.",
    )


def federated_signature_failed(issuer: str, reason: str) -> EntraError:
    return EntraError(
        "invalid_client",
        ASSERTION_INVALID,
        f"External ID token from issuer '{issuer[:600]}' failed signature verification. {reason}",
    )


def throttled(client_id: str, retry_after: int) -> EntraError:
    return EntraError(
        "temporarily_unavailable",
        THROTTLED,
        f"Too many failed authentication attempts for client '{client_id[:64]}'. "
        f"Retry after {retry_after} seconds.",
        retry_after=retry_after,
    )


def assertion_key_expired(thumbprint: str, client_id: str) -> EntraError:
    return EntraError(
        "invalid_client",
        ASSERTION_KEY_NOT_FOUND,
        "Client assertion contains an invalid signature. [Reason - The key used is expired., "
        f"Thumbprint of key used by client: '{thumbprint[:128]}', app Id '{client_id}']",
    )


def conflicting_credentials() -> EntraError:
    # RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    return EntraError(
        "invalid_request",
        MISSING_CREDENTIAL,
        "The request must contain exactly one of 'client_assertion', 'client_secret' or an "
        "HTTP Basic Authorization header.",
    )


def invalid_assertion_type() -> EntraError:
    return EntraError(
        "invalid_request",
        MISSING_PARAMETER,
        "The value of 'client_assertion_type' must be "
        "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
    )


def malformed_request(reason: str) -> EntraError:
    return EntraError("invalid_request", MISSING_PARAMETER, reason)
