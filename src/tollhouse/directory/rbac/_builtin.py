"""Built-in roles, with Azure's GUIDs (the same in every cloud, entra.md §7.1) and permissions.

Only the roles Tollhouse's own flows use; Contributor's NotActions are those of entra.md §7.1.
"""

from __future__ import annotations

from tollhouse.directory.rbac._model import BUILT_IN_ROLE, Permission, RoleDefinition

_ROOT = ("/",)

OWNER = RoleDefinition(
    id="8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    role_name="Owner",
    description=(
        "Grants full access to manage all resources, including the ability to assign roles "
        "in Azure RBAC."
    ),
    role_type=BUILT_IN_ROLE,
    permissions=(Permission(actions=("*",)),),
    assignable_scopes=_ROOT,
)

CONTRIBUTOR = RoleDefinition(
    id="b24988ac-6180-42a0-ab88-20f7382dd24c",
    role_name="Contributor",
    description="Lets you manage everything except access to resources.",
    role_type=BUILT_IN_ROLE,
    permissions=(
        Permission(
            actions=("*",),
            not_actions=(
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
                "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete",
            ),
        ),
    ),
    assignable_scopes=_ROOT,
)

READER = RoleDefinition(
    id="acdd72a7-3385-48ef-bd42-f606fba81ae7",
    role_name="Reader",
    description="View all resources, but does not allow you to make any changes.",
    role_type=BUILT_IN_ROLE,
    permissions=(Permission(actions=("*/read",)),),
    assignable_scopes=_ROOT,
)

USER_ACCESS_ADMINISTRATOR = RoleDefinition(
    id="18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    role_name="User Access Administrator",
    description="Lets you manage user access to Azure resources.",
    role_type=BUILT_IN_ROLE,
    permissions=(
        Permission(actions=("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*")),
    ),
    assignable_scopes=_ROOT,
)

API_MANAGEMENT_SERVICE_CONTRIBUTOR = RoleDefinition(
    id="312a565d-c81f-4fd8-895a-4e21e48d571c",
    role_name="API Management Service Contributor",
    description="Can manage service and the APIs",
    role_type=BUILT_IN_ROLE,
    permissions=(
        Permission(
            actions=(
                "Microsoft.ApiManagement/service/*",
                "Microsoft.Authorization/*/read",
                "Microsoft.Insights/alertRules/*",
                "Microsoft.ResourceHealth/availabilityStatuses/read",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Support/*",
            ),
        ),
    ),
    assignable_scopes=_ROOT,
)

API_MANAGEMENT_SERVICE_READER = RoleDefinition(
    id="71522526-b88f-4d52-b57f-d31fc3546d0d",
    role_name="API Management Service Reader Role",
    description="Read-only access to service and APIs",
    role_type=BUILT_IN_ROLE,
    permissions=(
        Permission(
            actions=(
                "Microsoft.ApiManagement/service/*/read",
                "Microsoft.ApiManagement/service/read",
                "Microsoft.Authorization/*/read",
                "Microsoft.Insights/alertRules/*",
                "Microsoft.ResourceHealth/availabilityStatuses/read",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Support/*",
            ),
            not_actions=("Microsoft.ApiManagement/service/users/keys/read",),
        ),
    ),
    assignable_scopes=_ROOT,
)

BUILTIN_ROLES: tuple[RoleDefinition, ...] = (
    OWNER,
    CONTRIBUTOR,
    READER,
    USER_ACCESS_ADMINISTRATOR,
    API_MANAGEMENT_SERVICE_CONTRIBUTOR,
    API_MANAGEMENT_SERVICE_READER,
)
