"""The CLI's exception tree: every failure a command reports as `ERROR: <message>`, exit 1.

    CliError             a clear local message (bad value, nothing matched, file exists)
    ├── ProfileError     the administrator profile is missing, unreadable or malformed
    ├── SignInError      azure-identity could not get a token with the profile's credential
    └── RequestError     the directory answered an error: status, code and its message

Usage errors (unknown option, missing required option) are argparse's and exit 2. Foreign
exceptions (httpx, azure-core, OSError) are mapped to these where they are raised; anything
else escaping a command is a bug and shows a traceback.
"""

from __future__ import annotations


class CliError(Exception):
    exit_status = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProfileError(CliError):
    pass


class SignInError(CliError):
    pass


class RequestError(CliError):
    """An error response: `status`, and Graph's or ARM's `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
