"""The HTTP API: `POST /chat/stream` (SSE) and `POST /chat` (one JSON answer).

Both run the same `Runtime.turn` → `batches` path as the Gradio UI and send its view events as JSON.

Backpressure: `batches()` pumps the run's events into a coalescing buffer as fast as the run
produces them, and this module sends one buffered batch at a time. Text (and reasoning) deltas
merge into the last buffered event of their kind; tool calls, tool outputs, handoffs, errors and
`done` are never dropped or merged. So a slow reader gets fewer, longer `text` events instead of
making the server hold one event per token, and the run itself never waits on the socket.

Load: at most AGENT_CONCURRENCY turns run at once and four times as many wait; beyond that a request
gets 503 with `Retry-After` before anything starts (see `admission.py`).

Concurrency: a conversation runs one turn at a time. The turn lock is taken before the response
starts, so a second request for a busy conversation gets a plain `409` JSON answer, never a stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from sse_starlette import EventSourceResponse

from conversations import Conversation, StoreError
from runtime import Runtime
from streaming.approvals import refresh
from streaming.batching import batches
from streaming.errors import describe
from streaming.events import Done, Error, SessionStarted, ViewEvent, to_json

from .admission import Admission, bounded
from .schemas import ChatRequest, ChatResponse, ErrorDetail
from .turns import TurnStream, claim_turn, read_json

SSE_INTERVAL = 0.05  # text deltas coalesced into at most ~20 events a second
KEEPALIVE_SECONDS = 15  # a comment line now and then, so proxies do not cut a long tool call
SSE_LINE_END = "\n"  # plain "\n": the simplest readers split events on "\n\n"
MAX_APPROVALS = 64  # decisions in one request

_ERRORS = {status: {"model": ErrorDetail} for status in (400, 401, 404, 408, 409, 413, 422, 503)}  # 503: store down, or busy
_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {"schema": ChatRequest.model_json_schema()}}}}


async def _read_request(request: Request, runtime: Runtime) -> ChatRequest:
    """Parse and check the body by hand, so every bad input gets a clear 4xx (and a huge one is never read whole)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise HTTPException(422, 'The body must be a JSON object like {"message": "Hi"}.')
    session_id = data.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise HTTPException(422, '"session_id" must be a string or null.')
    approvals = _read_approvals(data)
    if approvals is not None:
        if data.get("message") is not None:
            raise HTTPException(422, 'Send either a "message" or "approvals", not both.')
        if session_id is None:
            raise HTTPException(422, '"approvals" needs the "session_id" of the conversation that waits for them.')
        return ChatRequest(session_id=session_id, approvals=approvals)
    if "message" not in data:
        raise HTTPException(422, 'The body needs a "message" string.')
    if not isinstance(data["message"], str):
        raise HTTPException(422, '"message" must be a string.')
    problem = runtime.check_message(data["message"])
    if problem:
        raise HTTPException(422, problem)
    return ChatRequest(message=data["message"], session_id=session_id)


def _read_approvals(data: dict[str, Any]) -> dict[str, str] | None:
    """`{"<call_id>": "approve" | "reject"}`, checked for shape only; which calls wait is the store's say."""
    approvals = data.get("approvals")
    if approvals is None:
        return None
    if not isinstance(approvals, dict) or not approvals or len(approvals) > MAX_APPROVALS:
        raise HTTPException(422, f'"approvals" must map 1 to {MAX_APPROVALS} call_ids to "approve" or "reject".')
    for call_id, decision in approvals.items():
        if len(call_id) > 200 or decision not in ("approve", "reject"):
            raise HTTPException(422, '"approvals" must map call_ids to "approve" or "reject".')
    return approvals


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


async def _claim_turn(runtime: Runtime, conversation: Conversation) -> AsyncExitStack:
    """Hold the conversation's turn lock until the returned stack is closed; 409 when it is taken."""
    return await claim_turn(runtime, conversation.id)


async def _check_turn(runtime: Runtime, conversation: Conversation, body: ChatRequest, claim: AsyncExitStack) -> None:
    """409 when the chat waits for a decision and gets a message, or a decision it does not wait for.

    Read again under the claim: the copy read before it may predate another replica's decision.
    """
    try:
        await refresh(runtime.store, conversation)
    except StoreError as exc:
        await claim.aclose()
        raise HTTPException(503, str(exc)) from None
    problem = runtime.turn_problem(conversation, body.message, body.approvals)
    if problem:
        await claim.aclose()
        raise HTTPException(409, problem)


def _sse(event: ViewEvent | dict[str, Any]) -> dict[str, str]:
    data = event if isinstance(event, dict) else to_json(event)
    return {"data": json.dumps(data, ensure_ascii=False)}


def build_router(runtime: Runtime, admission: Admission) -> APIRouter:
    """The chat routes; `admission` bounds the turns they run (shared with /agui)."""
    router = APIRouter(tags=["chat"])

    def turn_batches(conversation: Conversation, body: ChatRequest) -> AsyncIterator[list[ViewEvent]]:
        # Called after _check_turn, which read the chat again under the claim.
        turn = runtime.turn(conversation, body.message, approvals=body.approvals, read_under_lease=True)
        return batches(bounded(admission, turn), SSE_INTERVAL)

    async def admitted_claim(body: ChatRequest) -> tuple[Conversation, AsyncExitStack]:
        """Admission first (a refused request stores nothing), then the conversation and its turn lock."""
        release = admission.admit()
        try:
            conversation = await _conversation(runtime, body.session_id)
            claim = await _claim_turn(runtime, conversation)
        except BaseException:
            release()
            raise
        claim.callback(release)
        return conversation, claim

    @router.post(
        "/chat/stream",
        summary="Stream one turn as server-sent events",
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "One `data: <json>` line per event."}, **_ERRORS},
        openapi_extra=_BODY_DOC,
    )
    async def chat_stream(request: Request) -> EventSourceResponse:
        body = await _read_request(request, runtime)
        conversation, claim = await admitted_claim(body)
        await _check_turn(runtime, conversation, body, claim)

        async def stream() -> AsyncIterator[dict[str, str]]:
            turn = TurnStream(turn_batches(conversation, body), claim)
            try:
                yield _sse(SessionStarted(conversation.id))
                async for batch in turn:
                    for event in batch:
                        yield _sse(event)
            except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band, end with done
                yield _sse(Error(describe(exc)))
                yield _sse(Done(final="", last_agent=conversation.agent or runtime.team.start.name))
            finally:
                await turn.aclose()  # cancels the run after a disconnect and releases the chat (see TurnStream)

        return EventSourceResponse(
            stream(),
            ping=KEEPALIVE_SECONDS,
            sep=SSE_LINE_END,
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
        conversation, claim = await admitted_claim(body)
        events: list[ViewEvent] = []
        await _check_turn(runtime, conversation, body, claim)
        async with claim, aclosing(turn_batches(conversation, body)) as turn:
            async for batch in turn:
                events.extend(batch)
        done = events[-1] if events and isinstance(events[-1], Done) else None
        if done is None:  # run_turn always ends with Done; guard anyway rather than answer half a result
            raise HTTPException(503, "The turn ended without an answer. Try again.")
        return ChatResponse(
            session_id=conversation.id,
            final=done.final,
            last_agent=done.last_agent,
            events=[to_json(event) for event in events],
            usage=to_json(done)["usage"],
            awaiting_approval=done.awaiting_approval,
        )

    return router
