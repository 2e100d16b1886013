"""The ChatInterface handler: one turn of the chat, streamed as assistant messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from conversations import ConversationBusy, StoreError
from runtime import Runtime
from streaming.batching import batches
from streaming.events import Done
from streaming.stats import TurnStats

from .chat_view import TurnView

UI_INTERVAL = 0.05  # at most ~20 UI updates a second: more only burns browser CPU (gradio #6847)
INSIGHT_INTERVAL = 0.5  # the panel's running figures are redrawn at most twice a second


def _notice(title: str, text: str) -> list[dict]:
    return [{"role": "assistant", "content": text, "metadata": {"title": title, "status": "done"}}]


def _insight(view: TurnView, done: Done | None, live: TurnStats) -> dict[str, Any]:
    """What the run-insight panel shows: the agent answering now and the figures so far, then the finished turn's."""
    if done is None:
        return {"agent": view.agent, "running": True, "stats": live.to_json()}
    return {"agent": done.last_agent, "running": False, "stats": done.stats, "trace": done.trace, "trace_id": done.trace_id}



def make_handler(runtime: Runtime):
    async def respond(message: str, history: list, chat_id: str | None) -> AsyncIterator[tuple[list, str | None, Any]]:
        problem = runtime.check_message(message)
        if problem:
            yield _notice("✋ Not sent", problem), chat_id, gr.skip()
            return
        try:
            # The chat id decides, not the history: the UI copies it from the tab's "Chat id" box on each
            # send, so a tab continues its chat after a restart (app.py). The id is an unguessable
            # capability, exactly like the HTTP API's session_id; no id starts a new chat.
            chat_id = (chat_id or "").strip()
            conversation = await runtime.store.get(chat_id) if chat_id else None
            notes: list[dict] = []
            if conversation is None:
                if chat_id:
                    notes = _notice("ℹ️ New chat", "That chat id is unknown or has expired, so this message started a new chat.")
                conversation = await runtime.store.create()
            view = TurnView()
            async with runtime.store.turn(conversation.id):
                # Undo and retry take turns off the screen (the history is what the tab shows, even after a
                # restart: app.py copies it in on send); take them out of the model's history too. An empty
                # screen is not a rewind to nothing: it is a fresh tab continuing a pasted chat id.
                if history:
                    await runtime.store.rewind(conversation, sum(1 for m in history if m.get("role") == "user"))
                turn = runtime.turn(conversation, message)
                shown_agent, shown_at, live = None, 0.0, TurnStats()  # live: the figures so far, as they are shown
                async for batch in batches(turn, UI_INTERVAL):
                    done = None
                    for event in batch:
                        view.apply(event)
                        live.observe(event)
                        done = event if isinstance(event, Done) else done
                    # The insight panel changes when the answering agent does, every INSIGHT_INTERVAL, and at the end.
                    insight: Any = gr.skip()
                    if done is not None or view.agent != shown_agent or live.clock() - shown_at >= INSIGHT_INTERVAL:
                        insight = _insight(view, done, live)
                        shown_agent, shown_at = insight["agent"], live.clock()
                    yield notes + view.messages(), conversation.id, insight
        except (ConversationBusy, StoreError) as exc:
            yield _notice("⚠️ Not sent", str(exc)), chat_id, gr.skip()

    return respond
