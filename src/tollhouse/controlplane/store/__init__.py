"""Persistence of the control plane: resources, revisions, change feed, instances."""

from tollhouse.controlplane.store._store import (
    DEFAULT_EVENTS_RETAINED,
    NOTIFY_CHANNEL,
    ControlPlaneStore,
    InstanceRecord,
    StoredResource,
    Write,
)
from tollhouse.controlplane.store._watch import RevisionWatcher

__all__ = [
    "DEFAULT_EVENTS_RETAINED",
    "NOTIFY_CHANNEL",
    "ControlPlaneStore",
    "InstanceRecord",
    "RevisionWatcher",
    "StoredResource",
    "Write",
]
