"""Serving an ASGI application over TLS with uvicorn, plus the deadlines uvicorn lacks.

The control plane and the directory are FastAPI applications (DESIGN "Choices"); this is the
one place that turns them into listening HTTPS servers.
"""

from tollhouse.serving._limits import BodyLimit
from tollhouse.serving._server import (
    DEFAULT_HEADER_TIMEOUT_SECONDS,
    HeaderDeadlineProtocol,
    ServerHandle,
    build_server,
    start_in_thread,
)

__all__ = [
    "DEFAULT_HEADER_TIMEOUT_SECONDS",
    "BodyLimit",
    "HeaderDeadlineProtocol",
    "ServerHandle",
    "build_server",
    "start_in_thread",
]
