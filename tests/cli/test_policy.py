"""`tollhouse policy check`: policy documents compiled offline, as the gateway compiles them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Outcome
from tollhouse.cli import main

GOOD = """\
<policies>
    <inbound>
        <base />
        <set-header name="X-Request" exists-action="override">
            <value>@(context.RequestId.ToString())</value>
        </set-header>
        <rate-limit calls="{{calls}}" renewal-period="60" />
    </inbound>
    <backend><base /></backend>
    <outbound><base /></outbound>
</policies>
"""

MALFORMED = """\
<policies>
  <inbound>
    <set-header name="a">
  </inbound>
</policies>
"""

UNSUPPORTED = """\
<policies>
    <inbound>
        <xsl-transform />
    </inbound>
</policies>
"""

EXPRESSION = """\
<policies>
    <inbound>
        <set-variable name="v" value="@(dynamic x = 1)" />
    </inbound>
</policies>
"""

NAMED = """\
<policies>
    <inbound>
        <set-header name="k"><value>{{known}}</value></set-header>
        <set-header name="u"><value>x {{unknown}}</value></set-header>
    </inbound>
</policies>
"""

SEVERAL = """\
<policies>
    <inbound>
        <base />
        <base />
        <xsl-transform />
        <set-header name="a" exists-actoin="skip" />
        <choose><when condition="@(context.Request.Method == &quot;GET&quot;)">
            <set-header name="ok"><value>1</value></set-header>
        </when></choose>
        <set-variable name="v" value="@(dynamic x = 1)" />
    </inbound>
    <outbound>
        <ip-filter action="allow"><address>::1</address></ip-filter>
    </outbound>
</policies>
"""


def run(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> Outcome:
    capsys.readouterr()
    status = main(["policy", "check", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return Outcome(status, captured.out, captured.err)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(outcome: Outcome) -> list[dict[str, Any]]:
    (report,) = json.loads(outcome.out)
    result: list[dict[str, Any]] = report["problems"]
    return result


def test_a_document_that_compiles_is_ok_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "good.xml", GOOD)
    outcome = run(path, capsys=capsys)
    assert outcome.status == 0, outcome.out
    assert outcome.out == f"{path}: ok\n1 file, 1 ok, 0 with problems\n"


def test_malformed_xml_is_reported_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "bad.xml", MALFORMED)
    outcome = run(path, capsys=capsys)
    assert outcome.status == 1
    assert outcome.out.splitlines()[0] == f"{path}:4:5: malformed XML: mismatched tag"


def test_an_unsupported_policy_is_reported_with_its_name_section_and_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.xml", UNSUPPORTED)
    outcome = run(path, "--output", "json", capsys=capsys)
    assert outcome.status == 1
    assert problems(outcome) == [
        {
            "line": 3,
            "column": 9,
            "policy": "xsl-transform",
            "section": "inbound",
            "message": "policy 'xsl-transform' is not supported",
        }
    ]


def test_an_unsupported_expression_construct_is_reported_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.xml", EXPRESSION)
    outcome = run(path, "-o", "json", capsys=capsys)
    assert outcome.status == 1
    (problem,) = problems(outcome)
    # The element holding the expression, and the construct's place inside the expression.
    assert (problem["line"], problem["column"]) == (3, 9)
    assert problem["policy"] == "set-variable"
    assert problem["message"].startswith("expression: ")
    assert "'dynamic'" in problem["message"]
    assert "line 1, column 3" in problem["message"]


def test_an_unknown_named_value_is_a_problem_only_when_named_values_are_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.xml", NAMED)
    values = write(tmp_path / "nv.json", json.dumps({"known": "a value"}))

    without = run(path, capsys=capsys)
    assert without.status == 0, without.out

    outcome = run(path, "--named-values", values, "-o", "json", capsys=capsys)
    assert outcome.status == 1
    assert problems(outcome) == [
        {
            "line": 4,
            "column": 39,
            "policy": None,
            "section": None,
            "message": "unknown named value 'unknown'",
        }
    ]


def test_the_array_az_apim_nv_list_prints_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.xml", NAMED)
    listing = [
        {"name": "known-id", "displayName": "known", "value": "v", "secret": False},
        {"name": "unknown", "displayName": "unknown", "value": None, "secret": True},
    ]
    values = write(tmp_path / "nv.json", json.dumps(listing))
    outcome = run(path, "--named-values", values, capsys=capsys)
    assert outcome.status == 0, outcome.out


def test_secret_values_are_checked_with_a_placeholder_and_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = write(
        tmp_path / "p.xml",
        '<policies><inbound><rate-limit calls="{{calls}}" renewal-period="{{period}}" />'
        "</inbound></policies>",
    )
    secret = "not-a-number-secret-7f3a"
    listing = [
        {"name": "calls", "displayName": "calls", "value": secret, "secret": True},
        {"name": "period", "displayName": "period", "value": "shown-but-bad"},
    ]
    values = write(tmp_path / "nv.json", json.dumps(listing))
    outcome = run(document, "--named-values", values, capsys=capsys)
    assert outcome.status == 1
    assert secret not in outcome.out + outcome.err
    # A value that is not marked secret is still shown by its name, never its value.
    assert "renewal-period" in outcome.out
    assert "shown-but-bad" not in outcome.out


def test_every_problem_of_a_document_is_reported_not_just_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.xml", SEVERAL)
    outcome = run(path, capsys=capsys)
    assert outcome.status == 1
    lines = outcome.out.splitlines()
    assert [line.split(": ", 1)[0] for line in lines[:-1]] == [
        f"{path}:4:9",
        f"{path}:5:9",
        f"{path}:6:9",
        f"{path}:10:9",
        f"{path}:13:9",
    ]
    assert "<base /> appears more than once" in lines[0]
    assert "'xsl-transform' is not supported" in lines[1]
    assert "unknown attribute 'exists-actoin'" in lines[2]
    assert "'dynamic'" in lines[3]
    assert "not allowed in section outbound" in lines[4]
    assert lines[-1] == "1 file, 0 ok, 1 with problems"


def test_a_directory_is_searched_recursively_and_reported_in_sorted_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "policies"
    write(root / "b" / "nested.xml", UNSUPPORTED)
    write(root / "a.xml", GOOD)
    write(root / "c.xml", MALFORMED)
    write(root / "notes.txt", "not a policy")
    outcome = run(root, capsys=capsys)
    assert outcome.status == 1
    assert outcome.out.splitlines() == [
        f"{root / 'a.xml'}: ok",
        f"{root / 'b' / 'nested.xml'}:3:9: policy 'xsl-transform' is not supported "
        "(section inbound)",
        f"{root / 'c.xml'}:4:5: malformed XML: mismatched tag",
        "3 files, 1 ok, 2 with problems",
    ]


def test_json_output_is_one_document_with_a_report_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "a.xml", GOOD)
    bad = write(tmp_path / "b.xml", MALFORMED)
    outcome = run(tmp_path, "--output", "json", capsys=capsys)
    assert outcome.status == 1
    assert json.loads(outcome.out) == [
        {"file": str(good), "ok": True, "problems": []},
        {
            "file": str(bad),
            "ok": False,
            "problems": [
                {
                    "line": 4,
                    "column": 5,
                    "policy": None,
                    "section": None,
                    "message": "malformed XML: mismatched tag",
                }
            ],
        },
    ]


def test_fragment_files_are_checked_and_included_by_their_file_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "fragments" / "common.xml",
        '<fragment>\n    <set-header name="x"><value>1</value></set-header>\n</fragment>\n',
    )
    write(tmp_path / "fragments" / "broken.xml", "<fragment>\n    <bogus />\n</fragment>\n")
    including = write(
        tmp_path / "api.xml",
        "<policies>\n  <inbound>\n"
        '    <include-fragment fragment-id="Common" />\n'
        '    <include-fragment fragment-id="broken" />\n'
        '    <include-fragment fragment-id="absent" />\n'
        "  </inbound>\n</policies>\n",
    )
    outcome = run(tmp_path, "-o", "json", capsys=capsys)
    reports = {Path(r["file"]).name: r for r in json.loads(outcome.out)}
    assert reports["common.xml"]["ok"]
    assert [(p["line"], p["column"]) for p in reports["broken.xml"]["problems"]] == [(2, 5)]
    found = reports[including.name]["problems"]
    assert [(p["line"], p["column"]) for p in found] == [(4, 5), (5, 5)]
    assert "in policy fragment 'broken'" in found[0]["message"]
    assert "no policy fragment 'absent'" in found[1]["message"]


def test_a_missing_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run(tmp_path / "absent.xml", capsys=capsys)
    assert outcome.status == 2
    assert outcome.out == ""
    assert outcome.err == f"ERROR: '{tmp_path / 'absent.xml'}': no such file or directory.\n"


@pytest.mark.parametrize(
    "content", [None, "{not json", '"a string"', '[{"value": "v"}]', '{"n": 3}']
)
def test_an_unusable_named_values_file_is_a_usage_error(
    content: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.xml", GOOD)
    values = tmp_path / "nv.json"
    if content is not None:
        values.write_text(content)
    outcome = run(path, "--named-values", values, capsys=capsys)
    assert outcome.status == 2
    assert outcome.out == ""
    assert outcome.err.startswith("ERROR: --named-values: ")
    assert outcome.err.count("\n") == 1


def test_a_file_that_is_not_utf8_is_a_problem_of_that_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.xml"
    path.write_bytes("<policies><!-- é --></policies>".encode("latin-1"))
    outcome = run(path, capsys=capsys)
    assert outcome.status == 1
    assert outcome.out.startswith(f"{path}: the file is not UTF-8 text")


def _subprocess(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tollhouse", "policy", "check", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_exits_0_1_or_2_as_a_real_process(tmp_path: Path) -> None:
    good = write(tmp_path / "good" / "p.xml", GOOD)
    bad = write(tmp_path / "bad" / "p.xml", EXPRESSION)

    ok = _subprocess(good)
    assert (ok.returncode, ok.stdout) == (0, f"{good}: ok\n1 file, 1 ok, 0 with problems\n")

    failed = _subprocess(tmp_path, "--output", "json")
    assert failed.returncode == 1
    assert [r["ok"] for r in json.loads(failed.stdout)] == [False, True]
    assert json.loads(failed.stdout)[0]["file"] == str(bad)

    usage = _subprocess(tmp_path / "absent")
    assert usage.returncode == 2
    assert usage.stderr.startswith("ERROR: ")

    argparse_usage = _subprocess()
    assert argparse_usage.returncode == 2
    assert "usage: tollhouse policy check" in argparse_usage.stderr
