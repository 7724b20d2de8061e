"""One API Management service instance: resources, revisions, snapshots, gateway status.

The management and configuration routes call this; this calls the model (validation), the
store (sync, moved off the event loop) and the snapshot builder. Nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tollhouse.contracts import (
    ChangeEvent,
    EventPage,
    GatewayConfiguration,
    Heartbeat,
    HeartbeatReply,
    Telemetry,
)
from tollhouse.controlplane import model
from tollhouse.controlplane._config import (
    STALE_AFTER_HEARTBEATS,
    TOKEN_EXPIRY_WARNING_DAYS,
    ControlPlaneConfig,
)
from tollhouse.controlplane._errors import BadRequest, Gone, NotFound
from tollhouse.controlplane.snapshot import build_configuration
from tollhouse.controlplane.store import ControlPlaneStore, RevisionWatcher, StoredResource, Write

# Distinct change-feed reads kept for sharing among waiters before the table is reset.
MAX_SHARED_EVENT_READS = 256


def _resource(stored: StoredResource) -> model.Resource:
    return model.Resource(model.parse_resource_path(stored.path), stored.properties, stored.secrets)


def _write(resource: model.Resource) -> Write:
    return Write(
        resource.path.relative, resource.kind, dict(resource.properties), dict(resource.secrets)
    )


@dataclass(frozen=True)
class GatewayStatus:
    name: str
    instances: list[dict[str, Any]]
    node_count: int
    token_expiry_warning: str | None


class ControlPlane:
    def __init__(
        self,
        config: ControlPlaneConfig,
        store: ControlPlaneStore,
        watcher: RevisionWatcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.watcher = watcher
        self.clock = clock
        self._snapshots: dict[str, GatewayConfiguration] = {}
        self._snapshot_lock = asyncio.Lock()
        # The resources of the last revision read, shared by the snapshots built from it.
        self._loaded: tuple[int, list[StoredResource]] | None = None
        # The latest expiry of a token issued by generateToken, per gateway (for warnings).
        self._token_expiry: dict[str, dt.datetime] = {}
        self._event_reads: dict[
            tuple[int, int, int], asyncio.Future[tuple[list[ChangeEvent], int, int]]
        ] = {}

    @property
    def service_id(self) -> str:
        return self.config.service_id

    # --- resources -------------------------------------------------------------------------

    def get(self, path: model.ResourcePath) -> model.Resource:
        stored = self.store.get(path.relative)
        if stored is None:
            raise NotFound(f"{path.resource_kind.arm_type} '{path.relative}' was not found.")
        return _resource(stored)

    def find(self, path: model.ResourcePath) -> model.Resource | None:
        stored = self.store.get(path.relative)
        return _resource(stored) if stored is not None else None

    def list_collection(self, collection: model.CollectionPath) -> list[model.Resource]:
        if collection.parent is not None:
            self.get(collection.parent)
        parent = collection.parent.relative if collection.parent is not None else ""
        return [_resource(s) for s in self.store.children(parent, collection.kind)]

    def put(
        self, path: model.ResourcePath, properties: Mapping[str, Any] | None
    ) -> tuple[model.Resource, bool]:
        """Creates or replaces a resource; (the resource, whether it was created)."""
        if path.parent is not None:
            self.get(path.parent)
        if path.kind == "apis":
            base = model.api_revision_base(path)
            if base is not None:
                self.get(base)
        existing = self.find(path)
        writes: list[Write] = []
        if path.kind == "apis" and model.is_import_request(properties):
            imported = model.import_api_request(path, properties or {})
            resource = model.normalize_resource(path, imported.api_properties, existing)
            writes.append(_write(resource))
            if existing is not None:
                # An import replaces the API's operations.
                writes += [
                    Write(op.path, op.kind, delete=True)
                    for op in self.store.children(path.relative, "apis/operations")
                ]
            for name, op_properties in imported.operations:
                op_path = path.child("operations", name)
                writes.append(_write(model.normalize_resource(op_path, op_properties)))
        else:
            resource = model.normalize_resource(path, properties, existing)
            if existing is None:
                # A subscription's read-only createdDate: the model has no clock.
                now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
                resource = model.stamp_created_date(resource, now)
            writes.append(_write(resource))
        for reference in model.referenced_paths(resource):
            if self.store.get(reference.relative) is None:
                raise BadRequest(
                    f"'{path.relative}' refers to '{reference.relative}', which does not exist.",
                    "ReferencedResourceNotFound",
                )
        self._commit(writes)
        return resource, existing is None

    def patch(
        self, path: model.ResourcePath, properties: Mapping[str, Any] | None
    ) -> model.Resource:
        existing = self.get(path)
        merged = model.merge_patch(existing, properties)
        resource = model.normalize_resource(path, merged, existing)
        self._commit([_write(resource)])
        return resource

    def delete(self, path: model.ResourcePath) -> bool:
        """Deletes a resource, its children and the links that name it; False if absent."""
        if self.store.get(path.relative) is None:
            return False
        writes = [Write(path.relative, path.kind, delete=True)]
        _, everything = self.store.load_all()
        if path.kind == "apis":
            # Its revisions (`echo;rev=2`), its product links and gateway assignments, and the
            # subscriptions scoped to it go with it: nothing comes back if the name is reused.
            names = {path.name.lower()} | {
                r.path.split("/")[1].lower()
                for r in everything
                if r.kind == "apis" and r.path.lower().startswith(f"apis/{path.name.lower()};rev=")
            }
            for stored in everything:
                last = stored.path.rsplit("/", 1)[-1].lower()
                if stored.kind == "apis" and last in names - {path.name.lower()}:
                    writes.append(Write(stored.path, stored.kind, delete=True))
                if stored.kind in ("products/apis", "gateways/apis") and last in names:
                    writes.append(Write(stored.path, stored.kind, delete=True))
        if path.kind in ("apis", "products"):
            scope = f"/{path.kind}/{path.name}".lower()
            writes += [
                Write(stored.path, stored.kind, delete=True)
                for stored in everything
                if stored.kind == "subscriptions"
                and str(stored.properties.get("scope", "")).lower() == scope
            ]
        self._commit(writes)
        return True

    def replace(self, resource: model.Resource) -> model.Resource:
        self._commit([_write(resource)])
        return resource

    def _commit(self, writes: list[Write]) -> int:
        revision = self.store.apply(writes, now=self.clock())
        self.watcher.notify(revision)
        return revision

    # --- gateways --------------------------------------------------------------------------

    def gateway(self, name: str) -> model.Resource:
        return self.get(model.ResourcePath("gateways", (name,)))

    def generate_token(self, name: str, body: Mapping[str, Any] | None) -> str:
        gateway = self.gateway(name)
        request = model.parse_gateway_token_request(body)
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        key = str(gateway.secrets.get(request.key_type, ""))
        token = model.generate_gateway_token(gateway.name, key, request.expiry, now=now)
        previous = self._token_expiry.get(name.lower())
        if previous is None or request.expiry > previous:
            self._token_expiry[name.lower()] = request.expiry
        return token

    def check_gateway_token(self, name: str, token: str) -> model.GatewayTokenCheck:
        gateway = self.gateway(name)
        # By position: the check reports which key (primary, secondary) matched.
        keys = [str(gateway.secrets.get(k, "")) for k in ("primary", "secondary")]
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        return model.verify_gateway_token(token, gateway.name, keys, now)

    def status(self, name: str) -> GatewayStatus:
        gateway = self.gateway(name)
        now = self.clock()
        stale_after = self.config.heartbeat_seconds * STALE_AFTER_HEARTBEATS
        instances = []
        for record in self.store.instances(gateway.name):
            stale = now - record.last_seen > stale_after
            instances.append(
                {
                    **record.heartbeat.to_json(),
                    "firstSeen": _iso(record.first_seen),
                    "lastSeen": _iso(record.last_seen),
                    "stale": stale,
                }
            )
        warning = None
        expiry = self._token_expiry.get(name.lower())
        if expiry is not None:
            left = expiry - dt.datetime.fromtimestamp(now, dt.UTC)
            if left <= dt.timedelta(days=TOKEN_EXPIRY_WARNING_DAYS):
                warning = f"the latest gateway token expires at {expiry.isoformat()}"
        return GatewayStatus(
            name=gateway.name,
            instances=instances,
            node_count=sum(1 for i in instances if not i["stale"]),
            token_expiry_warning=warning,
        )

    # --- the configuration API -------------------------------------------------------------

    async def configuration(self, name: str) -> GatewayConfiguration:
        """The snapshot for a gateway at the current revision (cached per revision)."""
        gateway = await asyncio.to_thread(self.gateway, name)
        key = gateway.name.lower()
        cached = self._snapshots.get(key)
        if cached is not None and cached.revision == self.watcher.revision:
            return cached
        async with self._snapshot_lock:
            loaded = self._loaded
            if loaded is not None and loaded[0] == self.watcher.revision:
                # Many gateways fetch after each change: the service is read once per revision.
                revision, resources = loaded
            else:
                revision, resources = await asyncio.to_thread(self.store.load_all)
                self._loaded = (revision, resources)
            cached = self._snapshots.get(key)
            if cached is not None and cached.revision == revision:
                return cached
            built = await asyncio.to_thread(
                build_configuration, gateway.name, self.service_id, revision, resources
            )
            self._snapshots[key] = built
            return built

    async def events(self, name: str, after: int, top: int, wait: float) -> EventPage:
        await asyncio.to_thread(self.gateway, name)
        if wait > 0 and self.watcher.revision <= after:
            await self.watcher.wait_beyond(after, min(wait, self.config.max_wait_seconds))
        events, current, compacted = await self._events_after(after, top)
        if after < compacted:
            raise Gone(
                f"Revision {after} has been compacted; fetch the configuration again.",
                "RevisionCompacted",
            )
        if after > current:
            raise BadRequest(f"Revision {after} is ahead of the service ({current}).")
        next_link = None
        if len(events) == top:
            next_link = f"/gateways/{name}/events?$skiptoken={events[-1].revision}&$top={top}"
        return EventPage(tuple(events), current, next_link)

    async def _events_after(self, after: int, top: int) -> tuple[list[ChangeEvent], int, int]:
        """One store read per (position, page size, known revision): a change wakes every
        waiting gateway at once, and they mostly wait at the same position."""
        key = (after, top, self.watcher.revision)
        pending = self._event_reads.get(key)
        if pending is None:
            if len(self._event_reads) > MAX_SHARED_EVENT_READS:
                self._event_reads.clear()
            pending = asyncio.ensure_future(asyncio.to_thread(self.store.events_after, after, top))
            self._event_reads[key] = pending
        return await asyncio.shield(pending)

    def heartbeat(self, name: str, beat: Heartbeat) -> HeartbeatReply:
        gateway = self.gateway(name)
        self.store.record_heartbeat(gateway.name, beat, now=self.clock())
        return HeartbeatReply(self.store.revision(), self.config.heartbeat_seconds)

    def telemetry(self, name: str, telemetry: Telemetry) -> None:
        gateway = self.gateway(name)
        self.store.record_telemetry(gateway.name, telemetry, now=self.clock())


def _iso(value: float) -> str:
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="seconds")
