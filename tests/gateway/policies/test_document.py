"""Policy documents: a hardened parse, sections, positions, named values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollhouse.contracts import NamedValueConfig
from tollhouse.gateway.policies import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    PolicyCompileError,
    PolicyDocument,
    parse_policy_document,
    substitute_named_values,
)


def refused(text: str) -> PolicyCompileError:
    with pytest.raises(PolicyCompileError) as caught:
        parse_policy_document(text)
    return caught.value


def test_sections_are_parsed_and_absent_ones_are_none() -> None:
    document = parse_policy_document(
        "<policies>\n  <inbound><base /><set-method>POST</set-method></inbound>\n"
        "  <outbound />\n</policies>"
    )
    inbound = document.section("inbound")
    assert inbound is not None
    assert [e.name for e in inbound] == ["base", "set-method"]
    assert inbound[1].text == "POST"
    assert (inbound[1].line, inbound[1].column) == (2, 20)
    assert document.section("outbound") == ()
    assert document.section("backend") is None
    assert document.section("on-error") is None


def test_a_doctype_is_refused() -> None:
    error = refused(
        '<!DOCTYPE policies [<!ENTITY x "boom">]><policies><inbound>&x;</inbound></policies>'
    )
    assert "DOCTYPE" in str(error)


def test_an_external_entity_is_refused() -> None:
    error = refused('<!DOCTYPE p SYSTEM "file:///etc/passwd"><policies><inbound /></policies>')
    assert "not allowed" in str(error)


def test_an_undeclared_entity_reference_is_malformed() -> None:
    error = refused("<policies><inbound>&lol;</inbound></policies>")
    assert "malformed XML" in str(error)
    assert error.line == 1


def test_a_document_over_the_size_limit_is_refused() -> None:
    text = "<policies><inbound>" + " " * MAX_DOCUMENT_BYTES + "</inbound></policies>"
    assert "limit" in str(refused(text))


def test_nesting_beyond_the_depth_limit_is_refused() -> None:
    text = "<policies><inbound>" + "<a>" * MAX_DEPTH + "</a>" * MAX_DEPTH + "</inbound></policies>"
    assert "deeper" in str(refused(text))


def test_malformed_xml_reports_its_position() -> None:
    error = refused("<policies>\n<inbound>\n</outbound></policies>")
    assert error.line == 3
    assert "malformed XML" in error.message


def test_the_root_must_be_policies() -> None:
    assert "<policies>" in str(refused("<policy><inbound /></policy>"))


def test_an_unknown_section_is_refused() -> None:
    error = refused("<policies><inbound /><middle /></policies>")
    assert "<middle>" in str(error)


def test_a_section_twice_is_refused() -> None:
    error = refused("<policies><inbound /><outbound /><inbound /></policies>")
    assert "more than once" in str(error)
    assert error.section == "inbound"


SECRET = NamedValueConfig("key-1", "BackendKey", "s3cr3t-value", secret=True)
PLAIN = NamedValueConfig("region", "Region", "westeurope", secret=False)


def test_named_values_are_substituted_by_display_name_case_insensitively() -> None:
    text = substitute_named_values("a={{backendkey}} b={{ Region }}", [SECRET, PLAIN])
    assert text == "a=s3cr3t-value b=westeurope"


def test_named_values_are_substituted_before_parsing() -> None:
    element = NamedValueConfig("h", "HeaderName", "x-region", secret=False)
    document = parse_policy_document(
        '<policies><inbound><set-header name="{{HeaderName}}" /></inbound></policies>',
        [element],
    )
    inbound = document.section("inbound")
    assert inbound is not None
    assert inbound[0].attributes["name"] == "x-region"


def test_an_unknown_named_value_is_an_error_naming_it() -> None:
    with pytest.raises(PolicyCompileError) as caught:
        substitute_named_values("x\n  {{Missing}}", [SECRET])
    assert "Missing" in str(caught.value)
    assert (caught.value.line, caught.value.column) == (2, 3)


def test_a_secret_value_never_appears_in_an_error() -> None:
    # The secret's value makes the document malformed: the error must not quote it.
    broken = NamedValueConfig("b", "Broken", "<s3cr3t", secret=True)
    with pytest.raises(PolicyCompileError) as caught:
        parse_policy_document("<policies><inbound>{{Broken}}</inbound></policies>", [broken])
    assert "s3cr3t" not in str(caught.value)
    assert "s3cr3t" not in repr(caught.value.args)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="<>/=\"' !-[]&;?xpoliceinbund{}\n", max_size=200))
def test_any_text_either_parses_or_is_a_policy_compile_error(text: str) -> None:
    assert_parses_or_is_refused(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_unicode_either_parses_or_is_a_policy_compile_error(text: str) -> None:
    assert_parses_or_is_refused("<policies><inbound>" + text + "</inbound></policies>")


def assert_parses_or_is_refused(text: str) -> None:
    """h11's invariant: a document, or a PolicyCompileError saying why; nothing else."""
    try:
        document = parse_policy_document(text)
    except PolicyCompileError as error:
        assert error.message
    else:
        assert isinstance(document, PolicyDocument)


def test_a_lone_surrogate_is_a_compile_error() -> None:
    assert "Unicode" in str(refused("<policies><inbound>\ud800</inbound></policies>"))


LONG = NamedValueConfig("l", "Long", "a-much-longer-value", secret=False)
MULTI = NamedValueConfig("m", "Multi", "one\ntwo\nthree", secret=False)


def test_positions_refer_to_the_document_as_written_after_substitution() -> None:
    document = parse_policy_document(
        '<policies><inbound a="{{Long}}"><x /><set-method>{{Multi}}</set-method>\n'
        "  <y /></inbound></policies>",
        [LONG, MULTI],
    )
    inbound = document.section("inbound")
    assert inbound is not None
    assert [(e.name, e.line, e.column) for e in inbound] == [
        ("x", 1, 33),
        ("set-method", 1, 38),
        ("y", 2, 3),
    ]


def test_an_error_inside_a_substituted_value_points_at_its_reference() -> None:
    broken = NamedValueConfig("b", "Broken", "value <1", secret=True)
    with pytest.raises(PolicyCompileError) as caught:
        parse_policy_document("<policies>\n  <inbound>{{Broken}}</inbound></policies>", [broken])
    assert (caught.value.line, caught.value.column) == (2, 12)
    # After the value, positions shift back to the document as written.
    with pytest.raises(PolicyCompileError) as caught:
        parse_policy_document("<policies>\n  <inbound>{{Long}}</outbound></policies>", [LONG])
    assert (caught.value.line, caught.value.column) == (2, 20 + len("</"))  # at the tag name


def test_stray_text_in_a_section_is_refused() -> None:
    assert "text is not allowed" in str(
        refused("<policies><inbound>set-method</inbound></policies>")
    )


def test_comments_and_whitespace_are_ignored() -> None:
    document = parse_policy_document(
        "<policies>\n  <!-- note -->\n  <inbound>\n    <!-- x --><base />\n"
        "  </inbound>\n</policies>"
    )
    inbound = document.section("inbound")
    assert inbound is not None
    assert [e.name for e in inbound] == ["base"]
