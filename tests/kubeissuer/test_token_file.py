"""TokenFileWriter keeps the projected token file fresh like the kubelet (entra.md §5.2)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tollhouse.kubeissuer import TokenFileWriter, write_atomically


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counting_mint() -> tuple[list[float], Callable[[float], str]]:
    calls: list[float] = []
    counter = itertools.count(1)

    def mint(now: float) -> str:
        calls.append(now)
        return f"token-{next(counter)}"

    return calls, mint


def test_an_atomic_write_replaces_the_file_with_mode_0644_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "azure-identity-token"
    path.write_bytes(b"old")
    path.chmod(0o600)
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["azure-identity-token"]


def test_a_failed_atomic_write_keeps_the_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["token"]


def test_the_token_is_due_at_80_percent_of_its_lifetime(tmp_path: Path) -> None:
    clock = Clock()
    calls, mint = counting_mint()
    writer = TokenFileWriter(tmp_path / "t", mint, lifetime_seconds=3600, clock=clock)
    assert writer.due()
    writer.write()
    assert calls == [1_000.0]
    assert writer.rewrite_after_seconds == 2880
    clock.now += 2879
    assert not writer.due()
    clock.now += 1
    assert writer.due()


def test_a_long_lived_token_is_rewritten_after_24_hours_at_most(tmp_path: Path) -> None:
    _, mint = counting_mint()
    writer = TokenFileWriter(tmp_path / "t", mint, lifetime_seconds=7 * 86400)
    assert writer.rewrite_after_seconds == 86400


def test_a_non_positive_rewrite_interval_is_refused(tmp_path: Path) -> None:
    _, mint = counting_mint()
    with pytest.raises(ValueError):
        TokenFileWriter(tmp_path / "t", mint, lifetime_seconds=3600, rewrite_after_seconds=0)


async def test_the_running_writer_rewrites_the_file_when_the_interval_elapses(
    tmp_path: Path,
) -> None:
    path = tmp_path / "token"
    _, mint = counting_mint()
    writer = TokenFileWriter(path, mint, lifetime_seconds=3600, rewrite_after_seconds=0.2)
    task = asyncio.create_task(writer.run())
    try:
        await asyncio.sleep(0.05)
        assert path.read_text() == "token-1"
        await asyncio.sleep(0.3)
        assert path.read_text() == "token-2"
        await asyncio.sleep(0.2)
        assert path.read_text() == "token-3"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_running_writer_does_not_rewrite_a_fresh_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    calls, mint = counting_mint()
    writer = TokenFileWriter(path, mint, lifetime_seconds=3600)
    writer.write()
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(calls) == 1
    assert path.read_text() == "token-1"
