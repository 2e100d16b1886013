"""A loopback fake of the OpenAI API that speaks the real wire protocols, scripted per test.

Three endpoints, byte-compatible with what the `openai` client and the Agents SDK parse:

- `POST /v1/responses` (stream=true): Server-Sent Events, `event: <type>` + `data: <json>` per event
  (openai/_streaming.py), ending with `response.completed` carrying `usage`.
- `WS /v1/responses`: the client sends `{"type": "response.create", ...}` frames; each is answered with
  the same Responses stream events as text frames (agents/models/openai_responses.py,
  `OpenAIResponsesWSModel._iter_websocket_response_events`).
- `POST /v1/chat/completions` (stream=true): `data: <chunk>` lines with `choices[0].delta`, a usage
  chunk when `stream_options.include_usage`, then `data: [DONE]`.

A test queues `Step`s; each model call takes the next one. The input guardrail's check (a call that asks
for a JSON schema and offers no tools) is answered "not blocked" without taking a step, unless the next
step is a fault: faults hit whatever call comes next. Every HTTP request and every WebSocket
connection is recorded so tests can count them.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from devtools.server import free_port

FAULTS = ("401", "429", "500", "stall", "cut", "malformed", "ws_close")
GUARDRAIL_ANSWER = {"blocked": False, "reason": "The user asks about their own account."}
STALL_CAP = 20.0  # a stalled stream gives up on its own after this, so a broken test cannot hang the suite


@dataclass(frozen=True)
class Step:
    """One scripted model call: text and/or one function call, or a fault."""

    text: str = ""
    call: tuple[str, str] | None = None  # (function name, JSON arguments)
    fault: str | None = None
    usage: tuple[int, int] = (20, 8)  # (input_tokens, output_tokens)
    retry_after_ms: int = 10  # what a 429 fault asks the client to wait


def text(value: str, usage: tuple[int, int] = (20, 8)) -> Step:
    return Step(text=value, usage=usage)


def call(name: str, usage: tuple[int, int] = (20, 8), **arguments: Any) -> Step:
    return Step(call=(name, json.dumps(arguments)), usage=usage)


def fault(kind: str, answer: Step = Step()) -> Step:
    """A fault on the next call; stream faults (stall, cut, malformed, ws_close) break `answer` midway."""
    assert kind in FAULTS, kind
    return Step(text=answer.text, call=answer.call, fault=kind, usage=answer.usage)


@dataclass
class Call:
    """One model call as the fake saw it."""

    transport: str  # "http" or "ws"
    path: str
    body: dict[str, Any]
    guardrail: bool
    finished: bool = False  # the whole answer was sent
    closed_early: bool = False  # the client went away before the answer ended


@dataclass
class WsConnection:
    frames: int = 0
    closed: bool = False


@dataclass
class FakeOpenAI:
    """State shared between the test (main thread) and the server (its own thread and loop)."""

    base_url: str = ""
    steps: collections.deque[Step] = field(default_factory=collections.deque)
    calls: list[Call] = field(default_factory=list)
    connections: list[WsConnection] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def script(self, *steps: Step) -> None:
        with self._lock:
            self.steps.extend(steps)

    def agent_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.guardrail]

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    def _take(self, is_guardrail: bool) -> Step:
        """The step answering a call: the next fault, the guardrail's verdict, or the next scripted answer."""
        with self._lock:
            head = self.steps[0] if self.steps else None
            # Status faults hit the next call whatever it is; stream faults need a streamed agent answer
            # (over HTTP the guardrail's check is a plain JSON request, not a stream).
            if head and head.fault and (head.fault in ("401", "429", "500") or not is_guardrail):
                return self.steps.popleft()
            if is_guardrail:
                return Step(text=json.dumps(GUARDRAIL_ANSWER), usage=(9, 4))
            return self.steps.popleft() if self.steps else Step(text="(nothing scripted)")

    def _peek_fault(self) -> str | None:
        with self._lock:
            return self.steps[0].fault if self.steps else None

    async def _stall(self, gone: asyncio.Event | None = None) -> None:
        deadline = time.monotonic() + STALL_CAP
        while not self.release.is_set() and time.monotonic() < deadline and not (gone and gone.is_set()):
            await asyncio.sleep(0.02)


# --- wire formats -------------------------------------------------------------------------------


def _deltas(value: str) -> list[str]:
    """Split text into several word-sized deltas, as a real model streams it."""
    return re.findall(r"\S+\s*|\s+", value) or [value]


def _is_guardrail(body: dict[str, Any]) -> bool:
    """The guardrail agent has no tools and asks for structured output (AccessCheck)."""
    asks_schema = (body.get("text") or {}).get("format", {}).get("type") == "json_schema" or (
        body.get("response_format") or {}
    ).get("type") == "json_schema"
    return asks_schema and not body.get("tools")


def _responses_usage(step: Step) -> dict[str, Any]:
    i, o = step.usage
    return {
        "input_tokens": i,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},  # both required by openai 3.57
        "output_tokens": o,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": i + o,
    }


def _response(rid: str, body: dict, status: str, output: list, usage: dict | None) -> dict:
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "model": body.get("model", "fake-model"),
        "status": status,
        "output": output,
        "usage": usage,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "text": {"format": {"type": "text"}},
    }


def responses_events(fake: FakeOpenAI, step: Step, body: dict) -> list[dict[str, Any]]:
    """The Responses stream events for one answer, in the order OpenAI sends them."""
    rid = fake._next_id("resp")
    started = _response(rid, body, "in_progress", [], None)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    output: list[dict[str, Any]] = []
    if step.text:
        item_id, index = fake._next_id("msg"), len(output)
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        done_part = {**empty, "text": step.text}
        item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        events.append({"type": "response.content_part.added", **where, "part": empty})
        for piece in _deltas(step.text):
            events.append({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
        events.append({"type": "response.output_text.done", **where, "text": step.text, "logprobs": []})
        events.append({"type": "response.content_part.done", **where, "part": done_part})
        done = {**item, "status": "completed", "content": [done_part]}
        events.append({"type": "response.output_item.done", "output_index": index, "item": done})
        output.append(done)
    if step.call:
        name, arguments = step.call
        item_id, index = fake._next_id("fc"), len(output)
        item = {"id": item_id, "type": "function_call", "call_id": fake._next_id("call"), "name": name,
                "arguments": "", "status": "in_progress"}
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2:]):
            events.append({"type": "response.function_call_arguments.delta", "item_id": item_id,
                           "output_index": index, "delta": piece})
        events.append({"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": index,
                       "name": name, "arguments": arguments})
        done = {**item, "arguments": arguments, "status": "completed"}
        events.append({"type": "response.output_item.done", "output_index": index, "item": done})
        output.append(done)
    events.append({"type": "response.completed",
                   "response": _response(rid, body, "completed", output, _responses_usage(step))})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def chat_chunks(fake: FakeOpenAI, step: Step, body: dict) -> list[dict[str, Any]]:
    """The Chat Completions stream chunks for one answer, usage last when asked for."""
    cid, model, created = fake._next_id("chatcmpl"), body.get("model", "fake-model"), int(time.time())

    def chunk(delta: dict | None, finish: str | None = None) -> dict[str, Any]:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in _deltas(step.text)] if step.text else []
    if step.call:
        name, arguments = step.call
        head = {"index": 0, "id": fake._next_id("call"), "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2:]):
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    chunks.append(chunk({}, "tool_calls" if step.call else "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        i, o = step.usage
        chunks.append({**chunk(None), "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}})
    return chunks


def chat_completion(fake: FakeOpenAI, step: Step, body: dict) -> dict[str, Any]:
    """A whole (non-streamed) Chat Completions answer."""
    message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
    if step.call:
        name, arguments = step.call
        message["tool_calls"] = [{"id": fake._next_id("call"), "type": "function",
                                  "function": {"name": name, "arguments": arguments}}]
    i, o = step.usage
    return {"id": fake._next_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if step.call else "stop"}],
            "usage": {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}}


def _http_error(step: Step, key_hint: str) -> Response:
    """The error bodies and headers OpenAI really sends (401 quotes part of the key)."""
    if step.fault == "401":
        message = (f"Incorrect API key provided: {key_hint}. You can find your API key at "
                   "https://platform.openai.com/account/api-keys.")
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                       "code": "invalid_api_key"}}, status_code=401)
    if step.fault == "429":
        headers = {"retry-after-ms": str(step.retry_after_ms), "retry-after": "1"}
        return JSONResponse({"error": {"message": "Rate limit reached for requests", "type": "requests",
                                       "param": None, "code": "rate_limit_exceeded"}}, status_code=429, headers=headers)
    return JSONResponse({"error": {"message": "The server had an error while processing your request.",
                                   "type": "server_error", "param": None, "code": None}}, status_code=500)


def _key_hint(headers) -> str:
    key = headers.get("authorization", "").removeprefix("Bearer ")
    return f"{key[:8]}{'*' * 10}{key[-4:]}"  # OpenAI's own redaction still shows both ends


# --- the app ----------------------------------------------------------------------------------


def build_app(fake: FakeOpenAI) -> Starlette:
    async def stream_http(request: Request, chat: bool) -> Response:
        body = await request.json()
        record = Call("http", request.url.path, body, _is_guardrail(body))
        fake.calls.append(record)
        step = fake._take(record.guardrail)
        if step.fault in ("401", "429", "500"):
            record.finished = True
            return _http_error(step, _key_hint(request.headers))
        if not body.get("stream"):
            return await answer_whole(step, body, chat)
        if chat:
            lines = [f"data: {json.dumps(c)}\n\n" for c in chat_chunks(fake, step, body)] + ["data: [DONE]\n\n"]
        else:
            lines = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in responses_events(fake, step, body)]

        # Cut before the end marker: `response.completed`, or the chunk with `finish_reason`.
        cut_at = len(lines) - 1 if not chat else next(i for i, line in enumerate(lines) if '"finish_reason": "' in line)

        async def produce():
            try:
                for number, line in enumerate(lines):
                    if number == len(lines) - 2 and step.fault == "stall":  # after the text deltas
                        await fake._stall()
                    if number == 3 and step.fault == "malformed":
                        yield 'data: {"type": "response.output_text.delta", "delta": \n\n'
                    if number == cut_at and step.fault in ("cut", "ws_close"):
                        return
                    yield line
                    await asyncio.sleep(0)  # let each event go out as its own chunk
                record.finished = True
            finally:
                record.closed_early = not record.finished

        return StreamingResponse(produce(), media_type="text/event-stream")

    async def answer_whole(step: Step, body: dict, chat: bool) -> Response:
        """A non-streamed call (the SDK's `Runner.run`, which the guardrail check uses over HTTP)."""
        if step.fault == "stall":
            await fake._stall()
        if step.fault in ("cut", "malformed", "ws_close"):
            return Response('{"id": "resp_cut", "output": [', media_type="application/json")
        if chat:
            return JSONResponse(chat_completion(fake, step, body))
        return JSONResponse(responses_events(fake, step, body)[-1]["response"])

    async def responses(request: Request) -> Response:
        return await stream_http(request, chat=False)

    async def chat_completions(request: Request) -> Response:
        return await stream_http(request, chat=True)

    async def responses_ws(websocket: WebSocket) -> None:
        if fake._peek_fault() == "401":
            step = fake._take(False)
            await websocket.send_denial_response(_http_error(step, _key_hint(websocket.headers)))
            return
        connection = WsConnection()
        fake.connections.append(connection)
        await websocket.accept()
        try:
            while True:
                frame = json.loads(await websocket.receive_text())
                connection.frames += 1
                record = Call("ws", websocket.url.path, frame, _is_guardrail(frame))
                fake.calls.append(record)
                if frame.get("type") != "response.create":
                    await websocket.send_json({"type": "error", "status": 400,
                                               "error": {"type": "invalid_request_error", "message": "bad frame"}})
                    continue
                step = fake._take(record.guardrail)
                if step.fault in ("429", "500"):
                    status = int(step.fault)
                    await websocket.send_json({"type": "error", "status": status, "error": {
                        "type": "rate_limit_error" if status == 429 else "server_error",
                        "code": "rate_limit_exceeded" if status == 429 else None,
                        "message": "Rate limit reached" if status == 429 else "The server had an error."}})
                    record.finished = True
                    continue
                events = responses_events(fake, step, frame)
                for number, event in enumerate(events):
                    if number == len(events) - 2 and step.fault == "stall":  # after the text deltas
                        gone = asyncio.Event()
                        watcher = asyncio.create_task(_watch_close(websocket, gone))
                        await fake._stall(gone)
                        watcher.cancel()
                        if gone.is_set():
                            raise WebSocketDisconnect(1000)
                    if number == 3 and step.fault == "malformed":
                        await websocket.send_text('{"type": "response.output_text.delta", "delta": ')
                        # Stop there: if the server kept streaming, the SDK's graceful close of the broken
                        # connection can wait for websockets' 10 s close timeout (see docs/providers.md).
                        break
                    if number == len(events) - 1 and step.fault in ("cut", "ws_close"):
                        await websocket.close(code=1011)
                        record.closed_early = True
                        return
                    await websocket.send_text(json.dumps(event))
                record.finished = True
        except WebSocketDisconnect:
            pass
        finally:
            connection.closed = True
            for record in fake.calls:
                if record.transport == "ws" and not record.finished:
                    record.closed_early = True

    return Starlette(routes=[
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        WebSocketRoute("/v1/responses", responses_ws),
    ])


async def _watch_close(websocket: WebSocket, gone: asyncio.Event) -> None:
    """Notice a client that closes while the fake holds a stalled answer."""
    try:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            gone.set()
    except Exception:  # noqa: BLE001 - any receive failure means the client is gone
        gone.set()


@contextmanager
def serve_fake(port: int | None = None, timeout: float = 10.0) -> Iterator[FakeOpenAI]:
    """Run a fresh fake on 127.0.0.1 (a free port unless given); `fake.base_url` ends in `/v1`."""
    fake = FakeOpenAI()
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(fake), host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio", timeout_graceful_shutdown=1, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise TimeoutError("the fake OpenAI server did not start")
        time.sleep(0.01)  # polling with a deadline
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        thread.join(timeout=10)
