"""The configuration agent: bootstrap, change feed, atomic apply, backup (DESIGN §2, issue 4
"Configuration sync").

Start-up takes the snapshot. If the control plane does not answer within `backup_after`
seconds, or fails, the backup is served meanwhile and reported "stale"
(apim-self-hosted-gateway.md §3 "fail static"; security-and-faults.md case 28); without a
backup the gateway stays not ready — the pipeline answers 503, never an empty 200 — and the
agent keeps trying, with exponential backoff and jitter (case 30).

Then it follows the feed by long poll. Any change fetches the snapshot with `If-None-Match`;
a `410` (the position was compacted) takes it again. Each snapshot is offered to `apply`, the
gateway's compile-and-swap step: if it raises, the revision is rejected whole, the last good
configuration stays, and the reason is kept for the next heartbeat and logged (case 29, like
Envoy's NACK). A snapshot for another gateway or older than the applied one is rejected the
same way. After each apply the snapshot is written to the backup (case 31).

While the control plane is away the agent keeps serving what it has and keeps retrying; when
it comes back the feed (or, if compacted, the snapshot) brings the changes missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tollhouse.contracts import GatewayConfiguration, InstanceStatus
from tollhouse.gateway._settings import DEFAULT_EVENTS_WAIT_SECONDS
from tollhouse.gateway.sync._backoff import Backoff
from tollhouse.gateway.sync._backup import BackupError, BackupStore
from tollhouse.gateway.sync._client import ConfigClient
from tollhouse.gateway.sync._errors import ConfigApiError, FeedGone, InvalidResponse, SyncError

log = logging.getLogger("tollhouse.gateway.sync")

# A cold start waits this long for the control plane before serving the backup; the call
# itself may take up to `config.service.integration.timeout` (100 s by default).
BACKUP_AFTER_SECONDS = 10.0
# The feed moved but the snapshot answered 304 (a replica behind another): look again soon.
REFRESH_RETRY_SECONDS = 1.0
# A rejection reason is reported in heartbeats and logs; a compiler's message can be long.
MAX_REASON_CHARS = 1000

# Instance states, as the heartbeat contract names them (contracts `STATES`).
STARTING, HEALTHY, DEGRADED, STALE = "starting", "healthy", "degraded", "stale"
# Where the applied configuration came from.
FROM_CONTROL_PLANE, FROM_BACKUP = "control-plane", "backup"

ApplyResult = Sequence[str] | None
# Compiles a configuration and swaps it in; raises to reject it. May be async. May return
# the names of what it does not support (unsupported policies), reported in heartbeats.
Apply = Callable[[GatewayConfiguration], ApplyResult | Awaitable[ApplyResult]]


@dataclass(frozen=True)
class SyncStatus:
    """What the agent knows, at one moment (readiness probe, heartbeats, logs)."""

    ready: bool
    state: str
    applied_revision: int | None
    source: str | None
    stale: bool
    rejected_revision: int | None = None
    rejected_reason: str | None = None
    unsupported: tuple[str, ...] = ()
    last_error: str | None = None
    backup_error: str | None = None
    applied_total: int = 0
    rejected_total: int = 0
    sync_errors_total: int = 0

    def instance_status(self, credential_expires_at: dt.datetime | None) -> InstanceStatus:
        return InstanceStatus(
            state=self.state,
            rejected_revision=self.rejected_revision,
            rejected_reason=self.rejected_reason,
            credential_expires_at=(
                credential_expires_at.isoformat(timespec="seconds")
                if credential_expires_at is not None
                else None
            ),
            unsupported=self.unsupported,
        )


class SyncAgent:
    def __init__(
        self,
        client: ConfigClient,
        backup: BackupStore | None,
        apply: Apply,
        *,
        events_wait: float = DEFAULT_EVENTS_WAIT_SECONDS,
        backoff: Backoff | None = None,
        backup_after: float = BACKUP_AFTER_SECONDS,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.backup = backup
        self.apply = apply
        self.events_wait = events_wait
        self.backoff = backoff or Backoff()
        self.backup_after = backup_after
        self.draw = draw
        self._applied: GatewayConfiguration | None = None
        self._source: str | None = None
        self._unsupported: tuple[str, ...] = ()
        # The feed position and the ETag: the last snapshot seen, applied or not.
        self._position: int | None = None
        self._etag: str | None = None
        self._synced = False
        self._rejected: tuple[int, str] | None = None
        self._last_error: str | None = None
        self._backup_error: str | None = None
        self._counts = {"applied": 0, "rejected": 0, "errors": 0}
        self._offer_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tollhouse-config-sync")

    async def stop(self) -> None:
        """Stops syncing; the applied configuration stays as it is."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_ready(self, seconds: float | None = None) -> bool:
        """True once a configuration is applied; False if `seconds` pass first."""
        try:
            await asyncio.wait_for(self._ready.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def nudge(self) -> None:
        """Ends the current backoff pause early (a heartbeat got through, say)."""
        self._wake.set()

    # --- state -----------------------------------------------------------------------------

    @property
    def configuration(self) -> GatewayConfiguration | None:
        return self._applied

    @property
    def ready(self) -> bool:
        return self._applied is not None

    @property
    def applied_revision(self) -> int | None:
        return self._applied.revision if self._applied is not None else None

    @property
    def stale(self) -> bool:
        """Serving a configuration the control plane has not confirmed lately."""
        return self._applied is not None and not self._synced

    @property
    def rejected_revision(self) -> int | None:
        return self._rejected[0] if self._rejected else None

    @property
    def rejected_reason(self) -> str | None:
        return self._rejected[1] if self._rejected else None

    def status(self) -> SyncStatus:
        if self._applied is None:
            state = STARTING
        elif not self._synced:
            state = STALE
        elif self._rejected is not None:
            state = DEGRADED
        else:
            state = HEALTHY
        return SyncStatus(
            ready=self.ready,
            state=state,
            applied_revision=self.applied_revision,
            source=self._source,
            stale=self.stale,
            rejected_revision=self.rejected_revision,
            rejected_reason=self.rejected_reason,
            unsupported=self._unsupported,
            last_error=self._last_error,
            backup_error=self._backup_error,
            applied_total=self._counts["applied"],
            rejected_total=self._counts["rejected"],
            sync_errors_total=self._counts["errors"],
        )

    # --- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._bootstrap()
            await self._follow()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("configuration sync stopped by an unexpected error")
            raise

    async def _bootstrap(self) -> None:
        """Until a snapshot is received; the backup meanwhile, when the control plane is slow
        or away."""
        backup_tried = self.backup is None
        attempt = 0
        while True:
            fetch = asyncio.ensure_future(self._refresh())
            try:
                if not backup_tried:
                    done, _ = await asyncio.wait({fetch}, timeout=self.backup_after)
                    if not done:
                        backup_tried = True
                        await self._restore_backup()
                await fetch
            except SyncError as exc:
                self._failed(exc)
                if not backup_tried:
                    backup_tried = True
                    await self._restore_backup()
                await self._pause(attempt, exc)
                attempt += 1
                continue
            finally:
                if not fetch.done():
                    fetch.cancel()
            if self._applied is None and not backup_tried:
                # The snapshot was rejected: the backup is the last good configuration.
                await self._restore_backup()
            return

    async def _follow(self) -> None:
        attempt = 0
        resnapshot = False
        gone_in_a_row = 0
        while True:
            try:
                if resnapshot:
                    await self._refresh()
                    resnapshot = False
                else:
                    assert self._position is not None
                    position = self._position
                    page = await self.client.events(position, self.events_wait)
                    self._succeeded()
                    gone_in_a_row = 0
                    if (page.events or page.revision != position) and not await self._refresh():
                        await self._sleep(REFRESH_RETRY_SECONDS)
                attempt = 0
            except FeedGone:
                # §2: "410 Gone when the revision has been compacted away → fetch the
                # snapshot again".
                log.info("feed position %s was compacted; taking the snapshot", self._position)
                resnapshot = True
                gone_in_a_row += 1
                if gone_in_a_row > 1:
                    await self._pause(attempt, None)
                    attempt += 1
            except SyncError as exc:
                self._failed(exc)
                if isinstance(exc, ConfigApiError) and exc.status == 400:
                    # A position ahead of the service: the control plane was restored from
                    # an older state. Its snapshot says where it is.
                    resnapshot = True
                await self._pause(attempt, exc)
                attempt += 1

    async def _refresh(self) -> bool:
        """Fetches the snapshot unless the one last seen is current; offers it. True when a
        newer revision than the position arrived."""
        before = self._position
        try:
            config, etag = await self.client.snapshot(self._etag)
        except InvalidResponse as exc:
            if exc.revision is None:
                raise  # which revision is unknown: retried like any failure
            # Case 29: a schema-invalid snapshot is rejected like one that fails to compile,
            # and not fetched again until the next change.
            self._succeeded()
            self._etag, self._position = exc.etag, exc.revision
            self._reject(exc.revision, str(exc))
            return before is None or exc.revision != before
        self._succeeded()
        if config is None:
            if self._applied is not None and etag == f'"{self._applied.revision}"':
                self._source = FROM_CONTROL_PLANE  # the backup is confirmed current
            return False
        self._etag = etag
        self._position = config.revision
        await self._offer(config, FROM_CONTROL_PLANE)
        return before is None or config.revision != before

    async def _restore_backup(self) -> None:
        assert self.backup is not None
        config = await asyncio.to_thread(self.backup.load, self.client.gateway)
        if config is None:
            log.warning(
                "no usable configuration backup (%s): not ready until the control plane answers",
                self.backup.refused,
            )
            return
        async with self._offer_lock:
            if self._applied is not None:
                return  # the control plane answered meanwhile
            if await self._offer_locked(config, FROM_BACKUP):
                log.warning(
                    "serving the configuration backup (revision %d) until the control plane "
                    "answers",
                    config.revision,
                )
                if self._position is None:
                    self._position = config.revision
                    self._etag = f'"{config.revision}"'

    async def _offer(self, config: GatewayConfiguration, source: str) -> bool:
        async with self._offer_lock:
            return await self._offer_locked(config, source)

    async def _offer_locked(self, config: GatewayConfiguration, source: str) -> bool:
        """Apply `config` or reject it whole; True if it is (now) the applied one."""
        applied = self._applied
        if config.gateway.lower() != self.client.gateway.lower():
            self._reject(config.revision, f"it is the configuration of gateway '{config.gateway}'")
            return False
        if applied is not None and config.revision < applied.revision:
            self._reject(
                config.revision,
                f"revision {config.revision} is older than the applied revision {applied.revision}",
            )
            return False
        if applied is not None and config.revision == applied.revision:
            self._source = source if source == FROM_CONTROL_PLANE else self._source
            return True
        try:
            result = self.apply(config)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # the compile step may fail in any way: that is a rejection
            self._reject(config.revision, f"{type(exc).__name__}: {exc}")
            return False
        self._applied = config
        self._source = source
        self._unsupported = (result,) if isinstance(result, str) else tuple(result or ())
        if self._rejected is not None and self._rejected[0] <= config.revision:
            self._rejected = None
        self._counts["applied"] += 1
        self._ready.set()
        log.info("configuration revision %d applied (from the %s)", config.revision, source)
        if source == FROM_CONTROL_PLANE and self.backup is not None:
            await self._save_backup(config)
        return True

    async def _save_backup(self, config: GatewayConfiguration) -> None:
        assert self.backup is not None
        try:
            await asyncio.to_thread(self.backup.save, config)
        except BackupError as exc:
            if self._backup_error is None:
                log.warning("configuration backup not written: %s", exc)
            self._backup_error = str(exc)
        else:
            self._backup_error = None

    def _reject(self, revision: int, reason: str) -> None:
        reason = " ".join(reason.split())[:MAX_REASON_CHARS]
        self._rejected = (revision, reason)
        self._counts["rejected"] += 1
        kept = self.applied_revision
        log.error(
            "configuration revision %d rejected, %s: %s",
            revision,
            f"revision {kept} stays" if kept is not None else "nothing applied yet",
            reason,
        )

    def _succeeded(self) -> None:
        if not self._synced and self._last_error is not None:
            log.info("the configuration API answers again")
        self._synced = True
        self._last_error = None

    def _failed(self, exc: SyncError) -> None:
        message = str(exc)
        if message != self._last_error:
            log.warning("configuration sync: %s", message)
        else:
            log.debug("configuration sync: %s", message)
        self._synced = False
        self._last_error = message
        self._counts["errors"] += 1

    async def _pause(self, attempt: int, exc: SyncError | None) -> None:
        retry_after = exc.retry_after if isinstance(exc, ConfigApiError) else None
        await self._sleep(self.backoff.delay(attempt, self.draw(), retry_after))

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
