"""The syntax of values properties hold: HTTP URLs, HTTP tokens, host names, query names."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tollhouse.controlplane.model._errors import echo, invalid

# Azure REST: ApiCreateOrUpdateProperties.serviceUrl and BackendContractProperties.url
# (maxLength 2000).
MAX_URL_LENGTH = 2000

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", re.ASCII)
# RFC 1123 host names; APIM hostname configurations also take a leading `*.` wildcard.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)
_QUERY_NAME_FORBIDDEN = frozenset("&=#?+%")


def http_url(value: str, path: str) -> str:
    """An absolute `http` or `https` URL with a host; returned unchanged."""
    if len(value) > MAX_URL_LENGTH:
        raise invalid(path, f"must be at most {MAX_URL_LENGTH} characters long")
    if any(char.isspace() or not char.isprintable() for char in value):
        raise invalid(path, "must be a URL without whitespace or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise invalid(path, f"is not a valid URL: {echo(value)}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid(path, f"must be an absolute http or https URL, not {echo(value)}")
    if parts.fragment:
        raise invalid(path, "must not have a fragment")
    return value


def http_token(value: str, path: str) -> str:
    """An HTTP token (method, header field name)."""
    if _TOKEN.fullmatch(value) is None:
        raise invalid(path, f"must be an HTTP token (RFC 9110 §5.6.2), not {echo(value)}")
    return value


def query_name(value: str, path: str) -> str:
    if any(c in _QUERY_NAME_FORBIDDEN or c.isspace() or not c.isprintable() for c in value):
        raise invalid(path, f"is not a usable query parameter name: {echo(value)}")
    return value


def hostname(value: str, path: str) -> str:
    """A DNS host name, optionally with a leading `*.` wildcard, or `*` alone (Azure REST:
    "Supports valid domain name, partial or full wildcard"); returned lower-cased."""
    if value == "*":
        return value
    labels = value.lower().removesuffix(".").split(".")
    if labels[0] == "*":
        labels = labels[1:]
    if len(value) > 253 or not labels or not all(_LABEL.fullmatch(label) for label in labels):
        raise invalid(path, f"must be a host name such as 'api.contoso.com', not {echo(value)}")
    return value.lower().removesuffix(".")
