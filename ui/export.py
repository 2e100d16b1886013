"""A chat as a file: JSON that can be imported to continue it, and one self-contained HTML page.

The JSON file's shape and its checks are `fileformats.chat_export.ChatExport`; this module fills it
from a chat, renders it as a page, and imports it (what is displayed again is made inert).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markdown_it import MarkdownIt

from conversations import Conversation, ConversationStore
from conversations.chat_state import ChatState
from conversations.history import check_history
from fileformats.chat_export import (
    MAX_IMPORT_BYTES,
    ChatExport,
    ChatImportError,
    parse_export,
)
from fileformats.recording import read_capped, scrubbed_json
from streaming.approvals import requests_and_decisions

from .safe_markdown import safe_markdown

MAX_TEXT_CHARS = 100_000
_ROLES = ("user", "assistant")
_METADATA_KEYS = ("title", "id", "parent_id", "status", "duration", "log")


# --- what the chat shows, as plain data ----------------------------------------------------------


def message_text(content: Any) -> str:
    """The text of a displayed message: a string, or Gradio's list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        texts = [str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        if texts:
            return "".join(texts)
        return "[attachment]" if content else ""
    return "" if content is None else str(content)


def plain_messages(history: list[Any] | None) -> list[dict[str, Any]]:
    """The chatbot's messages (dicts or `gr.ChatMessage`) as `{"role", "content", "metadata"}` dicts."""
    plain = []
    for message in history or []:
        if not isinstance(message, dict):
            message = {k: getattr(message, k, None) for k in ("role", "content", "metadata")}
        metadata = message.get("metadata") or {}
        plain.append(
            {
                "role": message.get("role"),
                "content": message_text(message.get("content")),
                "metadata": {k: metadata[k] for k in _METADATA_KEYS if metadata.get(k) is not None},
            }
        )
    return plain


async def build_export(store: ConversationStore, chat_id: str | None, history: list[Any] | None) -> dict[str, Any]:
    """Everything needed to show and to continue this chat."""
    conversation = await store.get(chat_id) if chat_id else None
    items = [dict(i) for i in await store.items(conversation)] if conversation is not None else []
    state = conversation.state if conversation is not None else ChatState()
    export = ChatExport.model_construct(  # from the store and the screen: nothing to check
        exported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        agent=conversation.agent if conversation is not None else None,
        input_list=items,
        tool_state=state.tool_state,
        messages=plain_messages(history),
        stats=state.turn_stats,
        feedback=state.feedback,
        approvals=requests_and_decisions(state),
    )
    return export.model_dump(mode="json", warnings=False)


def export_json(export: dict[str, Any], known_secrets: Iterable[str] = ()) -> str:
    """The export as JSON text, with key-like text and the given secrets redacted (as recordings are)."""
    return scrubbed_json(export, known_secrets, indent=1)


# --- the HTML page --------------------------------------------------------------------------------

_CSS = """
body{font:16px/1.55 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:860px;margin:2em auto;padding:0 1em;color:#1f2328;background:#fff}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}.meta{color:#59636e;font-size:.9em}
.msg{margin:.6em 0;padding:.5em .9em;border-radius:10px;overflow-wrap:anywhere}
.user{background:#ddf4ff;margin-left:15%}.assistant{background:#f6f8fa;margin-right:15%}.who{font-size:.8em;font-weight:600;color:#59636e}
.md>:first-child{margin-top:0}.md>:last-child{margin-bottom:0}.md h6{font-size:.8em;margin:0 0 .3em;color:#1f2328}
details.note{border:1px solid #d1d9e0;border-radius:8px;margin:.4em 15% .4em 0;padding:.3em .8em;background:#fff}
details.note summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.5em;border-radius:6px;font-size:.88em}
code{font-size:.9em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em;width:100%}td,th{border:1px solid #d1d9e0;padding:.3em .5em;text-align:right;vertical-align:top}
th{background:#f6f8fa}td:last-child,th:last-child{text-align:left}.approvals td,.approvals th{text-align:left}
.feedback li{margin:.5em 0}.feedback blockquote{margin:.2em 0;padding:.1em .8em;border-left:3px solid #d1d9e0;color:#1f2328}.rating{font-size:1.1em}.comment{margin:.2em 0 0}
"""

# The stats' keys in words, in the order shown (other keys follow as they come).
_STAT_LABELS = {
    "time_to_first_token_s": "First token (s)",
    "total_s": "Total (s)",
    "input_tokens": "Tokens in",
    "output_tokens": "Tokens out",
    "tokens_per_second": "Tokens / s",
    "model_calls": "Model calls",
    "tool_calls": "Tool calls",
    "tool_seconds": "Tool time (s)",
    "cost_usd": "Cost (US$)",
    "agent_path": "Agents",
}

# Markdown as the chat shows it, minus anything that could load or navigate: raw HTML is escaped
# ("html": False), links and images stay as their text. Input first goes through safe_markdown.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").disable(["link", "image", "autolink"])
_PAGE = Environment(autoescape=True, keep_trailing_newline=False).from_string(
    (Path(__file__).parent / "templates" / "chat_export.html").read_text(encoding="utf-8")
)


def _unescape_basic(text: str) -> str:
    """Undo `safe_markdown`'s entity escaping (&, <, >), so text is escaped exactly once when shown again."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_markdown(text: str, escaped: bool = True) -> str:
    """HTML for a message: the chat's safe Markdown, rendered. `escaped`: the text went through safe_markdown
    already (assistant messages) and is unescaped once first; what a person typed is kept as typed (`&amp;`)."""
    return _MARKDOWN.render(safe_markdown(_unescape_basic(text) if escaped else text))


def _message_view(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role") if message.get("role") in _ROLES else "assistant"
    text = message_text(message.get("content"))
    metadata = message.get("metadata") or {}
    title = metadata.get("title")
    extra = [str(metadata[k]) for k in ("log",) if metadata.get(k)]
    if metadata.get("duration") is not None:
        extra.append(f"{metadata['duration']} s")
    return {
        "role": role,
        "title": _unescape_basic(str(title)) if title else None,
        "extra": ", ".join(extra),
        "open": bool(title) and any(mark in str(title) for mark in ("🛡️", "⚠️")),  # blocks and errors matter most
        "html": render_markdown(text, escaped=role != "user"),
    }


def _stat_cell(value: Any) -> str:
    if isinstance(value, list):
        return " → ".join(map(str, value))
    return "" if value is None else str(value)


def _stats_table(stats: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    if not stats:
        return [], []
    keys = [k for k in _STAT_LABELS if any(k in turn for turn in stats)]
    keys += [k for k in stats[0] if k not in keys and not isinstance(stats[0][k], dict)]
    labels = ["Turn"] + [_STAT_LABELS.get(k, k.replace("_", " ").capitalize()) for k in keys]
    rows = [[str(number)] + [_stat_cell(turn.get(k)) for k in keys] for number, turn in enumerate(stats, 1)]
    return labels, rows


_AGENT_HEADING = re.compile(r"\A\s*###### [^\n]*\n+")  # ui/chat_view.agent_header


def _rated_answer(messages: list[Any], index: Any) -> str | None:
    """The answer a rating is about: Gradio reports the index of the bubble's first message (often a note),
    so take the last plain assistant message of that turn."""
    if isinstance(index, list) and index:
        index = index[0]
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(messages):
        return None
    answer = None
    for message in messages[index:]:
        if not isinstance(message, dict) or message.get("role") == "user":
            break
        if not (message.get("metadata") or {}).get("title"):
            answer = message_text(message.get("content"))
    return _unescape_basic(answer) if answer else None


def _feedback_view(feedback: list[Any], messages: list[Any]) -> list[dict[str, str]]:
    icons = {"up": "👍", "down": "👎"}
    shown = []
    for entry in feedback:
        if not isinstance(entry, dict):
            continue
        answer = _rated_answer(messages, entry.get("message_index"))
        if answer is not None:  # the answer itself, rendered like above, without its agent heading
            quote = render_markdown(_AGENT_HEADING.sub("", answer, count=1), escaped=False)
        else:
            excerpt = " ".join(str(entry.get("excerpt") or "").split())
            quote = render_markdown(excerpt if len(excerpt) <= 300 else excerpt[:299] + "…", escaped=False)
        shown.append({
            "icon": icons.get(str(entry.get("rating")), str(entry.get("rating") or "💬")),
            "quote": quote,
            "comment": str(entry.get("comment") or ""),
        })
    return shown


_DECISION_WORDS = {"approve": "✅ approved", "reject": "🚫 rejected", "waiting": "✋ waiting"}


def _approvals_view(approvals: list[Any]) -> list[dict[str, str]]:
    """Each call that waited for a person: tool, arguments, agent and the decision in words."""
    return [
        {
            "name": str(a.get("name") or ""),
            "arguments": str(a.get("arguments") or ""),
            "agent": str(a.get("agent") or ""),
            "decision": _DECISION_WORDS.get(str(a.get("decision")), str(a.get("decision") or "")),
        }
        for a in approvals
        if isinstance(a, dict)
    ]


def render_html(export: dict[str, Any]) -> str:
    """One offline page: inline CSS only, no script, no remote load (a CSP forbids them too), all text escaped."""
    messages = [m for m in export.get("messages", []) if isinstance(m, dict)]
    labels, rows = _stats_table([s for s in export.get("stats") or [] if isinstance(s, dict)])
    return _PAGE.render(
        css=_CSS,
        exported_at=str(export.get("exported_at", "")),
        agent=str(export.get("agent") or ""),
        messages=[_message_view(m) for m in messages],
        stat_labels=labels,
        stats=rows,
        approvals=_approvals_view(export.get("approvals") or []),
        feedback=_feedback_view(export.get("feedback") or [], messages),
    )


# --- importing ------------------------------------------------------------------------------------


def inert_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Imported messages as the chatbot shows them: text made inert, notes closed, only known metadata."""
    shown = []
    for message in plain_messages(messages):
        text = message["content"][:MAX_TEXT_CHARS]
        metadata = {}
        for key, value in message["metadata"].items():
            if key == "duration":
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metadata[key] = value
            elif isinstance(value, str):
                metadata[key] = safe_markdown(_unescape_basic(value[:200])) if key == "title" else value[:200]
        if metadata:
            metadata["status"] = "done"  # a note never stays pending
        shown.append({"role": message["role"], "content": safe_markdown(_unescape_basic(text)), "metadata": metadata or None})
    return shown


async def import_file(
    store: ConversationStore, path: str | Path, known_agents: set[str]
) -> tuple[list[dict[str, Any]], Conversation]:
    """Validate an export file, then restore it: (the messages to show, the new conversation).

    Nothing is written to the store unless the whole file is valid.
    """
    def read() -> ChatExport:
        return parse_export(read_capped(path, MAX_IMPORT_BYTES, ChatImportError))

    export = await asyncio.to_thread(read)  # off the event loop: parsing 2 MB takes a while
    messages = inert_messages([message.model_dump() for message in export.messages])
    return messages, await restore(store, export.agent, export.input_list, known_agents, export.chat_state())


async def restore(
    store: ConversationStore, agent: str | None, input_list: Any, known_agents: set[str], state: ChatState | None = None
) -> Conversation:
    """A new conversation holding a file's items, agent and chat state (tool state, stats, feedback).

    Every way a file's history enters the store (an import, a replay) comes through here, so the
    history is checked here too, whatever the caller checked before: a `ChatImportError` changes nothing.
    """
    problem = check_history(input_list)
    if problem:
        raise ChatImportError(problem)
    conversation = await store.create()
    conversation.agent = agent if agent in known_agents else None
    conversation.state = state if state is not None else ChatState()
    if input_list:
        await conversation.session.add_items(input_list)  # a guarded session: failures are StoreError
    await store.save(conversation)
    return conversation
