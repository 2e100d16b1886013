"""Start answering while the input guardrail still checks the message, and show nothing until it passes.

A guardrail's check is a model call of its own. Run before the answer (`run_in_parallel=False`), it adds
its whole round trip to the time to first words. Run beside it (the SDK's `run_in_parallel=True`), the
SDK streams the answer meanwhile and, if the first model answer is done first, goes on to run its tools
and handoffs before the verdict (openai-agents 0.24: `before_side_effects` only raises for a tripwire
that is already known). Two small pieces make the parallel run safe, for any agent and any tool:

- `GuardrailGate`, run hooks whose `on_llm_end` waits for the verdict. The SDK awaits that hook after a
  model answer and before it runs any tool or handoff of that answer, then raises the tripwire itself:
  so no tool runs before the guardrails have passed, and none runs at all when one trips.
- `held_back`, a wrapper around `stream_events()` that keeps every event of the model's answer (text,
  tool calls, handoffs; only the run's start on its first agent goes through) until the verdict, releases them in order when it passes, and raises the tripwire at once when one
  trips: the held events are dropped and `run_turn`'s `finally` cancels the run's model call.

Without parallel input guardrails (none on the agent, a resumed run), both are no-ops.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agents import Agent, InputGuardrailTripwireTriggered, RunConfig, RunContextWrapper, RunHooks
from agents.result import RunResultStreaming
from agents.run_state import RunState


def _verdict_task(result: RunResultStreaming | None) -> asyncio.Task | None:
    # openai-agents 0.24 runs a streamed run's parallel input guardrails in this one task, created
    # just before the first model call. (Private: tests/test_holdback.py fails if that changes.)
    return getattr(result, "_input_guardrails_task", None) if result is not None else None


def waits_for_guardrails(agent: Agent, run_config: RunConfig | None, input: Any) -> bool:
    """Whether this run starts parallel input guardrails (a resumed run does not run them again)."""
    if isinstance(input, RunState):
        return False
    guardrails = list(agent.input_guardrails) + list((run_config.input_guardrails if run_config else None) or [])
    return any(g.run_in_parallel for g in guardrails)


def _tripped(result: RunResultStreaming) -> InputGuardrailTripwireTriggered | None:
    for guardrail_result in result.input_guardrail_results:
        if guardrail_result.output.tripwire_triggered:
            return InputGuardrailTripwireTriggered(guardrail_result)
    return None


@dataclass(frozen=True)
class Held:
    """Yielded in place of an event held back: the model is still sending, there is nothing to show.

    Not an SDK event, so `translate` turns it into nothing; a consumer's stall timeout sees the activity.
    """

    type: str = "held_back"


HELD = Held()


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class GuardrailGate(RunHooks[Any]):
    """Run hooks that hold every model answer's tools and handoffs until the input guardrails have passed."""

    def __init__(self) -> None:
        self.result: RunResultStreaming | None = None  # set right after `Runner.run_streamed` returns

    async def on_llm_end(self, context: RunContextWrapper[Any], agent: Agent[Any], response: Any) -> None:
        task = _verdict_task(self.result)
        if task is not None and not task.done():
            # asyncio.wait, not await: cancelling this hook (a Stop) must not cancel the guardrails' task.
            await asyncio.wait({task})


async def held_back(result: RunResultStreaming, events: AsyncIterator[Any], hold: bool) -> AsyncIterator[Any]:
    """`events` (a run's `stream_events()`), none of them passed on before the input guardrails pass.

    Each event held is announced by `HELD`, which shows nothing (see `Held`).

    When one trips, `InputGuardrailTripwireTriggered` is raised at once, without waiting for the model's
    answer to end. A stream that ends first ends the wait too: the SDK checks the verdict before it ends.
    """
    if not hold:
        async for event in events:
            yield event
        return
    held: collections.deque[Any] = collections.deque()
    step: asyncio.Future | None = None
    try:
        while True:
            task = _verdict_task(result)
            if task is not None and task.done():
                if task.cancelled():
                    return  # the run itself is being cancelled: no verdict, so nothing is shown
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
                tripped = _tripped(result)
                if tripped is not None:
                    raise tripped
                break
            if step is None:
                step = asyncio.ensure_future(events.__anext__())
                step.add_done_callback(_retrieve)  # a step left behind by a closed turn logs nothing
            # Until the guardrails' task exists (it is made just before the first model call), the next
            # event is what to wait for; after, whichever comes first: an event or the verdict.
            await asyncio.wait({step} if task is None else {step, task}, return_when=asyncio.FIRST_COMPLETED)
            if step.done():
                done, step = step, None
                try:
                    event = done.result()
                except StopAsyncIteration:
                    break  # the run ended; the SDK raised first had anything tripped
                if event.type == "agent_updated_stream_event" and not held:
                    yield event  # the run starting on its agent: not the model's output, shown as before
                else:
                    held.append(event)
                    yield HELD  # the run is alive: the consumer's stall timer must see it
        # Passed: what was held goes out in order, then the rest of the stream as it comes.
        while held:
            yield held.popleft()
        if step is not None:
            done, step = step, None
            try:
                yield await done
            except StopAsyncIteration:
                return
        async for event in events:
            yield event
    finally:
        if step is not None and not step.done():
            step.cancel()
            await asyncio.wait({step})
