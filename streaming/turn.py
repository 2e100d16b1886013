"""One turn of a conversation: run the agents, stream view events, always end the run.

This is the one path from `Runner.run_streamed` to what a person sees; the Gradio handler and
the HTTP API both consume it (through `batching.batches`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from agents import InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered, Runner

from agents_config import AgentTeam
from agents_config.context import ChatContext
from agents_config.pricing import estimate_cost
from conversations import Conversation, ConversationStore, StoreError

from .errors import STALLED, TOOL_TOO_SLOW, describe, guardrail_message
from .events import AgentUpdated, Done, Error, GuardrailTripped, Handoff, TextDelta, Usage, ViewEvent
from .holdback import GuardrailGate, held_back, waits_for_guardrails
from .stats import TurnStats
from .tracing import spans_to_json, turn_spans
from .translate import translate


MAX_KEPT_STATS = 200  # per-turn stats kept with a conversation


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
    message: str,
    limits: TurnLimits = TurnLimits(),
) -> AsyncIterator[ViewEvent]:
    """Stream one turn as view events. The last event is always `Done`, after an `Error` if any.

    Closing or cancelling the consumer cancels the run: `result.cancel()` runs in `finally`,
    because the SDK keeps calling the model and tools while a consumer is suspended elsewhere.
    """
    context = ChatContext(refunds=dict(conversation.state.get("refunds", {})), tool_latency=limits.tool_latency)
    agent = team.agent(conversation.agent)
    segment = ""  # text of the agent answering now; the final answer is the last segment
    stats = TurnStats()
    async with team.backend.run_config() as run_config:
        gate = GuardrailGate()  # parallel input guardrails: no tool runs, nothing shows, before they pass
        result = Runner.run_streamed(
            agent,
            message,
            context=context,
            session=conversation.session,
            max_turns=limits.max_turns,
            run_config=run_config,
            hooks=gate,
        )
        gate.result = result
        events = held_back(result, result.stream_events(), waits_for_guardrails(agent, run_config, message)).__aiter__()
        interrupted = True  # until the loop below ends on its own: Stop, a closed tab, a dropped client
        store_failed = False
        try:
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
                            segment += view.content
                        elif isinstance(view, (Handoff, AgentUpdated)):
                            segment = ""
                        yield view
            except asyncio.TimeoutError:
                note = TOOL_TOO_SLOW if stats.tools_running else STALLED
                yield Error(note.format(seconds=limit))
            except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered) as exc:
                name, text = guardrail_message(exc)
                yield GuardrailTripped(name=name, message=text)
            except Exception as exc:  # noqa: BLE001 - every failure becomes one readable note
                store_failed = isinstance(exc, StoreError)
                yield Error(describe(exc))
            else:
                if isinstance(result.final_output, str) and result.final_output:
                    segment = result.final_output
            interrupted = False
        finally:
            result.cancel()
            conversation.agent = result.last_agent.name
            conversation.state["refunds"] = context.refunds
            # Who answered each turn, so undoing turns can also restore who answers next.
            conversation.state.setdefault("turn_agents", []).append(conversation.agent)
            if interrupted:
                # Best effort: the consumer is gone, so there is nobody to tell if this fails; shielded
                # so that a second cancellation (a double Stop) cannot cut the write in half.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(store.save(conversation))
    usage = result.context_wrapper.usage
    stats.finish(usage.input_tokens, usage.output_tokens, usage.requests, _cost(team, usage))
    trace_id = result.trace.trace_id if result.trace is not None else None
    done = Done(
        final=segment,
        last_agent=result.last_agent.name,
        usage=Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, requests=usage.requests),
        stats=stats.to_json(),
        trace=spans_to_json(turn_spans(trace_id)),
        trace_id=trace_id,
    )
    # Kept with the chat (bounded) so an export can show every turn's figures.
    conversation.state["turn_stats"] = [*conversation.state.get("turn_stats", []), done.stats][-MAX_KEPT_STATS:]
    try:
        await store.save(conversation)
    except StoreError as exc:
        if not store_failed:  # one note for one outage, not one per attempt
            yield Error(str(exc))
    yield done


def _cost(team: AgentTeam, usage) -> float | None:
    if team.backend.offline:
        return 0.0
    model = team.triage.model
    return estimate_cost(model, usage.input_tokens, usage.output_tokens) if isinstance(model, str) else None
