"""Headers on the way through the gateway: hop-by-hop removal and forwarding headers.

Sans-I/O: header lists in, header lists out. The order matters and is fixed here: first the
hop-by-hop fields and every field the sender named in `Connection` go, then the gateway adds
its own. So a client sending `Connection: close, X-Forwarded-For, Authorization` removes only
what it sent itself, never what the gateway or a policy adds (security-and-faults §C.5 case 9).
"""

from __future__ import annotations

from tollhouse.gateway.http._messages import Headers

# RFC 9110 §7.6.1 and RFC 9112 §7 list these as meaningful for one connection only;
# `Proxy-Connection` and `Keep-Alive` are the pre-standard ones every proxy also drops.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)

# Fields through which a peer describes the client or its TLS session to the next hop. Only a
# configured trusted proxy may send them (RFC 9700 §4.13: a TLS-terminating proxy MUST sanitise
# inbound security-relevant headers).
FORWARDING_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-real-ip",
        b"true-client-ip",
        b"x-arr-clientcert",  # Azure App Service / ARR client certificate
    }
)
FORWARDING_PREFIXES = (
    b"x-forwarded-",  # -for, -proto, -host, -port, -prefix, -client-cert (Envoy XFCC)
    b"x-client-",  # -cert, -cert-chain, -ip, -verify, -dn ...
    b"x-ssl-client-",  # nginx/HAProxy-style client certificate fields
    b"ssl-client-",
)

X_FORWARDED_FOR = b"x-forwarded-for"
X_FORWARDED_PROTO = b"x-forwarded-proto"
X_FORWARDED_HOST = b"x-forwarded-host"

# `net.server.http.forwarded.proto.enabled` honours X-Forwarded-Proto "(http/https only)".
_FORWARDED_SCHEMES = frozenset({"http", "https"})


def connection_options(headers: Headers) -> frozenset[bytes]:
    """The lower-case field names listed in every `Connection` field (RFC 9110 §7.6.1:
    `Connection = #connection-option`, a comma-separated list of tokens)."""
    names: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            for option in value.split(b","):
                option = option.strip(b" \t").lower()
                if option:
                    names.add(option)
    return frozenset(names)


def strip_hop_by_hop(headers: Headers, named: frozenset[bytes] | None = None) -> Headers:
    """`headers` without hop-by-hop fields and without those named in `Connection`.

    RFC 9110 §7.6.1: "a proxy or gateway MUST parse a received Connection header field before a
    message is forwarded and, for each connection-option in this field, remove any header or
    trailer field(s) from the message with the same name as the connection-option, and then
    remove the Connection header field itself".

    `named`: `connection_options(headers)` when the caller has it already.
    """
    if named is None:
        named = connection_options(headers)
    return [(n, v) for n, v in headers if n not in HOP_BY_HOP and n not in named]


def strip_response_hop_by_hop(headers: Headers, named: frozenset[bytes] | None = None) -> Headers:
    """A backend response's headers as the client may see them: hop-by-hop fields and those the
    backend named in `Connection` removed (RFC 9110 §7.6.1 applies to responses alike)."""
    return strip_hop_by_hop(headers, named)


def _is_forwarding_header(name: bytes) -> bool:
    return name in FORWARDING_HEADERS or name.startswith(FORWARDING_PREFIXES)


def _joined(headers: Headers, name: bytes) -> bytes | None:
    """All values of `name` as one comma-separated list (RFC 9110 §5.3), or None."""
    values = [v.strip(b" \t") for n, v in headers if n == name]
    values = [v for v in values if v]
    return b", ".join(values) if values else None


def _forwarded_proto(value: bytes | None) -> str | None:
    """The first scheme of a trusted proxy's X-Forwarded-Proto, when it is http or https."""
    if value is None:
        return None
    first = value.split(b",", 1)[0].strip(b" \t").lower()
    scheme = first.decode("latin-1")
    return scheme if scheme in _FORWARDED_SCHEMES else None


def prepare_forward_headers(
    headers: Headers,
    *,
    client_ip: str,
    scheme: str,
    host: str,
    trusted_proxy: bool,
    honour_forwarded_proto: bool,
) -> Headers:
    """A client request's headers as they go to the backend, before policies run.

    - hop-by-hop fields and those named in `Connection` are removed first;
    - from a peer that is not a trusted proxy, every forwarding or client-certificate field
      (`Forwarded`, `X-Forwarded-*`, `X-Client-*`, ...) is removed (RFC 9700 §4.13);
    - `X-Forwarded-For`: the trusted proxy's list with `client_ip` appended, else `client_ip`;
    - `X-Forwarded-Proto`: the trusted proxy's value (http or https) when
      `honour_forwarded_proto` (`net.server.http.forwarded.proto.enabled`), else `scheme`;
    - `X-Forwarded-Host`: the trusted proxy's value if it sent one, else `host`.

    A trusted proxy's `Forwarded` and client-certificate fields pass unchanged.
    """
    kept = strip_hop_by_hop(headers)
    prior_for = prior_proto = prior_host = None
    if trusted_proxy:
        prior_for = _joined(kept, X_FORWARDED_FOR)
        prior_proto = _forwarded_proto(_joined(kept, X_FORWARDED_PROTO))
        prior_host = _joined(kept, X_FORWARDED_HOST)
        replaced = (X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_HOST)
        kept = [(n, v) for n, v in kept if n not in replaced]
    else:
        kept = [(n, v) for n, v in kept if not _is_forwarding_header(n)]

    client = client_ip.encode("ascii")
    forwarded_for = prior_for + b", " + client if prior_for else client
    proto = prior_proto if honour_forwarded_proto and prior_proto else scheme
    kept.append((X_FORWARDED_FOR, forwarded_for))
    kept.append((X_FORWARDED_PROTO, proto.encode("ascii")))
    # Host fields and SNI names are ASCII already (A-labels); the IDNA codec is slow.
    encoded = host.encode("ascii") if host.isascii() else host.encode("idna")
    kept.append((X_FORWARDED_HOST, prior_host or encoded))
    return kept
