"""Undo and retry in the chat take turns out of the model's history, not only off the screen."""

from __future__ import annotations

from ui.chat_handler import make_handler

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"


async def _send(runtime, message: str, history: list, chat_id: str | None):
    messages, chat_id = [], chat_id
    async for messages, chat_id, _ in make_handler(runtime)(message, history, chat_id):
        pass
    shown = history + [{"role": "user", "content": message}] + messages
    return shown, chat_id, messages


async def _user_items(runtime, chat_id: str) -> list[str]:
    conversation = await runtime.store.get(chat_id)
    return [item["content"] for item in await runtime.store.items(conversation) if item.get("role") == "user"]


async def test_undo_then_a_new_message_forgets_the_undone_turn(runtime):
    shown, chat_id, _ = await _send(runtime, "Hi! What can you do?", [], None)
    after_first = list(shown)
    shown, chat_id, _ = await _send(runtime, BILLING, shown, chat_id)
    # Undo: the screen goes back to the first turn; the next message is sent with that history.
    shown, chat_id, messages = await _send(runtime, "What was the amount again?", after_first, chat_id)
    assert await _user_items(runtime, chat_id) == ["Hi! What can you do?", "What was the amount again?"]
    answer = messages[-1]["content"]
    assert "INV-1001" not in answer  # the refund turn was undone: neither the invoice nor Billing Agent remain
    conversation = await runtime.store.get(chat_id)
    assert conversation.agent != "Billing Agent"


async def test_retry_does_not_send_the_question_twice(runtime):
    shown, chat_id, _ = await _send(runtime, "Hi! What can you do?", [], None)
    after_first = list(shown)
    shown, chat_id, _ = await _send(runtime, BILLING, shown, chat_id)
    # Retry: ChatInterface drops the last turn from the history and sends the same message again.
    shown, chat_id, messages = await _send(runtime, BILLING, after_first, chat_id)
    assert await _user_items(runtime, chat_id) == ["Hi! What can you do?", BILLING]
    # The first refund was taken out of the model's view, but the refund itself happened: the tools say so.
    assert "RF-1001" in messages[-1]["content"]


async def test_an_empty_screen_with_a_chat_id_continues_instead_of_rewinding(runtime):
    """A fresh tab given a chat id (pasted from the API) shows nothing yet: nothing is undone."""
    _, chat_id, _ = await _send(runtime, BILLING, [], None)
    _, chat_id, messages = await _send(runtime, "What was the amount again?", [], chat_id)
    assert await _user_items(runtime, chat_id) == [BILLING, "What was the amount again?"]
    assert "INV-1001" in messages[-1]["content"]


async def test_a_normal_follow_up_rewinds_nothing(runtime):
    shown, chat_id, _ = await _send(runtime, BILLING, [], None)
    shown, chat_id, _ = await _send(runtime, "What was the amount again?", shown, chat_id)
    assert await _user_items(runtime, chat_id) == [BILLING, "What was the amount again?"]
