"""The test server helper itself: a server that does not stop is an error, not a leak into the next test."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devtools.server import serve_asgi


def _app(shutdown_seconds: float):
    """A bare ASGI app answering 200, whose lifespan shutdown takes `shutdown_seconds`."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await asyncio.sleep(shutdown_seconds)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_a_server_that_stops_is_joined():
    with serve_asgi(_app(0)) as url:
        assert httpx.get(url, timeout=10).text == "ok"


def test_a_server_that_does_not_stop_fails_loudly():
    with pytest.raises(RuntimeError, match="did not stop within 0.5 s"):
        with serve_asgi(_app(3), stop_timeout=0.5) as url:
            assert httpx.get(url, timeout=10).text == "ok"
