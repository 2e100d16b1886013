"""`POST /agui`: the AG-UI protocol on the same turn pipeline as /chat/stream.

It takes an AG-UI `RunAgentInput` and answers AG-UI events as server-sent events, built with the
`ag-ui-protocol` package's types and `EventEncoder`, so any AG-UI frontend (CopilotKit, the
`@ag-ui/client` JavaScript client) can drive these agents. The mapping is in `AguiRun` below and in
the README's table.

- `threadId` is the conversation id. A thread the store does not know starts a new conversation
  under that id, so it must be unguessable (16 to 64 letters, digits, `-` or `_`; a UUID works).
- The new input is the last user message of `messages`; the history is the store's (a frontend's
  copy of it is never fed back to the model, see PITFALLS.md).
- A run that waits for a tool approval ends with RUN_FINISHED and an interrupt outcome (interrupt id
  = the tool's call_id); the next run's `resume` entries decide it: `resolved` with the payload
  `{"approved": true}` approves, `{"approved": false}` or `cancelled` rejects.
- Not used: `tools` (frontend tools), `state`, `context`, `forwardedProps`: this app's agents run
  their own tools and keep their state server-side (see the README).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    Interrupt,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    ResumeEntry,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError
from sse_starlette import EventSourceResponse

from conversations import StoreError
from runtime import Runtime
from streaming.batching import batches
from streaming.errors import describe
from streaming.events import ViewEvent

from . import routes
from .admission import Admission, bounded
from .schemas import ErrorDetail
from .turns import TurnStream, claim_turn, read_json

THREAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")  # 64: the SQL store's id column
BUSY = "This thread is still answering its previous run; wait for its RUN_FINISHED."
NOTHING_WAITS = "Nothing in this thread waits for a decision: send a user message instead of resume."
APPROVAL_ANSWER = {"type": "object", "properties": {"approved": {"type": "boolean"}}, "required": ["approved"]}
_ERRORS = {status: {"model": ErrorDetail} for status in (400, 401, 409, 413, 422, 503)}
_EXAMPLE = {
    "threadId": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "runId": "run-1",
    "messages": [{"id": "m1", "role": "user", "content": "Hi! What can you do?"}],
}
_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "title": "RunAgentInput", "required": ["threadId", "runId", "messages"],
               "description": "An AG-UI RunAgentInput (https://docs.ag-ui.com); tools, state and context are not used."},
    "example": _EXAMPLE,
}}}}


def _new_id() -> str:
    return uuid.uuid4().hex


class AguiRun:
    """View events of one turn → AG-UI events. Pure: no I/O, so the mapping is testable on its own.

    Each agent's part of the run is a step named after the agent; each stretch of answer text is
    one text message (a tool call, a handoff or the end closes it); reasoning summaries are
    reasoning messages. Errors end the run with RUN_ERROR; a guardrail's refusal is an answer (a
    text message) plus a CUSTOM "guardrail" event, and the run finishes normally.
    """

    def __init__(self, thread_id: str, run_id: str):
        self.thread_id = thread_id
        self.run_id = run_id
        self.step: str | None = None  # the agent whose step is open
        self.text_id: str | None = None  # the open text message
        self.reasoning: tuple[str, str] | None = None  # the open reasoning span and message
        self.errors: list[str] = []
        self.interrupts: dict[str, Interrupt] = {}
        self.ended = False

    def start(self) -> list[BaseEvent]:
        return [RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id)]

    def feed(self, view: ViewEvent) -> list[BaseEvent]:
        # Dispatch on the view event's `type`, so kinds added later (approval_required) need no import.
        handler: Callable[[Any], list[BaseEvent]] | None = getattr(self, f"_on_{view.type}", None)
        return handler(view) if handler is not None and not self.ended else []

    def fail(self, message: str) -> list[BaseEvent]:
        """End the run with RUN_ERROR (once), closing whatever is open so the stream stays well formed."""
        if self.ended:
            return []
        self.ended = True
        return [*self._close_open(), *self._finish_step(), RunErrorEvent(message=message, code="agent_error")]

    def finish(self) -> list[BaseEvent]:
        """After the turn's last event: nothing, unless it ended without its `done`."""
        return self.fail("The turn ended without an answer. Try again.")

    # --- the open text, reasoning and step -----------------------------------------------------------

    def _close_text(self) -> list[BaseEvent]:
        if self.text_id is None:
            return []
        message_id, self.text_id = self.text_id, None
        return [TextMessageEndEvent(message_id=message_id)]

    def _close_reasoning(self) -> list[BaseEvent]:
        if self.reasoning is None:
            return []
        (span_id, message_id), self.reasoning = self.reasoning, None
        return [ReasoningMessageEndEvent(message_id=message_id), ReasoningEndEvent(message_id=span_id)]

    def _close_open(self) -> list[BaseEvent]:
        return [*self._close_text(), *self._close_reasoning()]

    def _finish_step(self) -> list[BaseEvent]:
        if self.step is None:
            return []
        name, self.step = self.step, None
        return [StepFinishedEvent(step_name=name)]

    def _text(self, content: str) -> list[BaseEvent]:
        events = self._close_reasoning()
        if self.text_id is None:
            self.text_id = _new_id()
            events.append(TextMessageStartEvent(message_id=self.text_id, role="assistant", name=self.step))
        if content:
            events.append(TextMessageContentEvent(message_id=self.text_id, delta=content))
        return events

    # --- one method per view event type -------------------------------------------------------------

    def _on_agent_updated(self, view) -> list[BaseEvent]:
        if view.agent == self.step:
            return []
        events = [*self._close_open(), *self._finish_step(), StepStartedEvent(step_name=view.agent)]
        self.step = view.agent
        return events

    def _on_handoff(self, view) -> list[BaseEvent]:
        # The source agent's step ends here; the target's opens with the agent_updated that follows.
        return [*self._close_open(), *self._finish_step()]

    def _on_text(self, view) -> list[BaseEvent]:
        return self._text(view.content)

    def _on_reasoning(self, view) -> list[BaseEvent]:
        events = self._close_text()
        if self.reasoning is None:
            self.reasoning = (_new_id(), _new_id())
            span_id, message_id = self.reasoning
            events += [ReasoningStartEvent(message_id=span_id), ReasoningMessageStartEvent(message_id=message_id)]
        if view.content:
            events.append(ReasoningMessageContentEvent(message_id=self.reasoning[1], delta=view.content))
        return events

    def _on_tool_call(self, view) -> list[BaseEvent]:
        call_id = view.call_id or _new_id()
        events = [*self._close_open(), ToolCallStartEvent(tool_call_id=call_id, tool_call_name=view.name)]
        if view.arguments:
            events.append(ToolCallArgsEvent(tool_call_id=call_id, delta=view.arguments))
        events.append(ToolCallEndEvent(tool_call_id=call_id))
        return events

    def _on_tool_output(self, view) -> list[BaseEvent]:
        return [
            *self._close_open(),
            ToolCallResultEvent(message_id=_new_id(), tool_call_id=view.call_id, content=view.output, role="tool"),
        ]

    def _on_guardrail(self, view) -> list[BaseEvent]:
        # The refusal is the answer a person reads; CUSTOM tells a UI that wants to mark it (and any
        # text streamed before a parallel guardrail tripped) which guardrail refused.
        events = [*self._close_open(), *self._text(view.message), *self._close_text()]
        events.append(CustomEvent(name="guardrail", value={"name": view.name, "message": view.message}))
        return events

    def _on_error(self, view) -> list[BaseEvent]:
        self.errors.append(view.message)  # sent as RUN_ERROR at `done`, which always follows
        return self._close_open()

    def _on_approval_required(self, view) -> list[BaseEvent]:
        self.interrupts[view.call_id] = Interrupt(
            id=view.call_id,
            reason="tool_approval",
            message=f"{view.agent} wants to run {view.name}. Approve or reject this call.",
            tool_call_id=view.call_id,
            response_schema=APPROVAL_ANSWER,
            metadata={"name": view.name, "arguments": view.arguments, "agent": view.agent},
        )
        return self._close_open()

    def _on_done(self, view) -> list[BaseEvent]:
        events = [*self._close_open(), *self._finish_step()]
        self.ended = True
        if self.errors:
            return [*events, RunErrorEvent(message=" ".join(self.errors), code="agent_error")]
        usage = [
            TokenUsage(
                input_tokens=view.usage.input_tokens,
                output_tokens=view.usage.output_tokens,
                total_tokens=view.usage.input_tokens + view.usage.output_tokens,
            )
        ]
        if view.awaiting_approval:
            interrupts = [self.interrupts.get(call_id) or Interrupt(id=call_id, reason="tool_approval")
                          for call_id in view.awaiting_approval]
            outcome = RunFinishedInterruptOutcome(interrupts=interrupts)
            return [*events, RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, outcome=outcome, usage=usage)]
        result = {"final": view.final, "last_agent": view.last_agent}
        return [*events, RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, result=result, usage=usage)]


# --- reading the request ----------------------------------------------------------------------------


def _invalid(exc: ValidationError) -> str:
    """Where and what, without echoing the client's values back."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False)[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg'][:200]}")
    return "The body is not an AG-UI RunAgentInput (" + "; ".join(problems) + ")."


def _parse(data: Any) -> RunAgentInput:
    if not isinstance(data, dict):
        raise HTTPException(422, "The body must be a JSON object: an AG-UI RunAgentInput.")
    try:
        run_input = RunAgentInput.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, _invalid(exc)) from None
    if not THREAD_ID.fullmatch(run_input.thread_id):
        raise HTTPException(422, "threadId must be 16 to 64 letters, digits, '-' or '_' (a UUID works): it names the conversation, so it must be hard to guess.")
    if not run_input.run_id or len(run_input.run_id) > 128:
        raise HTTPException(422, "runId must be a string of 1 to 128 characters.")
    return run_input


def _new_message(run_input: RunAgentInput) -> str:
    """The text of the last user message, which must not have been answered already."""
    messages = run_input.messages
    last = max((i for i, message in enumerate(messages) if message.role == "user"), default=None)
    if last is None:
        raise HTTPException(422, "messages has no user message: send the new input as the last user message.")
    if any(message.role in ("assistant", "tool", "reasoning") for message in messages[last + 1:]):
        raise HTTPException(422, "The last user message has been answered already: append the new user message after the answer.")
    content = messages[last].content
    if isinstance(content, str):
        return content
    if any(part.type != "text" for part in content):
        raise HTTPException(422, "These agents read text only: send the user message as text.")
    return "\n".join(part.text for part in content)


def _decisions(resume: list[ResumeEntry]) -> dict[str, str]:
    """`resume` entries → {call_id: "approve" | "reject"}."""
    decisions: dict[str, str] = {}
    for entry in resume:
        if entry.interrupt_id in decisions:
            raise HTTPException(422, f"resume answers interrupt {entry.interrupt_id[:64]!r} twice.")
        if entry.status == "cancelled":
            decisions[entry.interrupt_id] = "reject"
            continue
        payload = entry.payload
        approved = payload.get("approved") if isinstance(payload, dict) else payload
        if not isinstance(approved, bool):
            raise HTTPException(422, 'A resolved resume entry needs the payload {"approved": true} or {"approved": false}.')
        decisions[entry.interrupt_id] = "approve" if approved else "reject"
    return decisions


# --- the route -------------------------------------------------------------------------------------


def build_agui_router(runtime: Runtime, admission: Admission) -> APIRouter:
    """POST /agui; `admission` bounds its turns together with the chat routes'."""
    router = APIRouter(tags=["ag-ui"])

    @router.post(
        "/agui",
        summary="Run the agents for an AG-UI client",
        description="Takes an AG-UI `RunAgentInput`, answers AG-UI events as server-sent events (see the README).",
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "AG-UI events."}, **_ERRORS},
        openapi_extra=_BODY_DOC,
    )
    async def agui(request: Request) -> EventSourceResponse:
        # Everything about the input is checked before the thread is touched: bad input changes nothing.
        run_input = _parse(await read_json(request))
        approvals = _decisions(run_input.resume) if run_input.resume else None
        message = None
        if approvals is None:
            message = _new_message(run_input)
            problem = runtime.check_message(message)
            if problem:
                raise HTTPException(422, problem)
        thread_id = run_input.thread_id

        # Admission first (a refused request stores nothing), then the turn lock, then find or create:
        # two first runs of a new thread cannot both create it.
        release = admission.admit()
        try:
            claim = await claim_turn(runtime, thread_id, BUSY)
        except BaseException:
            release()
            raise
        claim.callback(release)
        try:
            conversation = await runtime.store.get(thread_id)
            if conversation is None:
                if approvals:
                    raise HTTPException(409, NOTHING_WAITS)
                conversation = await runtime.store.create(thread_id)
            problem = runtime.turn_problem(conversation, message, approvals)  # a copy read under the claim
            if problem:
                raise HTTPException(409, problem)
            run = bounded(admission, runtime.turn(conversation, message, approvals=approvals))
            turn = TurnStream(batches(run, routes.SSE_INTERVAL), claim)
        except StoreError as exc:
            await claim.aclose()
            raise HTTPException(503, str(exc)) from None
        except BaseException:
            await claim.aclose()
            raise

        async def stream() -> AsyncIterator[bytes]:
            encoder = EventEncoder()
            run = AguiRun(thread_id, run_input.run_id)
            try:
                for event in run.start():
                    yield encoder.encode(event).encode()
                async for batch in turn:
                    for view in batch:
                        for event in run.feed(view):
                            yield encoder.encode(event).encode()
                ending = run.finish()
            except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band
                ending = run.fail(describe(exc))
            finally:
                await turn.aclose()  # cancels the run after a disconnect and releases the thread
            for event in ending:
                yield encoder.encode(event).encode()

        return EventSourceResponse(
            stream(),
            ping=routes.KEEPALIVE_SECONDS,
            sep=routes.SSE_LINE_END,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
