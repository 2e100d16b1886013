"""The typed chat state (conversations/chat_state.py) in real stores: rows written before it existed
still load, and a damaged row does not break its chat."""

from __future__ import annotations

import json
import logging

import pytest

from conversations.chat_state import MAX_KEPT_STATS, ChatState
from conversations.redis_store import RedisConversationStore
from streaming.events import Done, Error
from tests.test_stores import BILLING, make_runtime, one_turn

# A chat's state exactly as the code before ChatState wrote it: one plain JSON object.
TODAYS_ROW = {
    "tool_state": {"refunds": {"INV-1001": "RF-1001-01"}, "cancellations": []},
    "turn_agents": ["Triage Agent", "Billing Agent"],
    "turn_stats": [{
        "time_to_first_token_s": 0.2, "total_s": 1.5, "input_tokens": 10, "output_tokens": 20,
        "tokens_per_second": 15.4, "model_calls": 2, "tool_calls": 1, "tool_seconds": 0.1,
        "agent_path": ["Triage Agent", "Billing Agent"], "cost_usd": None,
    }],
    "feedback": [{"message_index": 3, "rating": "up", "comment": "good", "excerpt": "Refund RF-1", "at": "2026-11-01T10:00:00+00:00"},
                 {"message_index": [4, 0], "rating": "down", "comment": "", "excerpt": "", "at": ""}],
    "approval": {"run_state": {"$schemaVersion": "1.0"}, "calls": [
        {"call_id": "call_1", "name": "cancel_order", "arguments": "{}", "agent": "Orders Agent"}]},
    "approval_log": [{"call_id": "call_0", "name": "cancel_order", "arguments": "{}", "agent": "Orders Agent", "decision": "reject"}],
    "transcript": [
        {"user": "hello", "decisions": {}, "events": [{"type": "text", "content": "Hi"}]},
        {"user": None, "decisions": {"call_0": "reject"}, "events": [], "stopped": True},
    ],
}


async def write_row(store, conversation_id: str, agent: str | None, state_text: str) -> None:
    """Put a metadata row in the store as another (older) version of the app would have written it."""
    store = store.open()  # the runtime's store opens on first use (runtime.LazyStore)
    if isinstance(store, RedisConversationStore):
        meta = f'{{"agent": {json.dumps(agent)}, "state": {state_text}}}'
        await store.client.set(store._meta_key(conversation_id), meta, px=store._ttl_ms)
        return
    from conversations.sql_store import _chats

    async with store.engine.begin() as connection:
        await connection.execute(_chats.update().where(_chats.c.id == conversation_id).values(agent=agent, state=state_text))


async def test_a_row_in_todays_dict_shape_loads_typed(store_url):
    runtime = make_runtime(store_url)
    try:
        conversation = await runtime.store.create()
        await write_row(runtime.store, conversation.id, "Billing Agent", json.dumps(TODAYS_ROW))
        state = (await runtime.store.get(conversation.id)).state
        assert state.tool_state == TODAYS_ROW["tool_state"]
        assert state.turn_agents == ["Triage Agent", "Billing Agent"]
        assert state.turn_stats[0].agent_path == ["Triage Agent", "Billing Agent"] and state.turn_stats[0].total_s == 1.5
        assert [(f.message_index, f.rating) for f in state.feedback] == [(3, "up"), ([4, 0], "down")]
        assert [c.call_id for c in state.waiting_calls()] == ["call_1"]
        assert state.approval.run_state == {"$schemaVersion": "1.0"}
        assert state.approval_log[0].decision == "reject"
        assert [t.user for t in state.transcript] == ["hello", None] and state.last_stopped()
        # Saved again as the model writes it, it reads back the same.
        await runtime.store.save(await runtime.store.get(conversation.id))
        assert (await runtime.store.get(conversation.id)).state == state
    finally:
        await runtime.aclose()


@pytest.mark.parametrize("damage", [
    '{"turn_agents": 5, "feedback": "lots"}',  # valid JSON, wrong types
    '{"tool_state": {"refunds": ',  # a write cut in half
])
async def test_a_damaged_state_row_does_not_break_the_chat(store_url, damage, caplog):
    runtime = make_runtime(store_url)
    try:
        conversation = await runtime.store.create()
        await write_row(runtime.store, conversation.id, None, damage)
        with caplog.at_level(logging.WARNING, logger="conversations.chat_state"):
            loaded = await runtime.store.get(conversation.id)
        assert loaded is not None and loaded.state == ChatState()
        assert "unreadable state" in caplog.text
        events = await one_turn(runtime, loaded, BILLING)  # the chat answers, and its state is whole again
        assert not any(isinstance(event, Error) for event in events) and isinstance(events[-1], Done)
        again = await runtime.store.get(conversation.id)
        assert again.state.turn_agents == ["Billing Agent"] and len(again.state.turn_stats) == 1
    finally:
        await runtime.aclose()


def test_the_state_keeps_its_lists_bounded_and_rewinds():
    state = ChatState()
    for number in range(MAX_KEPT_STATS + 5):
        state.keep_stats({"total_s": number})
    assert len(state.turn_stats) == MAX_KEPT_STATS and state.turn_stats[-1].total_s == MAX_KEPT_STATS + 4
    for user in ("a", "b", "c"):
        state.start_shown_turn(user, {})
        state.answered_by(f"agent {user}", resumed=False)
    state.start_shown_turn(None, {"call": "approve"})  # a run resumed after "c": part of that turn
    state.answered_by("agent c2", resumed=True)
    assert state.rewind(user_turns=1, dropped=2, agent="agent c2") == "agent a"
    assert [t.user for t in state.transcript] == ["a"] and state.turn_agents == ["agent a"]
