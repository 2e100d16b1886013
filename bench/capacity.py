"""Capacity over a loopback HTTP upstream, as a real provider is reached (issue 16).

`python -m bench.capacity` prints three tables (`python -m bench` includes them in docs/performance.md):
- turn overhead: CPU per turn of a 2-delta answer, the app next to two bare `Runner.run_streamed`
  consumers (bench/overhead.py), plus the app server's whole-process CPU per `/chat/stream` turn;
- first words with a slow model: 300 ms before each model call's first byte (the guardrail's check
  included), the input guardrail in parallel (now) and before the answer (as before);
- simultaneous chats: 1 / 5 / 20 / 50 chats released together, UI path (Gradio's queue) and API path
  (`/chat/stream`), p50 / p95 time to first text and completion ÷ generation, the end lag, failures; next to
  them the same number of bare `Runner.run_streamed` consumers of the demo team in one process (no server):
  what the SDK and the openai client alone reach on one core;
- the app server's CPU while nobody chats.
The upstream (bench/http_upstream.py), the app server and the bare consumers each run in their own process.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import time

import httpx

from bench.client import Chat, gradio_chat, gradio_endpoint, sse_chat
from bench.http_upstream import HttpUpstream
from bench.server import Server

COUNTS = (1, 5, 20, 50)
DELTAS, RATE = 200, 100.0  # 2 s of generation per chat
SLOW_FIRST_BYTE = 0.3
RUNS = 3  # each simultaneous-chats row: every figure is the median of this many runs (one run swings ±0.1×)
OVERHEAD_TURNS = 20
PATHS = ("app Gradio", "app /chat/stream")
FLOOR = "bare consumers"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def _chats(server: Server, endpoint, path: str, count: int) -> list[Chat]:
    limits = httpx.Limits(max_connections=4 * count + 4)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        if "Gradio" in path:
            one = lambda: gradio_chat(client, server.url, endpoint, DELTAS)  # noqa: E731
        else:
            one = lambda: sse_chat(client, server.url + "chat/stream", DELTAS)  # noqa: E731

        async def guarded() -> Chat:
            try:
                return await one()
            except httpx.HTTPError:
                return Chat(sent=time.monotonic())  # counted as failed (no final text)

        return list(await asyncio.gather(*(guarded() for _ in range(count))))


def simultaneous(server: Server, endpoint, upstream: HttpUpstream, path: str, count: int) -> dict[str, float]:
    upstream.configure(rate=RATE, deltas=DELTAS, first_byte_delay=0, guardrail_delay=0)
    upstream.marks()
    chats = asyncio.run(_chats(server, endpoint, path, count))
    marks = upstream.marks()
    ok = [c for c in chats if c.first_text is not None and c.final is not None]
    generation = DELTAS / RATE
    ttft = [c.first_text - c.sent for c in ok]
    ratio = [(c.final - c.sent) / generation for c in ok]
    # End lag: each chat's last word on screen after the upstream's last delta of the same answer. The
    # answers are the same text, so pair the i-th ending answer with the i-th ending chat.
    ends = sorted(c.final for c in ok)
    lasts = sorted(m["last"] for m in marks)
    lag = [end - last for end, last in zip(ends, lasts)]
    return {
        "ttft_p50": pct(ttft, 0.5), "ttft_p95": pct(ttft, 0.95),
        "ratio_p50": pct(ratio, 0.5), "ratio_p95": pct(ratio, 0.95),
        "lag_p50": pct(lag, 0.5), "failed": len(chats) - len(ok),
    }


def median_of_runs(measure) -> dict[str, float]:
    """Each figure of `measure()` as the median over RUNS runs (failures summed)."""
    runs = [measure() for _ in range(RUNS)]
    figures = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "failed"}
    return {**figures, "failed": sum(run["failed"] for run in runs)}


def floor_simultaneous(floor: Server, upstream: HttpUpstream, count: int) -> dict[str, float]:
    """`count` bare consumers of the demo team started together in one process (bench/server.py "floor")."""
    upstream.configure(rate=RATE, deltas=DELTAS, first_byte_delay=0, guardrail_delay=0)
    runs = [r for r in floor.call("floor", count) if r["first_text"] is not None]
    upstream.marks()
    generation = DELTAS / RATE
    ttft = [r["first_text"] - r["sent"] for r in runs]
    ratio = [(r["final"] - r["sent"]) / generation for r in runs]
    return {"ttft_p50": pct(ttft, 0.5), "ttft_p95": pct(ttft, 0.95), "ratio_p50": pct(ratio, 0.5),
            "ratio_p95": pct(ratio, 0.95), "lag_p50": float("nan"), "failed": count - len(runs)}


def idle_cpu(server: Server, seconds: float = 5.0) -> float:
    """The app server's CPU per second while nobody chats (ms/s)."""
    before = server.usage()["cpu"]
    time.sleep(seconds)  # measuring an idle interval, not waiting for an event
    return 1000 * (server.usage()["cpu"] - before) / seconds


def slow_first_words(server: Server, upstream: HttpUpstream, reps: int = 5) -> dict[str, float]:
    """Median time to first text of one chat when every model call waits 300 ms before its first byte."""
    upstream.configure(rate=RATE, deltas=20, first_byte_delay=SLOW_FIRST_BYTE, guardrail_delay=SLOW_FIRST_BYTE)
    figures = {}
    for parallel in (True, False):
        server.call("guardrail_in_parallel", parallel)
        times = []
        for _ in range(reps):
            chat = asyncio.run(_chats(server, None, "app /chat/stream", 1))[0]
            if chat.first_text is not None:
                times.append(chat.first_text - chat.sent)
        figures["parallel" if parallel else "before"] = statistics.median(times) if times else float("nan")
    server.call("guardrail_in_parallel", True)
    upstream.marks()
    return figures


def server_cpu_per_turn(server: Server, upstream: HttpUpstream, turns: int = OVERHEAD_TURNS) -> float:
    """The app server's whole-process CPU per sequential `/chat/stream` turn of a 2-delta answer (ms)."""
    upstream.configure(rate=0, deltas=2, first_byte_delay=0, guardrail_delay=0)

    async def run() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            for _ in range(turns):
                await sse_chat(client, server.url + "chat/stream", 2)

    asyncio.run(run())  # warm-up
    best = float("inf")
    for _ in range(3):
        before = server.usage()["cpu"]
        asyncio.run(run())
        best = min(best, (server.usage()["cpu"] - before) / turns)
    upstream.marks()
    return 1000 * best


def overhead_in_process(upstream: HttpUpstream) -> dict[str, float]:
    """bench/overhead.py in a child process of its own (it installs the span collector process-wide)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        upstream.configure(rate=0, deltas=2, first_byte_delay=0, guardrail_delay=0)
        result = pool.apply(_overhead, (upstream.base_url,))
    upstream.marks()
    return result


def _overhead(base_url: str) -> dict[str, float]:
    from bench.overhead import measure

    return measure(base_url, OVERHEAD_TURNS)


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def run_all() -> dict:
    started = time.monotonic()
    upstream = HttpUpstream()
    app = Server("app", upstream.base_url)
    floor = Server("floor", upstream.base_url)
    try:
        with httpx.Client(timeout=30) as client:
            endpoint = gradio_endpoint(client, app.url)
        load_before = load_note()
        overhead = overhead_in_process(upstream)
        overhead["server"] = server_cpu_per_turn(app, upstream)
        overhead["idle"] = idle_cpu(app)
        print(f"overhead done ({time.monotonic() - started:.0f} s): {overhead}", file=sys.stderr)
        slow = slow_first_words(app, upstream)
        print(f"slow first words done ({time.monotonic() - started:.0f} s): {slow}", file=sys.stderr)
        table = {}
        # Warm-up, so the table shows a running server: a process's first Gradio chat takes ~0.4 s more (first
        # use of its queue and handlers), and the first burst of twenty opens twenty upstream connections.
        floor.call("floor", 20)
        for path in PATHS:
            simultaneous(app, endpoint, upstream, path, 20)
        for count in COUNTS:
            for path in PATHS:
                table[count, path] = median_of_runs(lambda: simultaneous(app, endpoint, upstream, path, count))
                print(f"{count} × {path}: {table[count, path]}", file=sys.stderr)
            table[count, FLOOR] = median_of_runs(lambda: floor_simultaneous(floor, upstream, count))
            print(f"{count} × {FLOOR}: {table[count, FLOOR]}", file=sys.stderr)
        load_after = load_note()
    finally:
        app.close()
        floor.close()
        upstream.close()
    return {"overhead": overhead, "slow": slow, "table": table, "load": (load_before, load_after),
            "seconds": time.monotonic() - started}


def render(result: dict) -> str:
    o, slow = result["overhead"], result["slow"]
    lines = [
        "### Capacity over a loopback HTTP upstream",
        "",
        "The upstream is bench/http_upstream.py, a Responses API server in its own process: the app reaches it",
        "through the real `openai` client and httpx (`OPENAI_BASE_URL`), as it reaches a provider. The app runs",
        "as shipped: SQLite file store, recording on, span collector on. "
        f"Machine load during this run: {result['load'][0]} before, {result['load'][1]} after.",
        "",
        f"Turn overhead: CPU per turn of a 2-delta answer, best of 3 × {OVERHEAD_TURNS} sequential turns, in one process each.",
        "",
        "| consumer | CPU ms / turn | × bare with guardrail and session |",
        "|---|---|---|",
        f"| app (`Runtime.turn` → `batches` → SSE JSON; demo team, SQLite store, spans) | {o['app']:.1f} | {o['app'] / o['guarded']:.2f} |",
        f"| app server, whole process per `/chat/stream` turn (HTTP, Gradio idle loop included) | {o['server']:.1f} | {o['server'] / o['guarded']:.2f} |",
        f"| bare `Runner.run_streamed`, blocking structured-output guardrail, SDK `SQLiteSession` | {o['guarded']:.1f} | 1.00 |",
        f"| bare `Runner.run_streamed`, neither | {o['bare']:.1f} | {o['bare'] / o['guarded']:.2f} |",
        "",
        f"The app server while nobody chats: {o['idle']:.0f} ms of CPU a second.",
        "",
        f"First words when every model call waits {SLOW_FIRST_BYTE * 1000:.0f} ms before its first byte (the guardrail's "
        "check too), one chat, `/chat/stream`, median of 5:",
        "",
        "| input guardrail | time to first text (s) |",
        "|---|---|",
        f"| in parallel with the first model call, output held back until it passes (now) | {slow['parallel']:.2f} |",
        f"| before the first model call (as before) | {slow['before']:.2f} |",
        "",
        f"Simultaneous chats, released together, {DELTAS} deltas each at {RATE:.0f}/s (generation {DELTAS / RATE:.1f} s), "
        f"each figure the median of {RUNS} runs (failures: the sum); "
"end lag is the upstream's last delta to the last word on the client, median; \"bare consumers\" are that many "
        "`Runner.run_streamed` consumers of the demo team in one process with no server, for comparison:",
        "",
        "| chats | path | p50 first text (s) | p95 first text (s) | p50 completion ÷ generation | p95 completion ÷ generation | end lag p50 (ms) | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (count, path), f in result["table"].items():
        lag = "–" if math.isnan(f["lag_p50"]) else f"{1000 * f['lag_p50']:.0f}"
        lines.append(
            f"| {count} | {path.removeprefix('app ')} | {f['ttft_p50']:.2f} | {f['ttft_p95']:.2f} | {f['ratio_p50']:.2f} "
            f"| {f['ratio_p95']:.2f} | {lag} | {f['failed']} |"
        )
    lines += ["", targets(result), "", f"Capacity run: {result['seconds']:.0f} s."]
    return "\n".join(lines)


def targets(result: dict) -> str:
    """Issue 16's targets, checked against this run."""
    o, slow, table = result["overhead"], result["slow"], result["table"]
    checks = [
        ("turn overhead: app ≤ 40 ms CPU", o["app"], "≤", 40, " ms"),
        ("turn overhead: app ≤ 1.3× bare with guardrail and session", o["app"] / o["guarded"], "≤", 1.3, "×"),
        ("turn overhead: app server, whole process (recording on, HTTP) ≤ 40 ms CPU", o["server"], "≤", 40, " ms"),
        (f"first text with {SLOW_FIRST_BYTE * 1000:.0f} ms model latency ≈ one latency (< 1.5×)",
         slow["parallel"] / SLOW_FIRST_BYTE, "≤", 1.5, "× latency"),
    ]
    for path in PATHS:
        name = path.removeprefix("app ")
        if (20, path) in table:
            checks += [
                (f"20 chats, {name}: p95 first text < 1 s", table[20, path]["ttft_p95"], "≤", 1.0, " s"),
                (f"20 chats, {name}: p95 completion ≤ 1.3× generation", table[20, path]["ratio_p95"], "≤", 1.3, "×"),
            ]
        if (50, path) in table:
            checks += [
                (f"50 chats, {name}: none fails", table[50, path]["failed"], "≤", 0, ""),
                (f"50 chats, {name}: p95 first text < 3 s", table[50, path]["ttft_p95"], "≤", 3.0, " s"),
            ]
        if (1, path) in table:
            checks.append((f"1 chat, {name}: end lag ≤ 60 ms", 1000 * table[1, path]["lag_p50"], "≤", 60, " ms"))
    lines = ["| target (issue 16) | measured | met |", "|---|---|---|"]
    for name, value, op, limit, unit in checks:
        met = value <= limit if op == "≤" else value >= limit
        lines.append(f"| {name} | {value:.2f}{unit} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)


SECTION = "### Capacity over a loopback HTTP upstream"
NEXT_SECTION = "### Reading the figures"


def splice(doc: str, section: str) -> str:
    """`doc` with its capacity section replaced by `section` (put before the reading notes if absent)."""
    start = doc.find(SECTION)
    end = doc.find(NEXT_SECTION)
    if start == -1:
        start = end if end != -1 else len(doc)
    if end == -1 or end < start:
        end = len(doc)
    return doc[:start] + section.rstrip() + "\n\n" + doc[end:]


def main() -> None:
    """`--doc`: also write the tables into docs/performance.md (the rest of the page stays)."""
    from bench.run import DOC

    report = render(run_all())
    print(report)
    if "--doc" in sys.argv and DOC.exists():
        DOC.write_text(splice(DOC.read_text(), report))


if __name__ == "__main__":
    main()
