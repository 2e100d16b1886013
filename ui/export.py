"""A chat as a file: JSON that can be imported to continue it, and one self-contained HTML page.

The JSON holds what the conversation needs to go on (the SDK input list from the store and the
agent it continues with), what was displayed (messages and notes), per-turn stats and feedback.
Imports come from anyone: every field is validated, and what is displayed again is made inert.
"""

from __future__ import annotations

import asyncio
import html
import json
from datetime import datetime, timezone
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conversations import Conversation, ConversationStore
from conversations.history import MAX_HISTORY_ITEMS, check_history
from streaming.approvals import requests_and_decisions
from streaming.recording import read_capped, scrub
from streaming.turn import MAX_KEPT_STATS

from .safe_markdown import safe_markdown

EXPORT_KIND = "agent-chat-export"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_MESSAGES = 2000
MAX_ITEMS = MAX_HISTORY_ITEMS
MAX_TEXT_CHARS = 100_000
_ROLES = ("user", "assistant")
_METADATA_KEYS = ("title", "id", "parent_id", "status", "duration", "log")


class ChatImportError(ValueError):
    """An import file cannot be used; the message says why and is safe to show."""


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
    state = conversation.state if conversation is not None else {}
    return {
        "kind": EXPORT_KIND,
        "version": EXPORT_VERSION,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "agent": conversation.agent if conversation is not None else None,
        "input_list": items,
        "tool_state": dict(state.get("tool_state") or {}),  # the agents' per-chat tool state (agents_config.team)
        "messages": plain_messages(history),
        "stats": list(state.get("turn_stats", [])),
        "feedback": list(state.get("feedback", [])),
        # Each call that waited for a person, and what they decided (never the run state itself).
        "approvals": requests_and_decisions(state),
    }


def export_json(export: dict[str, Any], known_secrets: Iterable[str] = ()) -> str:
    """The export as JSON text, with key-like text and the given secrets redacted (as recordings are)."""
    return json.dumps(scrub(export, known_secrets), ensure_ascii=False, indent=1, default=str)


# --- the HTML page --------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:860px;margin:2em auto;padding:0 1em;color:#1f2328;background:#fff}
h1{font-size:1.4em}.meta{color:#59636e;font-size:.9em}
.msg{margin:.6em 0;padding:.6em .9em;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}
.user{background:#ddf4ff;margin-left:15%}.assistant{background:#f6f8fa;margin-right:15%}
details.note{border:1px solid #d1d9e0;border-radius:8px;margin:.4em 15% .4em 0;padding:.3em .8em;background:#fff}
details.note summary{cursor:pointer;font-weight:600}details.note pre{white-space:pre-wrap;font-size:.9em;margin:.4em 0}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em;display:block;overflow-x:auto}td,th{border:1px solid #d1d9e0;padding:.25em .6em;text-align:left}
"""


def _unescape_basic(text: str) -> str:
    """Undo `safe_markdown`'s entity escaping (&, <, >), so text is escaped exactly once when shown again."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _message_html(message: dict[str, Any]) -> str:
    role = message.get("role") if message.get("role") in _ROLES else "assistant"
    text = _unescape_basic(message_text(message.get("content")))
    metadata = message.get("metadata") or {}
    title = metadata.get("title")
    if title:
        extra = [str(metadata[k]) for k in ("log",) if metadata.get(k)]
        if metadata.get("duration") is not None:
            extra.append(f"{metadata['duration']} s")
        suffix = f" <span class=meta>({_e(', '.join(extra))})</span>" if extra else ""
        return f"<details class=note open><summary>{_e(_unescape_basic(str(title)))}{suffix}</summary><pre>{_e(text)}</pre></details>"
    return f"<div class='msg {role}'>{_e(text)}</div>"


def _stats_html(stats: list[dict[str, Any]]) -> str:
    if not stats:
        return ""
    keys = [k for k in stats[0] if not isinstance(stats[0][k], (dict, list))] + ["agent_path"]
    head = "".join(f"<th>{_e(k)}</th>" for k in ["turn", *keys])
    rows = []
    for number, turn in enumerate(stats, 1):
        cells = [number] + [" → ".join(map(str, v)) if isinstance(v := turn.get(k), list) else ("" if v is None else v) for k in keys]
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return f"<h2>Stats</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


def _feedback_html(feedback: list[dict[str, Any]]) -> str:
    if not feedback:
        return ""
    icons = {"up": "👍", "down": "👎"}
    items = "".join(
        f"<li>{_e(icons.get(str(f.get('rating')), f.get('rating') or '💬'))} {_e(f.get('excerpt', ''))}"
        + (f"<br><i>{_e(f.get('comment'))}</i>" if f.get("comment") else "")
        + "</li>"
        for f in feedback
        if isinstance(f, dict)
    )
    return f"<h2>Feedback</h2><ul>{items}</ul>"


def _approvals_html(approvals: list[dict[str, Any]]) -> str:
    words = {"approve": "✅ approved", "reject": "🚫 rejected", "waiting": "✋ waiting"}
    rows = "".join(
        f"<tr><td>{_e(a.get('name'))}</td><td><code>{_e(a.get('arguments'))}</code></td><td>{_e(a.get('agent'))}</td>"
        f"<td>{_e(words.get(str(a.get('decision')), a.get('decision')))}</td></tr>"
        for a in approvals
        if isinstance(a, dict)
    )
    if not rows:
        return ""
    return f"<h2>Approvals</h2><table><tr><th>Tool</th><th>Arguments</th><th>Agent</th><th>Decision</th></tr>{rows}</table>"


def render_html(export: dict[str, Any]) -> str:
    """One offline page: inline CSS only, no script, no remote load (a CSP forbids them too), all text escaped."""
    body = "".join(_message_html(m) for m in export.get("messages", []) if isinstance(m, dict))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>Agent chat export</title><style>{_CSS}</style></head><body>"
        "<h1>Agent chat</h1>"
        f"<p class=meta>Exported {_e(export.get('exported_at', ''))} · continues with {_e(export.get('agent') or 'the first agent')}</p>"
        f"{body}{_approvals_html(export.get('approvals') or [])}{_stats_html(export.get('stats') or [])}"
        f"{_feedback_html(export.get('feedback') or [])}"
        "</body></html>"
    )


# --- importing ------------------------------------------------------------------------------------


def _valid_message(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("role") in _ROLES
        and isinstance(message.get("content", ""), (str, list))
        and isinstance(message.get("metadata") or {}, dict)
    )


def parse_export(data: bytes | str, max_bytes: int = MAX_IMPORT_BYTES) -> dict[str, Any]:
    """A validated export from JSON text; any problem is a `ChatImportError`."""
    if len(data) > max_bytes:
        raise ChatImportError(f"The file is too large ({len(data):,} bytes; the limit is {max_bytes:,}).")
    try:
        export = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ChatImportError("The file is not valid JSON, so it is not a chat export.") from None
    except RecursionError:  # thousands of nested brackets: no export of this app looks like that
        raise ChatImportError("The file nests too deeply to be a chat export.") from None
    if not isinstance(export, dict) or export.get("kind") != EXPORT_KIND:
        raise ChatImportError("This JSON is not a chat export of this app.")
    if export.get("version") != EXPORT_VERSION:
        raise ChatImportError(
            f"Unsupported export version {str(export.get('version'))[:20]!r}; this app reads version {EXPORT_VERSION}."
        )
    agent = export.get("agent")
    if agent is not None and not isinstance(agent, str):
        raise ChatImportError("'agent' must be the name of an agent.")
    items, messages = export.get("input_list"), export.get("messages")
    problem = check_history(items)
    if problem:
        raise ChatImportError(problem)
    if not isinstance(messages, list) or len(messages) > MAX_MESSAGES or not all(map(_valid_message, messages)):
        raise ChatImportError("'messages' must be a list of {role: user|assistant, content, metadata} messages.")
    for key in ("stats", "feedback"):
        value = export.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ChatImportError(f"'{key}' must be a list of objects.")
    if not isinstance(export.get("tool_state", {}), dict):  # its contents are the agents' to check
        raise ChatImportError("'tool_state' must be an object.")
    return export


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
    def read() -> dict[str, Any]:
        return parse_export(read_capped(path, MAX_IMPORT_BYTES, ChatImportError))

    export = await asyncio.to_thread(read)  # off the event loop: parsing 2 MB takes a while
    messages = inert_messages(export["messages"])
    return messages, await restore(store, export, known_agents)


async def restore(store: ConversationStore, export: dict[str, Any], known_agents: set[str]) -> Conversation:
    """A new conversation holding the export's items, agent, tool state, stats and feedback.

    Every way a file's history enters the store (an import, a replay) comes through here, so the
    history is checked here too, whatever the caller checked before: a `ChatImportError` changes nothing.
    """
    problem = check_history(export.get("input_list"))
    if problem:
        raise ChatImportError(problem)
    conversation = await store.create()
    agent = export.get("agent")
    conversation.agent = agent if agent in known_agents else None
    conversation.state.update(
        tool_state=dict(export.get("tool_state", {})),
        turn_stats=list(export.get("stats", []))[-MAX_KEPT_STATS:],
        feedback=list(export.get("feedback", [])),
    )
    if export["input_list"]:
        await conversation.session.add_items(export["input_list"])  # a guarded session: failures are StoreError
    await store.save(conversation)
    return conversation
