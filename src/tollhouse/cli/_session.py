"""One invocation's connection to the directory: profile, credential and HTTP client.

Opened on first use, so that `--help`, usage errors and commands that fail validation never
read the profile or touch the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from azure.identity import ClientSecretCredential

from tollhouse.cli._errors import CliError
from tollhouse.cli._http import DEFAULT_TIMEOUT_SECONDS, DirectoryClient, sign_in, tls_verification
from tollhouse.cli._profile import Profile, load_profile, profile_path

TIMEOUT_ENV = "TOLLHOUSE_CLI_TIMEOUT"


class Session:
    def __init__(self, profile: str | None, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.profile_path: Path = profile_path(profile, self._environ)
        self._profile: Profile | None = None
        self._credential: ClientSecretCredential | None = None
        self._client: DirectoryClient | None = None

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = load_profile(self.profile_path)
        return self._profile

    @property
    def tenant_id(self) -> str:
        return self.profile.tenant_id

    @property
    def client(self) -> DirectoryClient:
        if self._client is None:
            profile = self.profile
            verify = tls_verification(profile)
            self._credential = sign_in(profile)
            self._client = DirectoryClient(
                profile.authority, self._credential, verify=verify, timeout=self._timeout()
            )
        return self._client

    def _timeout(self) -> float:
        text = self._environ.get(TIMEOUT_ENV)
        if not text:
            return DEFAULT_TIMEOUT_SECONDS
        try:
            value = float(text)
        except ValueError:
            value = 0.0
        if value <= 0:
            raise CliError(f"{TIMEOUT_ENV} must be a positive number of seconds.")
        return value

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._credential is not None:
            self._credential.close()
