"""Reading a federated client assertion before its signature is checked (sans-I/O).

The strict compact-JWS parsing is `tollhouse.oidc`'s; here its refusals become the
`EntraError` of `assertion_invalid` (AADSTS50027). Invariant: any input either parses or
raises that error — never anything else (security-and-faults.md C.5 case 23). Nothing read
here is trusted until `FederatedAssertionValidator` has verified the signature.
"""

from __future__ import annotations

from tollhouse.directory.tokens._errors import assertion_invalid
from tollhouse.oidc import InvalidBearerToken, UnverifiedJws, parse_compact

# Kubernetes and GitHub Actions tokens are 1–2 KiB; 16 KiB leaves room for any real issuer
# while bounding the work done before a signature is checked (C.5 case 23: "1 MB payload").
MAX_ASSERTION_LENGTH = 16 * 1024


def parse_unverified(assertion: object, max_length: int = MAX_ASSERTION_LENGTH) -> UnverifiedJws:
    """Split and decode a compact JWS (RFC 7515 §7.1) without verifying it."""
    if isinstance(assertion, str) and len(assertion) > max_length:
        raise assertion_invalid(f"The assertion is longer than {max_length} characters.")
    try:
        return parse_compact(assertion, max_length)
    except InvalidBearerToken as exc:
        raise assertion_invalid(f"The assertion is malformed: {exc.reason}.") from None
