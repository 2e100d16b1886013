"""A loopback HTTP upstream speaking the Responses API, in its own process, as a real provider is reached.

The app under test points `OPENAI_BASE_URL` at it, so the real `openai` client, httpx and the SDK's
Responses model parse every byte. Its CPU is not the app's: it runs in a process of its own.

- `POST /v1/responses` with `stream: true`: the answer `w0000 w0001 ...` (see bench/upstream.py),
  one word per `response.output_text.delta`, at `rate` deltas per second (<= 0: at once), after
  `first_byte_delay` seconds of silence (a real model's time to first token).
- `POST /v1/responses` without `stream` (the guardrail check, `Runner.run`): the guardrail's JSON
  verdict (not blocked), after `guardrail_delay` seconds.
- `POST /bench/config` sets those numbers; `GET /bench/marks` returns (and forgets) each streamed
  answer's `time.monotonic()` of its first and last delta, which compare with a client's clock on Linux.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import time
from dataclasses import asdict, dataclass

from bench.upstream import ALLOWED, word

_ids = itertools.count()
TICK = 0.02  # seconds between two chunks of a paced answer, at most


@dataclass
class Config:
    rate: float = 100.0
    deltas: int = 200
    first_byte_delay: float = 0.0
    guardrail_delay: float = 0.0


def _response(rid: str, status: str, output: list, tokens: int) -> dict:
    usage = None if status != "completed" else {
        # As OpenAI sends it (openai 3.57 requires cache_write_tokens: without it the event fails validation).
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": tokens, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 10 + tokens,
    }
    return {
        "id": rid, "object": "response", "created_at": int(time.time()), "model": "bench", "status": status,
        "output": output, "usage": usage, "error": None, "incomplete_details": None, "instructions": None,
        "metadata": {}, "parallel_tool_calls": True, "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto",
        "tools": [], "text": {"format": {"type": "text"}},
    }


def _sse(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _message(text: str, rid: str) -> dict:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": f"msg_{rid}", "type": "message", "role": "assistant", "status": "completed", "content": [part]}


def build_app(config: Config, marks: list[dict]):
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    async def responses(request: Request) -> Response:
        body = await request.json()
        rid = f"resp_{next(_ids)}"
        if not body.get("stream"):  # the guardrail's check: one JSON answer
            if config.guardrail_delay:
                await asyncio.sleep(config.guardrail_delay)  # the modelled model latency, not a wait for an event
            return JSONResponse(_response(rid, "completed", [_message(ALLOWED, rid)], 1))
        count, rate, delay = config.deltas, config.rate, config.first_byte_delay
        text = " ".join(word(i) for i in range(count))
        item_id = f"msg_{rid}"
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        seq = itertools.count()
        head = [
            {"type": "response.created", "response": _response(rid, "in_progress", [], 0)},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", **where,
             "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}},
        ]
        done = _message(text, rid)
        tail = [
            {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **where, "part": done["content"][0]},
            {"type": "response.output_item.done", "output_index": 0, "item": done},
            {"type": "response.completed", "response": _response(rid, "completed", [done], count)},
        ]

        async def produce():
            if delay:
                await asyncio.sleep(delay)  # time to first byte of a real model
            yield b"".join(_sse({**e, "sequence_number": next(seq)}) for e in head)
            started = time.monotonic()
            first = last = started
            index = 0
            while index < count:
                # Everything due by now goes out in one chunk: the pace holds even when this process lags.
                due = count if rate <= 0 else min(count, int((time.monotonic() - started) * rate) + 1)
                chunk = []
                for i in range(index, due):
                    delta = word(i) if i == 0 else " " + word(i)
                    chunk.append(_sse({"type": "response.output_text.delta", **where, "delta": delta,
                                       "logprobs": [], "sequence_number": next(seq)}))
                index = due
                now = time.monotonic()
                if chunk:
                    first = first if first != started else now
                    last = now
                    yield b"".join(chunk)
                if index < count:
                    # Wake at most every TICK: fifty streams at 100 deltas/s would otherwise cost this
                    # process a core of wake-ups, on the same two cores as the app (providers chunk too).
                    await asyncio.sleep(max(TICK, started + index / rate - time.monotonic()))
            yield b"".join(_sse({**e, "sequence_number": next(seq)}) for e in tail)
            marks.append({"first": first, "last": last})

        return StreamingResponse(produce(), media_type="text/event-stream")

    async def set_config(request: Request) -> Response:
        for key, value in (await request.json()).items():
            setattr(config, key, type(getattr(config, key))(value))
        return JSONResponse(asdict(config))

    async def get_marks(request: Request) -> Response:
        taken = marks[:]
        marks.clear()
        return JSONResponse(taken)

    return Starlette(routes=[
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/bench/config", set_config, methods=["POST"]),
        Route("/bench/marks", get_marks, methods=["GET"]),
    ])


def _serve(port: int, ready) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(build_app(Config(), []), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", backlog=2048))
    ready.set()
    server.run()


class HttpUpstream:
    """The upstream in a child process; `base_url` ends in `/v1`."""

    def __init__(self) -> None:
        import httpx

        from devtools.server import free_port

        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        self.process = context.Process(target=_serve, args=(self.port, ready), daemon=True)
        self.process.start()
        ready.wait(60)
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        self.client = httpx.Client(timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.get(self.url + "/bench/marks")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise TimeoutError("the HTTP upstream did not start") from None
                time.sleep(0.05)  # polling the server with a deadline

    def configure(self, **values) -> None:
        self.client.post(self.url + "/bench/config", json=values).raise_for_status()

    def marks(self) -> list[dict]:
        return self.client.get(self.url + "/bench/marks").json()

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.join(timeout=10)
