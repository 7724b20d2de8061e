"""Configuration sync: the gateway's side of the configuration API (DESIGN §2).

`ConfigCredentials` makes each call's Authorization header (GatewayKey, or Entra tokens from
azure-identity); `ConfigClient` makes the calls; `BackupStore` keeps the last applied snapshot
on disk; `SyncAgent` bootstraps, follows the change feed, hands each snapshot to the gateway's
apply step and reports what it knows (`SyncStatus`). Errors: the `SyncError` tree.
"""

from tollhouse.gateway.sync._agent import (
    BACKUP_AFTER_SECONDS,
    DEGRADED,
    FROM_BACKUP,
    FROM_CONTROL_PLANE,
    HEALTHY,
    STALE,
    STARTING,
    Apply,
    SyncAgent,
    SyncStatus,
)
from tollhouse.gateway.sync._backoff import Backoff
from tollhouse.gateway.sync._backup import BACKUP_FILE, BackupError, BackupStore
from tollhouse.gateway.sync._client import MAX_SNAPSHOT_BYTES, ConfigClient
from tollhouse.gateway.sync._credentials import (
    ConfigCredentials,
    EntraCredentials,
    GatewayKeyCredentials,
)
from tollhouse.gateway.sync._errors import (
    AccessDenied,
    ConfigApiError,
    ConfigApiUnavailable,
    CredentialError,
    FeedGone,
    InvalidResponse,
    SyncError,
)

__all__ = [
    "BACKUP_AFTER_SECONDS",
    "BACKUP_FILE",
    "DEGRADED",
    "FROM_BACKUP",
    "FROM_CONTROL_PLANE",
    "HEALTHY",
    "MAX_SNAPSHOT_BYTES",
    "STALE",
    "STARTING",
    "AccessDenied",
    "Apply",
    "Backoff",
    "BackupError",
    "BackupStore",
    "ConfigApiError",
    "ConfigApiUnavailable",
    "ConfigClient",
    "ConfigCredentials",
    "CredentialError",
    "EntraCredentials",
    "FeedGone",
    "GatewayKeyCredentials",
    "InvalidResponse",
    "SyncAgent",
    "SyncError",
    "SyncStatus",
]
