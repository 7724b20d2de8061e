"""The command itself: version, usage errors, where the profile comes from, the script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Tollhouse, unique
from tollhouse import __version__
from tollhouse.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"tollhouse {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["ad"],
        ["no-such-command"],
        ["ad", "app", "create"],
        ["ad", "app", "list", "--output", "yaml"],
        ["role", "assignment", "create", "--role", "r", "--scope", "/subscriptions/s"],
    ],
)
def test_usage_errors_exit_2_without_reading_the_profile(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--profile", str(tmp_path / "absent.json"), *argv]) == 2
    err = capsys.readouterr().err
    assert "usage: tollhouse" in err
    assert "profile" not in err.split("error:")[-1]


def test_a_missing_profile_says_where_it_looked_and_how_to_get_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOLLHOUSE_PROFILE", raising=False)
    assert main(["ad", "app", "list"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        "ERROR: No administrator profile at '.tollhouse/directory/admin.json'."
    )
    assert "'tollhouse directory'" in captured.err


def test_the_profile_comes_from_the_environment_else_the_default_path(
    profile: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOLLHOUSE_PROFILE", str(profile))
    assert main(["role", "definition", "list", "--name", "Owner"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["roleName"] == "Owner"

    monkeypatch.delenv("TOLLHOUSE_PROFILE")
    default = tmp_path / ".tollhouse" / "directory" / "admin.json"
    default.parent.mkdir(parents=True)
    shutil.copy(profile, default)
    assert main(["role", "definition", "list", "--name", "Reader"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["roleName"] == "Reader"


def test_a_wrong_secret_is_reported_without_echoing_it(
    profile: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = json.loads(profile.read_text())
    document["clientSecret"] = "not-the-secret-" + unique("x")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(document))
    assert main(["--profile", str(wrong), "ad", "app", "list"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ERROR: Cannot get a token for https://graph.microsoft.com/")
    assert "AADSTS7000215" in captured.err
    assert document["clientSecret"] not in captured.err
    assert captured.err.count("\n") == 1


def test_the_installed_console_script(tollhouse: Tollhouse, profile: Path) -> None:
    name = unique("script")
    created = tollhouse("ad", "app", "create", "--display-name", name).json()
    script = Path(sys.executable).parent / "tollhouse"
    env = {**os.environ, "TOLLHOUSE_PROFILE": str(profile)}
    ran = subprocess.run(
        [str(script), "ad", "app", "show", "--id", created["appId"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["displayName"] == name
    failed = subprocess.run(
        [str(script), "ad", "app", "show", "--id", "api://nothing-here"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr.startswith("ERROR: ")
