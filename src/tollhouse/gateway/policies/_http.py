"""Between the HTTP layer's messages (bytes headers) and policy messages (str headers).

Header names and values travel as Latin-1 both ways (RFC 9110 §5.5: field values are octets;
Latin-1 maps each octet to one character and back); a value a policy computed outside
Latin-1 goes out as UTF-8. Policies already refused CR, LF and NUL in what they set.
"""

from __future__ import annotations

from collections.abc import Mapping

from tollhouse.gateway.http import Headers, Request, Response

from ._execute import HeaderPairs, PolicyRequest, PolicyResponse, format_query, parse_query


def _text(value: bytes) -> str:
    return value.decode("latin-1")


def _octets(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def policy_headers(headers: Headers) -> HeaderPairs:
    return [(_text(k), _text(v)) for k, v in headers]


def http_headers(headers: HeaderPairs) -> Headers:
    """Lower-case names, as the HTTP layer expects."""
    return [(_octets(k.lower()), _octets(v)) for k, v in headers]


def policy_request(
    request: Request,
    *,
    headers: Headers,
    query: str,
    backend_path: str,
    parameters: Mapping[str, str],
) -> PolicyRequest:
    """The request policies start from: `headers` and `query` as they would be forwarded
    (subscription key removed, forwarding headers prepared), the path after the API's."""
    return PolicyRequest(
        method=request.method,
        path=backend_path,
        query=parse_query(query),
        headers=policy_headers(headers),
        body=request.body,
        client_ip=request.client_ip,
        matched_parameters=dict(parameters),
    )


def backend_target(base_url: str, request: PolicyRequest, original_query: str) -> str:
    """The URL to forward to. The client's query string is kept byte for byte unless a
    policy changed it (re-encoding is not guaranteed to round-trip)."""
    if not original_query and not request.query:
        query = ""
    elif request.query == parse_query(original_query):
        query = original_query
    else:
        query = format_query(request.query)
    return base_url.rstrip("/") + request.path + (f"?{query}" if query else "")


def policy_response(response: Response) -> PolicyResponse:
    return PolicyResponse(
        response.status, headers=policy_headers(response.headers), body=response.body
    )


def http_response(response: PolicyResponse) -> Response:
    return Response(response.status, http_headers(response.headers), response.body)
