"""Waking long polls when the service revision moves (same replica or another).

Three sources move the known revision: a local write (`notify`), PostgreSQL `NOTIFY` from any
replica (a `LISTEN` connection), and a slow poll of the store as a safety net (and for SQLite
shared by processes). Waiters hold the current `asyncio.Event`; a bump sets it and replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tollhouse.controlplane.store._store import NOTIFY_CHANNEL, ControlPlaneStore

log = logging.getLogger("tollhouse.controlplane.watch")

# The safety-net poll; with LISTEN/NOTIFY or a single process, changes arrive at once.
DEFAULT_POLL_SECONDS = 1.0
LISTEN_RETRY_SECONDS = 2.0


class RevisionWatcher:
    def __init__(
        self,
        store: ControlPlaneStore,
        *,
        listen_url: str | None = None,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        self.store = store
        self.listen_url = listen_url
        self.poll_seconds = poll_seconds
        self.revision = 0
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Set when the server stops: waiting gateways are answered at once (they poll again,
        # elsewhere), so a shutdown does not wait out their long polls.
        self._releasing = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.revision = await asyncio.to_thread(self.store.revision)
        self._tasks.append(asyncio.create_task(self._poll(), name="revision-poll"))
        if self.listen_url is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="revision-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def release_all(self) -> None:
        """Answers every waiter now and every later one at once (the server is stopping)."""
        self._releasing = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _bump(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def notify(self, revision: int) -> None:
        """A write made `revision`; safe to call from any thread."""
        if self._loop is None or self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._bump(revision)
        else:
            self._loop.call_soon_threadsafe(self._bump, revision)

    async def wait_beyond(self, revision: int, wait_seconds: float) -> int:
        """The known revision once it exceeds `revision`, or the same after `wait_seconds`."""
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while self.revision <= revision and not self._releasing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()
        return self.revision

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                self._bump(await asyncio.to_thread(self.store.revision))
            except Exception:  # the store is down: keep serving what we know
                log.warning("cannot read the revision from the store", exc_info=True)

    async def _listen(self) -> None:
        import psycopg

        assert self.listen_url is not None
        url = self.listen_url.replace("postgresql+psycopg://", "postgresql://")
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    # Anything written while we were not listening.
                    self._bump(await asyncio.to_thread(self.store.revision))
                    async for note in conn.notifies():
                        with contextlib.suppress(ValueError):
                            self._bump(int(note.payload))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("LISTEN connection lost; retrying", exc_info=True)
                await asyncio.sleep(LISTEN_RETRY_SECONDS)
