# The null proxy: hypercorn (trio worker) + one shared httpx client forwarding bodies unchanged.
# It is the stack's own ceiling: the daemon's throughput as a fraction of it is what our code costs.
"""`python bench/null_proxy.py UPSTREAM_URL` prints its port and forwards every request."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import serve

_SKIP = {b"host", b"content-length", b"connection", b"transfer-encoding"}


def make_app(upstream: str, client: httpx.AsyncClient) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k not in _SKIP]
        request = client.build_request(
            scope["method"], upstream + scope["path"], content=body, headers=headers
        )
        response = await client.send(request, stream=True)
        try:
            out = [
                (k.encode(), v.encode())
                for k, v in response.headers.items()
                if k.encode() not in _SKIP
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out}
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    return app


async def main(upstream: str) -> None:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    config.backlog = 4096
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with (
        httpx.AsyncClient(limits=limits, timeout=60.0) as client,
        trio.open_nursery() as nursery,
    ):
        binds = await nursery.start(serve, make_app(upstream, client), config)
        print(binds[0].rsplit(":", 1)[1], flush=True)


if __name__ == "__main__":
    try:
        trio.run(main, sys.argv[1].rstrip("/"))
    except KeyboardInterrupt:
        sys.exit(0)
