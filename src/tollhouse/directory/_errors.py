"""The directory's exception tree (everything but the token endpoint, which speaks Entra).

    DirectoryError              status, code (the ARM/Graph error code), message
    ├── BadRequest        400   input that breaks a rule (the message names the field)
    ├── Unauthorized      401   no bearer token, or one that does not verify
    ├── Forbidden         403   RBAC or app-role check failed
    ├── NotFound          404
    └── Conflict          409   a name or key already taken, a limit reached

The HTTP layer renders them as Graph's `{"error": {"code", "message"}}` (ARM uses the same
shape). Anything else escaping a route is a bug and becomes a 500 without details.
"""

from __future__ import annotations


class DirectoryError(Exception):
    status = 500
    default_code = "InternalError"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class BadRequest(DirectoryError):
    status = 400
    default_code = "BadRequest"


class Unauthorized(DirectoryError):
    status = 401
    default_code = "InvalidAuthenticationToken"


class Forbidden(DirectoryError):
    status = 403
    default_code = "AuthorizationFailed"


class NotFound(DirectoryError):
    status = 404
    default_code = "NotFound"


class Conflict(DirectoryError):
    status = 409
    default_code = "Conflict"
