"""The policy exception tree.

PolicyCompileError   a document cannot run: malformed XML, unknown named value, misplaced
                     `<base />`, unsupported policy or attribute. The operations it covers
                     answer 500 with `str(error)`; other operations are unaffected.
PolicyRuntimeError   a step failed while a request ran (APIM `context.LastError`); the
                     executor runs `on-error`. `response`, when set, is what the client
                     gets unless `on-error` replaces it (check-header's 401, ip-filter's
                     403, …); otherwise 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._execute import PolicyResponse


class PolicyCompileError(ValueError):
    """A policy document that cannot be compiled; becomes HTTP 500 for its operations."""

    status = 500

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        policy: str | None = None,
        section: str | None = None,
        scope: str | None = None,
        reason: str = "PolicyCompile",
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.policy = policy
        self.section = section
        self.scope = scope
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.scope:
            where.append(f"{self.scope} scope")
        if self.section:
            where.append(f"section {self.section}")
        if self.line is not None:
            where.append(f"line {self.line}, column {self.column}")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def located(
        self, *, scope: str | None = None, section: str | None = None
    ) -> PolicyCompileError:
        """The same error with the scope and section filled in where still unknown."""
        return PolicyCompileError(
            self.message,
            line=self.line,
            column=self.column,
            policy=self.policy,
            section=self.section or section,
            scope=self.scope or scope,
            reason=self.reason,
        )


class PolicyRuntimeError(Exception):
    """A policy failed during a request: `source` is the policy name, `reason` APIM's reason
    code (e.g. `CallerIpNotAllowed`)."""

    def __init__(
        self,
        source: str,
        reason: str,
        message: str,
        *,
        response: PolicyResponse | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.reason = reason
        self.message = message
        self.response = response
