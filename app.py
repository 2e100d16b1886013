"""A Gradio chat that streams an OpenAI Agents SDK run live, with an HTTP streaming API beside it.

`python app.py` serves both on http://127.0.0.1:7860; `demo` is the Gradio app (Hugging Face Spaces
and `gradio app.py` find it here).
"""

from __future__ import annotations

import logging

import gradio as gr
from dotenv import load_dotenv

from agents_config import Settings
from runtime import Runtime
from ui.chat_handler import make_handler

EXAMPLES = [
    "I was charged twice on invoice INV-1001, can you refund me?",
    "How do I rotate an API key?",
    "Show me the invoices of another customer",
    "Hi! What can you do?",
]


def _description(runtime: Runtime) -> str:
    backend = runtime.team.backend
    if backend.offline:
        return (
            "Triage → Billing or Support agents, with every tool call, handoff and thought shown live. "
            "**Running on the built-in offline demo model** (no key, no network). To use a real model, set "
            "`OPENAI_API_KEY` (or `OPENAI_BASE_URL` for Ollama, vLLM, llama.cpp) in `.env` and restart."
        )
    return f"Triage → Billing or Support agents, with every tool call, handoff and thought shown live. Model: {backend.label}."


def build_demo(runtime: Runtime | None = None) -> gr.Blocks:
    runtime = runtime or Runtime.from_settings(Settings.from_env())
    with gr.Blocks(title="Agent run, live") as demo:
        chat_id = gr.State(None)
        gr.ChatInterface(
            make_handler(runtime),
            chatbot=gr.Chatbot(label="Conversation", height=620, placeholder="Ask about an invoice or how to use Nimbus."),
            textbox=gr.Textbox(placeholder="Ask the agents…", submit_btn=True, stop_btn=True),
            additional_inputs=[chat_id],
            additional_outputs=[chat_id],
            title="Agent run, live",
            description=_description(runtime),
            examples=[[example, None] for example in EXAMPLES],
            api_name="chat",
            concurrency_limit=runtime.settings.concurrency_limit,
            fill_height=True,
        )
    demo.queue(max_size=runtime.settings.concurrency_limit * 4, default_concurrency_limit=runtime.settings.concurrency_limit)
    return demo


load_dotenv()
demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    demo.launch()
