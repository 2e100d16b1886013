"""The ChatInterface handler: one turn of the chat, streamed as assistant messages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import gradio as gr

from conversations import ConversationBusy, StoreError
from runtime import Runtime
from streaming.batching import batches
from streaming.turn import run_turn

from .chat_view import TurnView

UI_INTERVAL = 0.05  # at most ~20 UI updates a second: more only burns browser CPU (gradio #6847)


def _notice(title: str, text: str) -> list[gr.ChatMessage]:
    return [gr.ChatMessage(role="assistant", content=text, metadata={"title": title, "status": "done"})]


def make_handler(runtime: Runtime):
    async def respond(message: str, history: list, chat_id: str | None) -> AsyncIterator[tuple[list, str | None]]:
        problem = runtime.check_message(message)
        if problem:
            yield _notice("✋ Not sent", problem), chat_id
            return
        try:
            # An empty chat is a new conversation; the id in this tab's state is never taken from the
            # displayed history, which the browser controls.
            conversation = await runtime.store.get(chat_id) if (chat_id and history) else None
            if conversation is None:
                conversation = await runtime.store.create()
            view = TurnView()
            async with runtime.store.turn(conversation.id):
                turn = run_turn(runtime.team, runtime.store, conversation, message.strip(), runtime.limits)
                async for batch in batches(turn, UI_INTERVAL):
                    for event in batch:
                        view.apply(event)
                    yield view.messages(), conversation.id
        except (ConversationBusy, StoreError) as exc:
            yield _notice("⚠️ Not sent", str(exc)), chat_id

    return respond
