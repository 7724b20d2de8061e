"""The configuration backup: the last applied snapshot, for a start without the control plane
(apim-self-hosted-gateway.md §3 "fail static"; file `/apim/config/snapshot.lock.json`, §1.7).

The file is an envelope around the snapshot:

    {"format": 1, "gateway": "gw", "revision": 42, "sha256": "<hex>", "payload": {...}}

`sha256` is over the canonical JSON of `payload` (sorted keys, no spaces, UTF-8). It detects a
truncated or altered file (security-and-faults.md case 31); it is not a signature: whoever can
write the volume can write a consistent file. Writes go to a temporary file in the same
directory, are fsynced, renamed over the old file and the directory fsynced, so a crash or a
full disk leaves the previous backup whole. The snapshot holds secret named values and
certificates: the file is created 0600.

Blocking file I/O: the sync agent calls these from a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from tollhouse.contracts import ContractError, GatewayConfiguration, parse_configuration

log = logging.getLogger("tollhouse.gateway.sync.backup")

BACKUP_FILE = "snapshot.lock.json"
BACKUP_FORMAT = 1
# As large as a snapshot may be (MAX_SNAPSHOT_BYTES), plus the envelope.
MAX_BACKUP_BYTES = 64 * 1024 * 1024 + 4096


class BackupError(Exception):
    """The backup could not be written; the previous file, if any, is intact."""


def canonical(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


class BackupStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / BACKUP_FILE
        # Why the last `load` refused the file, for the log and for tests.
        self.refused: str | None = None

    def save(self, config: GatewayConfiguration) -> None:
        payload = config.to_json()
        envelope = {
            "format": BACKUP_FORMAT,
            "gateway": config.gateway,
            "revision": config.revision,
            "sha256": hashlib.sha256(canonical(payload)).hexdigest(),
            "payload": payload,
        }
        data = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(
                prefix=f".{BACKUP_FILE}.", suffix=".tmp", dir=self.directory
            )
        except OSError as exc:
            raise BackupError(f"cannot write in {self.directory}: {exc.strerror}") from None
        try:
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise BackupError(f"cannot write {self.path}: {exc.strerror}") from None
        _fsync_directory(self.directory)

    def load(self, gateway: str | None = None) -> GatewayConfiguration | None:
        """The backed-up configuration, or None (and `refused` says why) when there is none or
        it cannot be trusted. `gateway`: refuse a backup of another gateway."""
        self.refused = None
        try:
            with self.path.open("rb") as handle:
                data = handle.read(MAX_BACKUP_BYTES + 1)
        except FileNotFoundError:
            self.refused = "there is no backup"
            log.info("no configuration backup at %s", self.path)
            return None
        except OSError as exc:
            return self._refuse(f"it cannot be read ({exc.strerror})")
        try:
            return _check(data, gateway)
        except _Refused as refusal:
            return self._refuse(str(refusal))

    def _refuse(self, reason: str) -> GatewayConfiguration | None:
        self.refused = reason
        log.warning("configuration backup %s ignored: %s", self.path, reason)
        return None


class _Refused(Exception):
    pass


def _check(data: bytes, gateway: str | None) -> GatewayConfiguration:
    if len(data) > MAX_BACKUP_BYTES:
        raise _Refused(f"it is larger than {MAX_BACKUP_BYTES} bytes")
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Refused("it is not JSON (truncated?)") from None
    if not isinstance(envelope, dict) or envelope.get("format") != BACKUP_FORMAT:
        raise _Refused(f"it is not a format-{BACKUP_FORMAT} backup")
    payload, digest = envelope.get("payload"), envelope.get("sha256")
    if not isinstance(payload, dict) or not isinstance(digest, str):
        raise _Refused("it has no payload or checksum")
    actual = hashlib.sha256(canonical(payload)).hexdigest()
    if not hmac.compare_digest(actual, digest):
        raise _Refused("its checksum does not match its content (altered or damaged)")
    try:
        config = parse_configuration(payload)
    except ContractError as exc:
        raise _Refused(f"its snapshot breaks the contract at {exc}") from None
    if envelope.get("revision") != config.revision:
        raise _Refused("its envelope and snapshot disagree on the revision")
    if gateway is not None and config.gateway.lower() != gateway.lower():
        raise _Refused(f"it is the configuration of gateway '{config.gateway}'")
    return config


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    """Makes the rename durable (POSIX); not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        log.debug("cannot fsync %s", directory)
    finally:
        os.close(fd)
