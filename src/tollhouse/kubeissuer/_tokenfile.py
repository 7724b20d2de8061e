"""Keeping a projected service-account token file fresh, as the kubelet does.

entra.md §5.2: "The kubelet rotates the projected token when it is older than 80 % of its TTL
or older than 24 h." Readers (azure-identity's `WorkloadIdentityCredential`) re-read the file
by path, so every write replaces the file atomically: a reader sees the old token or the new
one, never a partial file (security-and-faults.md C.5 case 31: temp file + fsync + rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# entra.md §5.2, the kubelet's rotation rule.
ROTATE_FRACTION = 0.8
MAX_TOKEN_AGE_SECONDS = 24 * 3600.0
# A projected token volume's default mode is 0644 (`defaultMode: 420`).
TOKEN_FILE_MODE = 0o644
# After a failed write (disk full, directory gone) the old token stays; try again this soon.
RETRY_AFTER_FAILED_WRITE_SECONDS = 5.0

_log = logging.getLogger(__name__)


def write_atomically(path: Path, data: bytes, mode: int = TOKEN_FILE_MODE) -> None:
    """Replace `path` with `data`: temp file in the same directory, fsync, rename."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    # The rename is durable once the directory entry is.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class TokenFileWriter:
    """Writes the token `mint(now)` returns to `path`, and rewrites it before it grows old.

    `rewrite_after_seconds` defaults to the kubelet's rule: 80 % of `lifetime_seconds`, at
    most 24 h. `clock` returns Unix time and is passed to `mint`.
    """

    def __init__(
        self,
        path: Path,
        mint: Callable[[float], str],
        *,
        lifetime_seconds: float,
        rewrite_after_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._mint = mint
        self._rewrite_after = (
            rewrite_after_seconds
            if rewrite_after_seconds is not None
            else min(ROTATE_FRACTION * lifetime_seconds, MAX_TOKEN_AGE_SECONDS)
        )
        if self._rewrite_after <= 0:
            raise ValueError("rewrite_after_seconds must be positive")
        self._clock = clock
        self._written_at: float | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def rewrite_after_seconds(self) -> float:
        return self._rewrite_after

    def due(self) -> bool:
        """Whether the file holds no token of ours yet, or one old enough to replace."""
        return self._written_at is None or self._clock() - self._written_at >= self._rewrite_after

    def write(self) -> str:
        """Mint a token and write it now; returns the token."""
        now = self._clock()
        token = self._mint(now)
        write_atomically(self._path, token.encode("ascii"))
        self._written_at = now
        return token

    async def run(self) -> None:
        """Rewrite the file whenever it is due, until cancelled."""
        while True:
            if self.due():
                try:
                    await asyncio.to_thread(self.write)
                except OSError as exc:
                    # The kubelet keeps the old token and tries again; so do we.
                    _log.warning("could not write the token file %s: %s", self._path, exc)
                    await asyncio.sleep(RETRY_AFTER_FAILED_WRITE_SECONDS)
                    continue
            written_at = self._written_at if self._written_at is not None else self._clock()
            await asyncio.sleep(max(0.0, written_at + self._rewrite_after - self._clock()))
