"""The configuration backup (security-and-faults.md case 31): a damaged, altered or foreign
file is refused, and a failed write leaves the previous backup whole."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from tollhouse.contracts import ApiConfig, GatewayConfiguration, NamedValueConfig
from tollhouse.gateway.sync import BACKUP_FILE, BackupError, BackupStore, _backup


def config(revision: int = 7, gateway: str = "gw-one") -> GatewayConfiguration:
    return GatewayConfiguration(
        gateway=gateway,
        revision=revision,
        service_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/x",
        apis=(
            ApiConfig(
                name="échos",
                display_name="Échos",
                path="echo",
                protocols=("https",),
                service_url="http://127.0.0.1:9",
                subscription_required=True,
                subscription_key_header="Ocp-Apim-Subscription-Key",
                subscription_key_query="subscription-key",
            ),
        ),
        named_values=(NamedValueConfig("nv", "nv", "a secret value", True),),
    )


def test_a_saved_configuration_loads_back_equal(tmp_path: Path) -> None:
    store = BackupStore(tmp_path / "config")
    store.save(config())
    assert store.path == tmp_path / "config" / BACKUP_FILE
    assert store.load("GW-ONE") == config()
    assert store.refused is None


def test_the_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = BackupStore(tmp_path)
    store.save(config())
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_new_save_replaces_the_old_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = BackupStore(tmp_path)
    store.save(config(1))
    store.save(config(2))
    loaded = store.load()
    assert loaded is not None and loaded.revision == 2
    assert [p.name for p in tmp_path.iterdir()] == [BACKUP_FILE]


def test_no_file_is_no_backup(tmp_path: Path) -> None:
    store = BackupStore(tmp_path)
    assert store.load() is None
    assert store.refused == "there is no backup"


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "not JSON":
        path.write_bytes(b"\x00\xff garbage")
    elif how == "tampered":
        path.write_bytes(data.replace(b"a secret value", b"another value!"))
    elif how == "re-pointed backend":
        path.write_bytes(data.replace(b"127.0.0.1:9", b"10.66.66.6:9"))
    elif how == "wrong format":
        document = json.loads(data)
        document["format"] = 2
        path.write_text(json.dumps(document))
    elif how == "no checksum":
        document = json.loads(data)
        del document["sha256"]
        path.write_text(json.dumps(document))
    elif how == "schema-invalid":
        # A consistent envelope around a snapshot that breaks the contract.
        document = json.loads(data)
        document["payload"]["apis"][0]["path"] = 42
        document["sha256"] = hashlib.sha256(_backup.canonical(document["payload"])).hexdigest()
        path.write_text(json.dumps(document))
    elif how == "revision mismatch":
        document = json.loads(data)
        document["revision"] = 99
        path.write_text(json.dumps(document))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("truncated", "not JSON"),
        ("empty", "not JSON"),
        ("not JSON", "not JSON"),
        ("tampered", "checksum"),
        ("re-pointed backend", "checksum"),
        ("wrong format", "format"),
        ("no checksum", "checksum"),
        ("schema-invalid", "contract"),
        ("revision mismatch", "revision"),
    ],
)
def test_a_damaged_or_altered_backup_is_refused(
    tmp_path: Path, how: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = BackupStore(tmp_path)
    store.save(config())
    damage(store.path, how)
    assert store.load() is None
    assert store.refused is not None and reason in store.refused
    assert "ignored" in caplog.text


def test_the_backup_of_another_gateway_is_refused(tmp_path: Path) -> None:
    store = BackupStore(tmp_path)
    store.save(config(gateway="gw-two"))
    assert store.load("gw-one") is None
    assert store.refused is not None and "gw-two" in store.refused


def test_a_disk_full_during_the_write_leaves_the_old_backup_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BackupStore(tmp_path)
    store.save(config(1))
    before = store.path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 10:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(BackupError, match="No space left"):
        store.save(config(2))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    loaded = store.load()
    assert loaded is not None and loaded.revision == 1
    assert [p.name for p in tmp_path.iterdir()] == [BACKUP_FILE]


def test_a_failed_fsync_leaves_the_old_backup_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BackupStore(tmp_path)
    store.save(config(1))

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(BackupError):
        store.save(config(2))
    monkeypatch.undo()
    loaded = store.load()
    assert loaded is not None and loaded.revision == 1


def test_a_directory_that_cannot_be_made_is_a_backup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BackupError):
        BackupStore(blocker / "config").save(config())
