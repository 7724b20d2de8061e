"""The control plane's exception tree; each error carries the HTTP status and the ARM-style
code it becomes (`{"error": {"code", "message"}}`).

    ControlPlaneError
    ├── BadRequest        400
    ├── Unauthenticated   401   no credential, or one that does not verify
    ├── Forbidden         403   RBAC refused, or a gateway token for another gateway
    ├── NotFound          404
    ├── Conflict          409
    ├── Gone              410   a change-feed position compacted away
    └── Unavailable       503   the directory could not decide
"""

from __future__ import annotations


class ControlPlaneError(Exception):
    status = 500
    default_code = "InternalError"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class BadRequest(ControlPlaneError):
    status = 400
    default_code = "ValidationError"


class Unauthenticated(ControlPlaneError):
    status = 401
    default_code = "Unauthorized"


class Forbidden(ControlPlaneError):
    status = 403
    default_code = "AuthorizationFailed"


class NotFound(ControlPlaneError):
    status = 404
    default_code = "ResourceNotFound"


class Conflict(ControlPlaneError):
    status = 409
    default_code = "Conflict"


class Gone(ControlPlaneError):
    status = 410
    default_code = "Gone"


class Unavailable(ControlPlaneError):
    status = 503
    default_code = "ServiceUnavailable"
