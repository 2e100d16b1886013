"""Launch the whole app (Gradio UI + HTTP API) on a free loopback port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterator

import httpx
import uvicorn

from agents_config import Settings
from runtime import Runtime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(runtime: Runtime, timeout: float = 30.0) -> Iterator[str]:
    """Serve `build_app(runtime, build_demo(runtime))`; yields the base URL (ends with '/')."""
    from app import build_app, build_demo

    app = build_app(runtime, build_demo(runtime))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "gradio_api/info", timeout=2).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the app did not start on {url}")
        time.sleep(0.05)  # polling the server with a deadline, not waiting blindly
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def offline_settings(**overrides) -> Settings:
    """Offline demo settings for tests: fast pacing, in-memory store, no real key."""
    values = dict(force_offline=True, session_db_url=":memory:", demo_tokens_per_second=400.0, demo_tool_latency=0.0)
    values.update(overrides)
    return Settings(**values)
