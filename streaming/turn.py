"""One turn of a conversation: run the agents, stream view events, always end the run.

This is the one path from `Runner.run_streamed` to what a person sees; the Gradio handler and
the HTTP API both consume it (through `batching.batches`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agents import InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered, Runner

from agents_config import AgentTeam
from agents_config.pricing import estimate_turn_cost
from conversations import Conversation, ConversationStore, StoreError

from . import approvals as approvals_store
from .errors import STALLED, TOOL_TOO_SLOW, describe, guardrail_message
from .events import AgentUpdated, ApprovalRequired, Done, Error, GuardrailTripped, Handoff, TextDelta, Usage, ViewEvent
from .holdback import GuardrailGate, held_back, waits_for_guardrails
from .stats import TurnStats
from .tracing import timeline, turn_spans
from .translate import translate


@dataclass(frozen=True)
class TurnLimits:
    stall_timeout: float = 60.0  # no stream event from the model for this long ends the turn
    tool_timeout: float = 300.0  # the same while a tool runs (tools are quiet, and may be slow)
    max_turns: int = 12
    tool_latency: float = 0.0  # the offline demo's pretend tool I/O time


async def run_turn(
    team: AgentTeam,
    store: ConversationStore,
    conversation: Conversation,
    message: str | None,
    limits: TurnLimits = TurnLimits(),
    approvals: dict[str, str] | None = None,
    read_under_lease: bool = False,
) -> AsyncIterator[ViewEvent]:
    """Stream one turn as view events. The last event is always `Done`, after an `Error` if any.

    `approvals` ({call_id: "approve" | "reject"}, with no message) resumes a run that waits for a
    person's decision (see streaming/approvals.py); such a run ends with `ApprovalRequired` events
    and a `Done` listing them. Closing or cancelling the consumer cancels the run: `result.cancel()`
    runs in `finally`, because the SDK keeps calling the model and tools while a consumer is suspended.
    `read_under_lease`: the caller read `conversation` again after taking this turn's lease (no third read).
    """
    start, context, refused = await _start(team, store, conversation, message, approvals, limits, read_under_lease)
    if refused is not None:
        yield Error(refused)
        yield Done(final="", last_agent=team.agent(conversation.agent).name)
        return
    agent = team.agent(conversation.agent)
    stats, outcome = TurnStats(), _Outcome()
    async with team.backend.run_config() as run_config:
        gate = GuardrailGate()  # parallel input guardrails: no tool runs, nothing shows, before they pass
        result = Runner.run_streamed(
            agent, start, context=context, session=conversation.session, max_turns=limits.max_turns,
            run_config=run_config, hooks=gate,
        )
        gate.result = result
        events = held_back(result, result.stream_events(), waits_for_guardrails(agent, run_config, start))
        try:
            async with contextlib.aclosing(_views(result, events, limits, stats, outcome)) as views:
                async for view in views:
                    outcome.shown = True
                    yield view
            if outcome.completed:  # if the run stopped on tools that need a person's decision, keep it with the chat
                outcome.waiting = approvals_store.park(conversation, result)
        finally:
            result.cancel()
            await _settle(team, store, conversation, result, context, outcome, resumed=approvals is not None)
    done = _done(team, agent.name, result, stats, outcome.segment, outcome.waiting)
    conversation.state.keep_stats(done.stats)
    try:
        await store.save(conversation)
    except StoreError as exc:
        if not outcome.store_failed:  # one note for one outage, not one per attempt
            yield Error(str(exc))
    # After the save: a consumer cancelled while these are shown leaves the decision waiting, not lost.
    for call in outcome.waiting:
        yield call
    yield done


async def _start(
    team: AgentTeam, store: ConversationStore, conversation: Conversation, message: str | None,
    approvals: dict[str, str] | None, limits: TurnLimits, read_under_lease: bool,
) -> tuple[Any, Any, str | None]:
    """The run's input and context, or why this turn must not run.

    Checked on the store's current copy of the chat (see approvals.refresh); resuming takes the waiting
    run out of the store and applies the decisions to it (its input is the SDK's `RunState`).
    """
    try:
        if not read_under_lease:
            await approvals_store.refresh(store, conversation)
        problem = approvals_store.problem(conversation, message, approvals)
        if problem is not None:
            return None, None, problem
        context = team.new_context(conversation.state.tool_state, limits.tool_latency)  # the team's per-chat tool state
        if approvals is None:
            return message, context, None
        return await approvals_store.claim(team, store, conversation, approvals, context), context, None
    except StoreError as exc:
        return None, None, str(exc)


async def _settle(
    team: AgentTeam, store: ConversationStore, conversation: Conversation, result, context: Any, outcome: _Outcome,
    *, resumed: bool,
) -> None:
    """Keep what the run changed, however it ended: who answers next, the tools' state, a stop."""
    conversation.agent = result.last_agent.name
    conversation.state.end_turn(
        result.last_agent.name,
        team.keep_context(context, conversation.state.tool_state),
        resumed=resumed,
        stopped=outcome.shown and not outcome.ended,  # the transcript has this turn once it showed an event
    )
    if not outcome.ended:  # Stop, a closed tab, a dropped client
        # Best effort: the consumer is gone, so there is nobody to tell if this fails; shielded so that a
        # second cancellation (a double Stop) cannot cut the write in half.
        with contextlib.suppress(BaseException):
            await asyncio.shield(store.save(conversation))


@dataclass
class _Outcome:
    """How the run's stream went, filled in by `_views` for `run_turn`."""

    segment: str = ""  # text of the agent answering now; the final answer is the last segment
    ended: bool = False  # the stream ended on its own (an answer, an error), not by Stop or a lost consumer
    completed: bool = False  # ... and without an error
    store_failed: bool = False
    shown: bool = False  # at least one view event went out
    waiting: list[ApprovalRequired] = field(default_factory=list)


async def _views(
    result, stream: AsyncIterator[Any], limits: TurnLimits, stats: TurnStats, outcome: _Outcome
) -> AsyncIterator[ViewEvent]:
    """The run's view events from its (held back) stream; a failure ends them with one readable `Error` or
    `GuardrailTripped`."""
    events = stream.__aiter__()
    try:
        while True:
            limit = limits.tool_timeout if stats.tools_running else limits.stall_timeout
            try:
                # Time out each step, not the whole stream (wrapping the stream does not interrupt
                # it). asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that lands as the next event arrives, and the run would outlive a Stop.
                async with asyncio.timeout(limit):
                    event = await events.__anext__()
            except StopAsyncIteration:
                break
            for view in translate(event):
                stats.observe(view)
                if isinstance(view, TextDelta):
                    outcome.segment += view.content
                elif isinstance(view, (Handoff, AgentUpdated)):
                    outcome.segment = ""
                yield view
    except TimeoutError:
        note = TOOL_TOO_SLOW if stats.tools_running else STALLED
        yield Error(note.format(seconds=limit))
    except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered) as exc:
        name, text = guardrail_message(exc)
        yield GuardrailTripped(name=name, message=text)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one readable note
        outcome.store_failed = isinstance(exc, StoreError)
        yield Error(describe(exc))
    else:
        if isinstance(result.final_output, str) and result.final_output:
            outcome.segment = result.final_output
        outcome.completed = True
    outcome.ended = True


def _done(team: AgentTeam, first_agent: str, result, stats: TurnStats, segment: str, waiting: list[ApprovalRequired]) -> Done:
    usage = result.context_wrapper.usage
    stats.finish(usage.input_tokens, usage.output_tokens, usage.requests, _cost(team, usage, {first_agent, *stats.agent_path}))
    trace_id = result.trace.trace_id if result.trace is not None else None
    return Done(
        final=segment,
        last_agent=result.last_agent.name,
        usage=Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, requests=usage.requests),
        stats=stats.figures(),
        trace=timeline(turn_spans(trace_id)),
        trace_id=trace_id,
        awaiting_approval=[call.call_id for call in waiting],
    )


def _cost(team: AgentTeam, usage, agent_names: set[str]) -> float | None:
    """From the names of the models the turn's agents call (agents_config/pricing.py); None: "n/a"."""
    if team.backend.offline:
        return 0.0
    return estimate_turn_cost({team.model_name(name) for name in agent_names}, usage.input_tokens, usage.output_tokens)
