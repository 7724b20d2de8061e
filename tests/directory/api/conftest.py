"""These tests create the seed roles through the ARM route, and role names are unique in a
tenant: they get a directory of their own rather than the session's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningDirectory, start_directory


@pytest.fixture(scope="module")
def directory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDirectory]:
    running, handle = start_directory(tmp_path_factory.mktemp("directory-api"))
    yield running
    handle.stop()
    running.directory.store.close()
