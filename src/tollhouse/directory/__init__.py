"""The directory: an Entra-compatible token service with Azure-style RBAC.

Stands in for Microsoft Entra ID and Azure RBAC so the whole system runs without Azure:
`tokens/` mints and verifies, `federation/` checks external issuers' assertions, `rbac/`
decides, `store/` persists, `api/` speaks HTTP.
"""

from tollhouse.directory._config import DirectoryConfig
from tollhouse.directory._errors import (
    BadRequest,
    Conflict,
    DirectoryError,
    Forbidden,
    NotFound,
    Unauthorized,
)
from tollhouse.directory._run import TlsFiles, build_directory, build_directory_server
from tollhouse.directory._service import Caller, Directory

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
