"""`tollhouse role`: custom roles and role assignments, resolved as az resolves them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.cli.conftest import Tollhouse, unique

SUBSCRIPTION = f"/subscriptions/{uuid.uuid4()}"
GROUP = f"{SUBSCRIPTION}/resourceGroups/rg"


def custom_role(tollhouse: Tollhouse, **extra: Any) -> dict[str, Any]:
    document = {
        "Name": unique("Gateway Reader"),
        "Description": "Reads gateway configuration",
        "DataActions": ["Microsoft.ApiManagement/service/gateways/getConfiguration/action"],
        "AssignableScopes": [SUBSCRIPTION],
        **extra,
    }
    role: dict[str, Any] = tollhouse(
        "role", "definition", "create", "--role-definition", json.dumps(document)
    ).json()
    return role


def principal(tollhouse: Tollhouse) -> tuple[str, str]:
    """(appId, service principal object id) of a new app."""
    app = tollhouse("ad", "app", "create", "--display-name", unique("assignee")).json()
    sp = tollhouse("ad", "sp", "create", "--id", app["appId"]).json()
    return app["appId"], sp["id"]


def test_assigning_an_unknown_role_fails_clearly(tollhouse: Tollhouse) -> None:
    app_id, _ = principal(tollhouse)
    refused = tollhouse(
        "role", "assignment", "create", "--assignee", app_id, "--role", "No Such Role",
        "--scope", GROUP,
    )  # fmt: skip
    assert (refused.status, refused.out) == (1, "")
    assert refused.err == "ERROR: Role 'No Such Role' doesn't exist.\n"


def test_assigning_to_an_unknown_assignee_fails_clearly(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    # An app without a service principal is as unknown as a GUID that is nothing.
    app = tollhouse("ad", "app", "create", "--display-name", unique("no-sp")).json()
    for assignee in (app["appId"], str(uuid.uuid4())):
        refused = tollhouse(
            "role", "assignment", "create", "--assignee", assignee, "--role", role["roleName"],
            "--scope", GROUP,
        )  # fmt: skip
        assert (refused.status, refused.out) == (1, "")
        assert refused.err == (
            "ERROR: Cannot find user or service principal in graph database for "
            f"'{assignee}'. If the assignee is an appId, make sure the corresponding service "
            f"principal is created with 'tollhouse ad sp create --id {assignee}'.\n"
        )


def test_the_directory_refuses_a_role_outside_its_assignable_scopes(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    app_id, _ = principal(tollhouse)
    refused = tollhouse(
        "role", "assignment", "create", "--assignee", app_id, "--role", role["name"],
        "--scope", f"/subscriptions/{uuid.uuid4()}",
    )  # fmt: skip
    assert refused.status == 1
    assert "cannot be assigned at scope" in refused.err


def test_assigning_twice_answers_the_existing_assignment(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    app_id, sp_id = principal(tollhouse)
    arguments = ("--role", role["roleName"], "--scope", GROUP)
    first = tollhouse("role", "assignment", "create", "--assignee", app_id, *arguments).json()
    again = tollhouse("role", "assignment", "create", "--assignee", sp_id, *arguments).json()
    assert again["id"] == first["id"]


def test_a_role_definition_is_checked_before_it_is_sent(tollhouse: Tollhouse) -> None:
    refused = tollhouse(
        "role", "definition", "create", "--role-definition",
        '{"Name": "No scopes", "Actions": ["Microsoft.ApiManagement/service/read"]}',
    )  # fmt: skip
    assert refused.status == 1
    assert refused.err.startswith("ERROR: Role definition field 'AssignableScopes'")
    not_json = tollhouse("role", "definition", "create", "--role-definition", "{not json")
    assert not_json.status == 1
    assert not_json.err.startswith("ERROR: --role-definition: not valid JSON")


def test_a_role_keeps_the_id_its_json_gives_and_is_deleted_by_name(tollhouse: Tollhouse) -> None:
    role_id = str(uuid.uuid4())
    role = custom_role(tollhouse, Id=role_id, IsCustom=False)
    assert (role["name"], role["roleType"]) == (role_id, "CustomRole")
    assert role["id"].endswith(f"/providers/Microsoft.Authorization/roleDefinitions/{role_id}")
    by_guid = tollhouse("role", "definition", "list", "--name", role_id).json()
    assert [d["roleName"] for d in by_guid] == [role["roleName"]]

    deleted = tollhouse("role", "definition", "delete", "--name", role["roleName"])
    assert (deleted.status, deleted.out, deleted.err) == (0, "", "")
    assert tollhouse("role", "definition", "list", "--name", role_id).json() == []
    again = tollhouse("role", "definition", "delete", "--name", role["roleName"])
    assert again.status == 0
    assert again.err.startswith("WARNING: No role definition")


def test_a_role_is_updated_by_name(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    document = {
        "Name": role["roleName"],
        "Description": "changed",
        "Actions": ["Microsoft.ApiManagement/service/read"],
        "AssignableScopes": [SUBSCRIPTION],
    }
    updated = tollhouse(
        "role", "definition", "update", "--role-definition", json.dumps(document)
    ).json()
    assert (updated["name"], updated["description"]) == (role["name"], "changed")


def test_custom_role_only_hides_built_in_roles(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    everything = tollhouse("role", "definition", "list").json()
    custom = tollhouse("role", "definition", "list", "--custom-role-only").json()
    assert "Owner" in {d["roleName"] for d in everything}
    assert {d["roleType"] for d in custom} == {"CustomRole"}
    assert role["name"] in {d["name"] for d in custom}


def test_assignments_are_listed_at_exactly_a_scope_unless_inherited(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    app_id, _ = principal(tollhouse)
    service = f"{GROUP}/providers/Microsoft.ApiManagement/service/{unique('svc')}"
    above = tollhouse(
        "role", "assignment", "create", "--assignee", app_id, "--role", role["name"],
        "--scope", SUBSCRIPTION,
    ).json()  # fmt: skip
    at = tollhouse(
        "role", "assignment", "create", "--assignee", app_id, "--role", role["name"],
        "--scope", service,
    ).json()  # fmt: skip

    exact = tollhouse("role", "assignment", "list", "--assignee", app_id, "--scope", service).json()
    assert [a["id"] for a in exact] == [at["id"]]
    inherited = tollhouse(
        "role", "assignment", "list", "--assignee", app_id, "--scope", service,
        "--include-inherited",
    ).json()  # fmt: skip
    assert {a["id"] for a in inherited} == {above["id"], at["id"]}
    by_role = tollhouse("role", "assignment", "list", "--role", role["roleName"], "--all").json()
    assert {a["id"] for a in by_role} == {above["id"], at["id"]}


def test_assignments_are_deleted_by_id_or_by_filter(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    app_id, _ = principal(tollhouse)
    first = tollhouse(
        "role", "assignment", "create", "--assignee", app_id, "--role", role["name"],
        "--scope", SUBSCRIPTION,
    ).json()  # fmt: skip
    second = tollhouse(
        "role", "assignment", "create", "--assignee", app_id, "--role", role["name"],
        "--scope", GROUP,
    ).json()  # fmt: skip

    by_id = tollhouse("role", "assignment", "delete", "--ids", first["id"])
    assert (by_id.status, by_id.out) == (0, "")
    remaining = tollhouse("role", "assignment", "list", "--assignee", app_id).json()
    assert [a["id"] for a in remaining] == [second["id"]]

    by_filter = tollhouse(
        "role", "assignment", "delete", "--assignee", app_id, "--role", role["roleName"]
    )
    assert (by_filter.status, by_filter.out) == (0, "")
    assert tollhouse("role", "assignment", "list", "--assignee", app_id).json() == []
    nothing = tollhouse("role", "assignment", "delete", "--assignee", app_id)
    assert (nothing.status, nothing.err) == (
        1,
        "ERROR: No matched assignments were found to delete\n",
    )


def test_deleting_every_assignment_needs_a_filter_or_yes(tollhouse: Tollhouse) -> None:
    refused = tollhouse("role", "assignment", "delete")
    assert refused.status == 1
    assert "--yes" in refused.err


def test_a_role_in_use_cannot_be_deleted(tollhouse: Tollhouse) -> None:
    role = custom_role(tollhouse)
    app_id, _ = principal(tollhouse)
    tollhouse(
        "role", "assignment", "create", "--assignee", app_id, "--role", role["name"],
        "--scope", GROUP,
    ).json()  # fmt: skip
    refused = tollhouse("role", "definition", "delete", "--name", role["name"])
    assert refused.status == 1
    assert refused.err == "ERROR: There are existing role assignments referencing this role.\n"


def test_a_scope_must_start_with_a_slash(tollhouse: Tollhouse) -> None:
    refused = tollhouse(
        "role",
        "assignment",
        "create",
        "--assignee",
        "x",
        "--role",
        "y",
        "--scope",
        "subscriptions/x",
    )
    assert refused.status == 2
    assert "is not a scope" in refused.err
