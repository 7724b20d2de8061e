"""Results as az prints them: sorted, indented JSON, or an aligned table with headers."""

from __future__ import annotations

import json

from tollhouse.cli._output import field, render


def test_json_is_indented_with_sorted_keys() -> None:
    text = render({"b": 1, "a": [1]}, "json")
    assert text == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'
    assert json.loads(text or "") == {"a": [1], "b": 1}


def test_nothing_is_printed_for_no_result() -> None:
    assert render(None, "json") is None
    assert render(None, "table") is None


def test_a_table_aligns_declared_columns_under_headers() -> None:
    rows = [{"displayName": "gateway", "appId": "1"}, {"displayName": "x", "appId": "22"}]
    text = render(rows, "table", [field("DisplayName"), field("AppId")])
    assert text == ("DisplayName  AppId\n-----------  -----\ngateway      1\nx            22")


def test_a_table_without_columns_shows_the_scalar_fields() -> None:
    text = render({"appId": "1", "password": "p", "tenant": "t", "roles": ["a"]}, "table")
    assert (text or "").splitlines()[0].split() == ["AppId", "Password", "Tenant"]


def test_nested_fields_lists_and_nulls() -> None:
    row = {"properties": {"scope": "/"}, "audiences": ["a", "b"], "description": None}
    text = render(
        row, "table", [field("Scope", "properties.scope"), field("Audiences"), field("Description")]
    )
    assert (text or "").splitlines()[2].rstrip() == "/      a, b"


def test_control_characters_in_values_cannot_reach_the_terminal() -> None:
    text = render({"displayName": "evil\x1b[2J\nname"}, "table", [field("DisplayName")])
    assert "\x1b" not in (text or "")
    assert (text or "").splitlines()[2] == "evil?[2J?name"
