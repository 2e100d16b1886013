"""The chat's side of approvals and of a redrawn chat, through the real Gradio handlers (no browser):
the waiting note and its buttons, a decision from the buttons (Gradio's ChatInterface sends the
option pressed as the next user message, with the tab's history), forged histories, a message sent
while waiting, and the chat drawn again from the store (a reload, a pasted id)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.test_approvals import CANCEL, Executions, make_runtime
from ui.chat_handler import make_handler, make_redraw_handler


def titles(messages: list[dict]) -> list[str | None]:
    return [(m.get("metadata") or {}).get("title") for m in messages]


async def ask(runtime, message: str, history: list, chat_id: str | None):
    async for messages, chat_id, insight in make_handler(runtime)(message, history, chat_id):
        pass
    return messages, chat_id, insight


async def press(runtime, button: str, history: list, chat_id: str) -> list[dict]:
    """A button under the last message, as the ChatInterface sends it: the option's value as a message."""
    messages, _, insight = await ask(runtime, button, history, chat_id)
    return messages, insight


async def test_the_waiting_call_is_an_open_note_with_two_buttons_and_the_panel_says_so(demo):
    runtime, executions = demo
    messages, chat_id, insight = await ask(runtime, CANCEL, [], None)
    note = messages[-1]
    assert note["metadata"]["title"] == "✋ cancel_subscription needs your approval"
    assert "status" not in note["metadata"]  # open, and no spinner: it waits for a person, not a tool
    assert '"reason"' in note["content"]
    assert [o["value"] for o in note["options"]] == ["Approve", "Reject"]
    assert insight["waiting"] == ["cancel_subscription"] and not insight["running"]
    assert executions.count == 0


async def test_approve_from_the_buttons_resumes_in_the_same_chat_and_buttons_go(demo):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    history = [{"role": "user", "content": CANCEL}, *messages]
    shown, insight = await press(runtime, "Approve", history, chat_id)
    assert not any("options" in m for m in shown)
    # The question above says how it was decided, as a redrawn chat does (Gradio shows the tab's
    # history messages as the handler leaves them: ChatInterface copies the list, not the messages).
    assert titles(history)[-1] == "✅ cancel_subscription: approved"
    assert "options" not in history[-1]
    assert "Subscription cancelled" in shown[-1]["content"]
    assert executions.count == 1
    assert "waiting" not in insight
    conversation = await runtime.store.get(chat_id)
    assert [t.user for t in conversation.state.transcript] == [CANCEL, None]


@pytest.mark.parametrize("forged", ["no note", "a forged id", "a decided id"])
async def test_a_forged_history_runs_nothing(demo, forged):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    history = [{"role": "user", "content": CANCEL}, *messages]
    if forged == "no note":
        history = history[:1]
    else:
        history[-1] = {**history[-1], "metadata": {**history[-1]["metadata"], "id": "call_forged"}}
    shown, _ = await press(runtime, "Approve", history, chat_id)
    assert shown[-1]["metadata"]["title"] == "✋ Not sent"
    assert executions.count == 0
    redrawn, *_ = await make_redraw_handler(runtime)(chat_id)
    assert "options" in redrawn[-1], "the call still waits, with its buttons"


async def test_deciding_twice_from_a_stale_tab_runs_once(demo):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    history = [{"role": "user", "content": CANCEL}, *messages]
    await press(runtime, "Approve", history, chat_id)
    shown, _ = await press(runtime, "Approve", history, chat_id)  # the same tab state again
    assert executions.count == 1
    # Nothing waits any more: "Approve" is now an ordinary message to the agents, not a decision.
    assert shown[-1].get("metadata", {}).get("title") != "✋ Not sent"


async def test_a_message_while_waiting_is_not_sent_and_keeps_the_buttons(demo):
    runtime, executions = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    history = [{"role": "user", "content": CANCEL}, *messages]
    notice, _, _ = await ask(runtime, "Hello?", history, chat_id)
    assert notice[-1]["metadata"]["title"] == "✋ Not sent"
    assert [o["value"] for o in notice[-1]["options"]] == ["Approve", "Reject"]
    # The buttons under the notice still decide the call (its note is further up).
    shown, _ = await press(runtime, "Reject", [*history, {"role": "user", "content": "Hello?"}, *notice], chat_id)
    assert "nothing was cancelled" in shown[-1]["content"] and executions.count == 0
    conversation = await runtime.store.get(chat_id)
    assert [t.user for t in conversation.state.transcript] == [CANCEL, None]  # "Hello?" was not kept


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
    await press(runtime, "Reject", shown, chat_id)
    shown, *_ = await redraw(chat_id)
    assert "🚫 cancel_subscription: rejected, it did not run" in titles(shown)
    assert [m["content"] for m in shown if m["role"] == "user"] == ["Hi! What can you do?", CANCEL, "Reject"]
    assert "nothing was cancelled" in shown[-1]["content"]
    assert not any("options" in m for m in shown)
    # Unknown and empty ids change nothing on screen.
    assert all(value is not None for value in await redraw("nope"))
    assert executions.count == 0


async def test_undo_after_a_decision_counts_only_messages_to_the_model(demo):
    runtime, _ = demo
    messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
    history = [{"role": "user", "content": CANCEL}, *messages]
    resumed, _ = await press(runtime, "Approve", history, chat_id)
    shown = [*history, {"role": "user", "content": "Approve"}, *resumed]
    follow_up, _, _ = await ask(runtime, "Hi! What can you do?", shown, chat_id)
    conversation = await runtime.store.get(chat_id)
    users = [i["content"] for i in await runtime.store.items(conversation) if i.get("role") == "user"]
    assert users == [CANCEL, "Hi! What can you do?"], "the decision bubble is not a turn: nothing was rewound"


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


async def test_exports_and_recordings_show_the_request_and_the_decision(tmp_path):
    from fileformats.recording import load_recording
    from ui.export import build_export, render_html

    executions = Executions()
    runtime = make_runtime(executions=executions)
    runtime.settings = dataclasses.replace(runtime.settings, record_runs=True, recordings_dir=str(tmp_path))
    try:
        messages, chat_id, _ = await ask(runtime, CANCEL, [], None)
        waiting = await build_export(runtime.store, chat_id, messages)
        assert [(a["name"], a["decision"]) for a in waiting["approvals"]] == [("cancel_subscription", "waiting")]
        assert "run_state" not in json.dumps(waiting), "the SDK's run state never leaves the server"
        history = [{"role": "user", "content": CANCEL}, *messages]
        resumed, _ = await press(runtime, "Reject", history, chat_id)
        export = await build_export(runtime.store, chat_id, [*history, {"role": "user", "content": "Reject"}, *resumed])
        assert [(a["name"], a["decision"]) for a in export["approvals"]] == [("cancel_subscription", "reject")]
        page = render_html(export)
        assert "<h2>Approvals</h2>" in page and "🚫 rejected" in page and "cancel_subscription" in page
        recordings = sorted(tmp_path.glob("*.jsonl"))
        assert len(recordings) == 2
        kinds = [[e.event.type for e in load_recording(path).events] for path in recordings]
        headers = [load_recording(path).message for path in recordings]
        asked, decided = (0, 1) if "approval_required" in kinds[0] else (1, 0)
        assert "approval_required" in kinds[asked] and headers[asked] == CANCEL
        assert headers[decided].startswith("reject call_") and "tool_output" in kinds[decided]
    finally:
        await runtime.aclose()
