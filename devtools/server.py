"""Launch the whole app (Gradio UI + HTTP API) on a free loopback port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from agents_config import Settings
from runtime import Runtime

SHUTDOWN_SECONDS = 30.0  # generous for a loaded machine; a server still running after it is a bug


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_asgi(
    app, port: int | None = None, ready_path: str = "", timeout: float = 30.0, stop_timeout: float = SHUTDOWN_SECONDS
) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 in a thread; yields the base URL (ends with '/').

    Ready once `ready_path` answers below 500. On exit the server is stopped and its thread must end
    (lifespan shutdown included, which closes the app's store on the server's own loop): a server
    that does not stop raises, instead of leaking into whatever runs next.
    """
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"app-server-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        if not thread.is_alive():
            raise RuntimeError(f"the app server on {url} exited while starting") from (failure[0] if failure else None)
        try:
            if server.started and httpx.get(url + ready_path, timeout=2).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the app did not start on {url}")
        time.sleep(0.05)  # polling the server with a deadline, not waiting blindly
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(stop_timeout)
        if thread.is_alive():
            server.force_exit = True
            raise RuntimeError(f"the app server on {url} did not stop within {stop_timeout:g} s")
        if failure:
            raise RuntimeError(f"the app server on {url} failed") from failure[0]


@contextmanager
def serve(runtime: Runtime, port: int | None = None, timeout: float = 30.0) -> Iterator[str]:
    """Serve `build_app(runtime, build_demo(runtime))`; yields the base URL (ends with '/')."""
    from app import build_app, build_demo

    with serve_asgi(build_app(runtime, build_demo(runtime)), port, "gradio_api/info", timeout) as url:
        yield url


def offline_settings(**overrides) -> Settings:
    """Offline demo settings: fast pacing, in-memory store, no real key."""
    values = dict(force_offline=True, session_db_url=":memory:", demo_tokens_per_second=400.0, demo_tool_latency=0.0)
    values.update(overrides)
    return Settings(**values)
