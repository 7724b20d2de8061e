"""Action wildcards: anchored, case-insensitive globs (entra.md §7.1)."""

from __future__ import annotations

import time

import pytest

from tollhouse.directory.rbac import action_matches


@pytest.mark.parametrize(
    ("pattern", "action"),
    [
        ("*", "Microsoft.ApiManagement/service/gateways/getConfiguration/action"),
        ("*/read", "Microsoft.ApiManagement/service/apis/read"),
        ("Microsoft.Authorization/*/read", "Microsoft.Authorization/roleAssignments/read"),
        ("Microsoft.Authorization/*/read", "Microsoft.Authorization/a/b/c/read"),
        ("Microsoft.Authorization/*", "Microsoft.Authorization/roleAssignments/write"),
        ("Microsoft.CostManagement/*/query/*", "Microsoft.CostManagement/exports/query/action"),
        ("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/roleAssignments/delete"),
        (
            "microsoft.authorization/roleassignments/read",
            "Microsoft.Authorization/roleAssignments/READ",
        ),
        ("Microsoft.Foo/**/read", "Microsoft.Foo/x/read"),
        ("*Foo*", "Microsoft.Foo/read"),
        ("a*a*a", "aaa"),
        ("Microsoft.Foo/read", "Microsoft.Foo/read"),
    ],
)
def test_a_pattern_matches(pattern: str, action: str) -> None:
    assert action_matches(pattern, action)


@pytest.mark.parametrize(
    ("pattern", "action"),
    [
        ("*/read", "Microsoft.ApiManagement/service/apis/write"),
        ("*/read", "Microsoft.ApiManagement/service/apis/read/extra"),
        ("Microsoft.Authorization/*/read", "Microsoft.Authorization/read"),
        ("Microsoft.Authorization/*/read", "Microsoft.AuthorizationX/roleAssignments/read"),
        ("Microsoft.Authorization/*/read", "Other/Microsoft.Authorization/x/read"),
        ("Microsoft.Foo/read", "Microsoft.Foo/readx"),
        ("Microsoft.Foo/read", "xMicrosoft.Foo/read"),
        ("Microsoft.CostManagement/*/query/*", "Microsoft.CostManagement/exports/read"),
        ("a*a*a", "aa"),
        ("Microsoft.Foo.read", "MicrosoftxFoo/read"),
        ("Microsoft.Foo/*", "Microsoft.Foo"),
    ],
)
def test_a_pattern_does_not_match(pattern: str, action: str) -> None:
    assert not action_matches(pattern, action)


def test_only_ascii_letters_fold() -> None:
    assert not action_matches("Microsoft.Foo/k", "Microsoft.Foo/\u212a")


def test_a_pathological_pattern_is_matched_in_polynomial_time() -> None:
    # A backtracking regex takes exponential time on this; the glob is O(pattern × action).
    pattern = "*a" * 400 + "*b"
    action = "a" * 1000
    started = time.perf_counter()
    assert not action_matches(pattern, action)
    assert time.perf_counter() - started < 1.0
