"""Two chats never see each other: through the UI, the HTTP API, exports, recordings and feedback.

Each test starts from a fresh runtime (or server) and interleaves two chats that remember different
invoices, then continues both with a message that names no invoice. A store lookup that handed back
another chat (the newest, the first, any other) shows up as the wrong invoice in one of them. A shared
server that already held other chats could hide that, so nothing here reuses one.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import gradio as gr
import httpx

from devtools.server import serve
from fileformats.recording import load_recording
from runtime import Runtime
from ui.chat_handler import make_handler
from ui.export import build_export
from ui.feedback import make_comment_handler, make_like_handler

FIRST = ("I was charged twice on invoice INV-1001, can you refund me?", "INV-1001")
SECOND = ("Is invoice INV-1003 paid?", "INV-1003")
FOLLOW_UP = "Is it paid?"  # names no invoice: only the chat's own history says which one
INVOICES = ("INV-1001", "INV-1003")


def _only(text: str, invoice: str) -> bool:
    """`text` is about `invoice` and not about the other chat's."""
    return invoice in text and not any(other in text for other in INVOICES if other != invoice)


def two_chats(ask: Callable[[str, str], str]) -> None:
    """Start chats "a" and "b", then continue each; `ask(chat, message)` returns the answer text."""
    for chat, (message, invoice) in (("a", FIRST), ("b", SECOND)):
        assert _only(ask(chat, message), invoice)
    # "a" first: a lookup returning the newest chat gives it b's; then "b": one returning the first gives it a's.
    for chat, (_, invoice) in (("a", FIRST), ("b", SECOND)):
        answer = ask(chat, FOLLOW_UP)
        assert _only(answer, invoice), f"chat {chat} answered about another chat's invoice: {answer!r}"


async def _turn(runtime: Runtime, chats: dict[str, tuple[str | None, list]], chat: str, message: str) -> str:
    """One turn of `chat` through the ChatInterface handler, as a tab sends it (its id and what it shows)."""
    chat_id, history = chats.get(chat, (None, []))
    messages: list = []
    async for messages, chat_id, _insight in make_handler(runtime)(message, history, chat_id):
        pass
    shown = [{"role": "user", "content": message, "metadata": None}]
    shown += [{"role": "assistant", "content": m["content"], "metadata": m.get("metadata")} for m in messages]
    chats[chat] = (chat_id, history + shown)
    return messages[-1]["content"]


async def two_chats_through_the_handler(runtime: Runtime) -> dict[str, tuple[str | None, list]]:
    chats: dict[str, tuple[str | None, list]] = {}
    answers: dict[tuple[str, str], str] = {}
    for chat, message in (("a", FIRST[0]), ("b", SECOND[0]), ("a", FOLLOW_UP), ("b", FOLLOW_UP)):
        answers[chat, message] = await _turn(runtime, chats, chat, message)
    two_chats(lambda chat, message: answers[chat, message])
    assert chats["a"][0] != chats["b"][0]
    return chats


# --- the UI: two browser sessions on one fresh server -------------------------------------------------


def test_two_ui_sessions_each_continue_their_own_chat(runtime):
    from tests.test_ui_e2e import Chat, _answer

    with serve(runtime) as url:
        chats = {"a": Chat(url), "b": Chat(url)}  # two gradio_client sessions, like two tabs

        def ask(chat: str, message: str) -> str:
            return _answer(chats[chat].ask(message))

        two_chats(ask)


# --- the HTTP API: two session_ids on one fresh server ------------------------------------------------


def test_two_api_sessions_each_continue_their_own_chat(runtime):
    with serve(runtime) as url:
        sessions: dict[str, str] = {}

        def ask(chat: str, message: str) -> str:
            body = {"message": message, "session_id": sessions.get(chat)}
            if chat == "a":  # one chat over each route: they look the session up the same way, separately
                response = httpx.post(url + "chat", json=body, timeout=30)
                assert response.status_code == 200, response.text
                answer = response.json()
                session_id, final, events = answer["session_id"], answer["final"], answer["events"]
            else:
                with httpx.stream("POST", url + "chat/stream", json=body, timeout=30) as response:
                    assert response.status_code == 200, response.read()
                    events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
                session_id, final = events[0]["session_id"], events[-1]["final"]
            assert sessions.setdefault(chat, session_id) == session_id
            lookups = " ".join(e["arguments"] for e in events if e["type"] == "tool_call")
            return f"{final} {lookups}"

        two_chats(ask)
        assert sessions["a"] != sessions["b"]


# --- exports, recordings and feedback: the same two chats on a fresh runtime ---------------------------


async def test_each_export_holds_its_own_chat(runtime):
    chats = await two_chats_through_the_handler(runtime)
    for chat, (_, invoice) in (("a", FIRST), ("b", SECOND)):
        chat_id, history = chats[chat]
        export = await build_export(runtime.store, chat_id, history)
        assert _only(json.dumps(export["input_list"]), invoice), f"the export of chat {chat} holds another chat's items"
        assert len(export["stats"]) == 2  # its own two turns
        if chat == "a":
            refunds = export["tool_state"]["refunds"]
            assert refunds and all(key.startswith("INV-1001") for key in refunds), refunds
        else:
            assert export["tool_state"]["refunds"] == {}


async def test_each_recording_holds_its_own_chat(settings, tmp_path):
    from dataclasses import replace

    folder = tmp_path / "recordings"
    runtime = Runtime.from_settings(replace(settings, record_runs=True, recordings_dir=str(folder)))
    try:
        await two_chats_through_the_handler(runtime)
    finally:
        await runtime.aclose()
    recordings = [load_recording(path) for path in sorted(folder.glob("*.jsonl"))]
    assert len(recordings) == 4
    follow_ups = [r for r in recordings if r.message == FOLLOW_UP]
    about = sorted(invoice for r in follow_ups for invoice in INVOICES if _only(json.dumps(r.input_list), invoice))
    assert about == ["INV-1001", "INV-1003"], "each follow-up's recording holds its own chat's items, and only them"


def _like(index: int, liked: bool, value: str) -> gr.LikeData:
    return gr.LikeData(None, {"index": index, "value": value, "liked": liked})


async def test_feedback_is_stored_with_the_chat_it_was_given_in(runtime):
    chats = await two_chats_through_the_handler(runtime)
    (a_id, a_shown), (b_id, b_shown) = chats["a"], chats["b"]
    like, comment = make_like_handler(runtime.store), make_comment_handler(runtime.store)
    last_a, last_b = len(a_shown) - 1, len(b_shown) - 1
    await like(a_id, _like(last_a, True, a_shown[-1]["content"]))
    await like(b_id, _like(last_b, False, b_shown[-1]["content"]))
    assert await comment(a_id, "Spot on") == ""  # cleared: saved

    a, b = await runtime.store.get(a_id), await runtime.store.get(b_id)
    assert (a.id, b.id) == (a_id, b_id)
    assert [(e["message_index"], e["rating"], e["comment"]) for e in (x.model_dump() for x in a.state.feedback)] == [(last_a, "up", "Spot on")]
    assert [(e["message_index"], e["rating"], e["comment"]) for e in (x.model_dump() for x in b.state.feedback)] == [(last_b, "down", "")]
    assert "INV-1001" in a.state.feedback[0].excerpt and "INV-1003" in b.state.feedback[0].excerpt
