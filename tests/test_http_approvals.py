"""Tool approvals over HTTP: `approval_required`, `done.awaiting_approval`, resuming with `approvals`,
and the 409s, on /chat/stream and /chat, against a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devtools.server import serve
from tests.test_approvals import CANCEL, Executions, make_runtime
from tests.test_http_api import TIMEOUT, assert_detail, stream_turn


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[str, Executions]]:
    executions = Executions()
    runtime = make_runtime(executions=executions)
    with serve(runtime) as url:
        yield url, executions


def ask(url: str) -> tuple[str, dict]:
    _, events = stream_turn(url, {"message": CANCEL})
    session_id = events[0]["session_id"]
    requests = [e for e in events if e["type"] == "approval_required"]
    assert len(requests) == 1
    request = requests[0]
    assert set(request) == {"type", "call_id", "name", "arguments", "agent"}
    assert (request["name"], request["agent"]) == ("cancel_subscription", "Billing Agent")
    done = events[-1]
    assert done["type"] == "done" and done["awaiting_approval"] == [request["call_id"]]
    return session_id, request


def test_stream_asks_then_an_approval_resumes_the_same_run(app):
    url, executions = app
    before = executions.count
    session_id, request = ask(url)
    assert executions.count == before
    _, events = stream_turn(url, {"session_id": session_id, "approvals": {request["call_id"]: "approve"}})
    assert events[0] == {"type": "session", "session_id": session_id}
    outputs = [e for e in events if e["type"] == "tool_output"]
    assert [e["call_id"] for e in outputs] == [request["call_id"]]
    assert events[-1]["type"] == "done" and events[-1]["awaiting_approval"] == []
    assert "Subscription cancelled" in events[-1]["final"]
    assert executions.count == before + 1


def test_post_chat_rejects_and_reports_what_waits(app):
    url, executions = app
    before = executions.count
    answer = httpx.post(url + "chat", json={"message": CANCEL}, timeout=TIMEOUT).json()
    assert len(answer["awaiting_approval"]) == 1
    call_id = answer["awaiting_approval"][0]
    assert any(e["type"] == "approval_required" and e["call_id"] == call_id for e in answer["events"])
    decided = httpx.post(url + "chat", json={"session_id": answer["session_id"], "approvals": {call_id: "reject"}}, timeout=TIMEOUT)
    assert decided.status_code == 200
    assert "nothing was cancelled" in decided.json()["final"] and decided.json()["awaiting_approval"] == []
    assert executions.count == before


@pytest.mark.parametrize("path", ["chat", "chat/stream"])
def test_each_409(app, path):
    url, executions = app
    before = executions.count
    session_id, request = ask(url)
    call_id = request["call_id"]
    message = httpx.post(url + path, json={"session_id": session_id, "message": "Hello?"}, timeout=TIMEOUT)
    assert "waits for a decision" in assert_detail(message, 409)
    unknown = httpx.post(url + path, json={"session_id": session_id, "approvals": {"call_forged": "approve"}}, timeout=TIMEOUT)
    assert "call_forged" in assert_detail(unknown, 409)
    assert executions.count == before
    assert httpx.post(url + "chat", json={"session_id": session_id, "approvals": {call_id: "approve"}}, timeout=TIMEOUT).status_code == 200
    twice = httpx.post(url + path, json={"session_id": session_id, "approvals": {call_id: "approve"}}, timeout=TIMEOUT)
    assert "decided already" in assert_detail(twice, 409)
    assert executions.count == before + 1
    # A chat that never waited.
    fresh = httpx.post(url + "chat", json={"message": "Hi"}, timeout=TIMEOUT).json()["session_id"]
    nothing = httpx.post(url + path, json={"session_id": fresh, "approvals": {call_id: "approve"}}, timeout=TIMEOUT)
    assert_detail(nothing, 409)
    assert executions.count == before + 1


BAD_APPROVALS = {
    "a list": {"session_id": "x", "approvals": ["approve"]},
    "empty": {"session_id": "x", "approvals": {}},
    "a wrong decision": {"session_id": "x", "approvals": {"call_1": "yes"}},
    "a message too": {"session_id": "x", "message": "Hi", "approvals": {"call_1": "approve"}},
    "no session": {"approvals": {"call_1": "approve"}},
}


@pytest.mark.parametrize("case", list(BAD_APPROVALS))
def test_malformed_approvals_are_422(app, case):
    url, _ = app
    assert_detail(httpx.post(url + "chat", json=BAD_APPROVALS[case], timeout=TIMEOUT), 422)
