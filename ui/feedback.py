"""Thumbs up/down and an optional comment on an answer, stored with its conversation.

Feedback lives in `conversation.state.feedback` (conversations/chat_state.py) (one entry per rated message, newest rating wins)
so it travels with the conversation: into exports, and back on import.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import gradio as gr

from conversations import Conversation, ConversationStore, StoreError
from conversations.chat_state import FeedbackEntry

MAX_COMMENT_CHARS = 2000
MAX_EXCERPT_CHARS = 200
BUSY = "Rate the answer once it has finished: this chat is still answering."
NO_CHAT = "There is no answer to rate yet."


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def rating_of(liked: Any) -> str | None:
    """Gradio's `LikeData.liked` as a rating: "up", "down", another option's text, or None (cleared)."""
    if liked is True:
        return "up"
    if liked is False:
        return "down"
    if isinstance(liked, str) and liked.strip():
        return liked.strip()[:40]
    return None


def excerpt_of(value: Any) -> str:
    """A short plain excerpt of the rated message (Gradio sends its content, as text or parts)."""
    if isinstance(value, list):
        value = " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in value)
    elif isinstance(value, dict):
        value = value.get("text") or value.get("content") or ""
    text = " ".join(str(value or "").split())
    return text if len(text) <= MAX_EXCERPT_CHARS else text[: MAX_EXCERPT_CHARS - 1] + "…"


def set_rating(conversation: Conversation, index: Any, liked: Any, value: Any) -> FeedbackEntry | None:
    """Record (or clear) the rating of the message at `index`; returns the entry, or None when cleared."""
    return conversation.state.rate(index, rating_of(liked), excerpt_of(value), _now())


def add_comment(conversation: Conversation, comment: str) -> FeedbackEntry | None:
    """Attach a comment to the most recently rated answer (or keep it as a general comment)."""
    comment = (comment or "").strip()[:MAX_COMMENT_CHARS]
    return conversation.state.comment(comment, _now()) if comment else None


async def _open(store: ConversationStore, chat_id: str | None) -> Conversation | None:
    if not chat_id:
        gr.Warning(NO_CHAT)
        return None
    if store.is_busy(chat_id):
        # The running turn saves its own copy of the state when it ends, which would drop this rating.
        gr.Warning(BUSY)
        return None
    conversation = await store.get(chat_id)
    if conversation is None:
        gr.Warning(NO_CHAT)
    return conversation


def make_like_handler(store: ConversationStore):
    """The Chatbot `.like` listener: inputs `[chat_id]`, no outputs."""

    async def on_like(chat_id: str | None, data: gr.LikeData) -> None:
        try:
            conversation = await _open(store, chat_id)
            if conversation is not None:
                set_rating(conversation, data.index, data.liked, data.value)
                await store.save(conversation)
        except StoreError as exc:
            gr.Warning(str(exc))

    return on_like


def make_comment_handler(store: ConversationStore):
    """The comment button's listener: inputs `[chat_id, comment]`, output the comment box (cleared when saved)."""

    async def on_comment(chat_id: str | None, comment: str) -> str:
        if not (comment or "").strip():
            gr.Warning("Write a comment first.")
            return comment
        try:
            conversation = await _open(store, chat_id)
            if conversation is None:
                return comment
            add_comment(conversation, comment)
            await store.save(conversation)
        except StoreError as exc:
            gr.Warning(str(exc))
            return comment
        gr.Info("Thanks: your comment is saved with this chat.")
        return ""

    return on_comment
