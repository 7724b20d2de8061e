"""The administrator profile: which directory to talk to, and the credential to sign in with.

`tollhouse directory` writes it on first start (mode 0600) as
`{"authority", "tenantId", "clientId", "clientSecret", "caBundle"}`. The CLI reads the path
given by `--profile`, else `$TOLLHOUSE_PROFILE`, else `.tollhouse/directory/admin.json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tollhouse.cli._errors import ProfileError

PROFILE_ENV = "TOLLHOUSE_PROFILE"
# Where `tollhouse directory` writes it with its default data directory (directory/_config.py).
DEFAULT_PROFILE_PATH = Path(".tollhouse/directory/admin.json")
# A profile is five short strings; anything much larger is not one.
MAX_PROFILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Profile:
    authority: str
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    # None: trust the system's CAs (the directory runs with a certificate of its own).
    ca_bundle: Path | None
    path: Path


def profile_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    if explicit:
        return Path(explicit)
    if environ.get(PROFILE_ENV):
        return Path(environ[PROFILE_ENV])
    return DEFAULT_PROFILE_PATH


def load_profile(path: Path) -> Profile:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError:
        raise ProfileError(
            f"No administrator profile at '{path}'. Start the directory with "
            f"'tollhouse directory' (it writes one to <data dir>/admin.json on first start), "
            f"then pass it with --profile or {PROFILE_ENV}."
        ) from None
    except OSError as exc:
        raise ProfileError(f"Cannot read the profile '{path}': {exc.strerror}.") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"The profile '{path}' is larger than {MAX_PROFILE_BYTES} bytes.")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise ProfileError(f"The profile '{path}' is not JSON.") from None
    return parse_profile(document, path)


def parse_profile(document: Any, path: Path) -> Profile:
    if not isinstance(document, dict):
        raise ProfileError(f"The profile '{path}' must be a JSON object.")

    def text(key: str) -> str:
        value = document.get(key)
        if not isinstance(value, str) or not value:
            raise ProfileError(f"The profile '{path}' has no '{key}'.")
        return value

    authority = text("authority").rstrip("/")
    if not authority.startswith("https://"):
        # azure-identity refuses any other authority (entra.md §6.2).
        raise ProfileError(f"The profile '{path}' has an authority that is not https://.")
    bundle = document.get("caBundle")
    if bundle is not None and not isinstance(bundle, str):
        raise ProfileError(f"The profile '{path}' has a 'caBundle' that is not a path.")
    ca_bundle = None
    if bundle:
        # A relative bundle is relative to the profile, not to the current directory.
        ca_bundle = path.parent / bundle if not Path(bundle).is_absolute() else Path(bundle)
    return Profile(
        authority=authority,
        tenant_id=text("tenantId"),
        client_id=text("clientId"),
        client_secret=text("clientSecret"),
        ca_bundle=ca_bundle,
        path=path,
    )
