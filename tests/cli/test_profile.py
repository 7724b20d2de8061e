"""Reading the administrator profile `tollhouse directory` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollhouse.cli._errors import ProfileError
from tollhouse.cli._profile import DEFAULT_PROFILE_PATH, load_profile, parse_profile, profile_path

GOOD = {
    "authority": "https://127.0.0.1:8443/",
    "tenantId": "t",
    "clientId": "c",
    "clientSecret": "s3cret-value",
    "caBundle": "pki/ca.pem",
}


def test_the_path_is_the_option_else_the_environment_else_the_default() -> None:
    env = {"TOLLHOUSE_PROFILE": "/env.json"}
    assert profile_path("/opt.json", env) == Path("/opt.json")
    assert profile_path(None, env) == Path("/env.json")
    assert profile_path(None, {}) == DEFAULT_PROFILE_PATH == Path(".tollhouse/directory/admin.json")


def test_a_profile_is_read_and_its_secret_kept_out_of_repr(tmp_path: Path) -> None:
    profile = parse_profile(GOOD, tmp_path / "admin.json")
    assert profile.authority == "https://127.0.0.1:8443"
    assert profile.ca_bundle == tmp_path / "pki" / "ca.pem"
    assert "s3cret-value" not in repr(profile)
    assert parse_profile({**GOOD, "caBundle": None}, tmp_path / "a.json").ca_bundle is None


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "must be a JSON object"),
        ({**GOOD, "clientSecret": ""}, "has no 'clientSecret'"),
        ({k: v for k, v in GOOD.items() if k != "tenantId"}, "has no 'tenantId'"),
        ({**GOOD, "authority": "http://127.0.0.1:8443"}, "not https://"),
        ({**GOOD, "caBundle": 7}, "'caBundle' that is not a path"),
    ],
)
def test_a_malformed_profile_is_named(document: object, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=problem) as raised:
        parse_profile(document, tmp_path / "admin.json")
    assert "s3cret-value" not in raised.value.message


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "admin.json"
    path.write_text("clientSecret=s3cret-value")
    with pytest.raises(ProfileError, match="is not JSON") as raised:
        load_profile(path)
    assert "s3cret-value" not in raised.value.message
