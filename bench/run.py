"""The benchmark scenarios, the figures, the target checks and the report.

Each path runs the same upstream (bench/upstream.py) in its own server process (bench/server.py):
- floor: a bare consumer of `Runner.run_streamed(...).stream_events()`, no server at all;
- naive: bench/naive.py (per-delta Gradio yields of the whole text, concurrency 1; one SSE event per delta);
- app: this app, served by devtools.server.serve: the Gradio handler and /chat/stream.
Latency is measured with raw SSE clients (bench/client.py) against the upstream's own timestamps.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.client import Chat, gradio_chat, gradio_endpoint, sse_chat
from bench.server import Server

REPS = 3
LONG = 2000  # deltas in the long answer
RATES = {"1,000/s": 1000.0, "burst": 0.0}
CHATS, CHAT_DELTAS, CHAT_RATE = 20, 200, 100.0
STORED = 100
DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
PATHS = ("floor", "naive Gradio", "naive SSE", "app Gradio", "app /chat/stream")


@dataclass
class Figures:
    ttft: list[float] = field(default_factory=list)  # first visible text - upstream first delta (s)
    tail: list[float] = field(default_factory=list)  # final text - upstream last delta (s)
    cpu: list[float] = field(default_factory=list)  # server CPU s per 1,000 deltas
    net: list[float] = field(default_factory=list)  # the same, minus the server's idle CPU over the answer
    bytes: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)  # UI updates / events per second of streaming
    total: list[float] = field(default_factory=list)  # request sent -> final text (s)


def med(values) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values, scale=1.0, fmt="{:.0f}") -> str:
    if not values:
        return "n/a"
    m, lo, hi = (fmt.format(v * scale) for v in (med(values), min(values), max(values)))
    return m if lo == hi else f"{m} ({lo}–{hi})"


def p95(values) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


class Bench:
    def __init__(self) -> None:
        started = time.monotonic()
        self.floor, self.naive, self.app = Server("floor"), Server("naive"), Server("app")
        with httpx.Client(timeout=30) as client:
            self.endpoints = {s: gradio_endpoint(client, s.url) for s in (self.naive, self.app)}
        print(f"servers up in {time.monotonic() - started:.1f} s", file=sys.stderr)
        self.idle: dict[Server, float] = {}

    def measure_idle(self, seconds: float = 2.0) -> None:
        """CPU seconds per second each server burns doing nothing (Gradio's queue loop), subtracted as "net"."""
        for server in (self.floor, self.naive, self.app):
            before, at = server.usage()["cpu"], time.monotonic()
            time.sleep(seconds)  # a measurement window, not a wait for something
            self.idle[server] = (server.usage()["cpu"] - before) / (time.monotonic() - at)

    def close(self) -> None:
        for server in (self.floor, self.naive, self.app):
            server.close()

    def server(self, path: str) -> Server:
        return {"floor": self.floor, "naive": self.naive, "app": self.app}[path.split()[0]]

    async def chats(self, path: str, count: int, deltas: int) -> list[Chat]:
        server = self.server(path)
        if path == "floor":
            runs = await asyncio.to_thread(server.call, "floor", count)
            return [Chat(sent=r["sent"], first_text=r["first_text"], final=r["final"]) for r in runs]
        limits = httpx.Limits(max_connections=4 * count + 4)
        async with httpx.AsyncClient(timeout=300, limits=limits) as client:
            if "Gradio" in path:
                one = lambda: gradio_chat(client, server.url, self.endpoints[server], deltas)  # noqa: E731
            else:
                url = server.url + ("chat/stream" if path.startswith("app") else "naive/stream")
                one = lambda: sse_chat(client, url, deltas)  # noqa: E731
            return list(await asyncio.gather(*(one() for _ in range(count))))

    def single(self, path: str, rate: float, figures: Figures) -> None:
        server = self.server(path)
        server.upstream(rate, LONG)
        before, at = server.usage(), time.monotonic()
        chat = asyncio.run(self.chats(path, 1, LONG))[0]
        after, wall = server.usage(), time.monotonic() - at
        mark = after["marks"][0]
        figures.cpu.append((after["cpu"] - before["cpu"]) / (LONG / 1000))
        figures.net.append((after["cpu"] - before["cpu"] - self.idle[server] * wall) / (LONG / 1000))
        figures.ttft.append(chat.first_text - mark["first"])
        figures.tail.append(chat.final - mark["last"])
        figures.total.append(chat.final - chat.sent)
        if path != "floor":
            figures.bytes.append(chat.bytes)
            figures.events.append(chat.events)
            figures.rate.append(chat.events / max(chat.final - chat.first_text, 1e-3))

    def concurrent(self, path: str) -> dict[str, float]:
        server = self.server(path)
        server.upstream(CHAT_RATE, CHAT_DELTAS)
        server.usage()
        chats = asyncio.run(self.chats(path, CHATS, CHAT_DELTAS))
        failed = sum(c.final is None for c in chats)
        chats = [c for c in chats if c.final is not None and c.first_text is not None] or [Chat(0, float("nan"), float("nan"))]
        generation = CHAT_DELTAS / CHAT_RATE
        ttft = [c.first_text - c.sent for c in chats]
        done = [c.final - c.sent for c in chats]
        return {"ttft_med": med(ttft), "ttft_p95": p95(ttft), "done_p95": p95(done), "done_ratio": p95(done) / generation, "failed": failed}

    def memory(self) -> dict[str, float]:
        """App RSS: idle (after one warm-up turn), with 100 stored conversations, with 20 active chats on top."""
        app = self.app
        app.upstream(0.0, CHAT_DELTAS)
        idle = app.call("rss")

        async def store_conversations() -> None:
            async with httpx.AsyncClient(timeout=60) as client:
                for _ in range(STORED // 10):
                    await asyncio.gather(*(client.post(app.url + "chat", json={"message": "bench"}) for _ in range(10)))

        asyncio.run(store_conversations())
        stored = app.call("rss")
        app.upstream(CHAT_RATE, CHAT_DELTAS)

        async def active() -> int:
            task = asyncio.ensure_future(self.chats("app /chat/stream", CHATS, CHAT_DELTAS))
            peak = 0
            while not task.done():
                peak = max(peak, await asyncio.to_thread(app.call, "rss"))
                await asyncio.sleep(0.1)  # sampling period while the chats run, not a wait for an event
            await task
            return peak

        peak = asyncio.run(active())
        app.usage()  # drop the marks of these chats
        return {"idle": idle, "stored": stored, "active": peak}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} CPUs (nproc), {model}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main() -> None:
    started = time.monotonic()
    bench = Bench()
    try:
        # Warm-up: first requests import and compile lazily in every server.
        for path in PATHS:
            bench.server(path).upstream(0.0, 20)
            asyncio.run(bench.chats(path, 1, 20))
            bench.server(path).usage()
        bench.measure_idle()
        single = {(rate, path): Figures() for rate in RATES for path in PATHS}
        for rate_name, rate in RATES.items():
            for rep in range(REPS):
                for path in PATHS:  # interleaved, so background load hits every path alike
                    bench.single(path, rate, single[rate_name, path])
            print(f"single streams at {rate_name} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        concurrent = {path: bench.concurrent(path) for path in PATHS}
        print(f"concurrent chats done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        memory = bench.memory()
    finally:
        bench.close()
    from bench import capacity

    capacity_report = capacity.render(capacity.run_all())  # after the servers above are gone
    idle = {"floor": bench.idle[bench.floor], "naive": bench.idle[bench.naive], "app": bench.idle[bench.app]}
    report = render(single, concurrent, memory, idle, time.monotonic() - started)
    print(report + "\n\n" + capacity_report)
    write_doc(report + "\n\n" + capacity_report)


def render(single, concurrent, memory, idle, elapsed: float) -> str:
    from bench.targets import targets_table

    lines = [
        f"Upstream: in-process SDK `Model` (bench/upstream.py), {LONG:,} text deltas per answer; "
        f"median (min–max) of {REPS} runs; ratios are of medians.",
        "",
        "| upstream rate | path | first text after upstream's first delta (ms) | final text after upstream's last (ms) "
        "| server CPU s / 1k tokens | × floor | net of idle | × floor (net) | bytes / answer | events (UI updates) | events / s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in RATES:
        floor_cpu, floor_net = med(single[rate, "floor"].cpu), med(single[rate, "floor"].net)
        for path in PATHS:
            f = single[rate, path]
            lines.append(
                f"| {rate} | {path} | {spread(f.ttft, 1000)} | {spread(f.tail, 1000)} | {spread(f.cpu, 1, '{:.3f}')} "
                f"| {med(f.cpu) / floor_cpu:.2f} | {spread(f.net, 1, '{:.3f}')} | {med(f.net) / floor_net:.2f} | {spread(f.bytes, 1, '{:,.0f}')} | {spread(f.events)} | {spread(f.rate)} |"
            )
    idle = ", ".join(f"{name} {rate:.3f}" for name, rate in idle.items())
    lines += [
        "",
        f"Idle server CPU (s per s, subtracted in the net columns): {idle}.",
        "",
        f"{CHATS} concurrent chats, {CHAT_DELTAS} deltas each at {CHAT_RATE:.0f}/s (generation {CHAT_DELTAS / CHAT_RATE:.1f} s), one run:",
        "",
        "| path | median time to first text (s) | p95 time to first text (s) | p95 completion (s) | p95 completion / generation | failed chats |",
        "|---|---|---|---|---|---|",
    ]
    for path, c in concurrent.items():
        lines.append(f"| {path} | {c['ttft_med']:.2f} | {c['ttft_p95']:.2f} | {c['done_p95']:.2f} | {c['done_ratio']:.2f} | {c['failed']} |")
    mb = 1024 * 1024
    lines += [
        "",
        f"App server RSS: idle {memory['idle'] / mb:.0f} MB; with {STORED} stored conversations {memory['stored'] / mb:.0f} MB "
        f"(+{(memory['stored'] - memory['idle']) / mb:.1f}); peak with {CHATS} active chats on top {memory['active'] / mb:.0f} MB "
        f"(+{(memory['active'] - memory['idle']) / mb:.1f} over idle).",
        "",
        targets_table(single, concurrent, memory, med),
        "",
        f"Whole run: {elapsed:.0f} s.",
    ]
    return "\n".join(lines)


def write_doc(report: str) -> None:
    """The generated tables at the top of docs/performance.md. The reading notes below them (from
    `### Reading the figures` on) are written by people in the doc itself, and kept as they are."""
    from bench.capacity import NEXT_SECTION

    old = DOC.read_text() if DOC.exists() else ""
    notes = old[old.find(NEXT_SECTION):] if NEXT_SECTION in old else ""
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(
        "## Performance\n\n"
        "How much the streaming paths cost next to the SDK itself (the floor: a bare `stream_events()` consumer) "
        "and next to the naive handler (bench/naive.py: a ChatInterface yielding the whole text on every delta with "
        "Gradio's default concurrency 1, and an SSE endpoint sending one event per delta). Each path runs in its own "
        "server process, so server CPU excludes the client. Latency is measured by raw SSE clients (Gradio's queue "
        "protocol, not gradio_client) against the upstream's own timestamps. The machine is shared: absolute numbers "
        "are noisy, the ratios within one run are the point.\n\n"
        f"Machine: {machine()}.\n\nCommand: `python -m bench` (from the repository root).\n\n" + report + "\n\n" + notes
    )

