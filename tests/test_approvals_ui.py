"""The chat's side of approvals and of a redrawn chat, through the real Gradio handlers (no browser):
the waiting note and its buttons, a decision from the buttons, hostile option values, a message
sent while waiting, and the chat drawn again from the store (a reload, a pasted id)."""

from __future__ import annotations

import pytest

from streaming import transcript
from tests.test_approvals import CANCEL, Executions, make_runtime
from ui.chat_handler import make_decision_handler, make_handler, make_redraw_handler


class Selected:
    """What Gradio hands option_select: only `.value` is read (and it comes from the browser)."""

    def __init__(self, value):
        self.value = value


@pytest.fixture
async def demo():
    executions = Executions()
    runtime = make_runtime(executions=executions)
    yield runtime, executions
    await runtime.aclose()


def titles(messages: list[dict]) -> list[str | None]:
    return [(m.get("metadata") or {}).get("title") for m in messages]


async def ask(runtime, message: str, history: list, chat_id: str | None):
    async for messages, chat_id, insight in make_handler(runtime)(message, history, chat_id):
        pass
    return messages, chat_id, insight


async def decide(runtime, chat_id: str, value) -> tuple:
    out = None
    async for out in make_decision_handler(runtime)(chat_id, Selected(value)):
        pass
    return out


async def test_the_waiting_call_is_an_open_note_with_two_buttons_and_the_panel_says_so(demo):
    runtime, executions = demo
    messages, chat_id, insight = await ask(runtime, CANCEL, [], None)
    note = messages[-1]
    assert note["metadata"]["title"] == "✋ cancel_subscription: waiting for your approval"
    assert "status" not in note["metadata"]  # open, and no spinner: it waits for a person, not a tool
    assert '"reason"' in note["content"]
    assert [o["label"] for o in note["options"]] == ["Approve", "Reject"]
    assert insight["waiting"] == ["cancel_subscription"] and not insight["running"]
    assert executions.count == 0


async def test_approve_from_the_buttons_resumes_in_the_same_chat_and_buttons_go(demo):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    approve = messages[-1]["options"][0]["value"]
    shown, state, insight = await decide(runtime, chat_id, approve)
    assert shown == state
    assert shown[0] == {"role": "user", "content": CANCEL}
    assert "✅ cancel_subscription: approved" in titles(shown)
    assert not any("options" in m for m in shown)
    assert "Subscription cancelled" in shown[-1]["content"]
    assert executions.count == 1
    assert "waiting" not in insight


@pytest.mark.parametrize("value", ["approve:call_forged", "approve", "maybe:x", 42, None, "x" * 10_000])
async def test_a_hostile_option_value_runs_nothing(demo, value):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    out = await decide(runtime, chat_id, value)
    assert executions.count == 0
    redrawn, *_ = await make_redraw_handler(runtime)(chat_id)
    assert "options" in redrawn[-1], "the call still waits, with its buttons"
    assert out is not None


async def test_deciding_twice_from_a_stale_tab_runs_once(demo):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    approve = messages[-1]["options"][0]["value"]
    await decide(runtime, chat_id, approve)
    shown, _, _ = await decide(runtime, chat_id, approve)
    assert "decided already" in shown[-1]["content"]
    assert executions.count == 1


async def test_a_message_while_waiting_is_not_sent_and_keeps_the_buttons(demo):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    history = [{"role": "user", "content": CANCEL}, *messages]
    notice, _, _ = await ask(runtime, "Hello?", history, chat_id)
    assert notice[-1]["metadata"]["title"] == "✋ Not sent"
    assert [o["label"] for o in notice[-1]["options"]] == ["Approve", "Reject"]
    conversation = await runtime.store.get(chat_id)
    assert [t["user"] for t in conversation.state[transcript.KEY]] == [CANCEL]


async def test_redraw_shows_the_stored_chat_with_the_waiting_call_and_after_the_decision(demo):
    runtime, executions = demo
    first, chat_id, _ = await ask(runtime, "Hi! What can you do?", [], None)
    history = [{"role": "user", "content": "Hi! What can you do?"}, *first]
    messages, chat_id, _ = await ask(runtime, CANCEL, history, chat_id)
    redraw = make_redraw_handler(runtime)
    shown, state, shown_id, insight = await redraw(chat_id)
    assert shown_id == chat_id and shown == state
    assert [m["content"] for m in shown if m["role"] == "user"] == ["Hi! What can you do?", CANCEL]
    assert shown[-1]["options"] == messages[-1]["options"]
    assert insight["waiting"] == ["cancel_subscription"]
    await decide(runtime, chat_id, messages[-1]["options"][1]["value"])  # reject
    shown, *_ = await redraw(chat_id)
    assert "🚫 cancel_subscription: rejected, it did not run" in titles(shown)
    assert "nothing was cancelled" in shown[-1]["content"]
    assert not any("options" in m for m in shown)
    # Unknown and empty ids change nothing on screen.
    assert all(value is not None for value in await redraw("nope"))
    assert executions.count == 0


async def test_undo_takes_the_turn_out_of_the_redrawn_chat_too(demo):
    runtime, _ = demo
    first, chat_id, _ = await ask(runtime, "Hi! What can you do?", [], None)
    history = [{"role": "user", "content": "Hi! What can you do?"}, *first]
    await ask(runtime, CANCEL, history, chat_id)
    # Undo of the waiting turn, then a new message: the store forgets the turn and its waiting call.
    messages, _, _ = await ask(runtime, "How do I rotate an API key?", history, chat_id)
    assert "rotate" in messages[-1]["content"].lower() or messages[-1]["content"]
    shown, *_ = await make_redraw_handler(runtime)(chat_id)
    assert [m["content"] for m in shown if m["role"] == "user"] == ["Hi! What can you do?", "How do I rotate an API key?"]
