"""A Gradio chat that streams an OpenAI Agents SDK run live, with an HTTP streaming API beside it.

`python app.py` serves both on http://127.0.0.1:7860 for the demo team; `python app.py --agents
my_agents.py` (or `AGENTS=my_agents.py`) serves your own agents; `serve(agent)` does the same from code.
`demo` is the Gradio app (Hugging Face Spaces and `gradio app.py` find it here), built on first use:
importing this module starts nothing and touches no disk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import gradio as gr
from agents import Agent
from dotenv import load_dotenv
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi_offline import FastAPIOffline

from agents_config import AgentsModule, ConfigError, Settings
from agents_config.mcp import McpStartError
from conversations import StoreConfigError
from http_api.admission import Admission
from http_api.agui import build_agui_router
from http_api.auth import password_checker, protect_docs, require_password, throttle_logins
from http_api.routes import build_router
from runtime import Runtime
from ui.chat_handler import make_handler, make_redraw_handler
from ui.chat_view import close_pending_notes
from ui.insights import InsightPanel
from ui.record_replay import ReplayRequest, build_record_replay_panel, comment_box
from ui.text_chatbot import text_only
from ui.theme import CHAT_HEIGHT, CSS, HEAD, THEME

STATIC = Path(__file__).resolve().parent / "static"

OFFLINE_NOTE = (
    "**Running on the built-in offline demo model** (no key, no network). To use a real model, set "
    "`OPENAI_API_KEY` (or `OPENAI_BASE_URL` for Ollama, vLLM, llama.cpp) in `.env` and restart."
)
# The tab keeps its chat id in sessionStorage (per tab, survives a reload; localStorage, which
# gr.BrowserState uses, is shared by every tab of the site and would show one tab's chat in another).
READ_TAB_CHAT_ID = "() => [sessionStorage.getItem('chat-id') || '']"
KEEP_TAB_CHAT_ID = "(id) => { sessionStorage.setItem('chat-id', id || ''); return []; }"


def _description(runtime: Runtime) -> str:
    """The agents module's description, then which model answers."""
    team = runtime.team
    where = OFFLINE_NOTE if team.backend.offline else f"Model: {team.backend.label}."
    return f"{team.page.description} {where}".strip()


def build_demo(runtime: Runtime | None = None, replay: ReplayRequest | None = None) -> gr.Blocks:
    runtime = runtime or Runtime.from_settings(Settings.from_env())
    page = runtime.team.page
    with gr.Blocks(title=page.title) as demo:
        chat_id = gr.State(None)
        # A State, so that gradio_client's /chat still returns just the messages; its change event
        # renders the panel.
        insight = gr.State({})
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.ChatInterface(
                    make_handler(runtime),
                    chatbot=text_only(gr.Chatbot(
                        label="Conversation", height=CHAT_HEIGHT, elem_id="chatbot", placeholder=page.placeholder,
                    )),
                    textbox=gr.Textbox(
                        label="Message to the agents", placeholder="Ask the agents… (Enter sends, Esc stops)",
                        submit_btn=True, stop_btn=True, elem_id="chat-input",
                    ),
                    additional_inputs=[chat_id],
                    additional_outputs=[chat_id, insight],
                    title=page.title,
                    description=_description(runtime),
                    examples=[[example, None] for example in page.examples.values()] or None,
                    example_labels=list(page.examples) or None,
                    api_name="chat",
                    concurrency_limit=runtime.settings.concurrency_limit,
                    fill_height=True,
                )
                comments = comment_box()  # appears once an answer is rated: next to its 👍/👎
            with gr.Column(scale=2, min_width=320):
                panel = InsightPanel(runtime.team, runtime.uploads_traces)
        # No progress overlay: the panel redraws often during a turn and must stay readable meanwhile.
        insight.change(panel.render, [insight, *panel.inputs], panel.outputs, queue=False, show_progress="hidden",
                       api_visibility="undocumented")
        # The chat id is also kept in the browser (this box and the tab's sessionStorage; server State is lost on a
        # restart), so an open tab continues its chat after the app restarts, and a reloaded tab redraws it.
        # It is the HTTP API's session_id too: a developer's detail, so it sits in a closed accordion.
        with gr.Accordion("Developer: chat id and API", open=False, elem_id="developer"):
            chat_id_box = gr.Textbox(
                label="Chat id (the HTTP API's session_id)",
                info="Continue this chat through /chat/stream with it, or paste an id from the API here and press Enter to show that chat.",
                max_lines=1,
                buttons=["copy"],
                elem_id="chat-id",
            )
        chat_id.change(lambda value: value or "", chat_id, chat_id_box, queue=False, api_visibility="undocumented")
        chat_id_box.change(None, chat_id_box, None, js=KEEP_TAB_CHAT_ID, queue=False, api_visibility="undocumented")
        # On load (a reload, a restart) and on a pasted id: draw the chat again from the store.
        redraw = make_redraw_handler(runtime)
        redraw_outputs = [chat.chatbot, chat.chatbot_state, chat_id, insight]
        demo.load(redraw, chat_id_box, redraw_outputs, js=READ_TAB_CHAT_ID, api_visibility="undocumented")
        chat_id_box.submit(redraw, chat_id_box, redraw_outputs, api_visibility="undocumented")
        # On send, copy what the tab shows (chat and id) into the server state the handler reads: after a restart
        # that state is empty, and the answer would otherwise start a new chat and wipe the older messages.
        # Model input never comes from this history: the store keeps it (see ui/chat_handler.py).
        chat.textbox.submit(
            lambda shown, typed: (shown, (typed or "").strip() or None),
            [chat.chatbot, chat_id_box],
            [chat.chatbot_state, chat_id],
            queue=False,
            api_visibility="undocumented",
        )
        # A stopped handler cannot yield again, so a note it left pending would spin forever: close them, mark
        # the turn stopped, and end the panel's "answering now" with it.
        def on_stop(shown: list, now: dict | None, highlighted: str | None):
            ended = {**(now or {}), "running": False, "stopped": True}
            return (*close_pending_notes(shown), ended, *panel.render(ended, highlighted))

        # The panel is drawn here too: a State set by a non-queued event does not fire its change listener.
        chat.textbox.stop(on_stop, [chat.chatbot, insight, *panel.inputs], [chat.chatbot, chat.chatbot_state, insight, *panel.outputs],
                          queue=False, api_visibility="undocumented")
        # The trash button starts a new chat: forget its id too, or the next message would continue the old one.
        chat.chatbot.clear(lambda: ("", None), None, [chat_id_box, chat_id], queue=False, api_visibility="undocumented")
        build_record_replay_panel(runtime, demo, chat, chat_id, chat_id_box, autoplay=replay, insight=insight, comments=comments)
    limit = runtime.settings.concurrency_limit
    # Gradio's queue has `max_threads` job slots in all (40 unless launch() is told otherwise), whatever the
    # events' concurrency limits say: without this, a 41st chat waited for one of the first 40 to finish.
    demo.max_threads = max(40, limit)
    demo.queue(max_size=limit * 4, default_concurrency_limit=limit)
    # Gradio's queue looks for new work every millisecond while it has none (gradio 6.31, Queue.sleep_when_free):
    # 40 ms of CPU a second on an idle server, and a thousand wake-ups a second among the streams under load.
    # Every 10 ms is still far below any model's first token.
    demo._queue.sleep_when_free = 0.01
    return demo


def _freeze_startup_objects() -> None:
    """Keep what lives as long as the process out of the garbage collector's full collections.

    The modules, Gradio's app and the agents are a heap of about a million objects, and each full collection
    walked all of them: about 350 ms here, every few seconds under load, a pause in every stream at once.
    Frozen once the app has started, they are never walked again (gc.freeze, as CPython's docs advise).
    Once a process: a second app in it (tests) would only add its own startup objects.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def build_app(runtime: Runtime, demo: gr.Blocks) -> FastAPI:
    """The HTTP API and /client next to the Gradio UI, on one server, behind one password if set."""
    password = runtime.settings.app_password

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()  # the agents' MCP servers, connected before the first request
        _freeze_startup_objects()
        try:
            yield
        finally:
            await runtime.aclose()  # MCP servers, the store's connections and any provider connection

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the package, not a CDN (works offline).
    app = FastAPIOffline(
        lifespan=lifespan,
        title="Agent run, live: HTTP API",
        description="Stream an agent turn as server-sent events, or get it as one JSON answer.",
        dependencies=[require_password(password)],
        docs_url="/docs",
    )
    admission = Admission.like_the_ui(runtime.settings.concurrency_limit)  # one bound for every API route
    app.include_router(build_router(runtime, admission))
    app.include_router(build_agui_router(runtime, admission))  # POST /agui, behind the same password
    # FastAPIOffline serves /docs and /redoc itself and leaves these unset: name them, so protect_docs covers
    # them exactly as it covers FastAPI's own docs pages.
    app.docs_url, app.redoc_url = "/docs", "/redoc"
    protect_docs(app, password)
    throttle_logins(app, password)  # the UI's /login and the API's password alike

    @app.get("/client", include_in_schema=False)
    async def client() -> FileResponse:
        return FileResponse(STATIC / "client.html")

    # show_error stays off: raw exception text can carry a key fragment. No allowed_paths: the app folder
    # holds .env and the conversations database (docs/security.md).
    app = gr.mount_gradio_app(
        app, demo, path="/", auth=password_checker(password), show_error=False, theme=THEME, css=CSS, head=HEAD
    )
    # SECURITY: Gradio checks the file paths an event receives (only files a user uploaded) or returns
    # (no files outside the working and temp folders, no dotfiles) only once `has_launched` is true, and
    # only `launch()` sets it; under `mount_gradio_app` every check is skipped and any event would copy any
    # server file named in its input (.env, the database) into the cache and serve it (gradio 6.31,
    # processing_utils._check_allowed). Set it as launch() does. `gradio app.py` and Spaces call launch().
    demo.has_launched = True
    return app


def _runtime_or_exit(settings: Settings | None = None, agents: AgentsModule | None = None) -> Runtime:
    """The runtime, or exit with status 2 and one line saying why it cannot be built (no traceback)."""
    try:
        return Runtime.from_settings(settings or Settings.from_env(), agents)
    except ConfigError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _run_server(runtime: Runtime, demo: gr.Blocks) -> None:
    """Serve until stopped. MCP servers connect first, in this loop: one that cannot start is one line
    and exit status 2, before anything listens (the lifespan's own `start()` then finds them connected)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO)
    host, port = runtime.settings.server_name, runtime.settings.server_port
    server = uvicorn.Server(uvicorn.Config(build_app(runtime, demo), host=host, port=port, log_level="warning"))

    async def run() -> None:
        try:
            await runtime.start()
            print(f"Serving the chat on http://{host}:{port}  (API: /chat/stream, /chat, /docs; plain client: /client)",
                  flush=True)
            await server.serve()
        finally:
            await runtime.aclose()

    try:
        asyncio.run(run())
    except (McpStartError, StoreConfigError) as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass


def serve(
    agent: Agent | Callable[[], Agent | Awaitable[Agent]],
    *,
    title: str | None = None,
    description: str | None = None,
    examples: list[str] | dict[str, str] | None = None,
) -> None:
    """Serve your agent (and every agent it hands off to or uses as a tool) with this app's UI and API.

    `agent` is an `agents.Agent`, or a function without arguments (plain or async) returning one.
    `examples` are messages to offer (or a dict of label -> message). Blocks until the server stops;
    the provider settings and GRADIO_SERVER_NAME / GRADIO_SERVER_PORT come from the environment or `.env`.
    A Space's whole `app.py` can be::

        from app import serve
        from my_agents import agent
        serve(agent, title="My agent", examples=["What can you do?"])
    """
    load_dotenv()
    module = AgentsModule(agent=agent, title=title, description=description, examples=examples, source="serve(agent)")
    runtime = _runtime_or_exit(agents=module)
    _run_server(runtime, build_demo(runtime))


def main(argv: list[str] | None = None) -> None:
    """`python app.py [--agents TARGET] [--replay RUN.jsonl --speed N]`."""
    import argparse

    from fileformats.recording import RecordingError, load_recording

    parser = argparse.ArgumentParser(description="Serve the chat (and its HTTP API) on one server.")
    parser.add_argument("--agents", metavar="TARGET",
                        help="your agents instead of the demo team: a file or module, optionally :NAME (default: agent); "
                             "overrides AGENTS")
    parser.add_argument("--replay", metavar="RUN.jsonl", help="play this recorded run in the chat when the page opens")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1: the original timing)")
    args = parser.parse_args(argv)
    load_dotenv()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        parser.exit(2, f"Cannot start: {exc}\n")
    if args.agents is not None:
        settings = dataclasses.replace(settings, agents=args.agents)
    runtime = _runtime_or_exit(settings)
    replay = None
    if args.replay:
        try:
            replay = ReplayRequest(load_recording(args.replay), args.speed)
        except RecordingError as exc:
            parser.exit(2, f"Cannot replay {args.replay}: {exc}\n")
    _run_server(runtime, build_demo(runtime, replay=replay))


def __getattr__(name: str) -> Any:
    """`demo`, built on first use: Spaces and `gradio app.py` look it up, while a plain `import app` (the
    tests, a Space's own three-line app.py) must start nothing and touch no disk. Its store opens lazily too."""
    if name == "demo":
        load_dotenv()
        demo = build_demo(Runtime.from_settings(Settings.from_env()))
        globals()["demo"] = demo
        return demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
