"""Running `tollhouse` in-process against the session's directory (and, for `tollhouse apim`,
the session's control plane), as a user would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningDirectory

# The control plane of tests/controlplane, its managed identity validated as the seeds say.
from tests.controlplane.conftest import (  # noqa: F401
    RunningControlPlane,
    control_plane,
    seed_roles,
)
from tollhouse.cli import main


@dataclass
class Outcome:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        """The result, after checking the command succeeded."""
        assert self.status == 0, self.err
        return json.loads(self.out)


Tollhouse = Callable[..., Outcome]


@pytest.fixture
def profile(directory_server: RunningDirectory) -> Path:
    """The administrator profile the directory wrote on its first start."""
    return directory_server.data_dir / "admin.json"


@pytest.fixture
def tollhouse(profile: Path, capsys: pytest.CaptureFixture[str]) -> Tollhouse:
    def run(*args: str) -> Outcome:
        capsys.readouterr()
        status = main(["--profile", str(profile), *args])
        captured = capsys.readouterr()
        return Outcome(status, captured.out, captured.err)

    return run


def unique(prefix: str) -> str:
    """The directory lives for the whole session: names must not collide across tests."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def apim(tollhouse: Tollhouse, control_plane: RunningControlPlane) -> Tollhouse:  # noqa: F811
    """`tollhouse apim …` against the session's control plane and its service."""

    def run(*args: str) -> Outcome:
        target = ("--control-plane", control_plane.url, "--service-id", control_plane.service_id)
        return tollhouse("apim", *args, *target)

    return run
