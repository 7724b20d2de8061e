"""Credentials from settings: the workload identity token file is read on every acquisition."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError

from tests.conftest import RunningDirectory, RunningKubeIssuer
from tests.directory.helpers import make_app
from tollhouse.identity import ClientCredentials, IdentityError, TokenSource, build_credential


async def test_a_rotated_token_file_is_read_for_the_next_token(
    directory_server: RunningDirectory, kube_issuer: RunningKubeIssuer, tmp_path: Path
) -> None:
    app = make_app(
        directory_server, secret=False, federated=(kube_issuer.issuer_url, kube_issuer.subject)
    )
    token_file = tmp_path / "azure-identity-token"
    shutil.copy(kube_issuer.token_file, token_file)
    credential = build_credential(
        ClientCredentials(
            tenant_id=directory_server.tenant_id,
            client_id=app.app_id,
            federated_token_file=token_file,
            authority=directory_server.url,
            ca_bundle=Path(directory_server.ca_bundle),
        )
    )
    try:
        assert await TokenSource(credential, "https://management.azure.com/.default").token()
        # The kubelet replaced the file (here with something unusable): the next
        # acquisition must present what is in the file now, not a remembered assertion.
        token_file.write_text("not-a-token")
        with pytest.raises((IdentityError, ClientAuthenticationError)):
            await TokenSource(credential, "https://azure-api.net/configuration/.default").token()
    finally:
        await credential.close()


def test_exactly_one_credential_is_required() -> None:
    with pytest.raises(IdentityError):
        ClientCredentials(tenant_id="t", client_id="c")
    with pytest.raises(IdentityError):
        ClientCredentials(
            tenant_id="t", client_id="c", client_secret="s", federated_token_file=Path("/x")
        )
