"""Run insight: per-turn stats that match what happened, the trace timeline, the agent graph."""

from __future__ import annotations

from gradio_client import Client

from conversations.chat_state import TurnFigures
from streaming.events import Done, TextDelta, ToolCall
from streaming.tracing import TraceSpan
from streaming.turn import TurnLimits, run_turn
from ui.insights import agent_graph, graph_caption, stats_markdown, timeline_html

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"


def _span(kind: str, label: str, start_s: float, duration_s: float) -> TraceSpan:
    return TraceSpan(span_id=label, parent_id=None, kind=kind, label=label, start_s=start_s, duration_s=duration_s)


async def _billing_turn(runtime, tool_latency: float = 0.05):
    conversation = await runtime.store.create()
    events = []
    async for event in run_turn(runtime.team, runtime.store, conversation, BILLING, TurnLimits(tool_latency=tool_latency)):
        events.append(event)
    return events


async def test_stats_match_the_events_and_usage_of_the_turn(runtime):
    events = await _billing_turn(runtime)
    done = events[-1]
    assert isinstance(done, Done)
    stats = done.stats
    assert stats.input_tokens == done.usage.input_tokens > 0
    assert stats.output_tokens == done.usage.output_tokens > 0
    # Model calls: the guardrail check, triage, billing x3 (lookup, refund, answer).
    assert stats.model_calls == done.usage.requests == 5
    assert stats.tool_calls == len([e for e in events if isinstance(e, ToolCall)]) == 2
    assert stats.tool_seconds >= 2 * 0.05
    assert stats.agent_path == ["Triage Agent", "Billing Agent"]
    assert 0 < stats.time_to_first_token_s < stats.total_s
    assert stats.tokens_per_second > 0
    assert stats.cost_usd == 0.0  # offline: free, not unknown
    assert any(isinstance(e, TextDelta) for e in events)


async def test_the_billing_timeline_has_triage_handoff_tools_and_model_calls_that_add_up(runtime):
    done = (await _billing_turn(runtime, tool_latency=0.1))[-1]
    labels = [span.label for span in done.trace]
    assert "agent · Triage Agent" in labels and "agent · Billing Agent" in labels
    assert "handoff · Triage Agent → Billing Agent" in labels
    assert labels.count("tool · lookup_invoice") == 1 and labels.count("tool · request_refund") == 1
    assert sum(label.startswith("model call") for label in labels) == done.stats.model_calls
    assert any(label.startswith("guardrail · Customer data guard") for label in labels)
    spans = {span.label: span for span in done.trace}
    billing = spans["agent · Billing Agent"]
    inside = sorted((s for s in done.trace if s.kind in ("function", "generation") and s.start_s >= billing.start_s),
                    key=lambda s: s.start_s)
    # The billing agent's model calls and tools run one after another inside its span: each starts after the
    # one before it ended and all end before the agent does. (Order and nesting, not a share of the span's time:
    # the gaps between them are SDK overhead, which grows on a loaded machine.)
    assert [s.label.split(" · ")[0] for s in inside] == ["model call", "tool", "model call", "tool", "model call"]
    assert [s.label for s in inside if s.kind == "function"] == ["tool · lookup_invoice", "tool · request_refund"]
    rounding = 0.0002  # start and duration are rounded to 0.1 ms each
    for before, after in zip(inside, inside[1:]):
        assert after.start_s >= before.start_s + before.duration_s - rounding, (before, after)
    assert inside[-1].start_s + inside[-1].duration_s <= billing.start_s + billing.duration_s + rounding
    assert all(s.duration_s > 0 for s in inside)
    for tool in ("tool · lookup_invoice", "tool · request_refund"):
        assert spans[tool].duration_s >= 0.1
    html = timeline_html(done.trace)
    assert html.count("<div class='tl-row'>") == len(done.trace) and "steps over" in html


def test_the_graph_highlights_the_answering_agent(runtime):
    graph = agent_graph(runtime.team, "Billing Agent")
    assert "class billing_agent active" in graph and "class triage_agent active" not in graph
    for name in ("lookup_invoice", "request_refund", "search_docs"):
        assert name in graph
    assert "triage_agent -->|handoff| billing_agent" in graph
    assert "active" not in agent_graph(runtime.team, None).split("classDef active")[1].split("\n", 1)[1]


def test_stats_table_says_free_or_na_and_has_no_empty_header():
    stats = TurnFigures(agent_path=["Triage Agent"], input_tokens=1, output_tokens=2, cost_usd=0.0)
    offline = stats_markdown(stats, offline=True)
    assert "free (offline demo)" in offline and "$0.0000" not in offline
    assert "n/a" in stats_markdown(stats.model_copy(update={"cost_usd": None}))
    header = offline.splitlines()[0]
    assert all(cell.strip() for cell in header.strip("|").split("|")), header
    running = stats_markdown(stats, running=True)
    assert "so far" in running and "counted at the end" in running


def test_caption_says_answering_now_then_answered_by_or_stopped():
    assert graph_caption("Billing Agent", "running").startswith("**Answering now:**")
    assert graph_caption("Billing Agent", "done") == "**Answered by:** Billing Agent"
    assert "Stopped" in graph_caption("Billing Agent", "stopped")
    assert "&lt;b&gt;" in graph_caption("<b>", "done")


def test_timeline_has_a_legend_an_axis_and_plain_words():
    trace = [
        _span("agent", "agent · Triage Agent", 0.0, 1.0),
        _span("generation", "model call · gpt-x", 0.1, 0.5),
        _span("function", "tool · lookup_invoice", 0.6, 0.3),
    ]
    html = timeline_html(trace)
    for words in ("Agent at work", "Model call", "Tool", "Model call (gpt-x)", ">lookup_invoice<", "1.00 s"):
        assert words in html
    assert ">agent · " not in html and ">tool · " not in html


def test_stats_table_escapes_agent_names():
    table = stats_markdown(TurnFigures(agent_path=["<b>x</b>"], input_tokens=1, output_tokens=2))
    assert "<b>" not in table and "n/a" in table


def test_gradio_streams_the_active_agent_and_the_final_stats(live_app):
    """The handler's insight output (a State, so /chat still returns messages) follows the run."""
    client = Client(live_app, verbose=False)
    job = client.submit(BILLING, api_name="/chat")
    final = job.result()
    # The panel is fed by a gr.State; gradio_client hides States, so /chat still streams just the chat's
    # messages (never the insight dict), and the panel's data is checked through the handler below.
    outputs = job.outputs()
    assert len(outputs) >= 2 and outputs[-1] == final
    for messages in outputs:
        assert isinstance(messages, list) and all(m["role"] == "assistant" and "content" in m for m in messages), messages
    titles = [(m.get("metadata") or {}).get("title") or "" for m in final]
    assert any("lookup_invoice" in t for t in titles) and any("request_refund" in t for t in titles)
    assert "RF-1001" in [m["content"] for m in final if not m.get("metadata")][-1]


async def test_the_handler_reports_the_answering_agent_then_the_stats(runtime):
    from ui.chat_handler import make_handler

    insights = [insight async for _, _, insight in make_handler(runtime)(BILLING, [], None) if "running" in insight]
    assert insights, "the handler reports insight"
    agents = [i["agent"] for i in insights if i["running"]]
    assert agents[:2] == ["Triage Agent", "Billing Agent"]
    final = insights[-1]
    assert not final["running"] and final["agent"] == "Billing Agent"
    assert final["stats"].agent_path == ["Triage Agent", "Billing Agent"] and final["trace"]


def test_the_timeline_names_its_trace_and_links_the_dashboard_only_when_uploaded():
    trace = [_span("agent", "agent · A", 0.0, 0.5)]
    local = timeline_html(trace, "trace_abc", uploaded=False)
    assert "trace_abc" in local and "href" not in local
    uploaded = timeline_html(trace, "trace_abc", uploaded=True)
    assert "platform.openai.com/traces/trace?trace_id=trace_abc" in uploaded


def test_offline_runs_upload_no_traces(runtime):
    assert runtime.uploads_traces is False
