"""HTTP for the gateway: the downstream server and the upstream connection pool, on uvloop
with httptools (llhttp). Strict framing, explicit limits and deadlines."""

from tollhouse.gateway.http._messages import (
    Body,
    Handler,
    Headers,
    Reply,
    Request,
    Response,
    Started,
    Starter,
    UpstreamRequest,
)

__all__ = [
    "Body",
    "Handler",
    "Headers",
    "Reply",
    "Request",
    "Response",
    "Started",
    "Starter",
    "UpstreamRequest",
]

# The downstream side (server, limits, request errors: _limits, _paths, _server*) and the
# upstream side (connection pool, its errors, forwarding headers, egress policy).
from tollhouse.gateway.http._errors import (
    UpstreamConnectError,
    UpstreamEgressDenied,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamTimeout,
    error_response,
)
from tollhouse.gateway.http._forwarding import (
    HOP_BY_HOP,
    prepare_forward_headers,
    strip_hop_by_hop,
    strip_response_hop_by_hop,
)
from tollhouse.gateway.http._limits import ServerLimits
from tollhouse.gateway.http._paths import normalize_path
from tollhouse.gateway.http._server import GatewayServer, ServerState, ServerStats
from tollhouse.gateway.http._server_errors import (
    BodyTooLarge,
    DownstreamError,
    HeadersTooLarge,
    IncompleteBody,
    MalformedRequest,
    NotImplementedByServer,
    RequestTimeout,
    TargetTooLong,
    VersionNotSupported,
)
from tollhouse.gateway.http._upstream_egress import EgressPolicy
from tollhouse.gateway.http._upstream_pool import UpstreamLimits, UpstreamPool

__all__ += [
    "HOP_BY_HOP",
    "EgressPolicy",
    "UpstreamConnectError",
    "UpstreamEgressDenied",
    "UpstreamError",
    "UpstreamLimits",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamRequestError",
    "UpstreamTimeout",
    "error_response",
    "prepare_forward_headers",
    "strip_hop_by_hop",
    "strip_response_hop_by_hop",
]

# The downstream server.
__all__ += [
    "BodyTooLarge",
    "DownstreamError",
    "GatewayServer",
    "HeadersTooLarge",
    "IncompleteBody",
    "MalformedRequest",
    "NotImplementedByServer",
    "RequestTimeout",
    "ServerLimits",
    "ServerState",
    "ServerStats",
    "TargetTooLong",
    "VersionNotSupported",
    "normalize_path",
]
