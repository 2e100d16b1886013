"""The "Record & replay" panel: replay a recorded run, export or import a chat, comment on answers.

Replays go through the same path as a live turn (`batches` → `TurnView`), so they look exactly like
one, behind a first note saying it is a replay. Uploaded files are validated before anything
changes; a bad one gets a warning and the chat stays as it was.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from conversations import StoreError
from runtime import Runtime
from streaming.batching import batches
from streaming.recording import MAX_RECORDING_BYTES, Recording, RecordingError, load_recording, scrub
from streaming.replay import clamp_speed, replay_events, replay_note

from .chat_view import TurnView
from .export import ChatImportError, build_export, export_json, import_file, render_html, restore
from .feedback import make_comment_handler, make_like_handler
from .safe_markdown import safe_markdown

UI_INTERVAL = 0.05  # the live chat's pace of UI updates (see ui.chat_handler)
EXPORTS = Path(tempfile.gettempdir()) / "agent-chat-exports"
EXPORT_KEEP_SECONDS = 15 * 60  # Gradio copies a download into its own cache at once; ours is only a hand-over


def export_folder(now: float | None = None) -> Path:
    """A new folder for one export; folders of exports older than EXPORT_KEEP_SECONDS are deleted first."""
    now = time.time() if now is None else now
    EXPORTS.mkdir(exist_ok=True)
    for old in EXPORTS.iterdir():
        try:
            if now - old.stat().st_mtime > EXPORT_KEEP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="chat-export-", dir=EXPORTS))


@dataclass(frozen=True)
class ReplayRequest:
    """A recording to play as soon as the page opens (`python app.py --replay file.jsonl`)."""

    recording: Recording
    speed: float = 1.0


async def play(recording: Recording, speed: float = 1.0, interval: float = UI_INTERVAL) -> AsyncIterator[list[dict[str, Any]]]:
    """The chat's messages while a recording replays: the question, a replay note, then the turn as it ran."""
    speed = clamp_speed(speed)
    opening = [
        {"role": "user", "content": safe_markdown(recording.message)},
        {
            "role": "assistant",
            "content": safe_markdown(
                f"Recorded {recording.started_at or 'at an unknown time'} on {recording.backend}. "
                "Nothing is running now: no model or tool is called while it plays."
            ),
            "metadata": {"title": replay_note(speed), "id": f"replay-{secrets.token_hex(4)}", "status": "done"},
        },
    ]
    yield opening
    view = TurnView()
    async for batch in batches(replay_events(recording, speed), interval):
        for event in batch:
            view.apply(event)
        yield opening + view.messages()


def _file_path(upload: Any) -> str | None:
    if upload is None:
        return None
    return upload if isinstance(upload, str) else getattr(upload, "path", None) or getattr(upload, "name", None)


def _skip3():
    return gr.skip(), gr.skip(), gr.skip()


def build_record_replay_panel(
    runtime: Runtime,
    demo: gr.Blocks,
    chat: gr.ChatInterface,
    chat_id: gr.State,
    chat_id_box: gr.Textbox,
    autoplay: ReplayRequest | None = None,
) -> None:
    """The accordion under the chat, and the Chatbot's like listener. Call inside the app's `gr.Blocks`.

    Replays and imports set the chat id (`chat_id`, the server state the handler reads); exports and
    feedback read it from `chat_id_box`, which the browser keeps, so they work right after a restart too.
    """
    store = runtime.store
    known_agents = set(runtime.team.by_name)
    known_secrets = tuple(s for s in (runtime.settings.openai_api_key, runtime.settings.app_password) if s)
    chat_outputs = [chat.chatbot, chat.chatbot_state, chat_id]

    async def continue_from(items: list[dict[str, Any]], agent: str | None) -> str | None:
        """A new conversation in the store that picks up where the file stopped; None when there is nothing."""
        if not items:
            return None
        conversation = await restore(store, {"agent": agent, "input_list": items}, known_agents)
        return conversation.id

    async def replay(recording: Recording, speed: float):
        try:
            new_id = await continue_from(recording.input_list, recording.final_agent)
        except ChatImportError as exc:  # the recording's history breaks the import's rules: not replayed
            gr.Warning(f"Not replayed: {exc}")
            yield _skip3()
            return
        except StoreError as exc:
            gr.Warning(str(exc))
            new_id = None
        # The chat continues the recorded conversation (or starts a fresh one): set from the first update,
        # so a message sent once the replay is over always goes on from where the recording stopped.
        async for messages in play(recording, speed):
            yield messages, messages, new_id

    async def on_replay(upload: Any, speed: float):
        path = _file_path(upload)
        if path is None:
            gr.Warning("Choose a recorded run (.jsonl) first.")
            yield _skip3()
            return
        try:
            # Parsed in a thread: a large recording takes seconds, and the event loop serves everyone.
            recording = await asyncio.to_thread(load_recording, path, MAX_RECORDING_BYTES)
        except RecordingError as exc:
            gr.Warning(f"Not replayed: {exc}")
            yield _skip3()
            return
        async for update in replay(recording, speed):
            yield update

    async def on_autoplay():
        async for update in replay(autoplay.recording, autoplay.speed):  # type: ignore[union-attr]
            yield update

    async def on_export(chat_value: list[Any], chat_key: str | None, fmt: str) -> str | None:
        try:
            # Redacted like recordings: a key pasted into a message must not leave in a file.
            export = scrub(await build_export(store, chat_key, chat_value), known_secrets)
        except StoreError as exc:
            gr.Warning(str(exc))
            return None
        folder = export_folder()
        if fmt == "html":
            path = folder / "chat.html"
            path.write_text(render_html(export), encoding="utf-8")
        else:
            path = folder / "chat.json"
            path.write_text(export_json(export), encoding="utf-8")
        return str(path)

    async def on_export_json(chat_value: list[Any], chat_key: str | None) -> str | None:
        return await on_export(chat_value, chat_key, "json")

    async def on_export_html(chat_value: list[Any], chat_key: str | None) -> str | None:
        return await on_export(chat_value, chat_key, "html")

    async def on_import(upload: Any):
        path = _file_path(upload)
        if path is None:
            return _skip3()
        try:
            messages, conversation = await import_file(store, path, known_agents)
        except ChatImportError as exc:
            gr.Warning(f"Not imported: {exc}")
            return _skip3()
        except StoreError as exc:
            gr.Warning(str(exc))
            return _skip3()
        gr.Info("Chat imported: send a message to continue it.")
        return messages, messages, conversation.id

    with gr.Accordion("Record & replay", open=False):
        with gr.Row():
            replay_file = gr.File(label="Recorded run (.jsonl)", file_types=[".jsonl"], type="filepath")
            with gr.Column():
                speed = gr.Slider(0.25, 8, value=1, step=0.25, label="Replay speed (×)")
                replay_button = gr.Button("⏪ Replay the recorded run")
        with gr.Row():
            export_json_button = gr.Button("Export chat (JSON, can be imported)")
            export_html_button = gr.Button("Export chat (HTML page)")
            import_upload = gr.File(label="Import a chat (.json)", file_types=[".json"], type="filepath")
        download = gr.File(label="Download", interactive=False)
        with gr.Row():
            comment = gr.Textbox(label="Comment on the answer you rated last (👍/👎 under each answer)", scale=4)
            comment_button = gr.Button("Send comment", scale=1)

    replay_button.click(on_replay, [replay_file, speed], chat_outputs, api_visibility="private")
    export_json_button.click(on_export_json, [chat.chatbot, chat_id_box], download, api_visibility="private")
    export_html_button.click(on_export_html, [chat.chatbot, chat_id_box], download, api_visibility="private")
    import_upload.upload(on_import, [import_upload], chat_outputs, api_visibility="private")
    comment_button.click(make_comment_handler(store), [chat_id_box, comment], comment, api_visibility="private")
    chat.chatbot.like(make_like_handler(store), [chat_id_box], None, api_visibility="private")
    if autoplay is not None:
        demo.load(on_autoplay, None, chat_outputs, api_visibility="private")
