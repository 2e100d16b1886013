"""The ChatInterface handler: one turn of the chat, streamed as assistant messages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from conversations import Conversation, ConversationBusy, StoreError
from runtime import Runtime
from streaming import approvals
from streaming.batching import batches
from streaming.events import Done
from streaming.stats import TurnStats

from .chat_history import DECISION_WORDS, asked_turns, render_history
from .chat_view import DECIDED_TITLES, TurnView

UI_INTERVAL = 0.05  # at most ~20 UI updates a second: more only burns browser CPU (gradio #6847)
INSIGHT_INTERVAL = 0.5  # the panel's running figures are redrawn at most twice a second
CROWD = 10  # chats streaming at once in this process beyond which the UI's updates slow down


class _Pace:
    """How often a chat's screen is updated: every UI_INTERVAL, less often when many chats stream at once.

    Each update costs this process about a millisecond (Gradio processes the whole chat value and sends a
    diff), and one process is one core: at fifty chats, twenty updates a second each would take all of it,
    and a chat just sent would wait seconds for its first words. So the interval grows with the crowd
    beyond CROWD chats (20 chats: 100 ms, 50: 250 ms); the first words and the end still go out at once.
    """

    def __init__(self) -> None:
        self.streaming = 0

    def interval(self) -> float:
        return UI_INTERVAL * max(1.0, self.streaming / CROWD)

    @contextmanager
    def stream(self) -> Iterator[Callable[[], float]]:
        """Count one more chat streaming while inside; gives the interval to use."""
        self.streaming += 1
        try:
            yield self.interval
        finally:
            self.streaming -= 1


_pace = _Pace()


def _notice(title: str, text: str) -> list[dict]:
    return [{"role": "assistant", "content": text, "metadata": {"title": title, "status": "done"}}]


def _insight(view: TurnView, done: Done | None, live: TurnStats) -> dict[str, Any]:
    """What the run-insight panel shows: the agent answering now and the figures so far, then the finished turn's."""
    if done is None:
        return {"agent": view.agent, "running": True, "stats": live.figures()}
    insight = {"agent": done.last_agent, "running": False, "stats": done.stats, "trace": done.trace, "trace_id": done.trace_id}
    if done.awaiting_approval:
        insight["waiting"] = [view.tool_name(call_id) for call_id in done.awaiting_approval]
    return insight


async def _stream(runtime: Runtime, conversation: Conversation, shown: list, message: str | None, decisions: dict | None):
    """One turn's (or resumed run's) messages after `shown`, with the insight panel's updates."""
    view = TurnView()
    turn = runtime.turn(conversation, message, approvals=decisions, read_under_lease=True)  # respond() read it
    shown_agent, shown_at, live = None, 0.0, TurnStats()  # live: the figures so far, as they are shown
    with _pace.stream() as interval:
        async for batch in batches(turn, interval):
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
            yield shown + view.messages(), insight


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
            async with runtime.store.turn(conversation.id):
                # Undo and retry take turns off the screen (the history is what the tab shows, even after a
                # restart: app.py copies it in on send); take them out of the model's history too. An empty
                # screen is not a rewind to nothing: it is a fresh tab continuing a pasted chat id.
                if history:
                    await runtime.store.rewind(conversation, asked_turns(history))
                await approvals.refresh(runtime.store, conversation)  # the store, not the tab, says what waits
                decisions = _decision(message, history, conversation)
                problem = runtime.turn_problem(conversation, None if decisions else message, decisions)
                if problem:  # the chat waits for a decision: the buttons come back under this note
                    yield _waiting_notice(conversation, problem), conversation.id, gr.skip()
                    return
                if decisions:
                    _show_decided(history, decisions, approvals.waiting(conversation))
                text = None if decisions else message
                async for messages, insight in _stream(runtime, conversation, notes, text, decisions):
                    yield messages, conversation.id, insight
        except (ConversationBusy, StoreError) as exc:
            yield _notice("⚠️ Not sent", str(exc)), chat_id, gr.skip()

    return respond


def _decision(message: str, history: list, conversation: Conversation) -> dict[str, str] | None:
    """Approve / Reject pressed under a waiting call (Gradio sends a message's option as the next user
    message): {call_id: decision} for the call whose note the tab shows last, if the store says it
    waits. Anything else is an ordinary message (and is refused while a call waits)."""
    decision = DECISION_WORDS.get(message.strip().lower())
    waiting = {call.call_id for call in approvals.waiting(conversation)}
    if decision is None or not waiting:
        return None
    shown = [m.get("metadata", {}).get("id") for m in history or [] if isinstance(m, dict) and isinstance(m.get("metadata"), dict)]
    call_id = next((i for i in reversed(shown) if i in waiting), None)
    return {call_id: decision} if call_id else None


def _show_decided(history: list, decisions: dict[str, str], calls: list) -> None:
    """Retitle the decided question in the tab's history, without its buttons, as a redrawn chat shows it.

    Edited in place: ChatInterface copies the history list but not its messages, so the tab shows the
    edit with the resumed run's first update (gradio #10823).
    """
    names = {call.call_id: call.name for call in calls}
    for message in history:
        metadata = message.get("metadata") if isinstance(message, dict) else None
        call_id = metadata.get("id") if isinstance(metadata, dict) else None
        if call_id in decisions and call_id in names:
            metadata.update(title=DECIDED_TITLES[decisions[call_id]].format(name=names[call_id]), status="done")
            message.pop("options", None)


def _waiting_notice(conversation: Conversation, problem: str) -> list[dict]:
    notice = _notice("✋ Not sent", problem)
    waiting = render_history(conversation.state)
    if waiting and "options" in waiting[-1]:
        notice[-1]["options"] = waiting[-1]["options"]
    return notice


def make_redraw_handler(runtime: Runtime):
    """The chat a tab (or a pasted id) names, drawn again from the store; nothing when it is unknown."""

    async def redraw(chat_id: str | None) -> tuple[Any, Any, Any, Any]:
        chat_id = (chat_id or "").strip() if isinstance(chat_id, str) else ""
        try:
            conversation = await runtime.store.get(chat_id) if chat_id else None
        except StoreError:
            conversation = None
        if conversation is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        shown = render_history(conversation.state)
        return shown, shown, conversation.id, _redrawn_insight(conversation) if shown else gr.skip()

    return redraw


def _redrawn_insight(conversation: Conversation) -> dict[str, Any]:
    """The panel for a redrawn chat, as its last turn left it: who answered (or was stopped, or waits for a
    decision). No figures or timeline: the panel shows those for turns run in this tab."""
    insight: dict[str, Any] = {"agent": conversation.agent, "running": False, "trace": []}  # not another chat's
    waiting = approvals.waiting(conversation)
    if waiting:
        insight["waiting"] = [call.name for call in waiting]
    elif conversation.state.last_stopped():
        insight["stopped"] = True
    return insight
