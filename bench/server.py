"""The measured side, in its own process so that only server CPU is counted.

`start(kind)` spawns a process and returns a `Server` handle that talks to it over a pipe:
kind "app" serves this app (devtools.server.serve), "naive" serves bench/naive.py, "floor" serves
nothing and runs bare `Runner.run_streamed` consumers on request.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from contextlib import contextmanager
from typing import Any

ENV = {
    "AGENT_OFFLINE": "1",
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
    "SESSION_DB_URL": ":memory:",  # app.py builds a module-level runtime on import
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@contextmanager
def _serve_naive(team):
    import httpx
    import uvicorn

    from bench.naive import build_naive_app
    from devtools.server import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_naive_app(team), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("the naive app did not start")
        time.sleep(0.05)  # polling with a deadline
    httpx.get(url + "gradio_api/info", timeout=10)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def _floor_run(team, message: str) -> dict[str, float]:
    from bench.naive import text_deltas

    sent = time.monotonic()
    first = None
    async for _ in text_deltas(team, message):
        first = first or time.monotonic()
    return {"sent": sent, "first_text": first, "final": time.monotonic()}


def _child(kind: str, conn, upstream_url: str | None = None) -> None:
    os.environ.update(ENV)
    import tempfile

    from bench.upstream import Upstream, bench_team
    from conversations import open_store
    from devtools.server import offline_settings, serve
    from runtime import Runtime

    upstream = Upstream()
    if upstream_url:
        # A loopback HTTP upstream (bench/http_upstream.py): the real openai client and httpx path.
        from agents_config import Settings, build_team

        # As shipped: recording on (into a scratch folder), the span collector on (below), a SQLite file.
        # Retries as shipped (2): fifty connections at once sometimes meet a closing keep-alive connection.
        settings = Settings(openai_api_key="bench-key", openai_base_url=upstream_url, model="bench-model",
                            record_runs=True, recordings_dir=tempfile.mkdtemp(prefix="bench-recordings-"))
        team = build_team(settings)
    else:
        settings = offline_settings(demo_tool_latency=0.0)
        team = bench_team(settings, upstream)
    loop = asyncio.new_event_loop() if kind == "floor" else None
    if kind == "app":
        # A SQLite file, the app's default store (":memory:" shares one connection between all chats).
        folder = tempfile.mkdtemp(prefix="bench-store-")
        # As the app runs: its local span collector on (the env var above only silences uploads elsewhere).
        from streaming.tracing import install_collector

        install_collector(upload=False)
        server = serve(Runtime(settings, team=team, store=open_store(os.path.join(folder, "bench.sqlite3"), 3600)))
    elif kind == "naive":
        server = _serve_naive(team)
    else:
        server = contextmanager(lambda: iter([None]))()
    with server as url:
        conn.send(url)
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            if command == "upstream":
                upstream.rate, upstream.deltas = args
                reply: Any = None
            elif command == "usage":
                reply = {"cpu": time.process_time(), "rss": rss_bytes(), "marks": upstream.marks[:], "pid": os.getpid()}
                upstream.marks.clear()
            elif command == "rss":
                reply = rss_bytes()
            elif command == "guardrail_in_parallel":
                # The input guardrail as before issue 16 (False: the answer waits for the check), for comparison.
                for agent in team.by_name.values():
                    for guardrail in agent.input_guardrails:
                        guardrail.run_in_parallel = args[0]
                reply = None
            elif command == "floor":
                async def many(count: int):
                    return await asyncio.gather(*(_floor_run(team, "bench") for _ in range(count)))

                reply = loop.run_until_complete(many(args[0]))
            else:
                reply = ValueError(command)
            conn.send(reply)
    conn.close()


class Server:
    def __init__(self, kind: str, upstream_url: str | None = None):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_child, args=(kind, child, upstream_url), daemon=True)
        self.process.start()
        if not self.conn.poll(120):
            raise TimeoutError(f"the {kind} server did not start")
        self.url: str | None = self.conn.recv()

    def call(self, *command) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def upstream(self, rate: float, deltas: int) -> None:
        self.call("upstream", rate, deltas)

    def usage(self) -> dict[str, Any]:
        return self.call("usage")

    def close(self) -> None:
        try:
            self.call("stop")
        except (BrokenPipeError, EOFError):
            pass
        self.process.join(timeout=15)
        if self.process.is_alive():
            self.process.terminate()
