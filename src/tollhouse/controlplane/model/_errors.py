"""The one exception of the resource model, in Azure Resource Manager's wire shape.

Every failure of `tollhouse.controlplane.model` is a `ModelError`: an ARM error `code`, the
HTTP `status` the management API answers with, a message naming the offending property by its
path (`properties.urlTemplate`), and that path again as `target` when there is one. Anything
else escaping from this package is a bug.

The codes:

* `ValidationError` (400): a property is missing, of the wrong type or breaks a rule of its
  kind; also a policy document that is not a well-formed `<policies>` document, an OpenAPI
  document that cannot be imported, and a gateway token request outside the 30-day window.
  APIM answers all of these with this code.
* `InvalidResourceName` (400): a resource name breaks ARM's naming rules for its kind.
* `InvalidResourceType` (404): a path names no resource kind of the service, or an action the
  kind does not have.
* `UnsupportedFeature` (400): valid in Azure, not offered by Tollhouse (Key Vault references,
  import from a link, API types other than HTTP); the message says what to do instead.
"""

from __future__ import annotations

from typing import Any

VALIDATION_ERROR = "ValidationError"
INVALID_RESOURCE_NAME = "InvalidResourceName"
INVALID_RESOURCE_TYPE = "InvalidResourceType"
UNSUPPORTED_FEATURE = "UnsupportedFeature"

# Caller input is echoed in messages truncated to this many characters.
MAX_ECHO_LENGTH = 120


class ModelError(Exception):
    """A resource, path or document the model refuses; becomes an ARM-shaped error response."""

    def __init__(self, code: str, message: str, status: int = 400, target: str | None = None):
        super().__init__(code, message, status)
        self.code = code
        self.message = message
        self.status = status
        self.target = target

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        return {"error": error}


def echo(value: object) -> str:
    """A caller-supplied value quoted for a message, bounded in length."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > MAX_ECHO_LENGTH:
        text = text[:MAX_ECHO_LENGTH] + "…"
    return f"'{text}'"


def invalid(path: str, problem: str) -> ModelError:
    """`path` is the property path, e.g. `properties.subscriptionKeyParameterNames.header`."""
    return ModelError(VALIDATION_ERROR, f"Property '{path}' {problem}.", target=path)


def unsupported(path: str, problem: str) -> ModelError:
    return ModelError(UNSUPPORTED_FEATURE, f"Property '{path}' {problem}.", target=path)
