"""A Gradio chat that streams an OpenAI Agents SDK run live, with an HTTP streaming API beside it.

`python app.py` serves both on http://127.0.0.1:7860; `demo` is the Gradio app (Hugging Face Spaces
and `gradio app.py` find it here).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import gradio as gr
from dotenv import load_dotenv
from fastapi import FastAPI
from fastapi.responses import FileResponse

from agents_config import Settings
from http_api.auth import password_checker, protect_docs, require_password
from http_api.routes import build_router
from runtime import Runtime
from ui.chat_handler import make_handler
from ui.chat_view import close_pending_notes
from ui.insights import InsightPanel
from ui.record_replay import ReplayRequest, build_record_replay_panel

STATIC = Path(__file__).resolve().parent / "static"

# One per path the agents can take; the labels say which.
EXAMPLES = {
    "💳 Refund a double charge": "I was charged twice on invoice INV-1001, can you refund me?",
    "📖 A how-to question": "How do I rotate an API key?",
    "🛡️ A request the guardrail blocks": "Show me the invoices of another customer",
    "🧠 Watch it reason": "Please think it through: can I get a refund for invoice INV-1003?",
    "👋 What can you do?": "Hi! What can you do?",
}


def _description(runtime: Runtime) -> str:
    backend = runtime.team.backend
    if backend.offline:
        return (
            "Triage → Billing or Support agents, with every tool call, handoff and thought shown live. "
            "**Running on the built-in offline demo model** (no key, no network). To use a real model, set "
            "`OPENAI_API_KEY` (or `OPENAI_BASE_URL` for Ollama, vLLM, llama.cpp) in `.env` and restart."
        )
    return f"Triage → Billing or Support agents, with every tool call, handoff and thought shown live. Model: {backend.label}."


def build_demo(runtime: Runtime | None = None, replay: ReplayRequest | None = None) -> gr.Blocks:
    runtime = runtime or Runtime.from_settings(Settings.from_env())
    with gr.Blocks(title="Agent run, live") as demo:
        chat_id = gr.State(None)
        # A State, so that gradio_client's /chat still returns just the messages; its change event
        # renders the panel.
        insight = gr.State({})
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.ChatInterface(
                    make_handler(runtime),
                    chatbot=gr.Chatbot(label="Conversation", height=620, placeholder="Ask about an invoice or how to use Nimbus."),
                    textbox=gr.Textbox(placeholder="Ask the agents…", submit_btn=True, stop_btn=True),
                    additional_inputs=[chat_id],
                    additional_outputs=[chat_id, insight],
                    title="Agent run, live",
                    description=_description(runtime),
                    examples=[[example, None] for example in EXAMPLES.values()],
                    example_labels=list(EXAMPLES),
                    api_name="chat",
                    concurrency_limit=runtime.settings.concurrency_limit,
                    fill_height=True,
                )
            with gr.Column(scale=2, min_width=320):
                panel = InsightPanel(runtime.team, runtime.uploads_traces)
        insight.change(panel.render, insight, panel.outputs, queue=False, api_visibility="undocumented")
        # The chat id is also kept in the browser (this box; server State is lost on a restart), so an open
        # tab continues its chat after the app restarts. It is the HTTP API's session_id too.
        chat_id_box = gr.Textbox(
            label="Chat id (the HTTP API's session_id)",
            info="Continue this chat through /chat/stream with it, or paste an id from the API here to continue that chat.",
            max_lines=1,
            buttons=["copy"],
            elem_id="chat-id",
        )
        chat_id.change(lambda value: value or "", chat_id, chat_id_box, queue=False, api_visibility="undocumented")
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
        # A stopped handler cannot yield again, so a note it left pending would spin forever: close them.
        chat.textbox.stop(close_pending_notes, chat.chatbot, [chat.chatbot, chat.chatbot_state], queue=False,
                          api_visibility="undocumented")
        # The trash button starts a new chat: forget its id too, or the next message would continue the old one.
        chat.chatbot.clear(lambda: ("", None), None, [chat_id_box, chat_id], queue=False, api_visibility="undocumented")
        build_record_replay_panel(runtime, demo, chat, chat_id, chat_id_box, autoplay=replay)
    demo.queue(max_size=runtime.settings.concurrency_limit * 4, default_concurrency_limit=runtime.settings.concurrency_limit)
    return demo


def build_app(runtime: Runtime, demo: gr.Blocks) -> FastAPI:
    """The HTTP API and /client next to the Gradio UI, on one server, behind one password if set."""
    password = runtime.settings.app_password

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await runtime.aclose()  # the store's connections and any provider connection

    app = FastAPI(
        lifespan=lifespan,
        title="Agent run, live: HTTP API",
        description="Stream an agent turn as server-sent events, or get it as one JSON answer.",
        dependencies=[require_password(password)],
        docs_url="/docs",
    )
    app.include_router(build_router(runtime))
    protect_docs(app, password)

    @app.get("/client", include_in_schema=False)
    async def client() -> FileResponse:
        return FileResponse(STATIC / "client.html")

    # show_error stays off: raw exception text can carry a key fragment.
    return gr.mount_gradio_app(app, demo, path="/", auth=password_checker(password), show_error=False)


load_dotenv()
runtime = Runtime.from_settings(Settings.from_env())
demo = build_demo(runtime)

if __name__ == "__main__":
    import argparse

    import uvicorn

    from streaming.recording import RecordingError, load_recording

    parser = argparse.ArgumentParser(description="Serve the chat (and its HTTP API) on one server.")
    parser.add_argument("--replay", metavar="RUN.jsonl", help="play this recorded run in the chat when the page opens")
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed factor (default 1: the original timing)")
    args = parser.parse_args()
    if args.replay:
        try:
            demo = build_demo(runtime, replay=ReplayRequest(load_recording(args.replay), args.speed))
        except RecordingError as exc:
            parser.exit(2, f"Cannot replay {args.replay}: {exc}\n")
    logging.basicConfig(level=logging.INFO)
    host, port = runtime.settings.server_name, runtime.settings.server_port
    print(f"Serving the chat on http://{host}:{port}  (API: /chat/stream, /chat, /docs; plain client: /client)")
    uvicorn.run(build_app(runtime, demo), host=host, port=port, log_level="warning")
