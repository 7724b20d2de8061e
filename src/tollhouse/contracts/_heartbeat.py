"""Heartbeats: what an instance reports each minute, and what the control plane answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tollhouse.contracts import _read as read
from tollhouse.contracts._errors import ContractError

STATES = ("healthy", "degraded", "stale", "starting")
MAX_INSTANCE_ID = 128
MAX_DEPLOYMENT_ENTRIES = 64


@dataclass(frozen=True)
class InstanceStatus:
    state: str = "healthy"
    # The revision a gateway refused and why (it keeps serving its last good one).
    rejected_revision: int | None = None
    rejected_reason: str | None = None
    credential_expires_at: str | None = None
    unsupported: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "rejectedRevision": self.rejected_revision,
            "rejectedReason": self.rejected_reason,
            "credentialExpiresAt": self.credential_expires_at,
            "unsupported": list(self.unsupported),
        }


@dataclass(frozen=True)
class Heartbeat:
    instance_id: str
    hostname: str
    version: str
    applied_revision: int | None
    status: InstanceStatus = InstanceStatus()
    deployment: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "hostname": self.hostname,
            "version": self.version,
            "appliedRevision": self.applied_revision,
            "status": self.status.to_json(),
            "deployment": dict(self.deployment),
        }


@dataclass(frozen=True)
class HeartbeatReply:
    revision: int
    heartbeat_interval_seconds: int

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "heartbeatIntervalSeconds": self.heartbeat_interval_seconds,
        }


def _optional_int(doc: Mapping[str, Any], key: str, where: str) -> int | None:
    if doc.get(key) is None:
        return None
    return read.integer(doc, key, where)


def parse_heartbeat(document: Any) -> Heartbeat:
    doc = read.obj(document, "$")
    instance = read.text(doc, "instanceId", "$")
    if not instance or len(instance) > MAX_INSTANCE_ID:
        raise ContractError("$.instanceId", f"must be 1 to {MAX_INSTANCE_ID} characters")
    status_doc = read.obj(doc.get("status", {}), "$.status")
    state = read.text(status_doc, "state", "$.status", default="healthy")
    if state not in STATES:
        raise ContractError("$.status.state", f"must be one of {STATES}")
    deployment = read.obj(doc.get("deployment", {}), "$.deployment")
    if len(deployment) > MAX_DEPLOYMENT_ENTRIES or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in deployment.items()
    ):
        raise ContractError("$.deployment", "must map at most 64 names to strings")
    return Heartbeat(
        instance_id=instance,
        hostname=read.text(doc, "hostname", "$", default=""),
        version=read.text(doc, "version", "$", default=""),
        applied_revision=_optional_int(doc, "appliedRevision", "$"),
        status=InstanceStatus(
            state=state,
            rejected_revision=_optional_int(status_doc, "rejectedRevision", "$.status"),
            rejected_reason=read.optional_text(status_doc, "rejectedReason", "$.status"),
            credential_expires_at=read.optional_text(status_doc, "credentialExpiresAt", "$.status"),
            unsupported=read.strings(status_doc, "unsupported", "$.status"),
        ),
        deployment=dict(deployment),
    )


def parse_heartbeat_reply(document: Any) -> HeartbeatReply:
    doc = read.obj(document, "$")
    return HeartbeatReply(
        revision=read.integer(doc, "revision", "$"),
        heartbeat_interval_seconds=read.integer(doc, "heartbeatIntervalSeconds", "$", minimum=1),
    )
