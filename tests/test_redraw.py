"""A chat drawn again from the store (a reload, a pasted id) looks as the live tab did at each turn's end:
answers headed by their agent, no note left spinning, and a stopped turn ending with the Stop's marker.

Through the real Gradio handlers on the offline demo model (no browser); the Stop is a cancelled task, as
Gradio cancels a running handler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import gradio as gr
import pytest

from devtools.server import offline_settings
from runtime import Runtime
from ui.chat_handler import make_handler, make_redraw_handler
from ui.chat_view import STOPPED_MARKER
from ui.insights import InsightPanel, graph_caption, timeline_html

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"


@pytest.fixture
async def runtime():
    # A 30 s tool: a Stop always lands while it runs.
    settings = offline_settings(demo_tokens_per_second=0, demo_tool_latency=30)
    runtime = Runtime.from_settings(settings)
    yield runtime
    await runtime.aclose()


def panel_of(runtime) -> InsightPanel:
    with gr.Blocks():
        return InsightPanel(runtime.team)


def answers(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "assistant" and not m.get("metadata")]


def pending(messages: list[dict]) -> list[dict]:
    return [m for m in messages if (m.get("metadata") or {}).get("status") == "pending"]


async def test_a_redrawn_turn_names_its_agent_as_the_live_one_did():
    runtime = Runtime.from_settings(offline_settings(demo_tokens_per_second=0))
    try:
        async for live, chat_id, _ in make_handler(runtime)(BILLING, [], None):
            pass
        redrawn, _, _, insight = await make_redraw_handler(runtime)(chat_id)
    finally:
        await runtime.aclose()
    assert answers(live)[-1].startswith("###### Billing Agent")  # the live answer's agent heading
    assert answers(redrawn) == answers(live)
    assert not pending(redrawn)
    # The panel says who answered, and shows no other chat's timeline.
    assert insight == {"agent": "Billing Agent", "running": False, "trace": []}
    caption, _, _, timeline, _ = panel_of(runtime).render(insight)
    assert caption == graph_caption("Billing Agent", "done") and timeline == timeline_html([])


async def test_a_stopped_turn_is_redrawn_stopped(runtime):
    shown: dict = {}

    async def consume():
        async for messages, chat_id, _ in make_handler(runtime)(BILLING, [], None):
            shown["messages"], shown["chat_id"] = messages, chat_id

    task = asyncio.create_task(consume())
    deadline = time.monotonic() + 30
    while not pending(shown.get("messages") or []):  # the slow tool's note is spinning
        assert time.monotonic() < deadline and not task.done(), "the tool never started"
        await asyncio.sleep(0.02)  # polling with a deadline
    task.cancel()  # Stop
    with pytest.raises(asyncio.CancelledError):
        await task
    redrawn, _, _, insight = await make_redraw_handler(runtime)(shown["chat_id"])
    assert insight["stopped"] and panel_of(runtime).render(insight)[0] == graph_caption(insight["agent"], "stopped")
    assert redrawn[0] == {"role": "user", "content": BILLING}
    assert redrawn[-1] == {"role": "assistant", "content": STOPPED_MARKER}
    assert not pending(redrawn), "no note spins after a reload"
    assert any(m["metadata"]["title"].endswith("(stopped)") for m in redrawn if m.get("metadata"))

    # The next turn (its tool quick now) is not stopped, and the stopped one stays so.
    runtime.settings = dataclasses.replace(runtime.settings, demo_tool_latency=0.0)
    async for _ in make_handler(runtime)("Thanks", redrawn, shown["chat_id"]):
        pass
    again, *_ = await make_redraw_handler(runtime)(shown["chat_id"])
    assert [m["content"] for m in again].count(STOPPED_MARKER) == 1
    assert again[-1]["content"] != STOPPED_MARKER
