"""View events → the assistant messages of one turn, as Gradio shows them.

Each `messages()` call returns new message dicts: Gradio replaces the assistant messages of the
current turn with every yield, and diffs against what it sent last.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from streaming.events import (
    AgentUpdated,
    ApprovalRequired,
    Done,
    Error,
    GuardrailTripped,
    Handoff,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolOutput,
    ViewEvent,
)

from .safe_markdown import code_block, safe_markdown

MAX_SHOWN_OUTPUT = 4000  # characters of a tool result shown in its note
# A stopped turn ends with this message, so a cut-off answer does not look like a bug (app.py's Stop listener).
STOPPED_MARKER = "⏹️ *Stopped: you stopped this answer before it was finished.*"
STOPPED_TITLE_SUFFIX = " (stopped)"
DECIDED_TITLES = {"approve": "✅ {name}: approved", "reject": "🚫 {name}: rejected, it did not run"}


@dataclass
class _Note:
    title: str
    id: str
    body: str = ""
    status: str = "done"
    started: float = field(default_factory=time.monotonic)
    duration: float | None = None
    log: str | None = None
    kind: str = "note"
    name: str = ""  # the tool's, for approval notes

    def finish(self) -> None:
        if self.status == "pending":
            self.status = "done"
            self.duration = time.monotonic() - self.started


@dataclass
class _Text:
    text: str = ""
    agent: str = ""  # who wrote it: named above the answer
    plain: bool = False  # the app's own words (a refusal, an error), not model text


def _sentence_tail(text: str) -> str:
    """'It asks ...' -> 'it asks ...', to follow a colon (an acronym like 'API ...' stays as it is)."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def agent_header(agent: str) -> str:
    """A small heading naming the agent above its answer (styled by ui/theme.py's CSS)."""
    return f"###### {safe_markdown(agent)}\n\n" if agent else ""


def _pretty_arguments(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments or "{}"), indent=2, ensure_ascii=False)
    except ValueError:
        return arguments


class TurnView:
    """Accumulates a turn's view events; renders them as a list of assistant messages."""

    def __init__(self) -> None:
        self.turn_id = secrets.token_hex(4)
        self.parts: list[_Note | _Text] = []
        self.agent = ""
        self._tools: dict[str, _Note] = {}
        self._count = 0
        self.waiting: list[str] = []  # call_ids shown with Approve / Reject, oldest first

    def _note(self, title: str, **kwargs: Any) -> _Note:
        self._count += 1
        note = _Note(title=title, id=kwargs.pop("id", None) or f"{self.turn_id}-{self._count}", **kwargs)
        self.parts.append(note)
        return note

    def apply(self, event: ViewEvent) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event)

    def _on_agent_updated(self, event: AgentUpdated) -> None:
        self.agent = event.agent

    def _on_text(self, event: TextDelta) -> None:
        self._close_thinking()
        last = self.parts[-1] if self.parts else None
        if not isinstance(last, _Text) or last.plain:
            last = _Text(agent=self.agent)
            self.parts.append(last)
        last.text += event.content

    def _on_reasoning(self, event: ReasoningDelta) -> None:
        last = self.parts[-1] if self.parts else None
        if not (isinstance(last, _Note) and last.kind == "thinking" and last.status == "pending"):
            last = self._note("🧠 Thinking", status="pending", kind="thinking", log=self.agent or None)
        last.body += event.content

    def _on_tool_call(self, event: ToolCall) -> None:
        self._close_thinking()
        # The call_id is the note's id: unique in the chat, and how the result finds its note.
        note = self._note(
            f"🛠️ {event.name}",
            id=event.call_id or None,
            status="pending",
            kind="tool",
            log=self.agent or None,
            body="Arguments:\n" + code_block(_pretty_arguments(event.arguments), "json"),
        )
        self._tools[event.call_id] = note

    def _on_tool_output(self, event: ToolOutput) -> None:
        note = self._tools.get(event.call_id)
        if note is None:
            return
        output = event.output if len(event.output) <= MAX_SHOWN_OUTPUT else event.output[:MAX_SHOWN_OUTPUT] + " …"
        note.body += "\nResult:\n" + code_block(output)
        note.finish()

    def _on_approval_required(self, event: ApprovalRequired) -> None:
        # The call's own note becomes the question: open (no status), titled with the tool's name.
        note = self._tools.get(event.call_id) or self._note("", id=event.call_id or None)
        self._tools[event.call_id] = note
        note.title, note.name, note.kind, note.status = f"✋ {event.name} needs your approval", event.name, "approval", "waiting"
        note.log = event.agent or note.log
        note.body = "Arguments:\n" + code_block(_pretty_arguments(event.arguments), "json")
        if event.call_id not in self.waiting:
            self.waiting.append(event.call_id)

    def decided(self, call_id: str, decision: str) -> None:
        """Show a call's decision on its note (the buttons go with it)."""
        note = self._tools.get(call_id)
        if note is not None and decision in DECIDED_TITLES:
            note.title = DECIDED_TITLES[decision].format(name=note.name or note.title.removeprefix("🛠️ "))
            note.kind, note.status = "approval", "done"
        if call_id in self.waiting:
            self.waiting.remove(call_id)

    def _on_handoff(self, event: Handoff) -> None:
        self._close_thinking()
        self.agent = event.target
        self._note(f"🔀 Handoff → {event.target}", body=f"{event.source} handed the conversation to {event.target}.")

    # A block or an error is answered in plain words, addressed to the person; the note keeps the details.
    def _on_guardrail(self, event: GuardrailTripped) -> None:
        self._close_thinking()
        reason = event.message.removeprefix("Blocked:").strip()
        self._note(f"🛡️ {event.name}", body=f"**{event.name}** stopped this message before an agent answered it.\n\n{event.message}", kind="guardrail")
        self.parts.append(_Text(f"🛡️ I can't help with that: {_sentence_tail(reason)}", plain=True))

    def _on_error(self, event: Error) -> None:
        self._close_thinking()
        self._note("⚠️ The turn could not finish", body=event.message, kind="error")
        self.parts.append(_Text(f"⚠️ Sorry, I couldn't finish this answer: {_sentence_tail(event.message)}", plain=True))

    def _on_done(self, event: Done) -> None:
        for part in self.parts:
            if isinstance(part, _Note):
                part.finish()

    def _close_thinking(self) -> None:
        last = self.parts[-1] if self.parts else None
        if isinstance(last, _Note) and last.kind == "thinking":
            last.finish()

    def messages(self) -> list[dict[str, Any]]:
        # Plain message dicts, not gr.ChatMessage: Gradio diffs dicts key by key and sends only the
        # appended text, while a ChatMessage object is resent whole on every update (~7x the bytes).
        rendered: list[dict[str, Any]] = []
        named = ""
        for part in self.parts:
            if isinstance(part, _Text):
                # The agent is named once above its text, again only when another agent writes.
                header = agent_header(part.agent) if part.agent and part.agent != named else ""
                named = part.agent or named
                text = part.text if part.plain else safe_markdown(part.text)
                rendered.append({"role": "assistant", "content": header + text})
                continue
            metadata: dict[str, Any] = {"title": part.title, "id": part.id, "status": part.status}
            if part.status == "waiting":
                del metadata["status"]  # neither a spinner ("pending") nor folded ("done"): open
            if part.duration is not None:
                metadata["duration"] = round(part.duration, 2)
            if part.log:
                metadata["log"] = part.log
            body = part.body if part.kind in ("tool", "approval") else safe_markdown(part.body)
            rendered.append({"role": "assistant", "content": body, "metadata": metadata})
        if self.waiting and rendered:  # the buttons decide the call whose note is last
            rendered[-1]["options"] = self.decision_options()
        return rendered

    def tool_name(self, call_id: str) -> str:
        note = self._tools.get(call_id)
        return (note.name or note.title) if note is not None else "a tool"

    @staticmethod
    def decision_options() -> list[dict[str, str]]:
        """Approve / Reject: Gradio draws the last message's options as buttons under it, and the
        ChatInterface sends the one pressed as the next user message (see chat_handler._decision)."""
        return [{"value": "Approve"}, {"value": "Reject"}]


def close_pending_notes(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """After Stop: every note still pending is marked done and stopped, and the turn ends with a visible
    "stopped" marker, whether it had answer text, only notes, or nothing yet (for the chatbot and its state)."""
    closed = []
    for message in messages or []:
        metadata = message.get("metadata") or {}
        if metadata.get("status") == "pending":
            title = metadata.get("title", "")
            message = {**message, "metadata": {**metadata, "status": "done", "title": f"{title}{STOPPED_TITLE_SUFFIX}"}}
        closed.append(message)
    last = closed[-1] if closed else None
    if last is not None and last.get("content") != STOPPED_MARKER:  # a second Stop adds nothing
        closed.append({"role": "assistant", "content": STOPPED_MARKER})
    return closed, closed
