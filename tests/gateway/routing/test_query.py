"""Reading the query string as APIM does: names case-insensitive, values percent-decoded."""

from __future__ import annotations

from tollhouse.gateway.routing import query_value, query_values


def test_the_first_value_of_a_name_wins_whatever_its_case() -> None:
    assert query_values("A=1&a=2&b") == {"a": "1", "b": ""}
    assert query_value("A=1&a=2", "a") == "1"


def test_names_and_values_are_percent_decoded_with_plus_as_space() -> None:
    assert query_values("na%6De=a+b%2Bc") == {"name": "a b+c"}
    assert query_value("x%2Dy=%E2%82%AC", "X-Y") == "€"


def test_an_absent_name_has_no_value() -> None:
    assert query_value("", "a") is None
    assert query_value("ab=1&&=2", "a") is None
    assert query_values("&&") == {}
