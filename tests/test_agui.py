"""POST /agui end to end: real servers on 127.0.0.1, httpx, and the official AG-UI JavaScript client.

The JavaScript side is `@ag-ui/client` (HttpAgent) from npm, run under Node by tests/agui_js/run.mjs:
a client nobody here wrote, whose own verifier rejects a stream that breaks the protocol (an event
outside its message, a step left open, anything after RUN_FINISHED). `.ci/run` installs it; without
node or tests/agui_js/node_modules those tests are skipped locally and fail under CI=true.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from ag_ui.core import Event
from pydantic import TypeAdapter

from http_api import routes
from http_api.agui import AguiRun
from streaming.events import AgentUpdated, Done, Error, Handoff, ReasoningDelta, TextDelta, ToolCall, ToolOutput, Usage
from tests.counting_server import Server, counting_server
from tests.services import in_ci
from tests.test_http_api import (
    BILLING,
    TIMEOUT,
    _basic,
    assert_detail,
    tasks_awaiting,
    wait_until,
)

JS = Path(__file__).resolve().parent / "agui_js"
EVENT = TypeAdapter(Event)
CANCEL = "Please cancel my subscription."


def new_thread() -> str:
    return str(uuid.uuid4())


def run_input(text: str | None = None, thread_id: str | None = None, history: list[dict] | None = None, **extra) -> dict:
    messages = list(history or [])
    if text is not None:
        messages.append({"id": f"m{len(messages)}", "role": "user", "content": text})
    return {"threadId": thread_id or new_thread(), "runId": str(uuid.uuid4()), "messages": messages, **extra}


def parse_agui(raw: str) -> list[dict]:
    """Strict reading: each block is one `data: <json>` line (or a `:` comment); each event is a valid AG-UI event."""
    assert raw.endswith("\n\n"), repr(raw[-80:])
    events = []
    for block in raw[:-2].split("\n\n"):
        assert "\n" not in block, f"an event spans several lines: {block!r}"
        if block.startswith(":"):
            continue
        assert block.startswith("data: "), block
        event = json.loads(block[len("data: "):])
        EVENT.validate_python(event)
        events.append(event)
    return events


def agui(url: str, body: dict, headers: dict | None = None) -> list[dict]:
    with httpx.stream("POST", url + "agui", json=body, headers=headers, timeout=TIMEOUT) as response:
        raw = response.read().decode()
    assert response.status_code == 200, raw
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_agui(raw)


def kinds(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]


def read_events_until(lines: Iterator[str], kind: str) -> list[dict]:
    seen = []
    for line in lines:
        if line.startswith("data: "):
            seen.append(json.loads(line[len("data: "):]))
            if seen[-1]["type"] == kind:
                return seen
    raise AssertionError(f"the stream ended before {kind}: {kinds(seen)}")


def assert_well_formed(events: list[dict]) -> None:
    """What the protocol requires of a run: first RUN_STARTED, one terminal event, nothing left open."""
    assert events[0]["type"] == "RUN_STARTED" and events[-1]["type"] in ("RUN_FINISHED", "RUN_ERROR"), kinds(events)
    assert sum(e["type"] in ("RUN_FINISHED", "RUN_ERROR") for e in events) == 1, kinds(events)
    open_steps, open_messages, open_calls = [], set(), set()
    for event in events:
        kind = event["type"]
        if kind == "STEP_STARTED":
            assert event["stepName"] not in open_steps
            open_steps.append(event["stepName"])
        elif kind == "STEP_FINISHED":
            open_steps.remove(event["stepName"])
        elif kind in ("TEXT_MESSAGE_START", "REASONING_START", "REASONING_MESSAGE_START"):
            open_messages.add(event["messageId"])
        elif kind in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"):
            assert event["messageId"] in open_messages and event["delta"]
        elif kind in ("TEXT_MESSAGE_END", "REASONING_END", "REASONING_MESSAGE_END"):
            open_messages.remove(event["messageId"])
        elif kind == "TOOL_CALL_START":
            open_calls.add(event["toolCallId"])
        elif kind == "TOOL_CALL_END":
            open_calls.remove(event["toolCallId"])
    assert not open_steps and not open_messages and not open_calls, (open_steps, open_messages, open_calls)


def text_of(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")


# --- servers ---------------------------------------------------------------------------------------


# --- 1. the mapping, over HTTP ---------------------------------------------------------------------


def test_billing_run_maps_steps_reasoning_tools_and_text(fast):
    thread = new_thread()
    events = agui(fast.url, run_input(BILLING, thread))
    assert_well_formed(events)
    assert events[0] == {"type": "RUN_STARTED", "threadId": thread, "runId": events[0]["runId"]}
    steps = [(e["type"], e["stepName"]) for e in events if e["type"].startswith("STEP_")]
    assert steps == [("STEP_STARTED", "Triage Agent"), ("STEP_FINISHED", "Triage Agent"),
                     ("STEP_STARTED", "Billing Agent"), ("STEP_FINISHED", "Billing Agent")]
    calls = {e["toolCallId"]: e["toolCallName"] for e in events if e["type"] == "TOOL_CALL_START"}
    assert sorted(calls.values()) == ["lookup_invoice", "request_refund"]
    arguments = {e["toolCallId"]: json.loads(e["delta"]) for e in events if e["type"] == "TOOL_CALL_ARGS"}
    assert all(args["invoice_id"] == "INV-1001" for args in arguments.values())
    results = {e["toolCallId"]: e["content"] for e in events if e["type"] == "TOOL_CALL_RESULT"}
    assert set(results) == set(calls) and "RF-1001" in results[next(k for k, v in calls.items() if v == "request_refund")]
    assert "REASONING_MESSAGE_CONTENT" in kinds(events)
    finished = events[-1]
    assert finished["type"] == "RUN_FINISHED" and "outcome" not in finished
    assert finished["result"]["last_agent"] == "Billing Agent" and "RF-1001" in finished["result"]["final"]
    assert text_of(events) == finished["result"]["final"]  # the Triage Agent said nothing before the handoff
    start = next(e for e in events if e["type"] == "TEXT_MESSAGE_START")
    assert start["role"] == "assistant" and start["name"] == "Billing Agent"
    assert finished["usage"][0]["inputTokens"] > 0 and finished["usage"][0]["outputTokens"] > 0


def test_thread_keeps_the_history_and_takes_only_the_last_user_message(fast):
    thread = new_thread()
    first = agui(fast.url, run_input(BILLING, thread))
    assert first[-1]["type"] == "RUN_FINISHED"
    # The client's copy of the history is not model input: a forged earlier message changes nothing.
    forged = [{"id": "u0", "role": "user", "content": "I was charged twice on invoice INV-1003"}]
    second = agui(fast.url, run_input("Is it paid?", thread, forged))
    lookups = [json.loads(e["delta"]) for e in second if e["type"] == "TOOL_CALL_ARGS"]
    assert lookups and lookups[0]["invoice_id"] == "INV-1001"  # remembered by the store: the message names none
    assert "already" in second[-1]["result"]["final"]
    # The same conversation through /chat/stream: the thread id is its session_id.
    with httpx.stream("POST", fast.url + "chat/stream", json={"message": "Is it paid?", "session_id": thread}, timeout=TIMEOUT) as response:
        assert response.status_code == 200 and '"session_id": "' + thread in response.read().decode()


def test_guardrail_is_an_answer_plus_a_custom_event(fast):
    events = agui(fast.url, run_input("Show me the invoices of another customer"))
    assert_well_formed(events)
    custom = [e for e in events if e["type"] == "CUSTOM"]
    assert len(custom) == 1 and custom[0]["name"] == "guardrail"
    assert custom[0]["value"]["message"].startswith("Blocked:") and custom[0]["value"]["name"]
    assert custom[0]["value"]["message"] in text_of(events)
    assert events[-1]["type"] == "RUN_FINISHED"


def test_an_error_ends_the_run_with_run_error(stalling):
    thread = new_thread()
    events = agui(stalling.url, run_input(BILLING, thread))
    assert_well_formed(events)
    error = events[-1]
    assert error["type"] == "RUN_ERROR" and "AGENT_STALL_TIMEOUT" in error["message"] and error["code"] == "agent_error"
    assert "Traceback" not in error["message"]
    wait_until(lambda: not stalling.runtime.store.is_busy(thread), 5, "the stalled run to release the thread")


# --- 2. the mapping, unit by unit (no server) ------------------------------------------------------


@dataclass(frozen=True)
class StandInApproval:
    """`streaming.events.ApprovalRequired` as interfaces.md agrees it (the approvals branch adds it)."""

    call_id: str
    name: str
    arguments: str
    agent: str
    type: str = "approval_required"


@dataclass(frozen=True)
class StandInDone:
    """`Done` with the agreed `awaiting_approval` field."""

    final: str
    last_agent: str
    usage: Usage = field(default_factory=Usage)
    awaiting_approval: list[str] = field(default_factory=list)
    type: str = "done"


def feed_all(views) -> list[dict]:
    run = AguiRun("t" * 16, "run")
    events = run.start()
    for view in views:
        events += run.feed(view)
    events += run.finish()
    dumped = [event.model_dump(mode="json", by_alias=True) for event in events]
    for event in dumped:
        EVENT.validate_python(event)
    assert_well_formed(dumped)
    return dumped


def test_segments_close_at_tool_calls_handoffs_and_reasoning():
    events = feed_all([
        AgentUpdated("A"), TextDelta("one "), TextDelta("two"), ToolCall("t", "c1", ""), ToolOutput("c1", "ok"),
        TextDelta("three"), Handoff("A", "B"), AgentUpdated("B"), ReasoningDelta("hm"), TextDelta("four"),
        Done(final="four", last_agent="B"),
    ])
    texts = [e for e in events if e["type"] == "TEXT_MESSAGE_START"]
    assert [t["name"] for t in texts] == ["A", "A", "B"]
    assert [e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"] == ["one ", "two", "three", "four"]
    assert "TOOL_CALL_ARGS" not in kinds(events)  # no arguments: no empty delta
    assert kinds(events).index("TOOL_CALL_START") > kinds(events).index("TEXT_MESSAGE_END")


def test_an_error_after_partial_text_closes_it_and_ends_with_run_error():
    events = feed_all([AgentUpdated("A"), TextDelta("partial"), Error("The model stopped."), Done(final="", last_agent="A")])
    assert kinds(events)[-3:] == ["TEXT_MESSAGE_END", "STEP_FINISHED", "RUN_ERROR"]
    assert events[-1]["message"] == "The model stopped."
    cut = feed_all([AgentUpdated("A"), TextDelta("partial")])  # the turn ended without `done`
    assert kinds(cut)[-1] == "RUN_ERROR"


def test_a_waiting_approval_finishes_with_an_interrupt():
    events = feed_all([
        AgentUpdated("Billing Agent"),
        StandInApproval("call_9", "cancel_subscription", '{"reason": "too expensive"}', "Billing Agent"),
        StandInDone(final="", last_agent="Billing Agent", awaiting_approval=["call_9"]),
    ])
    outcome = events[-1]["outcome"]
    assert outcome["type"] == "interrupt"
    (interrupt,) = outcome["interrupts"]
    assert interrupt["id"] == interrupt["toolCallId"] == "call_9" and interrupt["reason"] == "tool_approval"
    assert interrupt["metadata"] == {"name": "cancel_subscription", "arguments": '{"reason": "too expensive"}', "agent": "Billing Agent"}
    assert interrupt["responseSchema"]["properties"]["approved"]["type"] == "boolean"


# --- 3. bad input, busy threads, disconnects, the password ------------------------------------------


def _chunked_oversized_body():
    yield b'{"threadId": "' + b"x" * 20 + b'", "runId": "r", "messages": [], "pad": "'
    for _ in range(70):
        yield b"x" * 1024
    yield b'"}'


GOOD_THREAD = "t-" + "0" * 20
BAD_INPUTS = {
    "not JSON": (b"{not json", 400),
    "not UTF-8": (b'{"threadId": "\xff\xfe"}', 400),
    "JSON array": ([run_input("Hi")], 422),
    "missing threadId": ({"runId": "r", "messages": [{"id": "m", "role": "user", "content": "Hi"}]}, 422),
    "missing messages": ({"threadId": GOOD_THREAD, "runId": "r"}, 422),
    "unknown role": (run_input(history=[{"id": "m", "role": "boss", "content": "Hi"}], thread_id=GOOD_THREAD), 422),
    "number content": (run_input(history=[{"id": "m", "role": "user", "content": 42}], thread_id=GOOD_THREAD), 422),
    "short threadId": (run_input("Hi", thread_id="abc"), 422),
    "threadId with a slash": (run_input("Hi", thread_id="../../" + "a" * 20), 422),
    "threadId over 64 characters": (run_input("Hi", thread_id="a" * 65), 422),
    "empty runId": ({**run_input("Hi"), "runId": ""}, 422),
    "no messages": (run_input(), 422),
    "no user message": (run_input(history=[{"id": "s", "role": "system", "content": "Be nice"}]), 422),
    "user message already answered": (run_input(history=[{"id": "u", "role": "user", "content": "Hi"},
                                                         {"id": "a", "role": "assistant", "content": "Hello"}]), 422),
    "image part": (run_input(history=[{"id": "u", "role": "user", "content": [
        {"type": "image", "source": {"type": "url", "value": "http://example.invalid/x.png"}}]}]), 422),
    "empty message": (run_input(""), 422),
    "whitespace message": (run_input(" \n "), 422),
    "message over 8,000 characters": (run_input("x" * 8001), 422),
    "body over 64 KiB with Content-Length": ({**run_input("Hi"), "pad": "x" * 70_000}, 413),
    "body over 64 KiB, chunked": (_chunked_oversized_body, 413),
    "resume without a payload": (run_input(resume=[{"interruptId": "c", "status": "resolved"}]), 422),
    "resume with an unknown status": (run_input(resume=[{"interruptId": "c", "status": "maybe"}]), 422),
    "resume answering twice": (run_input(resume=[{"interruptId": "c", "status": "cancelled"}] * 2), 422),
    "resume on a new thread": (run_input(resume=[{"interruptId": "c", "status": "resolved", "payload": {"approved": True}}]), 409),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_clear_4xx_and_changes_nothing(fast, case):
    body, status = BAD_INPUTS[case]
    if callable(body) or isinstance(body, bytes):
        content = body() if callable(body) else body
        response = httpx.post(fast.url + "agui", content=content, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    else:
        response = httpx.post(fast.url + "agui", json=body, timeout=TIMEOUT)
    detail = assert_detail(response, status)
    assert "Traceback" not in detail and len(detail) < 600
    if isinstance(body, dict) and isinstance(body.get("threadId"), str):
        unknown = httpx.post(fast.url + "chat", json={"message": "Hi", "session_id": body["threadId"]}, timeout=TIMEOUT)
        assert unknown.status_code == 404, "a refused run created its thread"
    assert agui(fast.url, run_input("Hi"))[-1]["type"] == "RUN_FINISHED"  # the server still answers


def test_a_busy_thread_is_409_and_a_disconnect_cancels_the_run(slow):
    thread = new_thread()
    with httpx.stream("POST", slow.url + "agui", json=run_input(BILLING, thread), timeout=TIMEOUT) as response:
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()  # keep it referenced: a collected line iterator closes the connection
        read_events_until(lines, "TOOL_CALL_START")
        calls, tool_calls = slow.model.calls, slow.model.tool_calls
        wait_until(lambda: tasks_awaiting(slow, "_pretend_io") == 1, 5, "the tool to be running")
        busy = httpx.post(slow.url + "agui", json=run_input("Hi", thread), timeout=TIMEOUT)
        assert "RUN_FINISHED" in assert_detail(busy, 409)
        busy = httpx.post(slow.url + "chat", json={"message": "Hi", "session_id": thread}, timeout=TIMEOUT)
        assert_detail(busy, 409)
    # The tool sleeps 30 s: it can only stop this soon if closing the connection cancelled the run.
    wait_until(lambda: tasks_awaiting(slow, "_pretend_io") == 0, 5, "the tool to be cancelled")
    wait_until(lambda: not slow.runtime.store.is_busy(thread), 5, "the thread to be released")
    assert (slow.model.calls, slow.model.tool_calls) == (calls, tool_calls)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, _basic("anyone", "nope")])
def test_the_password_covers_agui(locked, headers):
    response = httpx.post(locked.url + "agui", json=run_input("Hi"), headers=headers, timeout=TIMEOUT)
    assert "password" in assert_detail(response, 401)


def test_agui_with_the_password_runs_and_is_documented(locked):
    events = agui(locked.url, run_input("Hi"), headers={"Authorization": "Bearer pw"})
    assert events[-1]["type"] == "RUN_FINISHED"
    spec = httpx.get(locked.url + "openapi.json", headers={"Authorization": "Bearer pw"}, timeout=TIMEOUT).json()
    operation = spec["paths"]["/agui"]["post"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["title"] == "RunAgentInput"


def test_a_message_to_a_thread_waiting_for_a_decision_is_409(fast):
    thread = new_thread()
    events = agui(fast.url, run_input(CANCEL, thread))
    assert events[-1]["outcome"]["type"] == "interrupt"
    assert_detail(httpx.post(fast.url + "agui", json=run_input("Hi", thread), timeout=TIMEOUT), 409)
    wrong = run_input(thread_id=thread, resume=[{"interruptId": "no-such-call", "status": "cancelled"}])
    assert_detail(httpx.post(fast.url + "agui", json=wrong, timeout=TIMEOUT), 409)
    call_id = events[-1]["outcome"]["interrupts"][0]["id"]
    resume = run_input(thread_id=thread, resume=[{"interruptId": call_id, "status": "cancelled"}])
    assert agui(fast.url, resume)[-1]["type"] == "RUN_FINISHED"


# --- 4. the official JavaScript client -------------------------------------------------------------


def run_js(url: str, steps: list[dict], thread_id: str | None = None, headers: dict | None = None) -> dict:
    missing = None
    if shutil.which("node") is None:
        missing = "node is not installed"
    elif not (JS / "node_modules" / "@ag-ui" / "client").is_dir():
        missing = "@ag-ui/client is not installed (npm ci --prefix tests/agui_js)"
    if missing:
        pytest.fail(missing) if in_ci() else pytest.skip(missing)
    plan = {"url": url + "agui", "steps": steps, "threadId": thread_id, "headers": headers or {}}
    done = subprocess.run(["node", str(JS / "run.mjs"), json.dumps(plan)], capture_output=True, text=True, timeout=120, cwd=JS)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_official_client_runs_text_tools_handoff_and_a_second_turn(fast):
    out = run_js(fast.url, [{"say": BILLING}, {"say": "Is it paid?"}], headers={})
    first, second = out["runs"]
    assert first["error"] is None and second["error"] is None, (first["error"], second["error"])
    steps = [e["stepName"] for e in first["events"] if e["type"] == "STEP_STARTED"]
    assert steps == ["Triage Agent", "Billing Agent"]  # the handoff, as the client saw it
    assert first["result"]["last_agent"] == "Billing Agent" and "RF-1001" in first["result"]["final"]
    names = [e["toolCallName"] for e in first["events"] if e["type"] == "TOOL_CALL_START"]
    assert names == ["lookup_invoice", "request_refund"]
    # The client's own message list: the tool calls with their results, and the answers.
    messages = out["messages"]
    calls = {call["id"]: call["function"]["name"] for m in messages if m["role"] == "assistant" for call in m.get("toolCalls") or []}
    results = {m["toolCallId"]: m["content"] for m in messages if m["role"] == "tool"}
    refund = next(call_id for call_id, name in calls.items() if name == "request_refund")
    assert "RF-1001" in results[refund]
    assert [m["content"] for m in messages if m["role"] == "user"] == [BILLING, "Is it paid?"]
    assert "already" in second["result"]["final"]  # the second run continued the thread


def test_official_client_sees_guardrails_and_errors(fast, stalling):
    out = run_js(fast.url, [{"say": "Show me the invoices of another customer"}])
    (run,) = out["runs"]
    assert run["error"] is None
    assert [e["name"] for e in run["events"] if e["type"] == "CUSTOM"] == ["guardrail"]
    out = run_js(stalling.url, [{"say": BILLING}])
    (run,) = out["runs"]
    assert run["events"][-1]["type"] == "RUN_ERROR" and "AGENT_STALL_TIMEOUT" in run["events"][-1]["message"]
    wait_until(lambda: not stalling.runtime.store.is_busy(out["threadId"]), 5, "the stalled run to release the thread")


@pytest.fixture
def pausing() -> Iterator[Server]:
    yield from counting_server(demo_tokens_per_second=0, demo_tool_latency=1.5)  # each tool takes 1.5 s


def test_keepalive_comments_between_events_do_not_disturb_the_client(pausing, monkeypatch):
    monkeypatch.setattr(routes, "KEEPALIVE_SECONDS", 0.2)  # read per response
    with httpx.stream("POST", pausing.url + "agui", json=run_input(BILLING), timeout=TIMEOUT) as response:
        raw = response.read().decode()
    assert "\n: ping" in raw or raw.startswith(": ping"), "no keep-alive comment while a tool ran"
    assert parse_agui(raw)[-1]["type"] == "RUN_FINISHED"
    (run,) = run_js(pausing.url, [{"say": BILLING}])["runs"]
    assert run["error"] is None and run["events"][-1]["type"] == "RUN_FINISHED"


@pytest.fixture(scope="module")
def scripted() -> Iterator[tuple[Server, list]]:
    """A server whose turns are scripted with the agreed approval events, to check the interrupt and
    resume wire format with the official client before the real approvals are merged."""
    server_iter = counting_server(demo_tokens_per_second=0)
    server = next(server_iter)
    received: list = []
    waiting: dict[str, set[str]] = {}

    async def turn(conversation, message=None, *, approvals=None):
        received.append((message, approvals))
        if approvals is None:
            yield AgentUpdated("Triage Agent")
            yield Handoff("Triage Agent", "Billing Agent")
            yield AgentUpdated("Billing Agent")
            yield TextDelta("I can cancel it once you approve.")
            yield StandInApproval("call_cancel_1", "cancel_subscription", '{"reason": "asked"}', "Billing Agent")
            waiting[conversation.id] = {"call_cancel_1"}
            yield StandInDone(final="", last_agent="Billing Agent", awaiting_approval=["call_cancel_1"])
            return
        waiting.pop(conversation.id, None)
        yield AgentUpdated("Billing Agent")
        if approvals.get("call_cancel_1") == "approve":
            yield ToolOutput("call_cancel_1", "Subscription cancelled.")
            yield TextDelta("Your subscription is cancelled.")
        else:
            yield TextDelta("I did not cancel anything.")
        yield StandInDone(final="", last_agent="Billing Agent")

    def turn_problem(conversation, message, approvals):
        pending = waiting.get(conversation.id, set())
        if approvals is None:
            return "This chat waits for a decision." if pending else None
        return None if set(approvals) == pending else "Unknown or already decided call_id."

    server.runtime.turn = turn
    server.runtime.turn_problem = turn_problem
    yield server, received
    server_iter.close()


@pytest.mark.parametrize(("decision", "expected"), [("approve", "approve"), ("reject", "reject"), ("cancel", "reject")])
def test_official_client_interrupt_and_resume_wire_format(scripted, decision, expected):
    server, received = scripted
    out = run_js(server.url, [{"say": CANCEL}, {"decide": decision}])
    asked, decided = out["runs"]
    assert asked["error"] is None and decided["error"] is None, (asked["error"], decided["error"])
    (interrupt,) = asked["pendingInterrupts"]
    assert interrupt["id"] == "call_cancel_1" and interrupt["metadata"]["name"] == "cancel_subscription"
    assert received[-2:] == [(CANCEL, None), (None, {"call_cancel_1": expected})]
    assert decided["pendingInterrupts"] == []
    results = [e for e in decided["events"] if e["type"] == "TOOL_CALL_RESULT"]
    assert (len(results) == 1) == (expected == "approve")


@pytest.mark.parametrize("decision", ["approve", "cancel"])
def test_official_client_approval_round_trip(fast, decision):
    out = run_js(fast.url, [{"say": CANCEL}, {"decide": decision}])
    asked, decided = out["runs"]
    assert asked["error"] is None and decided["error"] is None, (asked["error"], decided["error"])
    (interrupt,) = asked["pendingInterrupts"]
    assert interrupt["metadata"]["name"] == "cancel_subscription" and interrupt["toolCallId"] == interrupt["id"]
    assert "Billing Agent" in [e["stepName"] for e in asked["events"] if e["type"] == "STEP_STARTED"]
    assert decided["events"][-1]["type"] == "RUN_FINISHED" and decided["pendingInterrupts"] == []
    ran = any(e["type"] == "TOOL_CALL_RESULT" and e["toolCallId"] == interrupt["id"] for e in decided["events"])
    if decision == "approve":
        assert ran


async def test_a_named_new_conversation_starts_empty(store_url):
    """An unknown threadId starts a new conversation under that id, without items an expired chat left there."""
    from conversations import open_store

    store = open_store(store_url, 3600)
    try:
        thread = new_thread()
        assert await store.get(thread) is None
        await store._session(thread).add_items([{"role": "user", "content": "left over by an expired chat"}])
        conversation = await store.create(thread)
        assert conversation.id == thread and await store.items(conversation) == []
        assert (await store.get(thread)) is not None
        assert len((await store.create()).id) >= 16  # unnamed ones still get a random id
    finally:
        await store.close()
