"""The directory: an Entra-compatible token service with Azure-style RBAC.

Stands in for Microsoft Entra ID and Azure RBAC so the whole system runs without Azure:
`tokens/` mints and verifies, `federation/` checks external issuers' assertions, `rbac/`
decides, `store/` persists, `api/` speaks HTTP.

The service and the server (SQLAlchemy, FastAPI, uvicorn) load on first use, so that
importing a light sub-package such as `rbac` does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tollhouse.directory._config import DirectoryConfig
from tollhouse.directory._errors import (
    BadRequest,
    Conflict,
    DirectoryError,
    Forbidden,
    NotFound,
    Unauthorized,
)

if TYPE_CHECKING:
    from tollhouse.directory._run import TlsFiles, build_directory, build_directory_server
    from tollhouse.directory._service import Caller, Directory

_LAZY = {
    "TlsFiles": "tollhouse.directory._run",
    "build_directory": "tollhouse.directory._run",
    "build_directory_server": "tollhouse.directory._run",
    "Caller": "tollhouse.directory._service",
    "Directory": "tollhouse.directory._service",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tollhouse.directory' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BadRequest",
    "Caller",
    "Conflict",
    "Directory",
    "DirectoryConfig",
    "DirectoryError",
    "Forbidden",
    "NotFound",
    "TlsFiles",
    "Unauthorized",
    "build_directory",
    "build_directory_server",
]
