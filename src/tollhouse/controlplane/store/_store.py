"""The control plane's persistence: resources, the service revision, the change feed,
gateway instances and their metrics.

Every write is one transaction that increments the service revision (the row lock on
`cp_service` serialises writers) and records its change events; on PostgreSQL it also
`NOTIFY`s, so long polls held by other replicas wake up (`_watch.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, text, update

from tollhouse import storage
from tollhouse.contracts import ChangeEvent, Heartbeat, Telemetry, parse_heartbeat
from tollhouse.controlplane.store import _schema as t

MIGRATIONS = Path(__file__).parent / "migrations"
NOTIFY_CHANNEL = "tollhouse_controlplane"
# Change events kept for gateways catching up; older skiptokens get 410 and a new snapshot.
DEFAULT_EVENTS_RETAINED = 10_000


@dataclass(frozen=True)
class StoredResource:
    path: str
    kind: str
    properties: dict[str, Any]
    secrets: dict[str, Any]
    revision: int

    @property
    def key(self) -> str:
        return self.path.lower()


@dataclass(frozen=True)
class Write:
    """One resource to store (or, with `delete`, to remove) in a revision."""

    path: str
    kind: str
    properties: dict[str, Any] | None = None
    secrets: dict[str, Any] | None = None
    delete: bool = False


@dataclass(frozen=True)
class InstanceRecord:
    gateway: str
    heartbeat: Heartbeat
    first_seen: float
    last_seen: float


def parent_key(path: str) -> str:
    parts = path.lower().split("/")
    return "/".join(parts[:-2])


class ControlPlaneStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, url: str) -> ControlPlaneStore:
        engine = storage.create_store_engine(url)
        storage.migrate(engine, MIGRATIONS)
        with engine.begin() as conn:
            if conn.execute(select(t.service.c.id)).first() is None:
                conn.execute(insert(t.service).values(id=1, revision=0, compacted_through=0))
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- reads -----------------------------------------------------------------------------

    @staticmethod
    def _resource(row: Any) -> StoredResource:
        return StoredResource(
            path=row.path,
            kind=row.kind,
            properties=json.loads(row.properties),
            secrets=json.loads(row.secrets),
            revision=row.revision,
        )

    def revision(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(t.service.c.revision)).scalar_one())

    def get(self, path: str) -> StoredResource | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.resources).where(t.resources.c.key == path.lower())).first()
        return self._resource(row) if row is not None else None

    def children(self, parent_path: str, kind: str) -> list[StoredResource]:
        query = (
            select(t.resources)
            .where(t.resources.c.parent_key == parent_path.lower(), t.resources.c.kind == kind)
            .order_by(t.resources.c.key)
        )
        with self.engine.connect() as conn:
            return [self._resource(row) for row in conn.execute(query).all()]

    def load_all(self) -> tuple[int, list[StoredResource]]:
        """Every resource and the revision they form, read in one transaction."""
        with self.engine.connect() as conn:
            if self.postgresql:
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            revision = int(conn.execute(select(t.service.c.revision)).scalar_one())
            rows = conn.execute(select(t.resources).order_by(t.resources.c.key)).all()
            return revision, [self._resource(row) for row in rows]

    # --- writes ----------------------------------------------------------------------------

    def apply(self, writes: Sequence[Write], *, now: float | None = None) -> int:
        """Stores `writes` as one new revision and returns it. Deleting a path deletes its
        descendants too (an API's operations and policies)."""
        stamp = time.time() if now is None else now
        with self.engine.begin() as conn:
            revision = int(
                conn.execute(
                    update(t.service)
                    .values(revision=t.service.c.revision + 1)
                    .returning(t.service.c.revision)
                ).scalar_one()
            )
            for write in writes:
                key = write.path.lower()
                if write.delete:
                    conn.execute(
                        delete(t.resources).where(
                            (t.resources.c.key == key) | t.resources.c.key.startswith(key + "/")
                        )
                    )
                    action = "delete"
                else:
                    conn.execute(delete(t.resources).where(t.resources.c.key == key))
                    conn.execute(
                        insert(t.resources).values(
                            key=key,
                            path=write.path,
                            kind=write.kind,
                            parent_key=parent_key(write.path),
                            properties=json.dumps(write.properties or {}),
                            secrets=json.dumps(write.secrets or {}),
                            revision=revision,
                        )
                    )
                    action = "upsert"
                conn.execute(
                    insert(t.events).values(
                        revision=revision, kind=write.kind, path=write.path, action=action, at=stamp
                    )
                )
            if self.postgresql:
                conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": NOTIFY_CHANNEL, "payload": str(revision)},
                )
        return revision

    # --- the change feed -------------------------------------------------------------------

    def events_after(self, revision: int, limit: int) -> tuple[list[ChangeEvent], int, int]:
        """(events with revision > `revision`, at most `limit`), the current revision, and
        the last compacted revision."""
        with self.engine.connect() as conn:
            state = conn.execute(select(t.service)).one()
            rows = conn.execute(
                select(t.events)
                .where(t.events.c.revision > revision)
                .order_by(t.events.c.id)
                .limit(limit)
            ).all()
        found = [ChangeEvent(r.revision, r.kind, r.path, r.action) for r in rows]
        return found, int(state.revision), int(state.compacted_through)

    def compact(self, keep: int = DEFAULT_EVENTS_RETAINED) -> int:
        """Drops all but the newest `keep` events; returns the revision compacted through."""
        with self.engine.begin() as conn:
            count = int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())
            if count <= keep:
                return int(conn.execute(select(t.service.c.compacted_through)).scalar_one())
            cutoff = conn.execute(
                select(t.events.c.id).order_by(t.events.c.id.desc()).offset(keep).limit(1)
            ).scalar_one()
            through = int(
                conn.execute(
                    select(func.max(t.events.c.revision)).where(t.events.c.id <= cutoff)
                ).scalar_one()
            )
            conn.execute(delete(t.events).where(t.events.c.revision <= through))
            conn.execute(update(t.service).values(compacted_through=through))
            return through

    # --- instances and telemetry -----------------------------------------------------------

    def record_heartbeat(self, gateway: str, heartbeat: Heartbeat, *, now: float) -> None:
        key = gateway.lower()
        document = json.dumps(heartbeat.to_json())
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(t.instances.c.first_seen).where(
                    t.instances.c.gateway_key == key,
                    t.instances.c.instance_id == heartbeat.instance_id,
                )
            ).first()
            if existing is None:
                conn.execute(
                    insert(t.instances).values(
                        gateway_key=key,
                        instance_id=heartbeat.instance_id,
                        document=document,
                        first_seen=now,
                        last_seen=now,
                    )
                )
            else:
                conn.execute(
                    update(t.instances)
                    .where(
                        t.instances.c.gateway_key == key,
                        t.instances.c.instance_id == heartbeat.instance_id,
                    )
                    .values(document=document, last_seen=now)
                )

    def instances(self, gateway: str) -> list[InstanceRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.instances)
                .where(t.instances.c.gateway_key == gateway.lower())
                .order_by(t.instances.c.first_seen)
            ).all()
        return [
            InstanceRecord(
                gateway, parse_heartbeat(json.loads(r.document)), r.first_seen, r.last_seen
            )
            for r in rows
        ]

    def forget_instances(self, gateway: str, older_than: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.instances).where(
                    t.instances.c.gateway_key == gateway.lower(),
                    t.instances.c.last_seen < older_than,
                )
            )

    def record_telemetry(self, gateway: str, telemetry: Telemetry, *, now: float) -> None:
        key = gateway.lower()
        with self.engine.begin() as conn:
            for point in telemetry.metrics:
                where = (
                    (t.metrics.c.gateway_key == key)
                    & (t.metrics.c.api == point.api)
                    & (t.metrics.c.operation == point.operation)
                    & (t.metrics.c.status_class == point.status_class)
                )
                row = conn.execute(select(t.metrics).where(where)).first()
                if row is None:
                    conn.execute(
                        insert(t.metrics).values(
                            gateway_key=key,
                            api=point.api,
                            operation=point.operation,
                            status_class=point.status_class,
                            count=point.count,
                            duration_ms_sum=point.duration_ms_sum,
                            duration_ms_max=point.duration_ms_max,
                            updated_at=now,
                        )
                    )
                else:
                    conn.execute(
                        update(t.metrics)
                        .where(where)
                        .values(
                            count=row._mapping["count"] + point.count,
                            duration_ms_sum=row.duration_ms_sum + point.duration_ms_sum,
                            duration_ms_max=max(row.duration_ms_max, point.duration_ms_max),
                            updated_at=now,
                        )
                    )

    def metrics(self, gateway: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.metrics).where(t.metrics.c.gateway_key == gateway.lower())
            ).all()
        return [
            {
                "api": r.api,
                "operation": r.operation,
                "statusClass": r.status_class,
                "count": r.count,
                "durationMsSum": r.duration_ms_sum,
                "durationMsMax": r.duration_ms_max,
            }
            for r in rows
        ]
