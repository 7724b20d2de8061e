"""Heartbeats: each instance reports itself to the control plane every `heartbeat.interval`
(apim-self-hosted-gateway.md §3: "heartbeat messages every minute"), which the portal and the
console show as the node count.

A heartbeat says who the instance is (a random id per process, the host name, the version),
the configuration revision it serves, its state (starting, healthy, degraded, stale), the
revision it rejected and why, when its credential expires (security-and-faults.md case 32),
and the `runtime.deployment.*` settings. The control plane may ask for a shorter interval; the
shorter one is used, so the control plane never sees a live instance as stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tollhouse import __version__
from tollhouse.contracts import Heartbeat, HeartbeatReply
from tollhouse.gateway._settings import DEFAULT_HEARTBEAT_SECONDS
from tollhouse.gateway.sync import ConfigClient, ConfigCredentials, SyncAgent, SyncError

log = logging.getLogger("tollhouse.gateway.telemetry.heartbeat")

# The control plane's requested interval is honoured down to this: a reply cannot make an
# instance flood it.
MIN_HEARTBEAT_SECONDS = 1.0


@dataclass(frozen=True)
class Instance:
    """This gateway process as heartbeats name it."""

    id: str
    hostname: str
    version: str = __version__
    deployment: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def current(cls, deployment: Mapping[str, str] | None = None) -> Instance:
        return cls(str(uuid.uuid4()), socket.gethostname(), __version__, dict(deployment or {}))


def build_heartbeat(
    instance: Instance, agent: SyncAgent, credentials: ConfigCredentials
) -> Heartbeat:
    status = agent.status()
    return Heartbeat(
        instance_id=instance.id,
        hostname=instance.hostname,
        version=instance.version,
        applied_revision=status.applied_revision,
        status=status.instance_status(credentials.expires_at()),
        deployment=dict(instance.deployment),
    )


class HeartbeatSender:
    def __init__(
        self,
        client: ConfigClient,
        agent: SyncAgent,
        instance: Instance,
        *,
        interval: float = DEFAULT_HEARTBEAT_SECONDS,
        on_reply: Callable[[HeartbeatReply], None] | None = None,
    ) -> None:
        self.client = client
        self.agent = agent
        self.instance = instance
        self.interval = interval
        self.on_reply = on_reply
        self.sent = 0
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tollhouse-heartbeat")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def send(self) -> HeartbeatReply | None:
        """One heartbeat now; None (and logged) when the control plane could not take it."""
        beat = build_heartbeat(self.instance, self.agent, self.client.credentials)
        try:
            reply = await self.client.heartbeat(beat)
        except SyncError as exc:
            if str(exc) != self.last_error:
                log.warning("heartbeat not delivered: %s", exc)
            self.last_error = str(exc)
            return None
        self.last_error = None
        self.sent += 1
        applied = self.agent.applied_revision
        if applied is None or reply.revision > applied:
            # The control plane is reachable and ahead: cut a sync backoff short.
            self.agent.nudge()
        if self.on_reply is not None:
            self.on_reply(reply)
        return reply

    async def _run(self) -> None:
        interval = self.interval
        while True:
            reply = await self.send()
            if reply is not None:
                asked = max(MIN_HEARTBEAT_SECONDS, float(reply.heartbeat_interval_seconds))
                interval = min(self.interval, asked)
            await asyncio.sleep(interval)
