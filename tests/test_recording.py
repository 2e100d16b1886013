"""Recording a turn as JSON Lines, replaying it through the UI path, and refusing bad recordings."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents_config import Settings
from conversations.chat_state import TurnFigures
from devtools.server import offline_settings
from fileformats.recording import (
    MAX_RECORDING_BYTES,
    Recording,
    RecordingError,
    RecordingPolicy,
    TimedEvent,
    dump_lines,
    from_json,
    load_recording,
    parse_recording,
    prune,
    record_turn,
    scrub,
    scrubbed_json,
)
from runtime import Runtime
from streaming.batching import batches
from streaming.events import (
    AgentUpdated,
    Done,
    Error,
    GuardrailTripped,
    Handoff,
    ReasoningDelta,
    SessionStarted,
    TextDelta,
    ToolCall,
    ToolOutput,
    Usage,
    to_json,
)
from streaming.replay import replay_events
from streaming.tracing import TraceSpan
from streaming.turn import run_turn
from tests.io_meter import bytes_read, sparse_file
from ui.chat_view import TurnView
from ui.record_replay import play

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "recordings"


def _shown(messages) -> list[tuple[str, str]]:
    """(title or "", content) of each message: what a person sees, minus ids and durations."""
    out = []
    for m in messages:
        metadata = (m.metadata if hasattr(m, "metadata") else m.get("metadata")) or {}
        content = m.content if hasattr(m, "content") else m["content"]
        out.append((metadata.get("title", ""), content))
    return out


async def _record_billing_turn(tmp_path: Path, **settings) -> tuple[Path, list, Runtime]:
    """One billing turn on the offline model, recorded to tmp_path; returns the file, the live view and the runtime."""
    runtime = Runtime.from_settings(
        offline_settings(record_runs=True, recordings_dir=str(tmp_path), **settings)
    )
    conversation = await runtime.store.create()
    turn = record_turn(
        run_turn(runtime.team, runtime.store, conversation, BILLING, runtime.limits),
        runtime.settings, runtime.team.backend.label, conversation, BILLING,
    )
    view = TurnView()
    async for batch in batches(turn, 0.05):
        for event in batch:
            view.apply(event)
    files = list(tmp_path.glob("*.jsonl"))
    assert len(files) == 1
    return files[0], view.messages(), runtime


# --- events from JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        TextDelta("hé <b>"),
        ToolCall("lookup_invoice", "call_1", '{"invoice_id": "INV-1001"}'),
        ToolOutput("call_1", "ok"),
        Handoff("Triage Agent", "Billing Agent"),
        AgentUpdated("Billing Agent"),
        ReasoningDelta("hmm"),
        GuardrailTripped("scope", "Blocked"),
        Error("boom"),
        Done("final", "Billing Agent", Usage(1, 2, 3), stats=TurnFigures(total_s=1.0, agent_path=["A"]),
             trace=[TraceSpan("s1", None, "agent", "agent · A", 0.0, 1.5)], trace_id="t1"),
        Done("", "Triage Agent"),  # a refused turn: no stats ({} in JSON)
        SessionStarted("abc"),
    ],
)
def test_from_json_is_the_inverse_of_to_json(event):
    assert from_json(json.loads(json.dumps(to_json(event)))) == event


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"type": "exec_code", "code": "x"}, "Unknown event type"),
        ({"content": "no type"}, "Unknown event type"),
        ({"type": "text"}, "lacks the field"),
        ({"type": "text", "content": 3}, "content: Input should be a valid string"),
        ({"type": "text", "content": "x", "extra": 1}, "unknown field"),
        ({"type": "done", "final": "", "last_agent": "A", "usage": {"input_tokens": "many"}}, "usage.input_tokens: Input should be a valid integer"),
        (["text"], "must be a JSON object"),
    ],
)
def test_from_json_rejects_bad_events_clearly(data, problem):
    with pytest.raises(RecordingError, match=problem):
        from_json(data)


# --- record and replay --------------------------------------------------------------------------


async def test_a_recorded_billing_turn_replays_the_same_notes_and_text_with_its_timing(tmp_path):
    # A few seconds long, so that 10% is well above a loaded 2-core machine's scheduling jitter.
    path, live, runtime = await _record_billing_turn(tmp_path, demo_tokens_per_second=100, demo_tool_latency=0.3)
    await runtime.aclose()  # the store's connections closed in this test's loop, not by the garbage collector later
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["kind"] == "header" and lines[0]["version"] == 1 and lines[0]["message"] == BILLING
    assert lines[0]["backend"].startswith("Offline demo model")
    assert {row["kind"] for row in lines[1:-1]} == {"event"}
    assert lines[-1]["kind"] == "final" and lines[-1]["agent"] == "Billing Agent"
    assert "INV-1001" in json.dumps(lines[-1]["input_list"])

    recording = load_recording(path)
    started = time.monotonic()
    arrivals = []  # (offset in the replay, offset in the recording)
    async for event in replay_events(recording, speed=1.0):
        arrivals.append(time.monotonic() - started)
    late = sorted(got - timed.t for got, timed in zip(arrivals, recording.events))
    duration = recording.duration
    assert duration > 0.5
    # Never early (sleeps do not end early); mostly on time: the replay paces against its start, so a busy
    # machine makes single events late without the lateness adding up. A replay that kept no timing, or
    # stretched it, has most events far off.
    assert late[0] >= -0.005, late[0]
    assert late[len(late) // 2] <= 0.1 * duration, late
    assert duration - 0.005 <= arrivals[-1] <= 2 * duration

    # Through the chat's own path (batches → TurnView): the same notes and text, in the same order.
    started = time.monotonic()
    async for shown in play(recording, speed=2.0):
        pass
    elapsed = time.monotonic() - started
    assert shown[1]["metadata"]["title"] == "⏪ Replay of a recorded run (speed 2×)"
    assert _shown(shown[2:]) == _shown(live)
    assert any("lookup_invoice" in title for title, _ in _shown(live))
    # Twice as fast: at least half the recording's time, and clearly less than the replay at speed 1 took.
    assert duration / 2 - 0.005 <= elapsed <= 0.75 * arrivals[-1], (elapsed, arrivals[-1])


async def test_speed_divides_the_replay_time():
    recording = Recording("q", None, "test", "", [TimedEvent(0.0, TextDelta("a")), TimedEvent(1.5, TextDelta("b"))])
    started = time.monotonic()
    async for _ in replay_events(recording, speed=3.0):
        pass
    # 1.5 s / 3 = 0.5 s: never sooner; later only by the machine's lag, well under the 1 s of speed 1.5.
    assert 0.495 <= time.monotonic() - started < 1.0


async def test_recording_is_off_unless_the_settings_ask_for_it(tmp_path):
    runtime = Runtime.from_settings(offline_settings(recordings_dir=str(tmp_path)))
    conversation = await runtime.store.create()
    source = run_turn(runtime.team, runtime.store, conversation, "Hi", runtime.limits)
    assert record_turn(source, runtime.settings, "x", conversation, "Hi") is source
    await source.aclose()
    await runtime.aclose()


def test_recording_defaults_on_locally_and_off_on_public_spaces():
    assert Settings.from_env({}).record_runs is True
    assert Settings.from_env({"SPACE_ID": "someone/app"}).record_runs is False
    assert Settings.from_env({"SPACE_ID": "someone/app", "RECORD_RUNS": "1"}).record_runs is True
    assert Settings.from_env({"RECORD_RUNS": "0"}).record_runs is False
    assert Settings.from_env({"RECORDINGS_DIR": "/tmp/x"}).recordings_dir == "/tmp/x"


def test_keys_and_secrets_are_never_written():
    secret = "hunter2-password"
    recording = Recording("my key is sk-proj-ABCDEFGHIJKLMNOP", None, "b", "")
    recording.events.append(TimedEvent(0.1, Error(f"bad key sk-ABCDEFGHIJKL1234 and {secret}")))
    recording.input_list = [{"role": "user", "content": f"pw {secret}"}]
    text = dump_lines(recording, known_secrets=[secret])
    assert "ABCDEFGHIJ" not in text and secret not in text
    assert text.count("[redacted]") == 4


# --- scrubbed_json: the quick check gives exactly the text of a full scrub ----------------------------

ODD_SECRET = 'pa"ss\\wörd\n1'  # a quote, a backslash, non-ASCII and a newline: each escaped in JSON
SECRETS = [ODD_SECRET, "hunter2-password", "tab\there", "日本語のひみつ", "abc"]  # "abc": too short, ignored
KEYS = ["sk-abcdefghijkl", "sk-proj-ABCDEFGH_ij-KL", "rk-ABCDEFGHIJ", "pk-12345678_-ab"]
# Values whose every key and known secret `scrub` redacts: none may survive, in any JSON spelling.
REDACTED_CASES = {
    "key after a newline": "\nsk-abcdefghijkl",
    "key after a tab": "\tsk-abcdefghijkl",
    "key after a quote": '"sk-abcdefghijkl',
    "key after a backslash": "\\sk-abcdefghijkl",
    "key after a control character": "\x00sk-abcdefghijkl",
    "key after a line separator": "\u2028sk-abcdefghijkl",
    "key after non-ASCII punctuation": "«sk-abcdefghijkl»",
    "key as a dict key": {"sk-abcdefghijkl": 1, "ok": "sk-proj-ABCDEFGH_ij-KL"},
    "key in nested lists": [[["x", ["rk-ABCDEFGHIJ"]]], {"deep": [[{"pk": "pk-12345678_-ab"}]]}],
    "key in a tuple": ("a", ("b", "sk-abcdefghijkl")),
    "secret with quote, backslash, umlaut, newline": f"my password is {ODD_SECRET}!",
    "that secret as a dict key": {ODD_SECRET: "x", "y": [ODD_SECRET]},
    "secret after escapes": "\n\t\"hunter2-password\\",
    "non-ASCII secret": "code 日本語のひみつ here",
    "secret holding a tab": "x tab\there y",
    "secret and key together": {"a": f"hunter2-password sk-abcdefghijkl {ODD_SECRET}"},
}
# Values the two must agree on, though something key-like stays (a key glued to a word is not redacted,
# so "risk-assessments" survives) or there is nothing to redact at all.
UNCHANGED_CASES = {
    "no secret": {"text": "Invoices are emailed on the 1st.", "n": 3, "ok": True, "none": None, "f": 1.5,
                  "nested": [{"é": 'ü\n"q"\\'}], "tuple": (1, "2")},
    "short secret only": "abc abc ab",
    "near misses": "task-abcdefghijkl risk-assessments sk-short xsk-abcdefghijkl _sk-abcdefghijkl",
    "non-string keys": {1: "one", 2.5: None, 3: [1, 2]},
    "values only str() can encode": {"at": datetime(2026, 11, 29, tzinfo=UTC), "path": Path("/tmp/x")},
}
DUMPS_OPTIONS = [{}, {"indent": 1}, {"ensure_ascii": True}, {"sort_keys": True, "separators": (",", ":")}]


def _full_scrub(value, options) -> str:
    """The slow path scrubbed_json must equal: walk every string, then encode."""
    return json.dumps(scrub(value, SECRETS), **{"ensure_ascii": False, "default": str, **options})


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (_strings(k) + _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("options", DUMPS_OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("value", list(REDACTED_CASES.values()), ids=list(REDACTED_CASES))
def test_scrubbed_json_redacts_what_a_full_scrub_redacts(value, options):
    text = scrubbed_json(value, SECRETS, **options)
    assert text == _full_scrub(value, options)
    assert "[redacted]" in text
    shown = "\x00".join(_strings(json.loads(text)))
    for needle in KEYS + SECRETS[:-1]:
        assert needle not in shown and json.dumps(needle, ensure_ascii=False)[1:-1] not in text
        assert json.dumps(needle)[1:-1] not in text  # nor ASCII-escaped


@pytest.mark.parametrize("options", DUMPS_OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("value", list(UNCHANGED_CASES.values()), ids=list(UNCHANGED_CASES))
def test_scrubbed_json_leaves_alone_what_a_full_scrub_leaves_alone(value, options):
    text = scrubbed_json(value, SECRETS, **options)
    assert text == _full_scrub(value, options)
    assert text == json.dumps(value, **{"ensure_ascii": False, "default": str, **options})


_PIECES = ["sk-", "rk-", "pk-", "abcdefgh", "ABCD_-12", "x", "_", "-", " ", "\n", "\t", '"', "\\", "/", "é",
           "日本", "\u2028", "\x00", "\ud83d\ude00", ODD_SECRET, "hunter2-password", "tab\there", "abc", "pa\"ss"]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 8)))


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.random()
    if depth < 3 and kind < 0.2:
        return {_random_text(rng): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and kind < 0.35:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind < 0.4:
        return rng.choice([None, True, 7, 2.5])
    return _random_text(rng)


def test_scrubbed_json_equals_a_full_scrub_on_many_random_values():
    rng = random.Random(16)
    for _ in range(3000):
        value, options = _random_value(rng), rng.choice(DUMPS_OPTIONS)
        assert scrubbed_json(value, SECRETS, **options) == _full_scrub(value, options), value


async def test_a_turn_closed_after_its_first_event_is_still_recorded(tmp_path):
    # Gradio's Stop closes the handler's generator mid-turn; the recording is written (now in a thread)
    # before the close returns, with what was shown so far.
    runtime = Runtime.from_settings(offline_settings(record_runs=True, recordings_dir=str(tmp_path)))
    try:
        conversation = await runtime.store.create()
        turn = record_turn(run_turn(runtime.team, runtime.store, conversation, BILLING, runtime.limits),
                           runtime.settings, runtime.team.backend.label, conversation, BILLING)
        first = await anext(turn)
        await turn.aclose()
        files = list(tmp_path.glob("*.jsonl"))
        assert len(files) == 1 and not list(tmp_path.glob("*.part"))
        recording = load_recording(files[0])
        assert recording.message == BILLING and recording.events[0].event == first
    finally:
        await runtime.aclose()


async def test_a_turn_whose_task_is_cancelled_is_still_recorded(tmp_path):
    # A closed tab cancels the handler's task while it waits for the next event.
    runtime = Runtime.from_settings(offline_settings(record_runs=True, recordings_dir=str(tmp_path),
                                                     demo_tokens_per_second=5))
    try:
        conversation = await runtime.store.create()
        turn = record_turn(run_turn(runtime.team, runtime.store, conversation, BILLING, runtime.limits),
                           runtime.settings, runtime.team.backend.label, conversation, BILLING)
        started = asyncio.Event()

        async def consume():
            async for _ in turn:
                started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        files = list(tmp_path.glob("*.jsonl"))
        assert len(files) == 1
        assert load_recording(files[0]).events
    finally:
        await runtime.aclose()


def test_old_recordings_are_deleted_beyond_the_file_and_size_limits(tmp_path):
    for index in range(6):
        path = tmp_path / f"run-{index}.jsonl"
        path.write_text("x" * 1000)
        stamp = 1_700_000_000 + index
        os.utime(path, (stamp, stamp))
    prune(RecordingPolicy(tmp_path, max_files=4, max_bytes=10_000))
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["run-2.jsonl", "run-3.jsonl", "run-4.jsonl", "run-5.jsonl"]
    prune(RecordingPolicy(tmp_path, max_files=10, max_bytes=2_500))
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["run-4.jsonl", "run-5.jsonl"]


def test_shipped_example_recordings_load_and_reach_their_agents():
    recordings = {p.name: load_recording(p) for p in EXAMPLES.glob("*.jsonl")}
    assert len(recordings) >= 2
    agents = {r.final_agent for r in recordings.values()}
    assert {"Billing Agent", "Support Agent"} <= agents
    for recording in recordings.values():
        assert isinstance(recording.events[-1].event, Done)
        assert any(isinstance(timed.event, ToolCall) for timed in recording.events)


# --- bad files ----------------------------------------------------------------------------------

HEADER = json.dumps({"kind": "header", "version": 1, "message": "m", "agent": None, "backend": "b", "started_at": ""})


def _event(t, event):
    return json.dumps({"kind": "event", "t": t, "event": event})


def test_bad_json_is_refused():
    with pytest.raises(RecordingError, match="Line 2 is not valid JSON"):
        parse_recording(HEADER + "\n{not json\n")


def test_an_unknown_event_type_is_refused():
    with pytest.raises(RecordingError, match="Line 2: Unknown event type 'script'"):
        parse_recording(HEADER + "\n" + _event(0.1, {"type": "script", "src": "x"}))


def test_a_wrong_version_is_refused():
    with pytest.raises(RecordingError, match="Unsupported recording version '2'"):
        parse_recording(HEADER.replace('"version": 1', '"version": 2'))


def test_a_file_without_header_is_refused():
    with pytest.raises(RecordingError, match="first line must be the recording header"):
        parse_recording(_event(0.1, {"type": "text", "content": "x"}))


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = sparse_file(tmp_path / "huge.jsonl", 4 * MAX_RECORDING_BYTES)  # costs no disk
    before = bytes_read()
    with pytest.raises(RecordingError, match="too large"):
        load_recording(path)
    # Refused by its size: reading it first (and parsing only then) would have read 4x the limit.
    assert bytes_read() - before < MAX_RECORDING_BYTES // 4


@pytest.mark.parametrize("t", [-1, "soon", 1e12, None])
def test_bad_times_are_refused(t):
    with pytest.raises(RecordingError, match="'t' must be a number"):
        parse_recording(HEADER + "\n" + _event(t, {"type": "text", "content": "x"}))


def test_events_out_of_order_and_unknown_lines_are_refused():
    with pytest.raises(RecordingError, match="time order"):
        parse_recording("\n".join([HEADER, _event(1, {"type": "text", "content": "x"}), _event(0.5, {"type": "text", "content": "y"})]))
    with pytest.raises(RecordingError, match="unknown line kind"):
        parse_recording(HEADER + '\n{"kind": "eval"}')
    with pytest.raises(RecordingError, match="not UTF-8"):
        parse_recording(b"\xff\xfe" + HEADER.encode())


async def test_html_inside_a_recording_replays_as_inert_text():
    hostile = '<script>alert(1)</script><img src="https://evil.example/x.png">'
    text = parse_recording("\n".join([
        HEADER.replace('"message": "m"', json.dumps({"message": hostile})[1:-1]),
        _event(0.0, {"type": "tool_call", "name": "<b>x</b>", "call_id": "c1", "arguments": hostile}),
        _event(0.0, {"type": "text", "content": hostile}),
        _event(0.0, {"type": "done", "final": hostile, "last_agent": "A"}),
    ]))
    async for shown in play(text, speed=20):
        pass
    # The question and the answer text (tool arguments sit in a code block, which shows them as text).
    rendered = json.dumps([shown[0]["content"], shown[-1]["content"]])
    assert "<script>" not in rendered and "<img" not in rendered
    assert "&lt;script&gt;" in rendered


# --- the Record & replay panel's own handlers (as the Blocks registered them) ----------------------


def _panel_handler(runtime: Runtime, name: str):
    from app import build_demo

    demo = build_demo(runtime)
    return next(block.fn for block in demo.fns.values() if getattr(block.fn, "__name__", "") == name)


async def test_the_replay_button_plays_an_uploaded_recording_and_then_continues_it(runtime):
    on_replay = _panel_handler(runtime, "on_replay")
    updates = [update async for update in on_replay(str(EXAMPLES / "billing-refund.jsonl"), 20)]
    shown, state, chat_id, insight = updates[-1]  # the insight panel follows the replay like a live turn
    assert insight["agent"] == "Billing Agent" and not insight["running"] and insight["stats"]
    assert shown is state and shown[1]["metadata"]["title"] == "⏪ Replay of a recorded run (speed 20×)"
    assert "RF-1001" in shown[-1]["content"]
    conversation = await runtime.store.get(chat_id)
    assert conversation.agent == "Billing Agent"
    assert "INV-1001" in json.dumps(await runtime.store.items(conversation))


async def test_a_bad_upload_changes_nothing(runtime, tmp_path):
    on_replay = _panel_handler(runtime, "on_replay")
    path = tmp_path / "bad.jsonl"
    path.write_text(HEADER + '\n{"kind": "event", "t": 0, "event": {"type": "script"}}\n')
    with pytest.warns(UserWarning, match="Not replayed: Line 2: Unknown event type 'script'"):
        updates = [update async for update in on_replay(str(path), 1)]
    assert len(updates) == 1 and all(isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1 for value in updates[0])
