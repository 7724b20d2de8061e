"""The echo backend of `tollhouse dev`: every request is answered, 200, with what arrived.

    {"method": "GET", "path": "/hello", "query": "x=1", "headers": {...}, "body": "..."}

It is what the sample API forwards to, so a call through the gateway shows what the gateway
sent upstream (the path after the API's suffix, forwarding headers, no subscription key).
Run as `python -m tollhouse.cli._echo --port 8090`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

# An echo repeats what it is sent; more than this is cut (and said so), not held in memory.
MAX_ECHOED_BODY_BYTES = 64 * 1024


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    truncated = False
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        if len(body) + len(chunk) > MAX_ECHOED_BODY_BYTES:
            truncated = True
            chunk = chunk[: MAX_ECHOED_BODY_BYTES - len(body)]
        body += chunk
        if not message.get("more_body"):
            break
    answer: dict[str, Any] = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        "body": body.decode("utf-8", errors="replace"),
    }
    if truncated:
        answer["bodyTruncatedAt"] = MAX_ECHOED_BODY_BYTES
    payload = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m tollhouse.cli._echo", description="Answer every request with itself."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    try:
        uvicorn.run(
            echo_app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
