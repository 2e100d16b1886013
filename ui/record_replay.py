"""The "Record & replay" panel: replay a recorded run, export or import a chat, comment on answers.

Replays go through the same path as a live turn (`batches` → `TurnView`), so they look exactly like
one, behind a first note saying it is a replay. Uploaded files are validated before anything
changes; a bad one gets a warning and the chat stays as it was.
"""

from __future__ import annotations

import asyncio
import json
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
from fileformats.recording import MAX_RECORDING_BYTES, Recording, RecordingError, load_recording, scrub
from runtime import Runtime
from streaming.batching import batches
from streaming.events import Done, ViewEvent
from streaming.replay import clamp_speed, replay_events, replay_note
from streaming.stats import TurnStats

from .chat_view import TurnView
from .export import ChatImportError, build_export, export_json, import_file, render_html, restore
from .feedback import make_comment_handler, make_like_handler
from .safe_markdown import safe_markdown

UI_INTERVAL = 0.05  # the live chat's pace of UI updates (see ui.chat_handler)
BUNDLED = Path(__file__).resolve().parent.parent / "examples" / "recordings"  # offered as one-click replays
MAX_BUNDLED = 6

# Before a replay replaces a chat that has messages, the browser asks; then it scrolls to the chat. The
# answer goes to the handler as its last input (a hidden checkbox).
CONFIRM_AND_SCROLL_JS = """(...inputs) => {
  const shown = document.querySelectorAll('#chatbot .message-row').length > 0;
  const ok = !shown || window.confirm('Replace the chat on screen with this replay? (The current chat stays in the store: its chat id still continues it.)');
  if (ok) document.getElementById('chatbot')?.scrollIntoView({behavior: 'smooth', block: 'start'});
  return [...inputs.slice(0, -1), ok];
}"""
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


async def play(
    recording: Recording, speed: float = 1.0, interval: float = UI_INTERVAL, watch: Any = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The chat's messages while a recording replays: the question, a replay note, then the turn as it ran.

    `watch`, if given, sees every event as it is shown (the insight panel follows the replay with it)."""
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
            if watch is not None:
                watch(event, view)
        yield opening + view.messages()


def _file_path(upload: Any) -> str | None:
    if upload is None:
        return None
    return upload if isinstance(upload, str) else getattr(upload, "path", None) or getattr(upload, "name", None)


class _PanelFeed:
    """The insight panel's data during a replay, as ui.chat_handler sends it during a live turn."""

    def __init__(self) -> None:
        self.live = TurnStats()
        self.agent: str | None = None
        self.done: Done | None = None
        self.shown_agent: str | None = None

    def __call__(self, event: ViewEvent, view: TurnView) -> None:
        self.live.observe(event)
        self.agent = view.agent or self.agent
        if isinstance(event, Done):
            self.done = event

    def insight(self) -> dict[str, Any]:
        done = self.done
        if done is None:
            data = {"agent": self.agent, "running": True, "stats": self.live.figures()}
        else:
            data = {"agent": done.last_agent, "running": False, "stats": done.stats, "trace": done.trace, "trace_id": done.trace_id}
        self.shown_agent = data["agent"]
        return data


def _bundled_recordings() -> list[tuple[str, Path]]:
    """The recordings shipped with the app, each with a button label: its question, read from the header line
    alone (the whole file is loaded and checked in a thread when clicked, like an upload)."""
    found = []
    for path in sorted(BUNDLED.glob("*.jsonl"))[:MAX_BUNDLED]:
        try:
            with path.open(encoding="utf-8") as file:
                question = " ".join(str(json.loads(file.readline(4096)).get("message", "")).split())
        except (OSError, ValueError, AttributeError):
            continue
        if question:
            found.append((f"▶ {question if len(question) <= 60 else question[:59] + '…'}", path))
    return found


@dataclass(frozen=True)
class CommentBox:
    """The comment field that appears under the chat once an answer is rated (wired by the panel below)."""

    row: gr.Row
    text: gr.Textbox
    button: gr.Button


def comment_box() -> CommentBox:
    """Call right under the chat: the comment belongs next to the 👍/👎 it is about. Hidden until a rating."""
    with gr.Row(visible=False, elem_id="comment-row", equal_height=True) as row:
        text = gr.Textbox(label="Comment on the answer you just rated (optional)", scale=4, max_lines=4)
        button = gr.Button("Send comment", scale=1)
    return CommentBox(row, text, button)


def _skips(count: int):
    return tuple(gr.skip() for _ in range(count))


# --- replay: a recording plays in the chat, which then continues the recorded conversation ----------


def _replayer(store, known_agents: set[str], with_insight: bool):
    """`replay(recording, speed)`: the replay's updates of the chat (and of the insight panel)."""

    async def continue_from(items: list[dict[str, Any]], agent: str | None) -> str | None:
        """A new conversation in the store that picks up where the file stopped; None when there is nothing."""
        if not items:
            return None
        conversation = await restore(store, agent, items, known_agents)
        return conversation.id

    async def replay(recording: Recording, speed: float):
        try:
            new_id = await continue_from(recording.input_list, recording.final_agent)
        except ChatImportError as exc:  # the recording's history breaks the import's rules: not replayed
            gr.Warning(f"Not replayed: {exc}")
            yield _skips(3 + with_insight)
            return
        except StoreError as exc:
            gr.Warning(str(exc))
            new_id = None
        # The chat continues the recorded conversation (or starts a fresh one): set from the first update,
        # so a message sent once the replay is over always goes on from where the recording stopped.
        feed, shown_at = _PanelFeed(), None
        async for messages in play(recording, speed, watch=feed):
            panel: tuple = ()
            if with_insight:  # the figures at most twice a second, and at the end (as a live turn)
                now = feed.live.clock()
                due = shown_at is None or feed.done is not None or now - shown_at >= 0.5 or feed.agent != feed.shown_agent
                panel = (feed.insight(),) if due else (gr.skip(),)
                shown_at = now if due else shown_at
            yield (messages, messages, new_id, *panel)

    return replay


def _replay_handler(replay, outputs: int):
    """The listener for an uploaded (or bundled) recording: checked in full before anything changes."""

    async def on_replay(upload: Any, speed: float, confirmed: bool = True):
        if not confirmed:  # the person kept the chat on screen
            yield _skips(outputs)
            return
        path = _file_path(upload)
        if path is None:
            gr.Warning("Choose a recorded run (.jsonl) first.")
            yield _skips(outputs)
            return
        try:
            # Parsed in a thread: a large recording takes seconds, and the event loop serves everyone.
            recording = await asyncio.to_thread(load_recording, path, MAX_RECORDING_BYTES)
        except RecordingError as exc:
            gr.Warning(f"Not replayed: {exc}")
            yield _skips(outputs)
            return
        async for update in replay(recording, speed):
            yield update

    return on_replay


def _bundled_handler(on_replay, path: Path):
    async def on_bundled_replay(speed: float, confirmed: bool = True):
        async for update in on_replay(str(path), speed, confirmed):
            yield update

    return on_bundled_replay


def _autoplay_handler(replay, autoplay: ReplayRequest):
    async def on_autoplay():
        async for update in replay(autoplay.recording, autoplay.speed):
            yield update

    return on_autoplay


# --- export and import: the chat as a file -----------------------------------------------------------


def _export_handlers(store, known_secrets: tuple[str, ...]):
    """The two export buttons' listeners (JSON, HTML): each writes one file and returns its path."""

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

    return on_export_json, on_export_html


def _import_handler(store, known_agents: set[str]):
    async def on_import(upload: Any):
        path = _file_path(upload)
        if path is None:
            return _skips(3)
        try:
            messages, conversation = await import_file(store, path, known_agents)
        except ChatImportError as exc:
            gr.Warning(f"Not imported: {exc}")
            return _skips(3)
        except StoreError as exc:
            gr.Warning(str(exc))
            return _skips(3)
        gr.Info("Chat imported: send a message to continue it.")
        return messages, messages, conversation.id

    return on_import


# --- the panel ---------------------------------------------------------------------------------------


@dataclass
class _Controls:
    confirmed: gr.Checkbox
    speed: gr.Slider
    bundled: list[tuple[gr.Button, Path]]
    replay_file: gr.File
    replay_button: gr.Button
    export_buttons: tuple[gr.Button, gr.Button]  # JSON, HTML
    download: gr.File
    import_upload: gr.File
    comment: gr.Textbox
    comment_button: gr.Button


def _controls(bundled: list[tuple[str, Path]], comments: CommentBox | None) -> _Controls:
    """The accordion's components, in the order they show."""
    with gr.Accordion("Record & replay", open=False, elem_id="record-replay"):
        confirmed = gr.Checkbox(value=True, visible=False)  # set by CONFIRM_AND_SCROLL_JS in the browser
        speed = gr.Slider(0.25, 8, value=1, step=0.25, label="Replay speed (×)")
        bundled_buttons = []
        if bundled:
            gr.Markdown("**Replay a recorded run** (nothing is called while it plays; the chat can go on afterwards):")
            with gr.Row(elem_id="bundled-replays"):
                bundled_buttons = [(gr.Button(label, size="sm", variant="secondary"), path) for label, path in bundled]
        with gr.Row():
            replay_file = gr.File(label="Or replay your own recording (.jsonl)", file_types=[".jsonl"], type="filepath", height=120)
            replay_button = gr.Button("⏪ Replay this file", scale=0, min_width=180)
        gr.Markdown("**Export or import this chat**")
        with gr.Row():
            export_json_button = gr.Button("Export chat (JSON, can be imported)")
            export_html_button = gr.Button("Export chat (HTML page)")
        download = gr.File(label="Your export (click to download)", interactive=False, visible=False)
        import_upload = gr.File(label="Import a chat (.json export)", file_types=[".json"], type="filepath", height=120)
        if comments is None:  # no comment field under the chat: keep one here
            with gr.Row():
                comment = gr.Textbox(label="Comment on the answer you rated last (👍/👎 under each answer)", scale=4)
                comment_button = gr.Button("Send comment", scale=1)
        else:
            comment, comment_button = comments.text, comments.button
    return _Controls(confirmed, speed, bundled_buttons, replay_file, replay_button,
                     (export_json_button, export_html_button), download, import_upload, comment, comment_button)


def build_record_replay_panel(
    runtime: Runtime,
    demo: gr.Blocks,
    chat: gr.ChatInterface,
    chat_id: gr.State,
    chat_id_box: gr.Textbox,
    autoplay: ReplayRequest | None = None,
    insight: gr.State | None = None,
    comments: CommentBox | None = None,
) -> None:
    """The accordion under the chat, and the Chatbot's like listener. Call inside the app's `gr.Blocks`.

    Replays and imports set the chat id (`chat_id`, the server state the handler reads); exports and
    feedback read it from `chat_id_box`, which the browser keeps, so they work right after a restart too.
    Replays also feed the run-insight panel (`insight`), like a live turn.
    """
    store = runtime.store
    known_agents = set(runtime.team.by_name)
    known_secrets = tuple(s for s in (runtime.settings.openai_api_key, runtime.settings.app_password) if s)
    chat_outputs = [chat.chatbot, chat.chatbot_state, chat_id]
    replay_outputs = chat_outputs + ([insight] if insight is not None else [])
    controls = _controls(_bundled_recordings(), comments)

    # Replay.
    replay = _replayer(store, known_agents, with_insight=insight is not None)
    on_replay = _replay_handler(replay, len(replay_outputs))
    replay_inputs = [controls.speed, controls.confirmed]
    controls.replay_button.click(on_replay, [controls.replay_file, *replay_inputs], replay_outputs,
                                 js=CONFIRM_AND_SCROLL_JS, api_visibility="private")
    for button, path in controls.bundled:
        button.click(_bundled_handler(on_replay, path), replay_inputs, replay_outputs, js=CONFIRM_AND_SCROLL_JS,
                     api_visibility="private")
    if autoplay is not None:
        demo.load(_autoplay_handler(replay, autoplay), None, replay_outputs, api_visibility="private")

    # Export and import.
    download = controls.download
    for button, export in zip(controls.export_buttons, _export_handlers(store, known_secrets), strict=True):
        # The download box shows up only with a file in it (empty, it looked like a drop zone).
        button.click(export, [chat.chatbot, chat_id_box], download, api_visibility="private").then(
            lambda path: gr.update(visible=bool(path)), download, download, queue=False, api_visibility="private"
        )
    controls.import_upload.upload(_import_handler(store, known_agents), [controls.import_upload], chat_outputs,
                                  api_visibility="private")

    # Feedback: ratings under each answer, and a comment on the last one rated.
    controls.comment_button.click(make_comment_handler(store), [chat_id_box, controls.comment], controls.comment,
                                  api_visibility="private")
    liked = chat.chatbot.like(make_like_handler(store), [chat_id_box], None, api_visibility="private")
    if comments is not None:
        liked.then(lambda: gr.update(visible=True), None, comments.row, queue=False, api_visibility="private")
