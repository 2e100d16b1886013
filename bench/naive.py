"""THE NAIVE BASELINE (not this app's code): the handler most tutorials show, for comparison only.

- Gradio: a `gr.ChatInterface` generator that yields the whole accumulated text on every delta,
  with Gradio's default event concurrency (1), so chats queue behind each other.
- HTTP: a FastAPI SSE endpoint (`POST /naive/stream`) that sends one event per text delta.

Both run the same agent team on the same upstream as the app, with no conversation store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import gradio as gr
from agents import Runner
from fastapi import FastAPI, Request
from openai.types.responses import ResponseTextDeltaEvent
from sse_starlette import EventSourceResponse

from agents_config import AgentTeam


async def text_deltas(team: AgentTeam, message: str) -> AsyncIterator[str]:
    """Every text delta of one run, straight from `Runner.run_streamed(...).stream_events()`."""
    async with team.backend.run_config() as run_config:
        result = Runner.run_streamed(team.start, message, run_config=run_config)
        async for event in result.stream_events():
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                yield event.data.delta


def build_naive_app(team: AgentTeam) -> FastAPI:
    async def respond(message: str, history: list) -> AsyncIterator[str]:
        text = ""
        async for delta in text_deltas(team, message):
            text += delta
            yield text  # the whole text, every delta

    with gr.Blocks() as demo:
        gr.ChatInterface(respond, api_name="chat")  # default concurrency_limit: 1

    app = FastAPI()

    @app.post("/naive/stream")
    async def naive_stream(request: Request) -> EventSourceResponse:
        message = (await request.json())["message"]

        async def events() -> AsyncIterator[dict]:
            final = ""
            async for delta in text_deltas(team, message):
                final += delta
                yield {"data": json.dumps({"type": "text", "content": delta})}
            yield {"data": json.dumps({"type": "done", "final": final})}

        return EventSourceResponse(events())

    return gr.mount_gradio_app(app, demo, path="/")
