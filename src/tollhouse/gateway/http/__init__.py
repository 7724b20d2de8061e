"""HTTP for the gateway: the downstream server and the upstream connection pool, on uvloop
with httptools (llhttp). Strict framing, explicit limits and deadlines."""

from tollhouse.gateway.http._messages import (
    Body,
    Handler,
    Headers,
    Request,
    Response,
    UpstreamRequest,
)

__all__ = ["Body", "Handler", "Headers", "Request", "Response", "UpstreamRequest"]
