"""What can go wrong talking to the configuration API, as one tree (DESIGN §2):

    SyncError
    ├── CredentialError          no Authorization header could be made (Entra refused, timed out)
    ├── ConfigApiUnavailable     no answer: connection refused, TLS failure, timeout
    ├── InvalidResponse          an answer that breaks the contract: not JSON, too large,
    │                            schema-invalid (security-and-faults.md case 29)
    └── ConfigApiError           an error status; `status`, `code`, `message`, `retry_after`
        ├── AccessDenied         401 / 403: the server's message says what to fix
        └── FeedGone             410: the position was compacted; take the snapshot again

Every one is retried by the sync agent with backoff; none stops the gateway serving.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of the configuration sync errors; the message is fit for the log."""


class CredentialError(SyncError):
    """The credential could not produce an Authorization header."""


class ConfigApiUnavailable(SyncError):
    """The configuration API did not answer (network, TLS, timeout)."""


class InvalidResponse(SyncError):
    """The configuration API answered something that is not what the contract says. For a
    snapshot whose ETag was readable, `revision` and `etag` say which one was broken."""

    def __init__(
        self, message: str, *, revision: int | None = None, etag: str | None = None
    ) -> None:
        super().__init__(message)
        self.revision = revision
        self.etag = etag


class ConfigApiError(SyncError):
    """The configuration API answered with an error status."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}" if code else f"{status}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class AccessDenied(ConfigApiError):
    """401 or 403: the credential is refused, or lacks the getConfiguration data action."""


class FeedGone(ConfigApiError):
    """410: the feed position has been compacted away."""
