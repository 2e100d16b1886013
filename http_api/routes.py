"""The HTTP API: `POST /chat/stream` (SSE) and `POST /chat` (one JSON answer).

Both run the same `run_turn` → `batches` path as the Gradio UI and send its view events as JSON.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from sse_starlette import EventSourceResponse

from conversations import Conversation, ConversationBusy, StoreError
from runtime import Runtime
from streaming.batching import batches
from streaming.events import Done, SessionStarted, ViewEvent, to_json
from streaming.turn import run_turn

from .schemas import ChatRequest, ChatResponse, ErrorDetail

MAX_BODY_BYTES = 64 * 1024
SSE_INTERVAL = 0.05  # text deltas coalesced into at most ~20 events a second
KEEPALIVE_SECONDS = 15  # a comment line now and then, so proxies do not cut a long tool call

_ERRORS = {status: {"model": ErrorDetail} for status in (400, 401, 404, 409, 413, 415, 422, 503)}
_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {"schema": ChatRequest.model_json_schema()}}}}


async def _read_request(request: Request, runtime: Runtime) -> ChatRequest:
    """Parse and check the body by hand, so every bad input gets a clear 4xx (and a huge one is never read whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"The request body is over {MAX_BODY_BYTES // 1024} KiB.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"The request body is over {MAX_BODY_BYTES // 1024} KiB.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise HTTPException(422, 'The body must be a JSON object like {"message": "Hi"}.')
    problem = runtime.check_message(data.get("message"))
    if "message" not in data:
        problem = 'The body needs a "message" string.'
    elif not isinstance(data["message"], str):
        problem = '"message" must be a string.'
    if problem:
        raise HTTPException(422, problem)
    session_id = data.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise HTTPException(422, '"session_id" must be a string or null.')
    return ChatRequest(message=data["message"], session_id=session_id)


async def _conversation(runtime: Runtime, session_id: str | None) -> Conversation:
    try:
        if session_id is None:
            return await runtime.store.create()
        conversation = await runtime.store.get(session_id)
    except StoreError as exc:
        raise HTTPException(503, str(exc)) from None
    if conversation is None:
        raise HTTPException(404, "Unknown or expired session_id. Omit it to start a new conversation.")
    return conversation


def build_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["chat"])

    async def _events(conversation: Conversation, message: str) -> AsyncIterator[list[ViewEvent]]:
        try:
            async with runtime.store.turn(conversation.id):
                turn = run_turn(runtime.team, runtime.store, conversation, message.strip(), runtime.limits)
                async for batch in batches(turn, SSE_INTERVAL):
                    yield batch
        except ConversationBusy as exc:
            raise HTTPException(409, str(exc)) from None

    @router.post(
        "/chat/stream",
        summary="Stream one turn as server-sent events",
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "One `data: <json>` line per event."}, **_ERRORS},
        openapi_extra=_BODY_DOC,
    )
    async def chat_stream(request: Request) -> EventSourceResponse:
        body = await _read_request(request, runtime)
        conversation = await _conversation(runtime, body.session_id)
        if runtime.store.is_busy(conversation.id):
            raise HTTPException(409, "This conversation is still answering the previous message.")

        async def stream() -> AsyncIterator[dict[str, Any]]:
            yield {"data": json.dumps(to_json(SessionStarted(conversation.id)))}
            try:
                async for batch in _events(conversation, body.message):
                    for event in batch:
                        yield {"data": json.dumps(to_json(event), ensure_ascii=False)}
            except HTTPException as exc:  # the stream has started: report in-band
                yield {"data": json.dumps({"type": "error", "message": exc.detail})}
                yield {"data": json.dumps(to_json(Done(final="", last_agent=conversation.agent or "")))}

        return EventSourceResponse(
            stream(),
            ping=KEEPALIVE_SECONDS,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.post(
        "/chat",
        summary="Run one turn and answer with the whole result",
        response_model=ChatResponse,
        responses=_ERRORS,
        openapi_extra=_BODY_DOC,
    )
    async def chat(request: Request) -> ChatResponse:
        body = await _read_request(request, runtime)
        conversation = await _conversation(runtime, body.session_id)
        events: list[ViewEvent] = []
        async for batch in _events(conversation, body.message):
            events.extend(batch)
        done = events[-1]
        assert isinstance(done, Done)
        return ChatResponse(
            session_id=conversation.id,
            final=done.final,
            last_agent=done.last_agent,
            events=[to_json(event) for event in events],
            usage=to_json(done)["usage"],
        )

    return router
