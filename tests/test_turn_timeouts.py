"""The stall timeout watches the model; a running tool gets its own, longer limit."""

from streaming.events import Done, Error, ToolOutput
from streaming.turn import TurnLimits, run_turn

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"


async def _turn(runtime, limits):
    conversation = await runtime.store.create()
    return [event async for event in run_turn(runtime.team, runtime.store, conversation, BILLING, limits)]


# The limits are a second or more: a loaded machine can pause the demo model for a few hundred ms, which
# must not read as a stall in a test about tools.


async def test_a_tool_slower_than_the_stall_timeout_is_not_a_stall(runtime):
    events = await _turn(runtime, TurnLimits(stall_timeout=1.0, tool_timeout=60.0, tool_latency=1.5))
    assert not [e for e in events if isinstance(e, Error)]
    assert len([e for e in events if isinstance(e, ToolOutput)]) == 2
    assert "RF-1001" in events[-1].final


async def test_a_tool_over_the_tool_timeout_ends_the_turn_with_a_tool_message(runtime):
    events = await _turn(runtime, TurnLimits(stall_timeout=10.0, tool_timeout=1.0, tool_latency=30.0))
    errors = [e for e in events if isinstance(e, Error)]
    assert len(errors) == 1 and "tool ran for more than 1 s" in errors[0].message, errors
    assert isinstance(events[-1], Done)
