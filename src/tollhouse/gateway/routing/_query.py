"""Reading and editing the raw query string of a request.

Names compare case-insensitively and values are percent-decoded with `+` read as a space, as
APIM (ASP.NET's query collection) reads them. The query string is bounded by the HTTP layer's
request-line limit, so reading it whole is bounded work.
"""

from __future__ import annotations

from urllib.parse import unquote_plus


def _decode(text: str) -> str:
    if "%" in text or "+" in text:
        return unquote_plus(text)
    return text


def query_values(query: str) -> dict[str, str]:
    """Lower-cased name → first value of each query parameter (a name without `=` has "")."""
    values: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        key = _decode(name).lower()
        if key not in values:
            values[key] = _decode(value)
    return values


def query_value(query: str, name: str) -> str | None:
    """The first value of the parameter `name` (case-insensitive), or None if absent."""
    if not query:
        return None
    wanted = name.lower()
    for pair in query.split("&"):
        if not pair:
            continue
        raw_name, _, value = pair.partition("=")
        if _decode(raw_name).lower() == wanted:
            return _decode(value)
    return None


def remove_query_parameter(query: str, name: str) -> str:
    """`query` without any occurrence of the parameter `name` (case-insensitive); the other
    parameters are kept byte for byte, in order."""
    if not query:
        return query
    wanted = name.lower()
    pairs = query.split("&")
    kept = [pair for pair in pairs if _decode(pair.partition("=")[0]).lower() != wanted]
    return query if len(kept) == len(pairs) else "&".join(kept)
