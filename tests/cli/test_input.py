"""Command-line values as az takes them: inline, `@file`, or (for JSON) a file path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollhouse.cli._errors import CliError
from tollhouse.cli._input import MAX_ARGUMENT_FILE_BYTES, read_bytes, read_json, read_json_object


def test_json_is_read_inline_from_at_file_or_from_a_path(tmp_path: Path) -> None:
    (tmp_path / "doc.json").write_text('{"a": 1}')
    assert read_json("--x", '{"a": 1}') == {"a": 1}
    assert read_json("--x", f"@{tmp_path / 'doc.json'}") == {"a": 1}
    assert read_json("--x", str(tmp_path / "doc.json")) == {"a": 1}


@pytest.mark.parametrize("value", ["{not json", "x" * 5000, "a\x00b", "@/no/such/file"])
def test_a_bad_value_is_a_clear_error_naming_the_option(value: str) -> None:
    with pytest.raises(CliError, match=r"^--parameters: "):
        read_json("--parameters", value)


def test_an_object_is_required_where_az_requires_one() -> None:
    with pytest.raises(CliError, match="expected a JSON object"):
        read_json_object("--parameters", "[1]")


def test_bytes_are_the_file_or_the_text(tmp_path: Path) -> None:
    (tmp_path / "cert.der").write_bytes(b"\x30\x82")
    assert read_bytes("--cert", f"@{tmp_path / 'cert.der'}") == b"\x30\x82"
    assert read_bytes("--cert", "-----BEGIN") == b"-----BEGIN"


def test_a_file_too_large_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b" " * (MAX_ARGUMENT_FILE_BYTES + 1))
    with pytest.raises(CliError, match="larger than"):
        read_bytes("--cert", f"@{tmp_path / 'big'}")
