"""Making directory objects for tests, straight through the store of a running directory."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from tests.conftest import RunningDirectory
from tollhouse.directory.federation import FederatedCredential
from tollhouse.pki import KeyPair, self_signed_certificate


@dataclass
class AppUnderTest:
    object_id: str
    app_id: str
    principal_id: str
    secret: str | None = None
    certificate: KeyPair | None = None


def make_app(
    running: RunningDirectory,
    *,
    secret: bool = True,
    certificate: bool = False,
    federated: tuple[str, str] | None = None,
    audience: str = "api://AzureADTokenExchange",
    secret_end: float | None = None,
) -> AppUnderTest:
    store = running.directory.store
    now = time.time()
    tenant = running.tenant_id
    app = store.create_application(tenant, f"test-{uuid.uuid4().hex[:8]}", now=now)
    sp = store.create_service_principal(tenant, app.app_id, now=now)
    made = AppUnderTest(app.id, app.app_id, sp.id)
    if secret:
        _, made.secret = store.add_password(tenant, app.id, now=now, end=secret_end or now + 3600)
    if certificate:
        made.certificate = self_signed_certificate(f"app-{app.app_id}")
        der = made.certificate.certificate.public_bytes(serialization.Encoding.DER)
        store.add_key_credentials(tenant, app.id, [(der, "test")])
    if federated is not None:
        issuer, subject = federated
        store.create_federated_credential(
            tenant,
            app.id,
            FederatedCredential(
                id=str(uuid.uuid4()),
                name=f"fic-{uuid.uuid4().hex[:8]}",
                issuer=issuer,
                subject=subject,
                audiences=(audience,),
                description="",
            ),
        )
    return made
