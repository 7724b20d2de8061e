"""The kinds of resource one API Management service holds, as the Azure REST API names them.

A kind is identified by its collection path under the service, e.g. `apis/operations`; its
ARM type is `Microsoft.ApiManagement/service/` followed by the same segments, and so are its
RBAC actions (`Microsoft.ApiManagement/service/apis/operations/write`). Name limits are those
of the Azure REST API's path parameters (apiId 256, operationId 80, gatewayId 80, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tollhouse.controlplane.model._errors import INVALID_RESOURCE_TYPE, ModelError, echo
from tollhouse.controlplane.model._names import fold

PROVIDER = "Microsoft.ApiManagement"
SERVICE_TYPE = f"{PROVIDER}/service"

# Policies have one resource per scope, always named `policy` (Azure REST: policyId enum).
POLICY_NAME = "policy"


@dataclass(frozen=True)
class ResourceKind:
    """One kind of resource: where it lives, what ARM calls it, how it may be named."""

    key: str
    parent: str | None
    max_name_length: int
    fixed_name: str | None = None
    # POST verbs on one resource (`…/{name}/{action}`), RBAC `…/{action}/action`.
    actions: frozenset[str] = field(default_factory=frozenset)
    # Properties holding references to other resources of the service (`/certificates/x`),
    # dotted for nested ones, a string or an array of strings: stored service-relative,
    # rendered as full resource ids.
    references: tuple[str, ...] = ()
    # API names may carry a revision (`echo;rev=2`).
    revisions: bool = False
    # Names the kind refuses, compared case-insensitively.
    reserved_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def collections(self) -> tuple[str, ...]:
        return tuple(self.key.split("/"))

    @property
    def depth(self) -> int:
        return len(self.collections)

    @property
    def arm_type(self) -> str:
        return f"{SERVICE_TYPE}/{self.key}"

    def rbac_action(self, verb: str) -> str:
        """The RBAC action a management request needs: `read`, `write`, `delete` for GET/HEAD,
        PUT/PATCH and DELETE; POST needs `post_action` (the verb alone does not say which)."""
        suffix = _VERB_ACTIONS.get(verb.upper())
        if suffix is None:
            raise ModelError(
                INVALID_RESOURCE_TYPE,
                f"The verb {echo(verb)} has no RBAC action on '{self.key}'.",
                status=405,
            )
        return f"{self.arm_type}/{suffix}"

    def post_action(self, action: str) -> str:
        """`Microsoft.ApiManagement/service/gateways/generateToken/action` for `generateToken`."""
        return f"{self.arm_type}/{self.action_name(action)}/action"

    def action_name(self, action: str) -> str:
        """The action as the kind spells it, matched case-insensitively."""
        for known in self.actions:
            if fold(known) == fold(action):
                return known
        raise ModelError(
            INVALID_RESOURCE_TYPE,
            f"'{self.key}' has no action {echo(action)}.",
            status=404,
        )


_VERB_ACTIONS = {
    "GET": "read",
    "HEAD": "read",
    "PUT": "write",
    "PATCH": "write",
    "DELETE": "delete",
}

_ALL = (
    ResourceKind("apis", None, 256, references=("apiVersionSetId",), revisions=True),
    ResourceKind("apis/operations", "apis", 80),
    ResourceKind("apis/policies", "apis", 80, fixed_name=POLICY_NAME),
    ResourceKind("apis/operations/policies", "apis/operations", 80, fixed_name=POLICY_NAME),
    ResourceKind("products", None, 256),
    ResourceKind("products/apis", "products", 256),
    ResourceKind("products/policies", "products", 80, fixed_name=POLICY_NAME),
    ResourceKind(
        "subscriptions",
        None,
        256,
        actions=frozenset({"listSecrets", "regeneratePrimaryKey", "regenerateSecondaryKey"}),
        references=("scope",),
    ),
    ResourceKind("namedValues", None, 256, actions=frozenset({"listValue"})),
    ResourceKind("backends", None, 80, references=("credentials.certificateIds",)),
    ResourceKind("certificates", None, 80),
    ResourceKind("policies", None, 80, fixed_name=POLICY_NAME),
    ResourceKind("policyFragments", None, 80),
    ResourceKind(
        "gateways",
        None,
        80,
        actions=frozenset({"generateToken", "regenerateKey", "listKeys"}),
        # Azure REST gatewayId: "Must not have value 'managed'" (the managed gateway's id).
        reserved_names=frozenset({"managed"}),
    ),
    ResourceKind("gateways/apis", "gateways", 256),
    ResourceKind("gateways/hostnameConfigurations", "gateways", 80, references=("certificateId",)),
    ResourceKind("gateways/certificateAuthorities", "gateways", 80),
)

KINDS: Mapping[str, ResourceKind] = {kind.key: kind for kind in _ALL}

# Collection segments compare case-insensitively, as ARM's resource types do.
_BY_COLLECTIONS: Mapping[tuple[str, ...], ResourceKind] = {
    tuple(fold(c) for c in kind.collections): kind for kind in _ALL
}


def kind_of(key: str) -> ResourceKind:
    """The kind named `key` (`apis/operations`), case-insensitively."""
    kind = _BY_COLLECTIONS.get(tuple(fold(c) for c in key.split("/")))
    if kind is None:
        raise ModelError(
            INVALID_RESOURCE_TYPE, f"There is no resource type {echo(key)}.", status=404
        )
    return kind


def kind_for_collections(collections: tuple[str, ...]) -> ResourceKind | None:
    return _BY_COLLECTIONS.get(tuple(fold(c) for c in collections))
