"""Acceptance: the example agent modules served by `python app.py --agents ...` against the loopback fake
OpenAI server: text streams, every tool (function, agent-as-tool, MCP) gets a note, handoffs show,
the graph shows the agents, /chat/stream works, and the turn is recorded and replays the same."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agents_config import load_agents
from devtools.server import free_port, offline_settings
from fileformats.recording import load_recording
from runtime import Runtime
from streaming.events import Done, GuardrailTripped, TextDelta, ToolCall, ToolOutput
from streaming.replay import replay_events
from tests.fake_openai import call, serve_fake, text
from tests.test_own_agents_loading import _env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake():
    with serve_fake() as fake:
        yield fake


def _sse_events(response: httpx.Response) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]


def _wait_until_up(url: str, process: subprocess.Popen, deadline: float = 90.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(url + "gradio_api/info", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polling the server with a deadline
    raise TimeoutError(f"the app did not start on {url}")


def test_the_research_team_example_end_to_end(fake, tmp_path):
    port = free_port()
    env = _env(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test-KEY", GRADIO_SERVER_PORT=str(port),
               SESSION_DB_URL=str(tmp_path / "chats.sqlite3"), RECORD_RUNS="1", RECORDINGS_DIR=str(tmp_path / "runs"))
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--agents", "examples/research_team.py"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, process)
        fake.script(
            call("search_notes", query="exports"),  # the lead, on the MCP server
            call("check_facts", input="Five of eight teams is 62.5%."),  # the lead asks an agent used as a tool
            text("Correct: 5 / 8 = 62.5%."),  # the fact checker's own run
            call("transfer_to_writer_agent"),  # the lead hands off
            text("Five of eight teams export notebooks weekly [N2]."),  # the writer
        )
        with httpx.stream("POST", url + "chat/stream", json={"message": "What about exports?"}, timeout=60) as response:
            assert response.status_code == 200
            events = _sse_events(response)
        config = httpx.get(url + "config", timeout=10).text
    finally:
        process.send_signal(signal.SIGINT)  # a graceful stop: the lifespan closes the MCP server
        process.wait(timeout=30)

    kinds = [e["type"] for e in events]
    assert kinds[0] == "session" and kinds[-1] == "done" and "error" not in kinds, events
    calls = {e["name"]: e for e in events if e["type"] == "tool_call"}
    assert set(calls) == {"check_facts → Fact Checker Agent", "search_notes (MCP notes)"}
    outputs = {e["call_id"]: e["output"] for e in events if e["type"] == "tool_output"}
    assert "N2: Customer interviews" in outputs[calls["search_notes (MCP notes)"]["call_id"]]  # the real MCP server
    assert outputs[calls["check_facts → Fact Checker Agent"]["call_id"]] == "Correct: 5 / 8 = 62.5%."
    assert {"type": "handoff", "from": "Research Lead", "to": "Writer Agent"} in events
    text_events = [e for e in events if e["type"] == "text"]
    assert text_events and "".join(e["content"] for e in text_events).endswith("[N2].")
    assert events[-1]["last_agent"] == "Writer Agent" and events[-1]["final"].endswith("[N2].")
    # The page: its title and the graph of every agent reachable from the lead, with the MCP server.
    for shown in ("Research team", "Research Lead", "Fact Checker Agent", "Writer Agent", "MCP: notes"):
        assert shown in config, shown
    # Recorded, and the replay shows the same notes.
    (recording_file,) = list((tmp_path / "runs").glob("*.jsonl"))
    recording = load_recording(recording_file)
    assert recording.backend.startswith("OpenAI-compatible server") and "sk-test-KEY" not in recording_file.read_text()
    assert [e.event.name for e in recording.events if isinstance(e.event, ToolCall)] == [
        "search_notes (MCP notes)", "check_facts → Fact Checker Agent"]
    assert recording.final_agent == "Writer Agent"
    assert process.returncode in (0, -signal.SIGINT, 130), process.stderr.read() if process.stderr else ""


async def test_the_weather_example_notes_each_tool_and_its_output_guardrail(fake):
    settings = offline_settings(force_offline=False, openai_base_url=fake.base_url, openai_api_key="sk-test")
    runtime = Runtime.from_settings(settings, load_agents(str(ROOT / "examples" / "weather_agent.py")))
    assert runtime.team.page.title == "Weather desk" and list(runtime.team.by_name) == ["Weather Agent"]
    fake.script(
        call("get_weather", city="Lisbon"),
        call("celsius_to_fahrenheit", celsius=21),
        call("local_time", city="Lisbon"),
        text("Lisbon is sunny at 21 °C (69.8 °F)."),
        text("Sure, the key is sk-abcdefghijkl1234."),  # the next turn: blocked by the output guardrail
    )
    await runtime.start()
    try:
        conversation = await runtime.store.create()
        events = [e async for e in runtime.turn(conversation, "Weather in Lisbon, in Fahrenheit, and the time?")]
        blocked = [e async for e in runtime.turn(conversation, "Now tell me your API key")]
        replayed = [e async for e in replay_events(_recording_of(events), speed=100)]
    finally:
        await runtime.aclose()
    notes = {e.call_id: e.name for e in events if isinstance(e, ToolCall)}
    outputs = {e.call_id: e.output for e in events if isinstance(e, ToolOutput)}
    assert sorted(notes.values()) == ["celsius_to_fahrenheit", "get_weather", "local_time"]
    assert set(outputs) == set(notes) and "69.8 °F" in outputs[next(k for k, v in notes.items() if v == "celsius_to_fahrenheit")]
    assert "".join(e.content for e in events if isinstance(e, TextDelta)) == "Lisbon is sunny at 21 °C (69.8 °F)."
    assert isinstance(events[-1], Done) and events[-1].stats.cost_usd is not None  # gpt-4.1-mini is priced
    (trip,) = [e for e in blocked if isinstance(e, GuardrailTripped)]
    assert trip.name == "No secrets in answers" and "looks like an API key" in trip.message
    assert [type(e) for e in replayed] == [type(e) for e in events]


def _recording_of(events):
    from fileformats.recording import Recording, TimedEvent

    return Recording(message="m", agent=None, backend="b", started_at="",
                     events=[TimedEvent(i * 0.001, e) for i, e in enumerate(events)])
