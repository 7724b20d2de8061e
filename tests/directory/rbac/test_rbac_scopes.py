"""ARM scopes: syntax, canonical form and containment (entra.md §7.2)."""

from __future__ import annotations

import pytest

from tollhouse.directory.rbac import RbacError, parse_scope, scope_contains

SUB = "/subscriptions/9d3c1b7a-0e4f-4a2b-8c6d-5e7f8a9b0c1d"
RG = f"{SUB}/resourceGroups/apim-rg"
SERVICE = f"{RG}/providers/Microsoft.ApiManagement/service/contoso"
GATEWAY = f"{SERVICE}/gateways/edge"
GROUP = "/providers/Microsoft.Management/managementGroups/platform"


@pytest.mark.parametrize("scope", ["/", GROUP, SUB, RG, SERVICE, GATEWAY])
def test_valid_scopes_are_returned_unchanged(scope: str) -> None:
    assert parse_scope(scope) == scope


def test_one_trailing_slash_is_dropped() -> None:
    assert parse_scope(RG + "/") == RG


def test_fixed_keywords_take_arm_case_and_names_keep_theirs() -> None:
    text = (
        "/SUBSCRIPTIONS/9D3C1B7A-0E4F-4A2B-8C6D-5E7F8A9B0C1D/resourcegroups/APIM-RG"
        "/PROVIDERS/microsoft.apimanagement/service/Contoso"
    )
    assert parse_scope(text) == (
        "/subscriptions/9D3C1B7A-0E4F-4A2B-8C6D-5E7F8A9B0C1D/resourceGroups/APIM-RG"
        "/providers/microsoft.apimanagement/service/Contoso"
    )
    assert parse_scope("/providers/microsoft.management/MANAGEMENTGROUPS/Platform") == (
        "/providers/Microsoft.Management/managementGroups/Platform"
    )


def test_resource_scopes_may_nest_types_and_extension_providers() -> None:
    scope = f"{SUB}/providers/Microsoft.Security/pricings/default"
    assert parse_scope(scope) == scope
    extension = f"{GATEWAY}/providers/Microsoft.Insights/diagnosticSettings/logs"
    assert parse_scope(extension) == extension
    assert parse_scope(f"{GROUP}/providers/Microsoft.Authorization/policies/p") is not None


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "subscriptions/x",
        "//",
        "/subscriptions",
        "/subscriptions/",
        f"{SUB}//resourceGroups/rg",
        f"{RG}//",
        f"{SUB}/resourceGroups",
        f"{SUB}/resourceGroups/",
        f"{SUB}/locations/westeurope",
        f"{RG}/providers",
        f"{RG}/providers/ApiManagement/service/x",
        f"{RG}/providers/Microsoft.ApiManagement",
        f"{RG}/providers/Microsoft.ApiManagement/service",
        f"{SERVICE}/gateways",
        f"{RG}/providers/Microsoft.ApiManagement/ser vice/x",
        f"{SUB}/resourceGroups/..",
        f"{SUB}/resourceGroups/./providers/Microsoft.ApiManagement/service/x",
        f"{SUB}/resourceGroups/apim rg",
        f"{SUB}/resourceGroups/apim\trg",
        f"{SUB}/resourceGroups/apim\u00a0rg",
        f"{SUB}/resourceGroups/apim\x00rg",
        f"{SUB}/resourceGroups/apim\u200brg",
        f"{SUB}/resourceGroups/rg?x=1",
        f"{SUB}/resourceGroups/rg%2F..",
        f"{SUB}/resourceGroups/rg#frag",
        f"{SUB}/resourceGroups/a\\b",
        "/providers/Microsoft.Management/managementGroups",
        "/providers/Microsoft.Compute/virtualMachines/vm",
        "/tenants/x",
        " /subscriptions/x",
        "/subscriptions/x ",
    ],
)
def test_an_invalid_scope_raises_invalid_scope_400(scope: str) -> None:
    with pytest.raises(RbacError) as caught:
        parse_scope(scope)
    assert caught.value.status == 400
    assert caught.value.code == "InvalidScope"


def test_a_scope_longer_than_2048_characters_is_invalid() -> None:
    base = f"{SUB}/resourceGroups/"
    assert parse_scope(base + "r" * (2048 - len(base))) is not None
    with pytest.raises(RbacError):
        parse_scope(base + "r" * (2049 - len(base)))


@pytest.mark.parametrize("value", [None, 7, b"/subscriptions/x"])
def test_a_scope_that_is_not_a_string_is_invalid(value: object) -> None:
    with pytest.raises(RbacError):
        parse_scope(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ancestor", "scope"),
    [
        ("/", "/"),
        ("/", GATEWAY),
        ("/", GROUP),
        (SUB, SUB),
        (SUB, RG),
        (SUB, GATEWAY),
        (RG, GATEWAY),
        (SERVICE, GATEWAY),
        (GATEWAY, GATEWAY),
        (SUB.upper(), GATEWAY),
        (RG.replace("resourceGroups", "resourcegroups"), SERVICE),
        (GATEWAY + "/", GATEWAY),
        (GROUP, f"{GROUP}/providers/Microsoft.Authorization/policies/p"),
    ],
)
def test_a_scope_contains_itself_and_its_descendants(ancestor: str, scope: str) -> None:
    assert scope_contains(ancestor, scope)


@pytest.mark.parametrize(
    ("ancestor", "scope"),
    [
        (GATEWAY, SERVICE),
        (SERVICE, RG),
        (RG, SUB),
        (SUB, "/"),
        (SERVICE, f"{RG}/providers/Microsoft.ApiManagement/service/contoso2"),
        (f"{RG}/providers/Microsoft.ApiManagement/service/con", SERVICE),
        (f"{SUB}/resourceGroups/apim", RG),
        ("/subscriptions/9d3c1b7a", SUB),
        # A management group is a tree, not a prefix: membership is not modelled.
        (GROUP, SUB),
        (GROUP, "/providers/Microsoft.Management/managementGroups/platform-child"),
    ],
)
def test_a_scope_does_not_contain_ancestors_siblings_or_string_prefixes(
    ancestor: str, scope: str
) -> None:
    assert not scope_contains(ancestor, scope)


def test_only_ascii_letters_fold_when_comparing_scopes() -> None:
    # U+212A KELVIN SIGN lower-cases to "k" in Unicode; it must not alias the ASCII letter.
    assert not scope_contains(f"{SUB}/resourceGroups/\u212a", f"{SUB}/resourceGroups/k")
    assert scope_contains(f"{SUB}/resourceGroups/K", f"{SUB}/resourceGroups/k")
