"""Pages of the per-gateway change feed (`GET /gateways/{gw}/events`).

An event says what changed and at which revision; the snapshot is the state. A page with
no events and `revision` equal to the caller's means nothing changed during the long poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tollhouse.contracts import _read as read
from tollhouse.contracts._errors import ContractError

ACTIONS = ("upsert", "delete")


@dataclass(frozen=True)
class ChangeEvent:
    revision: int
    kind: str
    path: str
    action: str

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "kind": self.kind,
            "path": self.path,
            "action": self.action,
        }


@dataclass(frozen=True)
class EventPage:
    events: tuple[ChangeEvent, ...]
    # The newest revision the control plane knows; the next $skiptoken when there is no link.
    revision: int
    next_link: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": [e.to_json() for e in self.events],
            "revision": self.revision,
            "nextLink": self.next_link,
        }


def parse_event_page(document: Any) -> EventPage:
    doc = read.obj(document, "$")
    events = []
    for index, value in enumerate(read.items(doc.get("value"), "$.value")):
        where = f"$.value[{index}]"
        item = read.obj(value, where)
        action = read.text(item, "action", where)
        if action not in ACTIONS:
            raise ContractError(f"{where}.action", f"must be one of {ACTIONS}")
        events.append(
            ChangeEvent(
                revision=read.integer(item, "revision", where),
                kind=read.text(item, "kind", where),
                path=read.text(item, "path", where),
                action=action,
            )
        )
    return EventPage(
        events=tuple(events),
        revision=read.integer(doc, "revision", "$"),
        next_link=read.optional_text(doc, "nextLink", "$"),
    )
