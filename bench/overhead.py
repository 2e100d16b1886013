"""The fixed CPU cost of a turn: this app next to two bare `Runner.run_streamed` consumers.

`python -m bench.overhead [--turns N] [--profile app|guarded|bare]`

All three run in this process, one after the other, on a loopback HTTP upstream in its own process
(bench/http_upstream.py) answering two text deltas, so nearly all of a turn's CPU is its fixed cost:
- app: `Runtime.turn` → `batches` → the SSE JSON encoding, the demo team (guardrail included), a SQLite
  conversation store, the span collector on (as shipped), recording off;
- guarded: a bare consumer with a blocking structured-output input guardrail and an SDK `SQLiteSession`;
- bare: a bare consumer, neither.
CPU is `time.process_time()` (every thread of the process: aiosqlite's included) over N sequential turns.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

DELTAS = 2


def _settings(base_url: str, folder: str):
    from agents_config import Settings

    return Settings(
        openai_api_key="bench-key", openai_base_url=base_url, model="bench-model",
        session_db_url=os.path.join(folder, "app.sqlite3"), max_retries=0,
    )


def app_turns(base_url: str, folder: str) -> Callable[[], Awaitable[None]]:
    """One `/chat/stream` turn minus the HTTP server: what the route runs per request."""
    from http_api.routes import _sse
    from runtime import Runtime
    from streaming.batching import batches

    runtime = Runtime.from_settings(_settings(base_url, folder))

    async def turn() -> None:
        conversation = await runtime.store.create()
        async with runtime.store.turn(conversation.id):
            async for batch in batches(runtime.turn(conversation, "bench"), 0.05):
                for event in batch:
                    _sse(event)

    return turn


def bare_turns(base_url: str, folder: str, guarded: bool) -> Callable[[], Awaitable[None]]:
    """A bare consumer of `Runner.run_streamed`; `guarded` adds a blocking guardrail and an SDK SQLiteSession."""
    import secrets

    from agents import (
        Agent,
        GuardrailFunctionOutput,
        ModelSettings,
        OpenAIProvider,
        RunConfig,
        Runner,
        SQLiteSession,
        input_guardrail,
    )
    from openai import AsyncOpenAI
    from openai.types.responses import ResponseTextDeltaEvent
    from pydantic import BaseModel

    client = AsyncOpenAI(api_key="bench-key", base_url=base_url, max_retries=0)
    # Bare: no tracing (the app keeps its local span collector on, as shipped).
    config = RunConfig(model_provider=OpenAIProvider(openai_client=client, use_responses=True), tracing_disabled=True)

    class Check(BaseModel):
        blocked: bool
        reason: str

    checker = Agent(name="check", instructions="Screen the message.", model="bench-model", output_type=Check)

    @input_guardrail(run_in_parallel=False)
    async def guard(ctx, agent, input):
        result = await Runner.run(checker, input if isinstance(input, str) else "bench", run_config=config)
        return GuardrailFunctionOutput(output_info=result.final_output, tripwire_triggered=result.final_output.blocked)

    agent = Agent(name="answer", instructions="Answer.", model="bench-model",
                  model_settings=ModelSettings(include_usage=True), input_guardrails=[guard] if guarded else [])
    db = os.path.join(folder, "bare.sqlite3")

    async def turn() -> None:
        session = SQLiteSession(secrets.token_hex(8), db) if guarded else None
        result = Runner.run_streamed(agent, "bench", session=session, run_config=config)
        async for event in result.stream_events():
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                pass
        if session is not None:
            session.close()

    return turn


async def cpu_per_turn(turn: Callable[[], Awaitable[None]], turns: int, profile: cProfile.Profile | None = None) -> float:
    for _ in range(3):  # warm-up: imports, first connections, table creation
        await turn()
    if profile:
        profile.enable()
    started = time.process_time()
    for _ in range(turns):
        await turn()
    spent = time.process_time() - started
    if profile:
        profile.disable()
    return spent / turns


def measure(base_url: str, turns: int, profile_kind: str | None = None, dump: str | None = None) -> dict[str, float]:
    """CPU ms per turn of each kind, measured in this process (interleaved to share background load)."""
    folder = tempfile.mkdtemp(prefix="bench-overhead-")
    kinds = {
        "app": app_turns(base_url, folder),
        "guarded": bare_turns(base_url, folder, guarded=True),
        "bare": bare_turns(base_url, folder, guarded=False),
    }
    figures: dict[str, list[float]] = {k: [] for k in kinds}
    # CPU time of the loop's thread (wall time would count the waits for the upstream)
    profile = cProfile.Profile(time.thread_time) if profile_kind else None
    loop = asyncio.new_event_loop()
    try:
        for _ in range(3):
            for kind, turn in kinds.items():
                figures[kind].append(loop.run_until_complete(cpu_per_turn(turn, turns, profile if kind == profile_kind else None)))
    finally:
        loop.close()
    if profile and dump:
        profile.dump_stats(dump)  # for `python -m pstats` or snakeviz
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    return {kind: 1000 * min(values) for kind, values in figures.items()}


def main() -> None:
    from bench.http_upstream import HttpUpstream

    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--profile", choices=("app", "guarded", "bare"))
    parser.add_argument("--dump", help="also write the profile to this file (pstats format)")
    args = parser.parse_args()
    upstream = HttpUpstream()
    try:
        upstream.configure(rate=0, deltas=DELTAS, first_byte_delay=0, guardrail_delay=0)
        result = measure(upstream.base_url, args.turns, args.profile, args.dump)
    finally:
        upstream.close()
    for kind, ms in result.items():
        print(f"{kind:8s} {ms:6.1f} ms CPU per turn")
    print(f"app / guarded: {result['app'] / result['guarded']:.2f}×")


if __name__ == "__main__":
    main()
