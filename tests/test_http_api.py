"""The HTTP API end to end: real servers on 127.0.0.1, real httpx clients, the offline demo model.

Servers are slow to start (Gradio is built with them), so most tests share module-scoped ones, each
paced for what it checks: from conftest, `fast` (as fast as possible, counting model calls), `slow` (a
30 s tool holds a turn open), `stalling` (a model slower than the stall timeout) and `locked`
(APP_PASSWORD); here, `paced`. `live_app` from conftest runs the main scenario at a pace a person would see.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from agents_config import build_team
from conversations import open_store
from devtools.server import offline_settings, serve
from http_api import routes
from runtime import Runtime
from streaming.events import TextDelta
from tests.counting_server import CountingModel, Server, counting_server

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"
TIMEOUT = httpx.Timeout(20.0)


@pytest.fixture
def settings():
    # Paced so the billing answer (~75 words) spans several 50 ms batches, as a person would see it.
    return offline_settings(demo_tokens_per_second=150)


@pytest.fixture(scope="module")
def paced() -> Iterator[Server]:
    # 200 tokens a second: text deltas 5 ms apart (the demo model keeps the rate on a busy machine by
    # catching up), so a 50 ms batch holds about ten of them, and no batching at all holds one.
    yield from counting_server(demo_tokens_per_second=200)


# --- reading the stream ------------------------------------------------------------------------------


def parse_sse(raw: str) -> list[dict]:
    """Strict reading: every block is exactly one `data: <json>` line (or a `:` comment) and a blank line."""
    assert raw.endswith("\n\n"), repr(raw[-80:])
    events = []
    for block in raw[:-2].split("\n\n"):
        assert "\n" not in block and "\r" not in block, f"an event spans several lines: {block!r}"
        if block.startswith(":"):
            continue  # keep-alive comment
        assert block.startswith("data: "), block
        events.append(json.loads(block[len("data: "):]))
    return events


def stream_turn(url: str, body: dict, headers: dict | None = None) -> tuple[httpx.Response, list[dict]]:
    with httpx.stream("POST", url + "chat/stream", json=body, headers=headers, timeout=TIMEOUT) as response:
        raw = response.read().decode()
    assert response.status_code == 200, raw
    return response, parse_sse(raw)


def read_until(lines: Iterator[str], stop: Callable[[dict], bool]) -> list[dict]:
    """Events from a live stream, line by line, up to and including the first one `stop` accepts."""
    seen = []
    for line in lines:
        if line.startswith("data: "):
            seen.append(json.loads(line[len("data: "):]))
            if stop(seen[-1]):
                return seen
    raise AssertionError(f"the stream ended before the awaited event: {[e['type'] for e in seen]}")


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.02)  # polling with a deadline


def tasks_awaiting(server: Server, function_name: str) -> int:
    """How many tasks on the server's loop are inside `function_name` right now."""

    async def count() -> int:
        found = 0
        for task in asyncio.all_tasks():
            awaiting, names = task.get_coro(), set()
            while awaiting is not None:  # walk the chain of awaits down from the task's coroutine
                code = getattr(awaiting, "cr_code", None) or getattr(awaiting, "ag_code", None)
                names.add(getattr(code, "co_name", ""))
                awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "ag_await", None)
            found += function_name in names
        return found

    assert server.model.loop is not None
    return asyncio.run_coroutine_threadsafe(count(), server.model.loop).result(timeout=15)


def text_after_last_handoff(events: list[dict]) -> str:
    last = max((i for i, e in enumerate(events) if e["type"] == "handoff"), default=-1)
    return "".join(e["content"] for e in events[last + 1:] if e["type"] == "text")


def assert_order(events: list[dict]) -> None:
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session" and kinds[1] == "agent_updated", kinds
    assert kinds[-1] == "done" and kinds.count("done") == 1, kinds
    called = set()
    for index, event in enumerate(events):
        if event["type"] == "tool_call":
            called.add(event["call_id"])
        elif event["type"] == "tool_output":
            assert event["call_id"] in called, f"tool_output before its tool_call: {kinds}"
        elif event["type"] == "error":
            assert kinds[index + 1] == "done", f"an error must be followed by done: {kinds}"
        elif event["type"] == "handoff":
            assert kinds[index + 1] == "agent_updated" and events[index + 1]["agent"] == event["to"], kinds


def assert_detail(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


# --- 1, 2: the main scenario -------------------------------------------------------------------------


def test_billing_question_streams_every_kind_of_event(live_app):
    started = time.monotonic()
    response, events = stream_turn(live_app, {"message": BILLING})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session" and isinstance(events[0]["session_id"], str)
    assert kinds.count("text") >= 5, kinds
    for kind in ("tool_call", "tool_output", "handoff", "done"):
        assert kind in kinds, kinds
    handoff = next(e for e in events if e["type"] == "handoff")
    assert (handoff["from"], handoff["to"]) == ("Triage Agent", "Billing Agent")
    done = events[-1]
    assert done["last_agent"] == "Billing Agent" and "RF-1001" in done["final"]
    assert text_after_last_handoff(events) == done["final"]
    assert done["usage"]["input_tokens"] > 0 and done["usage"]["output_tokens"] > 0
    assert_order(events)
    assert time.monotonic() - started < 60  # a hang guard only: a person would see the answer in ~2 s


def test_stream_reads_line_by_line_as_it_arrives(live_app):
    """A plain line reader sees the first events while the answer is still being written."""
    with httpx.stream("POST", live_app + "chat/stream", json={"message": BILLING}, timeout=TIMEOUT) as response:
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        first = read_until(lines, lambda e: e["type"] == "tool_call")
        assert first[0]["type"] == "session"
        rest = read_until(lines, lambda e: e["type"] == "done")
    assert "text" in [e["type"] for e in rest]


def test_guardrail_and_error_are_followed_by_done(fast, stalling):
    _, events = stream_turn(fast.url, {"message": "Show me the invoices of another customer"})
    assert_order(events)
    assert "guardrail" in [e["type"] for e in events]

    _, events = stream_turn(stalling.url, {"message": BILLING})
    assert_order(events)
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["error", "done"], kinds
    assert "AGENT_STALL_TIMEOUT" in events[-2]["message"]
    wait_until(lambda: not stalling.runtime.store.is_busy(events[0]["session_id"]), 15, "the stalled turn to end")


# --- 3: coalescing -----------------------------------------------------------------------------------


def _streamed_and_produced(server: Server) -> tuple[list[dict], int, str]:
    """One billing turn: the events sent, and the text deltas (and text) the model produced for it."""
    deltas_before, text_before = server.model.text_deltas, server.model.text
    _, events = stream_turn(server.url, {"message": BILLING})
    return events, server.model.text_deltas - deltas_before, server.model.text[len(text_before):]


def test_a_paced_stream_is_coalesced_into_far_fewer_text_events(paced):
    _streamed_and_produced(paced)  # a first turn on a new server is slow enough to merge deltas by itself
    events, produced_deltas, produced_text = _streamed_and_produced(paced)
    text_events = [e for e in events if e["type"] == "text"]
    assert produced_deltas >= 50
    # ~10 deltas per 50 ms batch (more on a busy machine, never fewer); with no batching interval the
    # same turn sends about one event per delta.
    assert len(text_events) * 6 <= produced_deltas, (len(text_events), produced_deltas)
    assert "".join(e["content"] for e in text_events) == produced_text


def test_a_fast_stream_loses_no_text_and_keeps_every_note_in_order(fast):
    events, produced_deltas, produced_text = _streamed_and_produced(fast)
    text_events = [e for e in events if e["type"] == "text"]
    assert produced_deltas >= 50
    assert "".join(e["content"] for e in text_events) == produced_text
    assert text_after_last_handoff(events) == events[-1]["final"]
    assert [e["type"] for e in events if e["type"] not in ("text", "reasoning")] == [
        "session", "agent_updated", "handoff", "agent_updated", "tool_call", "tool_output", "tool_call", "tool_output", "done",
    ]


# --- the route's own error event ---------------------------------------------------------------------

LEAKY = "sk-proj-NOT-A-REAL-KEY-0123456789"


class FailingRuntime(Runtime):
    """A turn that streams a little, then raises an error quoting a key (as provider errors can).

    `run_turn` turns every failure of the run into an `Error` event itself; this one gets past it, so the
    route's own last resort (an in-band `error`, then `done`, the stream having started) is what answers.
    """

    def turn(self, conversation, message=None, **kwargs):
        async def events():
            yield TextDelta("Half an answer")
            raise RuntimeError(f"Incorrect API key provided: {LEAKY}")

        return events()


@pytest.fixture
def failing() -> Iterator[Server]:
    settings = offline_settings(demo_tokens_per_second=0)
    runtime = FailingRuntime(settings, team=build_team(settings), store=open_store(":memory:", 3600))
    with serve(runtime) as url:
        yield Server(url, runtime, CountingModel(0))


def test_a_turn_that_raises_mid_stream_ends_with_a_readable_error_and_done(failing):
    with httpx.stream("POST", failing.url + "chat/stream", json={"message": "Hi"}, timeout=TIMEOUT) as response:
        raw = response.read().decode()
    assert response.status_code == 200, raw
    events = parse_sse(raw)
    assert [e["type"] for e in events] == ["session", "text", "error", "done"], events
    assert events[1]["content"] == "Half an answer"
    assert events[2]["message"] and events[3]["final"] == ""
    for leaked in (LEAKY, "RuntimeError", "Incorrect API key", "Traceback"):
        assert leaked not in raw, f"{leaked!r} reached the client"
    session_id = events[0]["session_id"]
    wait_until(lambda: not failing.runtime.store.is_busy(session_id), 15, "the failed turn to release the chat")
    again = httpx.post(failing.url + "chat/stream", json={"message": "Hi", "session_id": session_id}, timeout=TIMEOUT)
    assert again.status_code == 200 and '"type": "error"' in again.text


# --- 4: sessions -------------------------------------------------------------------------------------


def test_second_turn_continues_the_conversation(live_app):
    _, first = stream_turn(live_app, {"message": BILLING})
    session_id = first[0]["session_id"]
    _, second = stream_turn(live_app, {"message": "Is it paid?", "session_id": session_id})
    assert second[0] == {"type": "session", "session_id": session_id}
    lookups = [json.loads(e["arguments"]) for e in second if e["type"] == "tool_call"]
    assert lookups and lookups[0]["invoice_id"] == "INV-1001"  # remembered: the message names no invoice
    assert "INV-1001" in second[-1]["final"] and "already" in second[-1]["final"]


def test_unknown_session_is_404(fast):
    for path in ("chat", "chat/stream"):
        response = httpx.post(fast.url + path, json={"message": "Hi", "session_id": "no-such-session"}, timeout=TIMEOUT)
        assert "session_id" in assert_detail(response, 404)


def test_second_turn_while_the_first_streams_is_409(slow):
    with httpx.stream("POST", slow.url + "chat/stream", json={"message": BILLING}, timeout=TIMEOUT) as response:
        # Waits for the tool (sleeping 30 s) so the store is idle: concurrent use of the in-memory SQL
        # store's single connection can fail on its own (a store bug), which is not what this tests.
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()  # keep it referenced: a collected line iterator closes the connection
        session_id = read_until(lines, lambda e: e["type"] == "tool_call")[0]["session_id"]
        for path in ("chat/stream", "chat"):
            busy = httpx.post(slow.url + path, json={"message": "Hi", "session_id": session_id}, timeout=TIMEOUT)
            assert "still answering" in assert_detail(busy, 409)
        assert not response.is_closed
    wait_until(lambda: not slow.runtime.store.is_busy(session_id), 15, "the abandoned turn to release the chat")
    with httpx.stream("POST", slow.url + "chat/stream", json={"message": "Hi", "session_id": session_id}, timeout=TIMEOUT) as again:
        assert again.status_code == 200
        assert read_until(again.iter_lines(), lambda e: e["type"] == "session")[0]["session_id"] == session_id
    # A client that leaves right after the session event cancels that turn too, and frees the chat.
    wait_until(lambda: not slow.runtime.store.is_busy(session_id), 15, "the second abandoned turn to release the chat")


# --- 5: a dropped client cancels the run -------------------------------------------------------------


def test_disconnect_mid_stream_cancels_the_run(slow):
    with httpx.stream("POST", slow.url + "chat/stream", json={"message": BILLING}, timeout=TIMEOUT) as response:
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        events = read_until(lines, lambda e: e["type"] == "tool_call")
        calls, tool_calls = slow.model.calls, slow.model.tool_calls
        wait_until(lambda: tasks_awaiting(slow, "_pretend_io") == 1, 15, "the tool to be running")
    # The tool sleeps 30 s: it can only stop this soon if closing the connection cancelled the run.
    wait_until(lambda: tasks_awaiting(slow, "_pretend_io") == 0, 15, "the tool to be cancelled")
    session_id = events[0]["session_id"]
    wait_until(lambda: not slow.runtime.store.is_busy(session_id), 15, "the chat to be released")
    assert (slow.model.calls, slow.model.tool_calls) == (calls, tool_calls)


def test_disconnect_while_events_pour_in_cancels_the_run(slow):
    # A regression test: asyncio.wait_for on 3.11 swallowed a cancellation that arrived as the next
    # event was ready, and the run went on after the client had gone (turn.py uses asyncio.timeout).
    for _ in range(3):  # the race needs a few tries to show
        with httpx.stream("POST", slow.url + "chat/stream", json={"message": BILLING}, timeout=TIMEOUT) as response:
            assert response.status_code == 200, response.read()
            lines = response.iter_lines()
            session_id = read_until(lines, lambda e: e["type"] == "reasoning")[0]["session_id"]
        wait_until(lambda: not slow.runtime.store.is_busy(session_id), 15, "the chat to be released")
        assert tasks_awaiting(slow, "_pretend_io") == 0, "a tool started after the client had gone"


# --- 6: bad input ------------------------------------------------------------------------------------


def _chunked_oversized_body():
    yield b'{"message": "'
    for _ in range(70):
        yield b"x" * 1024
    yield b'"}'


BAD_BODIES = {
    "not JSON": (b"{not json", 400),
    "not UTF-8": (b'{"message": "\xff\xfe"}', 400),
    "deeply nested JSON": (b"[" * 60_000, 400),
    "JSON array": ([{"message": "Hi"}], 422),
    "JSON string": (b'"Hi"', 422),
    "missing message": ({"session_id": None}, 422),
    "null message": ({"message": None}, 422),
    "number message": ({"message": 42}, 422),
    "list message": ({"message": ["Hi"]}, 422),
    "empty message": ({"message": ""}, 422),
    "whitespace message": ({"message": " \n\t "}, 422),
    "message over 8,000 characters": ({"message": "x" * 8001}, 422),
    "body over 64 KiB with Content-Length": ({"message": "Hi", "padding": "x" * 70_000}, 413),
    "body over 64 KiB, chunked": (_chunked_oversized_body, 413),
    "number session_id": ({"message": "Hi", "session_id": 7}, 422),
    "object session_id": ({"message": "Hi", "session_id": {"id": "x"}}, 422),
}


@pytest.mark.parametrize("path", ["chat", "chat/stream"])
@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_input_is_a_clear_4xx_and_the_server_still_answers(fast, case, path):
    body, status = BAD_BODIES[case]
    if callable(body) or isinstance(body, bytes):
        content = body() if callable(body) else body
        response = httpx.post(fast.url + path, content=content, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    else:
        response = httpx.post(fast.url + path, json=body, timeout=TIMEOUT)
    assert_detail(response, status)
    if case == "body over 64 KiB, chunked":
        assert "content-length" not in response.request.headers
    follow_up = httpx.post(fast.url + "chat", json={"message": "Hi"}, timeout=TIMEOUT)
    assert follow_up.status_code == 200 and follow_up.json()["final"]


def test_message_of_exactly_8000_characters_is_accepted(fast):
    response = httpx.post(fast.url + "chat", json={"message": "Hi " + "x" * 7997}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


# --- 7: the JSON fallback ----------------------------------------------------------------------------


def test_post_chat_answers_the_whole_turn(fast):
    response = httpx.post(fast.url + "chat", json={"message": BILLING}, timeout=TIMEOUT)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"session_id", "final", "last_agent", "events", "usage", "awaiting_approval"}
    assert body["last_agent"] == "Billing Agent" and "RF-1001" in body["final"]
    kinds = {e["type"] for e in body["events"]}
    assert {"agent_updated", "handoff", "tool_call", "tool_output", "text", "done"} <= kinds
    assert body["events"][-1]["final"] == body["final"]
    assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0
    _, streamed = stream_turn(fast.url, {"message": BILLING})
    assert kinds == {e["type"] for e in streamed} - {"session"}
    again = httpx.post(fast.url + "chat", json={"message": "Is it paid?", "session_id": body["session_id"]}, timeout=TIMEOUT)
    assert again.json()["session_id"] == body["session_id"] and "INV-1001" in again.json()["final"]


# --- 8: the password ---------------------------------------------------------------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, _basic("anyone", "nope"), {"Authorization": "Basic %%%"}])
def test_api_refuses_requests_without_the_password(locked, headers):
    for path in ("chat", "chat/stream"):
        response = httpx.post(locked.url + path, json={"message": "Hi"}, headers=headers, timeout=TIMEOUT)
        assert "password" in assert_detail(response, 401)
        assert response.headers["www-authenticate"].startswith("Basic")
    for page in ("client", "docs", "openapi.json"):
        assert httpx.get(locked.url + page, headers=headers, timeout=TIMEOUT).status_code == 401, page


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer pw"}, _basic("anyone", "pw"), _basic("", "pw")])
def test_api_accepts_bearer_or_basic_with_the_password(locked, headers):
    response = httpx.post(locked.url + "chat", json={"message": "Hi"}, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200 and response.json()["final"]
    _, events = stream_turn(locked.url, {"message": "Hi"}, headers=headers)
    assert events[-1]["type"] == "done"
    page = httpx.get(locked.url + "client", headers=headers, timeout=TIMEOUT)
    assert page.status_code == 200 and "chat/stream" in page.text
    assert "/chat/stream" in httpx.get(locked.url + "openapi.json", headers=headers, timeout=TIMEOUT).json()["paths"]


def test_gradio_ui_asks_for_the_password_too(locked):
    with httpx.Client(base_url=locked.url, timeout=TIMEOUT) as browser:
        assert browser.get("config").status_code == 401
        assert browser.get("gradio_api/info").status_code == 401
        login_page = browser.get("")
        assert "auth_required" in login_page.text and "offline demo model" not in login_page.text
        assert browser.post("login", data={"username": "anyone", "password": "nope"}).status_code >= 400
        assert browser.post("login", data={"username": "anyone", "password": "pw"}).status_code == 200
        assert browser.get("config").status_code == 200
        assert "offline demo model" in browser.get("").text


# --- 9, 10: the OpenAPI document and keep-alive ------------------------------------------------------


def test_openapi_documents_both_routes(fast):
    spec = httpx.get(fast.url + "openapi.json", timeout=TIMEOUT).json()
    for path in ("/chat/stream", "/chat"):
        operation = spec["paths"][path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema["title"] == "ChatRequest" and "required" not in schema  # a message, or approvals
        assert {"type": "string"} in schema["properties"]["message"]["anyOf"]
        assert "approvals" in schema["properties"]
        assert operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorDetail")
    assert "text/event-stream" in spec["paths"]["/chat/stream"]["post"]["responses"]["200"]["content"]
    chat_ok = spec["paths"]["/chat"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert chat_ok["$ref"] == "#/components/schemas/ChatResponse"
    assert {"session_id", "final", "last_agent", "events", "usage"} <= set(spec["components"]["schemas"]["ChatResponse"]["properties"])


def test_keepalive_comments_flow_during_a_long_tool_call(slow, monkeypatch):
    assert 0 < routes.KEEPALIVE_SECONDS <= 30  # shorter than common proxy idle timeouts
    monkeypatch.setattr(routes, "KEEPALIVE_SECONDS", 0.2)  # read per response
    with httpx.stream("POST", slow.url + "chat/stream", json={"message": BILLING}, timeout=TIMEOUT) as response:
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        session_id = read_until(lines, lambda e: e["type"] == "tool_call")[0]["session_id"]
        wait_until(lambda: tasks_awaiting(slow, "_pretend_io") == 1, 10, "the tool to be running")
        ping = next(line for line in lines if line)  # the tool sleeps 30 s: nothing else can come now
        assert ping.startswith(": ping"), ping
        assert tasks_awaiting(slow, "_pretend_io") == 1  # it came while the tool was still running
    wait_until(lambda: not slow.runtime.store.is_busy(session_id), 15, "the run to stop after the disconnect")
