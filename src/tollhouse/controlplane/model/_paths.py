"""Paths of resources under the service: `apis/echo/operations/get`.

A path alternates collection segments and names. Collection segments compare
case-insensitively and are rendered in the Azure REST spelling (`namedValues`); names keep the
caller's spelling and compare case-insensitively, as ARM does. Three shapes exist:

    apis/echo/operations/get            ResourcePath     one resource
    apis/echo/operations                CollectionPath   the resources of one kind under a parent
    gateways/edge/generateToken         ActionPath       a POST verb on one resource

References between resources (`properties.scope`, `properties.certificateId`) are written by
callers either service-relative (`/products/starter`) or as full resource ids
(`/subscriptions/…/providers/Microsoft.ApiManagement/service/{svc}/products/starter`); both
parse here to the service-relative form, which is what the model stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tollhouse.controlplane.model._errors import (
    INVALID_RESOURCE_NAME,
    INVALID_RESOURCE_TYPE,
    ModelError,
    echo,
    invalid,
)
from tollhouse.controlplane.model._kinds import (
    ResourceKind,
    kind_for_collections,
    kind_of,
)
from tollhouse.controlplane.model._names import check_name, fold

# Far longer than any real path (five segments of at most 256 characters).
MAX_PATH_LENGTH = 2048

_SERVICE_PREFIX = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ApiManagement"
    r"/service/[^/]+(?=/|$)",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True, eq=False)
class ResourcePath:
    """One resource: its kind (`apis/operations`) and its names (`("echo", "get")`).

    Equal and hashed by `key`, so `apis/Echo` and `APIS/echo` are the same resource.
    """

    kind: str
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        kind = kind_of(self.kind)
        if len(self.names) != kind.depth:
            raise ModelError(
                INVALID_RESOURCE_TYPE,
                f"A '{kind.key}' resource has {kind.depth} name(s), not {len(self.names)}.",
                status=404,
            )
        collections = kind.collections
        names = tuple(
            _checked_name(kind_of("/".join(collections[: level + 1])), name)
            for level, name in enumerate(self.names)
        )
        object.__setattr__(self, "kind", kind.key)
        object.__setattr__(self, "names", names)

    @property
    def resource_kind(self) -> ResourceKind:
        return kind_of(self.kind)

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def relative(self) -> str:
        """`apis/echo/operations/get`: collection segments in Azure's spelling."""
        segments: list[str] = []
        for collection, name in zip(self.kind.split("/"), self.names, strict=True):
            segments += [collection, name]
        return "/".join(segments)

    @property
    def key(self) -> str:
        """The comparison key: `relative`, case-folded."""
        return fold(self.relative)

    @property
    def parent(self) -> ResourcePath | None:
        parent = self.resource_kind.parent
        return None if parent is None else ResourcePath(parent, self.names[:-1])

    def child(self, collection: str, name: str) -> ResourcePath:
        """`ResourcePath("apis", ("echo",)).child("operations", "get")`."""
        return ResourcePath(f"{self.kind}/{collection}", (*self.names, name))

    def resource_id(self, service_id: str) -> str:
        return f"{service_id.rstrip('/')}/{self.relative}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourcePath):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.relative


@dataclass(frozen=True)
class CollectionPath:
    """The resources of one kind under one parent: `apis/echo/operations`."""

    kind: str
    parent: ResourcePath | None

    @property
    def relative(self) -> str:
        last = self.kind.split("/")[-1]
        return last if self.parent is None else f"{self.parent.relative}/{last}"

    def rbac_action(self, verb: str) -> str:
        return kind_of(self.kind).rbac_action(verb)


@dataclass(frozen=True)
class ActionPath:
    """A POST verb on one resource: `gateways/edge/generateToken`."""

    resource: ResourcePath
    action: str

    @property
    def relative(self) -> str:
        return f"{self.resource.relative}/{self.action}"

    @property
    def rbac_action(self) -> str:
        """`Microsoft.ApiManagement/service/gateways/generateToken/action`."""
        return self.resource.resource_kind.post_action(self.action)


def parse_path(text: str) -> ResourcePath | CollectionPath | ActionPath:
    """Parse a path relative to the service id; one leading or trailing `/` is tolerated.

    Raises `ModelError` 404 `InvalidResourceType` when the path names no kind or action of the
    service, and 400 `InvalidResourceName` when a name breaks its kind's rules.
    """
    if not isinstance(text, str) or len(text) > MAX_PATH_LENGTH:
        raise _no_such_type(str(text))
    trimmed = text.removeprefix("/").removesuffix("/")
    segments = trimmed.split("/")
    if not trimmed or any(not segment for segment in segments):
        raise _no_such_type(text)
    collections, names = tuple(segments[0::2]), tuple(segments[1::2])
    kind = kind_for_collections(collections)
    if len(segments) % 2 == 0:
        if kind is None:
            raise _no_such_type(text)
        return ResourcePath(kind.key, names)
    if kind is not None:
        parent_kind = kind.parent
        parent = None if parent_kind is None else ResourcePath(parent_kind, names)
        return CollectionPath(kind.key, parent)
    owner = kind_for_collections(tuple(segments[:-1][0::2]))
    if owner is None or not owner.actions:
        raise _no_such_type(text)
    resource = ResourcePath(owner.key, tuple(segments[:-1][1::2]))
    return ActionPath(resource, owner.action_name(segments[-1]))


def parse_resource_path(text: str) -> ResourcePath:
    """Parse the path of one resource (`apis/echo/operations/get`); see `parse_path`."""
    parsed = parse_path(text)
    if not isinstance(parsed, ResourcePath):
        raise ModelError(
            INVALID_RESOURCE_TYPE, f"The path {echo(text)} does not name one resource.", 404
        )
    return parsed


def parse_reference(text: str, path: str) -> ResourcePath | CollectionPath:
    """A reference to another resource of the service, service-relative or a full resource id.

    `path` is the property holding it, named in errors. The service name inside a full id is
    not compared with this service's: a model value does not know which service it is in.
    """
    if not isinstance(text, str) or not text.startswith("/") or len(text) > MAX_PATH_LENGTH:
        raise invalid(path, "must be a resource id such as '/products/{productId}'")
    relative = text
    prefix = _SERVICE_PREFIX.match(text)
    if prefix is not None:
        relative = text[prefix.end() :]
    try:
        parsed = parse_path(relative)
    except ModelError as error:
        raise invalid(path, f"is not a resource id of this service: {error.message}") from None
    if isinstance(parsed, ActionPath):
        raise invalid(path, f"is not a resource id of this service: {echo(text)}")
    return parsed


def reference_text(target: ResourcePath | CollectionPath) -> str:
    """The stored, service-relative form of a reference: `/products/starter`, `/apis`."""
    return "/" + target.relative


def _checked_name(kind: ResourceKind, name: str) -> str:
    if not isinstance(name, str):
        raise ModelError(INVALID_RESOURCE_NAME, f"The resource name {echo(name)} is not valid.")
    if kind.fixed_name is not None:
        if fold(name) != kind.fixed_name:
            raise ModelError(
                INVALID_RESOURCE_NAME,
                f"A '{kind.key}' resource must be named '{kind.fixed_name}', not {echo(name)}.",
            )
        return kind.fixed_name
    check_name(name, max_length=kind.max_name_length, revisions=kind.revisions)
    if fold(name) in kind.reserved_names:
        raise ModelError(
            INVALID_RESOURCE_NAME, f"The name {echo(name)} is reserved for '{kind.key}'."
        )
    return name


def _no_such_type(text: str) -> ModelError:
    return ModelError(
        INVALID_RESOURCE_TYPE,
        f"The path {echo(text)} names no resource type of Microsoft.ApiManagement/service.",
        status=404,
    )
