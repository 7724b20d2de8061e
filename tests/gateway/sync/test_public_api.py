"""What others may use of sync/ and telemetry/, and that the gateway's side of the
configuration API imports neither the control plane nor the directory (DESIGN "Package
layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import tollhouse.gateway.sync as sync
import tollhouse.gateway.telemetry as telemetry

SRC = Path(sync.__file__).parent.parent


def test_the_sync_package_exports_exactly_its_public_names() -> None:
    assert sorted(sync.__all__) == sorted(
        [
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
    )
    for name in sync.__all__:
        assert hasattr(sync, name)
    assert sorted(telemetry.__all__) == [
        "HeartbeatSender",
        "Instance",
        "MIN_HEARTBEAT_SECONDS",
        "build_heartbeat",
    ]


def test_every_sync_error_is_one_tree() -> None:
    for name in (
        "AccessDenied",
        "ConfigApiError",
        "ConfigApiUnavailable",
        "CredentialError",
        "FeedGone",
        "InvalidResponse",
    ):
        assert issubclass(getattr(sync, name), sync.SyncError)


def test_nothing_here_imports_the_control_plane_or_the_directory() -> None:
    files = [SRC / "_settings.py", *(SRC / "sync").glob("*.py"), *(SRC / "telemetry").glob("*.py")]
    for source in files:
        for node in ast.walk(ast.parse(source.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith(("tollhouse.controlplane", "tollhouse.directory")), (
                    f"{source.name} imports {name}"
                )
