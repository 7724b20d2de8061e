"""A local certificate authority and X.509 helpers.

Used by `tollhouse dev` and by the tests: every server Tollhouse starts on its own speaks real
TLS, with a private CA whose certificate clients are told to trust.
"""

from tollhouse.pki._ca import (
    CertificateAuthority,
    KeyPair,
    certificate_thumbprints,
    load_certificate_and_key,
    self_signed_certificate,
)

__all__ = [
    "CertificateAuthority",
    "KeyPair",
    "certificate_thumbprints",
    "load_certificate_and_key",
    "self_signed_certificate",
]
