"""Tool approvals end to end on the offline demo: counted tool runs, the stored history, the 409s,
a restart between request and decision, another replica deciding, two decisions at once, Stop.

Every test counts real executions of `cancel_subscription` (a counting wrapper around the tool's
own invoke function), not only the text of the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from agents import FunctionTool

from conversations import ConversationBusy
from conversations.chat_state import CallFields
from devtools.server import offline_settings
from runtime import Runtime
from streaming import approvals
from streaming.events import ApprovalRequired, Done, Error, ToolOutput
from tests.services import service_url

CANCEL = "Please cancel my subscription."


class Executions:
    def __init__(self) -> None:
        self.count = 0


def count_cancellations(runtime: Runtime, executions: Executions) -> None:
    """Swap Billing Agent's cancel_subscription for a copy that counts each time its body runs."""
    billing = runtime.team.agent("Billing Agent")
    for index, tool in enumerate(billing.tools):
        if isinstance(tool, FunctionTool) and tool.name == "cancel_subscription":
            invoke = tool.on_invoke_tool

            async def counted(ctx, arguments, _invoke=invoke):
                executions.count += 1
                return await _invoke(ctx, arguments)

            billing.tools[index] = dataclasses.replace(tool, on_invoke_tool=counted)
            return
    raise AssertionError("the demo's Billing Agent has no cancel_subscription tool")


def make_runtime(url: str = ":memory:", executions: Executions | None = None) -> Runtime:
    runtime = Runtime.from_settings(offline_settings(session_db_url=url, demo_tokens_per_second=0))
    if executions is not None:
        count_cancellations(runtime, executions)
    return runtime


async def turn(runtime: Runtime, conversation_id: str, message: str | None = None, decisions: dict | None = None):
    """What the HTTP route does: claim the chat, read it fresh, check, run. Returns (409 detail, events)."""
    conversation = await runtime.store.get(conversation_id)
    assert conversation is not None
    try:
        async with runtime.store.turn(conversation.id):
            await approvals.refresh(runtime.store, conversation)
            problem = runtime.turn_problem(conversation, message, decisions)
            if problem:
                return problem, []
            return None, [event async for event in runtime.turn(conversation, message, approvals=decisions)]
    except ConversationBusy as exc:
        return str(exc), []


async def ask_to_cancel(runtime: Runtime) -> tuple[str, ApprovalRequired]:
    conversation = await runtime.store.create()
    problem, events = await turn(runtime, conversation.id, CANCEL)
    assert problem is None
    requests = [event for event in events if isinstance(event, ApprovalRequired)]
    assert len(requests) == 1, events
    request = requests[0]
    assert (request.name, request.agent) == ("cancel_subscription", "Billing Agent")
    assert json.loads(request.arguments)["reason"]
    done = events[-1]
    assert isinstance(done, Done) and done.awaiting_approval == [request.call_id]
    assert not any(isinstance(event, ToolOutput) and event.call_id == request.call_id for event in events)
    return conversation.id, request


async def history(runtime: Runtime, conversation_id: str) -> list[dict]:
    conversation = await runtime.store.get(conversation_id)
    return [dict(item) for item in await runtime.store.items(conversation)]


def outputs_for(items: list[dict], call_id: str) -> list[str]:
    return [str(item.get("output")) for item in items if item.get("type") == "function_call_output" and item.get("call_id") == call_id]


async def test_approve_runs_the_tool_once_and_the_history_holds_each_item_once(demo):
    runtime, executions = demo
    chat, request = await ask_to_cancel(runtime)
    assert executions.count == 0
    waiting = await runtime.store.get(chat)
    assert [call.call_id for call in approvals.waiting(waiting)] == [request.call_id]
    assert waiting.state.approval is not None and waiting.state.approval.run_state

    problem, events = await turn(runtime, chat, decisions={request.call_id: "approve"})
    assert problem is None
    assert executions.count == 1
    done = events[-1]
    assert isinstance(done, Done) and done.awaiting_approval == []
    assert "Subscription cancelled (CX-0001)" in done.final
    assert [e.call_id for e in events if isinstance(e, ToolOutput)] == [request.call_id]
    after = await runtime.store.get(chat)
    assert after.state.approval is None
    assert after.state.tool_state["cancellations"] == ["CX-0001"]
    # Resuming with a session adds the tool's output and the answer, and repeats nothing.
    items = await history(runtime, chat)
    assert [i.get("role") for i in items].count("user") == 1
    assert len([i for i in items if i.get("type") == "function_call" and i.get("call_id") == request.call_id]) == 1
    assert len(outputs_for(items, request.call_id)) == 1
    assert len(items) == len({json.dumps(i, sort_keys=True) for i in items}), "an item was stored twice"


async def test_reject_tells_the_model_and_nothing_runs(demo):
    runtime, executions = demo
    chat, request = await ask_to_cancel(runtime)
    problem, events = await turn(runtime, chat, decisions={request.call_id: "reject"})
    assert problem is None
    assert executions.count == 0
    assert "nothing was cancelled" in events[-1].final
    items = await history(runtime, chat)
    assert outputs_for(items, request.call_id) == [approvals.REJECTION_MESSAGE]
    assert len(items) == len({json.dumps(i, sort_keys=True) for i in items}), "an item was stored twice"
    after = await runtime.store.get(chat)
    assert after.state.tool_state["cancellations"] == [] and after.state.approval is None


async def test_each_409_and_deciding_twice_never_runs_twice(demo):
    runtime, executions = demo
    chat, request = await ask_to_cancel(runtime)
    # A message to a chat that waits for a decision.
    problem, _ = await turn(runtime, chat, "Hello?")
    assert problem and "waits for a decision" in problem and "cancel_subscription" in problem
    # An unknown call, and a decision that is neither approve nor reject.
    problem, _ = await turn(runtime, chat, decisions={"call_forged": "approve"})
    assert problem and "call_forged" in problem
    problem, _ = await turn(runtime, chat, decisions={request.call_id: "maybe"})
    assert problem == approvals.BAD_DECISION
    problem, _ = await turn(runtime, chat, decisions={})
    assert problem == approvals.NOTHING_WAITING
    assert executions.count == 0
    assert (await turn(runtime, chat, decisions={request.call_id: "approve"}))[0] is None
    # Decided already: 409, and the tool does not run again.
    problem, _ = await turn(runtime, chat, decisions={request.call_id: "approve"})
    assert problem == approvals.NOTHING_WAITING
    assert executions.count == 1
    # A caller that skips the check (a stale copy) is refused by the turn itself, in-band.
    stale = await runtime.store.get(chat)
    stale.state.park({}, [CallFields(**approvals._fields(request))])
    async with runtime.store.turn(chat):
        events = [event async for event in runtime.turn(stale, approvals={request.call_id: "approve"})]
    assert isinstance(events[0], Error) and isinstance(events[-1], Done)
    assert executions.count == 1


async def test_a_restart_between_request_and_decision(tmp_path):
    path = str(tmp_path / "chats.sqlite3")
    executions = Executions()
    before = make_runtime(path, executions)
    chat, request = await ask_to_cancel(before)
    await before.aclose()

    after = make_runtime(path, executions)  # a new process on the same file
    try:
        problem, events = await turn(after, chat, decisions={request.call_id: "approve"})
        assert problem is None and executions.count == 1
        assert "Subscription cancelled" in events[-1].final
    finally:
        await after.aclose()


async def test_stop_while_waiting_leaves_it_waiting_and_nothing_runs(demo):
    runtime, executions = demo
    conversation = await runtime.store.create()
    async with runtime.store.turn(conversation.id):
        stream = runtime.turn(conversation, CANCEL)
        async for event in stream:
            if isinstance(event, ApprovalRequired):
                break  # Stop (a closed tab) while the approval is on screen, before done
        await stream.aclose()
    stored = await runtime.store.get(conversation.id)
    assert [call.name for call in approvals.waiting(stored)] == ["cancel_subscription"]
    assert executions.count == 0
    call_id = approvals.waiting(stored)[0].call_id
    problem, events = await turn(runtime, conversation.id, decisions={call_id: "approve"})
    assert problem is None and executions.count == 1


async def test_stop_during_the_resumed_run_is_a_plain_stop(demo):
    runtime, executions = demo
    chat, request = await ask_to_cancel(runtime)
    conversation = await runtime.store.get(chat)
    async with runtime.store.turn(chat):
        await approvals.refresh(runtime.store, conversation)
        stream = runtime.turn(conversation, approvals={request.call_id: "reject"})
        await anext(stream)
        await stream.aclose()
    # The decision was claimed when the run resumed: it is not waiting any more, and the chat goes on.
    assert approvals.waiting(await runtime.store.get(chat)) == []
    problem, events = await turn(runtime, chat, "Hi! What can you do?")
    assert problem is None and isinstance(events[-1], Done)
    assert executions.count == 0


def redis_url() -> str:
    return service_url("REDIS_URL")


async def test_another_replica_decides_and_two_decisions_at_once_run_the_tool_once():
    url = redis_url()
    executions = Executions()
    one, two = make_runtime(url, executions), make_runtime(url, executions)
    try:
        chat, request = await ask_to_cancel(one)
        # Both replicas read the waiting chat before either decides.
        decisions = {request.call_id: "approve"}
        results = await asyncio.gather(turn(one, chat, decisions=decisions), turn(two, chat, decisions=decisions))
        ran = [events for problem, events in results if problem is None]
        refused = [problem for problem, _ in results if problem is not None]
        assert executions.count == 1
        assert len(ran) == 1 and len(refused) == 1, results
        assert "Subscription cancelled" in ran[0][-1].final

        # A decision made on the other replica than the request.
        chat, request = await ask_to_cancel(one)
        problem, events = await turn(two, chat, decisions={request.call_id: "reject"})
        assert problem is None and "nothing was cancelled" in events[-1].final
        assert executions.count == 1
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.parametrize("backend", ["sqlite", "redis", "postgres"])
async def test_the_waiting_state_lives_in_every_store(backend, tmp_path):
    url = str(tmp_path / "c.sqlite3") if backend == "sqlite" else service_url("REDIS_URL" if backend == "redis" else "POSTGRES_URL")
    executions = Executions()
    runtime = make_runtime(url, executions)
    try:
        chat, request = await ask_to_cancel(runtime)
        other = make_runtime(url, executions)  # another process's view of the same store
        try:
            assert [c.call_id for c in approvals.waiting(await other.store.get(chat))] == [request.call_id]
            problem, events = await turn(other, chat, decisions={request.call_id: "approve"})
            assert problem is None and executions.count == 1
        finally:
            await other.aclose()
    finally:
        await runtime.aclose()
