"""The client side of authentication: credentials that yield bearer tokens.

Entra-style credentials come from `azure-identity` (async), never a hand-written OAuth client:
an app secret, a certificate, or workload identity (a federated token file). The same code
works against Microsoft Entra ID and against the Tollhouse directory; only the authority and
the trusted CA differ.
"""

from tollhouse.identity._credentials import (
    ClientCredentials,
    IdentityError,
    TokenSource,
    build_credential,
)

__all__ = ["ClientCredentials", "IdentityError", "TokenSource", "build_credential"]
