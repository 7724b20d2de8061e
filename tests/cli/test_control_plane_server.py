"""`tollhouse control-plane` as a real process, the way a user runs it: its managed identity
from an identity profile, TLS from the local CA, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import uuid
from pathlib import Path

from tests.cli.conftest import Tollhouse
from tests.cli.test_servers import CLEAN_STOP, TOLLHOUSE, stop, wait_healthy
from tests.conftest import RunningDirectory
from tests.controlplane.conftest import RESOURCE_GROUP, SUBSCRIPTION, Roles, assign
from tests.directory.helpers import make_app
from tollhouse.serving._server import free_port


def clean_environment() -> dict[str, str]:
    """The test's environment without control-plane settings it may have inherited."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.upper().replace(".", "_").startswith(("CONTROLPLANE_", "TOLLHOUSE_"))
    }


def test_the_control_plane_process_runs_with_its_identity_from_a_profile(
    directory_server: RunningDirectory, seed_roles: Roles, tollhouse: Tollhouse
) -> None:
    identity = make_app(directory_server)
    assert identity.secret is not None
    # The seeds' step: the managed identity may read RBAC, so it can check callers' access.
    assign(
        directory_server,
        identity.principal_id,
        seed_roles.validator,
        f"/subscriptions/{SUBSCRIPTION}",
    )
    # Under the directory's root, so that `<data dir>/../pki` is the CA the profiles trust.
    root = Path(directory_server.ca_bundle).parent.parent
    data = root / f"control-plane-{uuid.uuid4().hex[:8]}"
    data.mkdir()
    profile = data / "identity.json"
    profile.write_text(
        json.dumps(
            {
                "authority": directory_server.url,
                "tenantId": directory_server.tenant_id,
                "clientId": identity.app_id,
                "clientSecret": identity.secret,
                "caBundle": directory_server.ca_bundle,
            }
        )
    )
    port = free_port()
    service_name = "process"
    env = {
        **clean_environment(),
        "CONTROLPLANE_SERVICE_SUBSCRIPTIONID": SUBSCRIPTION,
        "CONTROLPLANE_SERVICE_RESOURCEGROUP": RESOURCE_GROUP,
        "CONTROLPLANE_SERVICE_NAME": service_name,
    }
    process = subprocess.Popen(
        [
            TOLLHOUSE, "control-plane", "--port", str(port), "--data-dir", str(data),
            "--identity-profile", str(profile),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    try:
        wait_healthy(f"{url}/health", ssl.create_default_context(cafile=directory_server.ca_bundle))
        # The administrator's call is authorised by asking the directory with the identity's
        # token: this succeeds only if the process signed in with the profile's credential.
        service = (
            f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
            f"/providers/Microsoft.ApiManagement/service/{service_name}"
        )
        created = tollhouse(
            "apim", "gateway", "create", "--gateway-id", "edge", "--location-name", "lab",
            "--control-plane", url, "--service-id", service,
        ).json()  # fmt: skip
        assert created["id"] == f"{service}/gateways/edge"
    finally:
        status = stop(process)
        output = process.stdout.read().decode() if process.stdout else ""
    assert status in CLEAN_STOP, output
    assert "Traceback" not in output
    assert identity.secret not in output
    assert f"control plane listening on {url}" in output


def test_the_control_plane_without_an_identity_stops_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [TOLLHOUSE, "control-plane", "--data-dir", str(tmp_path / "cp")],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: setting 'controlplane.identity.clientId'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_identity_profile_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "identity.json"
    result = subprocess.run(
        [TOLLHOUSE, "control-plane", "--identity-profile", str(missing)],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == f"ERROR: --identity-profile: no file at '{missing}'.\n"
